package main

// The captcha of the login page (docs/security.md B1, B5): from the
// third consecutive failure of an account, known or not, and for clients
// or a whole service under a spraying attack.

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"image"
	"image/png"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// headerTransport adds fixed headers to every request, as a proxy in
// front of the OP would.
type headerTransport struct {
	header http.Header
	next   http.RoundTripper
}

func (h headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, v := range h.header {
		req.Header[k] = v
	}
	return h.next.RoundTrip(req)
}

// browserFrom is a browser whose requests arrive through a trusted proxy
// that reports ip as the client.
func browserFrom(t *testing.T, ip string) *browser {
	b := newBrowser(t)
	h := http.Header{}
	h.Set("X-Forwarded-For", ip)
	b.client.Transport = headerTransport{header: h, next: http.DefaultTransport}
	return b
}

// loginAttempt submits nip and pw on the login page p, solving its
// captcha when it shows one and solve is true.
func (r *resetOP) loginAttempt(t *testing.T, b *browser, p *page, nip, pw string, solve bool) *page {
	t.Helper()
	values := map[string]string{"nip": nip, "password": pw}
	if hasCaptcha(p) && solve {
		values["captcha"] = r.captchaAnswer(t, p)
	}
	if !solve {
		values["captcha_id"], values["captcha"] = "", ""
	}
	return b.submit(p, "/login/", values)
}

