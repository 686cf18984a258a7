package main

// The captcha of the login page (docs/security.md B1, B5): from the
// third consecutive failure of an account, known or not, and for clients
// or a whole service under a spraying attack.

import (
	"fmt"
	"net/http"
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
