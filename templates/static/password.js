// Show-password toggles. Each button[data-password] sits after the
// password field it names and stays hidden until this script runs, so a
// browser without scripts shows plain password fields.
"use strict";
document.querySelectorAll("button[data-password]").forEach(function (button) {
  var field = document.getElementById(button.dataset.password);
  if (!field) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    var show = field.type === "password";
    field.type = show ? "text" : "password";
    button.textContent = show ? button.dataset.hide : button.dataset.show;
    button.setAttribute("aria-pressed", show ? "true" : "false");
    field.focus();
  });
});