// B1: the account's consecutive failures bring the captcha from the third,
// the delay from the fifth and the lock at the hundredth, which only a
// reset by email releases; a success before the cap starts again from
// zero; an unknown NIP looks the same.
func TestLoginCaptcha_B1_FailureLadder(t *testing.T) {
	r := startResetOP(t, "ASNIDP_CAPTCHA_ENABLED=true", "ASNIDP_CAPTCHA_LOGIN_IP_AFTER=100000",
		"ASNIDP_PASSWORD_IP_FAILURES=100000", "ASNIDP_PASSWORD_DELAY_START=1s", "ASNIDP_PASSWORD_DELAY_MAX=2s")
	r.addClient("--id", "profil", "--redirect-uri", rpRedirect)
	u := r.addUser(true)
	unknown := newNIP()
	lockAfter := r.cfg.Password.LockAfter

	// The first three failures: no captcha until the third has happened,
	// known and unknown NIP alike.
	run := func(nip string) []string {
		b := newBrowser(t)
		p := b.follow(r.URL, authorizeURL(r.URL, authorizeParams(newPKCE())))
		if hasCaptcha(p) {
			t.Fatal("fresh login page shows a captcha")
		}
		var seen []string
		for i := 1; i <= 3; i++ {
			p = r.loginAttempt(t, b, p, nip, fmt.Sprintf("salah sekali %d", i), false)
			wantMessage(t, fmt.Sprintf("failure %d", i), p, http.StatusUnauthorized, "login.invalid_credentials")
			if got, want := hasCaptcha(p), i >= r.cfg.Captcha.LoginAfter; got != want {
				t.Errorf("%s: captcha after failure %d = %v, want %v", nip, i, got, want)
			}
			seen = append(seen, scrub(strings.ReplaceAll(p.body, nip, "NIP")))
		}
		p = r.loginAttempt(t, b, p, nip, "salah sekali 4", false)
		wantMessage(t, "fourth attempt without the captcha", p, http.StatusUnauthorized, "captcha.required")
		return append(seen, scrub(strings.ReplaceAll(p.body, nip, "NIP")))
	}
	known, unk := run(u.NIP), run(unknown)
	for i := range known {
		if known[i] != unk[i] {
			t.Errorf("page %d differs between a known and an unknown NIP:\n%s\n---\n%s", i+1, known[i], unk[i])
		}
	}
	if got := r.user(t, u.NIP).FailedPasswords; got != 3 {
		t.Errorf("failures recorded = %d, want 3 (the attempt without the captcha is not evaluated)", got)
	}

	// On to the cap, a solved captcha each time, waiting out each delay.
	// A new login page does not know the NIP yet: its first attempt is
	// answered with the captcha.
	b := newBrowser(t)
	p := b.follow(r.URL, authorizeURL(r.URL, authorizeParams(newPKCE())))
	p = r.loginAttempt(t, b, p, u.NIP, "salah lagi", true)
	wantMessage(t, "first attempt in a new browser", p, http.StatusUnauthorized, "captcha.required")
	p = b.submit(p, "/login/", map[string]string{"nip": u.NIP, "password": "salah lagi", "captcha": "x" + r.captchaAnswer(t, p)})
	wantMessage(t, "a wrong captcha", p, http.StatusUnauthorized, "captcha.wrong")
	for n := 4; n <= lockAfter; n++ {
		r.clock.Advance(r.cfg.Password.DelayMax)
		p = r.loginAttempt(t, b, p, u.NIP, fmt.Sprintf("masih salah %d", n), true)
		if p.status != http.StatusUnauthorized || !hasCaptcha(p) {
			t.Fatalf("failure %d = %d (captcha %v), want 401 with a captcha", n, p.status, hasCaptcha(p))
		}
		if n == r.cfg.Password.DelayAfter && p.header.Get("Retry-After") == "" {
			// The delay shows on the next attempt; this one started it.
			if got := r.user(t, u.NIP).LockedUntil; !got.After(r.clock.Now()) {
				t.Errorf("failure %d started no delay", n)
			}
		}
	}
	got := r.user(t, u.NIP)
	if !got.PasswordLocked || got.FailedPasswords != lockAfter {
		t.Fatalf("after %d failures: locked %v, failures %d", lockAfter, got.PasswordLocked, got.FailedPasswords)
	}
	r.clock.Advance(r.cfg.Password.DelayMax)
	p = r.loginAttempt(t, b, p, u.NIP, u.Password, true)
	wantMessage(t, "right password when locked", p, http.StatusUnauthorized, "login.locked")

	// Only a reset by email releases the lock.
	u.Password = newPassphrase()
	wantRedirect(t, "reset", r.resetPassword(t, newBrowser(t), "", u, u.Password), "/login/reset/done")
	if got := r.user(t, u.NIP); got.PasswordLocked || got.FailedPasswords != 0 {
		t.Errorf("after the reset: locked %v, failures %d", got.PasswordLocked, got.FailedPasswords)
	}
	fresh := newBrowser(t)
	p = fresh.follow(r.URL, authorizeURL(r.URL, authorizeParams(newPKCE())))
	if res := r.loginAttempt(t, fresh, p, u.NIP, u.Password, true); res.status != http.StatusSeeOther {
		t.Errorf("login after the reset = %d, want 303", res.status)
	}

	// A success before the cap clears the count: no captcha next time.
	v := r.addUser(true)
	vb := newBrowser(t)
	p = vb.follow(r.URL, authorizeURL(r.URL, authorizeParams(newPKCE())))
	for i := range 3 {
		p = r.loginAttempt(t, vb, p, v.NIP, fmt.Sprint("salah ", i), true)
	}
	if res := r.loginAttempt(t, vb, p, v.NIP, v.Password, true); res.status != http.StatusSeeOther {
		t.Fatalf("right password with the captcha after 3 failures = %d", res.status)
	}
	if got := r.user(t, v.NIP).FailedPasswords; got != 0 {
		t.Errorf("failures after a success = %d, want 0", got)
	}
	again := newBrowser(t)
	p = again.follow(r.URL, authorizeURL(r.URL, authorizeParams(newPKCE())))
	if res := r.loginAttempt(t, again, p, v.NIP, "salah lagi", false); hasCaptcha(res) {
		t.Error("a failure after a success brought the captcha back at once")
	}
}

