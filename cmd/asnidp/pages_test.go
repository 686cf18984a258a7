package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
)

// The pages speak Indonesian, as the announcement employees follow does:
// a browser set to English still sees "Lupa / reset password"; English
// comes only from the language link or the service's ui_locales.
func TestPages_IndonesianByDefault(t *testing.T) {
	o := startOP(t)
	secret := o.addClient("--id", "profil", "--redirect-uri", rpRedirect)
	r := newRelyingParty(t, o, "profil", secret)

	b := newBrowser(t)
	b.language = "en-US,en;q=0.9"
	loginPage, _, _ := r.start(t, o, b)
	if !strings.Contains(loginPage.body, `lang="id"`) || !strings.Contains(loginPage.body, indonesian(t, "login.reset_link")) {
		t.Errorf("login page for an en-US browser is not Indonesian:\n%s", loginPage.body)
	}

	en, _, _ := r.start(t, o, newBrowser(t), rp.AuthURLOpt(rp.WithURLParam("ui_locales", "en")))
	if !strings.Contains(en.body, `lang="en"`) {
		t.Errorf("login page with ui_locales=en is not English:\n%s", en.body)
	}
	link := regexp.MustCompile(`href="(\?id=[^"]+lang=en)"`).FindStringSubmatch(loginPage.body)
	if link == nil {
		t.Fatalf("login page has no English link:\n%s", loginPage.body)
	}
	switched := b.get(o.URL + "/login/" + strings.ReplaceAll(link[1], "&amp;", "&"))
	if !strings.Contains(switched.body, `lang="en"`) {
		t.Errorf("after the English link the page is not English:\n%s", switched.body)
	}
}

// Every password field has a show-password button, served by a script of
// our own origin that the CSP allows; without the script it stays hidden.
func TestPages_ShowPasswordToggle(t *testing.T) {
	o := startOP(t)
	secret := o.addClient("--id", "profil", "--redirect-uri", rpRedirect)
	r := newRelyingParty(t, o, "profil", secret)
	b := newBrowser(t)
	loginPage, _, _ := r.start(t, o, b)

	toggle := regexp.MustCompile(`<button type="button" class="toggle" data-password="password"[^>]*aria-controls="password"[^>]*hidden>`)
	if !toggle.MatchString(loginPage.body) {
		t.Errorf("login page has no hidden show-password button for the password field:\n%s", loginPage.body)
	}
	if !strings.Contains(loginPage.body, `<script src="/static/password.js" defer></script>`) {
		t.Error("login page does not load /static/password.js")
	}
	csp := loginPage.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q: want script-src 'self' and nothing unsafe", csp)
	}
	js := b.get(o.URL + "/static/password.js")
	if js.status != http.StatusOK || !strings.Contains(js.header.Get("Content-Type"), "javascript") || !strings.Contains(js.body, "data-password") {
		t.Errorf("GET /static/password.js = %d %q", js.status, js.header.Get("Content-Type"))
	}
}

// On a phone the enrolment page leads with the button that opens the
// authenticator app; the QR code is for a second device.
func TestPages_EnrolLeadsWithOpenAppOnPhone(t *testing.T) {
	m := startMFAOP(t)
	u := m.addUser(true)
	b := newBrowser(t)
	loginPage, _ := m.beginLogin(t, b)
	enrol := m.password(b, loginPage, u)
	if !isEnrolPage(enrol) {
		t.Fatalf("want the enrolment page, got %s", enrol.url)
	}
	openApp := strings.Index(enrol.body, `<a class="button" id="open-app" href="otpauth://totp/`)
	qr := strings.Index(enrol.body, `<img class="qr"`)
	phone := strings.Index(enrol.body, `<div class="on-phone">`)
	if openApp < 0 || qr < 0 || phone < 0 || !(phone < openApp && openApp < qr) {
		t.Errorf("enrolment page: phone block at %d, open-app button at %d, QR code at %d; want the button inside the phone block, before the QR code", phone, openApp, qr)
	}
	if !strings.Contains(enrol.body, indonesian(t, "enrol.open_app")) {
		t.Errorf("enrolment page lacks %q", indonesian(t, "enrol.open_app"))
	}
	css := b.get(m.URL + "/static/style.css")
	if !strings.Contains(css.body, "@media (max-width:600px),(pointer:coarse){.on-phone{display:block}.on-desktop{display:none}}") {
		t.Error("style.css does not show the phone block on phones")
	}
}

// After signing out the page says so in the title: "Anda telah keluar".
func TestPages_SignedOut(t *testing.T) {
	m := startMFAOP(t)
	u := m.enrolledUser(t)
	b := newBrowser(t)
	m.signIn(t, b, u)
	done := b.submit(b.get(m.URL+"/login/logout"), "/login/logout", nil)
	page := b.follow(m.URL, done.location())
	if !strings.Contains(page.body, "<h1>Anda telah keluar</h1>") || !strings.Contains(page.body, indonesian(t, "logout.done")) {
		t.Errorf("page after logout:\n%s", page.body)
	}
}
