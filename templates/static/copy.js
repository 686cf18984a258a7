// Copy buttons. Each button[data-copy] copies the text of the element it
// names, one line per list item; it stays hidden until this script runs,
// and where the clipboard is not available the download link remains.
"use strict";
document.querySelectorAll("button[data-copy]").forEach(function (button) {
  var source = document.getElementById(button.dataset.copy);
  if (!source || !navigator.clipboard) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    var lines = Array.prototype.map.call(source.querySelectorAll("li"), function (li) {
      return li.textContent.trim();
    });
    navigator.clipboard.writeText(lines.join("\n")).then(function () {
      button.textContent = button.dataset.done;
    });
  });
});