// B5: one password sprayed across many NIPs from one client, then from
// many: the client, then everyone, must solve a captcha, an alert is
// logged each time, and no account is delayed or locked.
func TestLoginCaptcha_B5_Spraying(t *testing.T) {
	r := startResetOP(t, "ASNIDP_CAPTCHA_ENABLED=true", "ASNIDP_TRUSTED_PROXIES=127.0.0.1/32",
		"ASNIDP_CAPTCHA_LOGIN_IP_AFTER=3", "ASNIDP_CAPTCHA_LOGIN_GLOBAL_PER_HOUR=8")
	r.addClient("--id", "profil", "--redirect-uri", rpRedirect)
	var victims []testUser
	for range 3 {
		victims = append(victims, r.addUser(true))
	}
	const sprayed = "Rahasia2024!"
	loginPage := func(b *browser) *page {
		return b.follow(r.URL, authorizeURL(r.URL, authorizeParams(newPKCE())))
	}

	one := browserFrom(t, "10.1.1.1")
	p := loginPage(one)
	for i, nip := range []string{victims[0].NIP, newNIP(), victims[1].NIP} {
		p = r.loginAttempt(t, one, p, nip, sprayed, false)
		if p.status != http.StatusUnauthorized {
			t.Fatalf("spray %d = %d", i+1, p.status)
		}
	}
	if !hasCaptcha(loginPage(one)) {
		t.Error("after 3 failures from one client, its login page shows no captcha")
	}
	res := r.loginAttempt(t, one, p, victims[2].NIP, sprayed, false)
	wantMessage(t, "a fresh NIP from the spraying client without the captcha", res, http.StatusUnauthorized, "captcha.required")
	if got := r.user(t, victims[2].NIP).FailedPasswords; got != 0 {
		t.Errorf("the refused attempt was evaluated: %d failures", got)
	}
	if r.logLines("ALERT: password failures from one client IP", "ip=10.1.1.1") != 1 {
		t.Error("no alert for the spraying client")
	}
	if hasCaptcha(loginPage(browserFrom(t, "10.9.9.9"))) {
		t.Error("another client must not need a captcha yet")
	}

	// Five more clients, one failure each: the service-wide rate is
	// reached and every client needs a captcha.
	for i := range 5 {
		b := browserFrom(t, fmt.Sprintf("10.2.0.%d", i+1))
		if res := r.loginAttempt(t, b, loginPage(b), newNIP(), sprayed, false); res.status != http.StatusUnauthorized {
			t.Fatalf("spray from client %d = %d", i+1, res.status)
		}
	}
	if r.logLines("ALERT: password failures across all accounts") != 1 {
		t.Error("no alert for the service-wide failure rate")
	}
	fresh := browserFrom(t, "10.3.3.3")
	p = loginPage(fresh)
	if !hasCaptcha(p) {
		t.Error("during the attack a new client's login page shows no captcha")
	}
	wantMessage(t, "a new client without the captcha", r.loginAttempt(t, fresh, p, victims[2].NIP, sprayed, false),
		http.StatusUnauthorized, "captcha.required")
	for _, v := range victims {
		if got := r.user(t, v.NIP); got.PasswordLocked || got.FailedPasswords > 1 || got.LockedUntil.After(r.clock.Now()) {
			t.Errorf("victim %s: locked %v, failures %d, delayed until %v; want no lock storm", v.NIP, got.PasswordLocked, got.FailedPasswords, got.LockedUntil)
		}
	}
	// The employee still gets in, with the captcha.
	p = loginPage(fresh)
	if res := r.loginAttempt(t, fresh, p, victims[2].NIP, victims[2].Password, true); res.status != http.StatusSeeOther {
		t.Errorf("the employee's own login during the attack = %d, want 303", res.status)
	}
}

// anotherPicture follows the captcha's "Gambar lain" link on p.
func anotherPicture(t *testing.T, r *resetOP, b *browser, p *page) *page {
	t.Helper()
	m := regexp.MustCompile(`class="captcha-new" href="([^"]+)"`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no link to another captcha picture on %s:\n%s", p.url, p.body)
	}
	next := b.get(r.URL + html.UnescapeString(m[1]))
	if next.status != http.StatusOK || !hasCaptcha(next) {
		t.Fatalf("another picture = %d (captcha %v):\n%s", next.status, hasCaptcha(next), next.body)
	}
	return next
}

// A picture too hard to read can be swapped for another; the one swapped
// away is used up, so the link is no way to keep guessing the same
// challenge (C2). The login page keeps the NIP typed so far.
func TestCaptcha_AnotherPicture_C2(t *testing.T) {
	r := startResetOP(t, "ASNIDP_CAPTCHA_ENABLED=true", "ASNIDP_CAPTCHA_LOGIN_IP_AFTER=1")
	r.addClient("--id", "profil", "--redirect-uri", rpRedirect)
	u := r.addUser(true)
	b := newBrowser(t)

	first := b.get(r.URL + "/login/reset")
	oldForm, _ := parseForm(t, first, "/login/reset")
	oldAnswer := r.captchaAnswer(t, first)
	img := regexp.MustCompile(`class="captcha" src="data:image/png;base64,([^"]+)"`).FindStringSubmatch(first.body)
	if img == nil {
		t.Fatalf("no captcha picture:\n%s", first.body)
	}
	if cfg := decodePNGConfig(t, img[1]); cfg.Width < 300 || cfg.Height < 100 {
		t.Errorf("captcha picture is %d×%d, want at least 300×100 for a phone", cfg.Width, cfg.Height)
	}

	second := anotherPicture(t, r, b, first)
	newForm, _ := parseForm(t, second, "/login/reset")
	if newForm.Get("captcha_id") == oldForm.Get("captcha_id") {
		t.Fatal("another picture shows the same challenge")
	}
	wantMessage(t, "the swapped-away answer", b.submit(second, "/login/reset", map[string]string{
		"nip": u.NIP, "captcha_id": oldForm.Get("captcha_id"), "captcha": oldAnswer}),
		http.StatusUnprocessableEntity, "captcha.wrong")
	third := anotherPicture(t, r, b, second)
	wantRedirect(t, "the new picture's answer", b.submit(third, "/login/reset", map[string]string{
		"nip": u.NIP, "captcha": r.captchaAnswer(t, third)}), "/login/reset/email")

	// Another browser cannot use the link to burn this browser's challenge.
	mine := b.get(r.URL + "/login/reset")
	anotherPicture(t, r, newBrowser(t), mine)
	wantRedirect(t, "a challenge another browser tried to swap away", b.submit(mine, "/login/reset", map[string]string{
		"nip": u.NIP, "captcha": r.captchaAnswer(t, mine)}), "/login/reset/email")

	// On the login page, after a failure from this IP.
	login := b.follow(r.URL, authorizeURL(r.URL, authorizeParams(newPKCE())))
	failed := b.submit(login, "/login/", map[string]string{"nip": u.NIP, "password": "salah sekali"})
	if !hasCaptcha(failed) {
		t.Fatalf("no captcha after a failure from this IP:\n%s", failed.body)
	}
	again := anotherPicture(t, r, b, failed)
	form, _ := parseForm(t, again, "/login/")
	if form.Get("nip") != u.NIP {
		t.Errorf("NIP on the login page with another picture = %q, want %q", form.Get("nip"), u.NIP)
	}
	if res := r.loginAttempt(t, b, again, u.NIP, u.Password, true); res.status != http.StatusSeeOther {
		t.Errorf("login with the new picture's answer = %d, want 303:\n%s", res.status, res.body)
	}
}

func decodePNGConfig(t *testing.T, b64 string) image.Config {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(html.UnescapeString(b64))
	if err != nil {
		t.Fatalf("captcha picture is not base64: %v", err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("captcha picture is not a PNG: %v", err)
	}
	return cfg
}
