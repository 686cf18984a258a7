package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client/rp"

	"github.com/asnidp/asnidp/internal/cookie"
	"github.com/asnidp/asnidp/internal/i18n"
	"github.com/asnidp/asnidp/internal/optest"
	"github.com/asnidp/asnidp/storage"
	"github.com/asnidp/asnidp/storage/sqlstore"
)

// The tests in this file attack the second factor (docs/security.md A, B2,
// B3, G2, H6) through the real server: a browser that keeps cookies and
// does not follow redirects, the injected clock, and a second handle on the
// SQLite file to check what the flows wrote.

// mfaOP is a test OP with the confidential client "profil" registered.
type mfaOP struct {
	*testOP
	secret string
	db     *sqlstore.Store
	raw    *sql.DB
}

func startMFAOP(t *testing.T) *mfaOP {
	t.Helper()
	o := startOP(t)
	secret := o.addClient("--id", "profil", "--redirect-uri", rpRedirect, "--post-logout-redirect-uri", rpPostLogout)
	db, err := sqlstore.Open(t.Context(), sqlstore.Options{Driver: sqlstore.DriverSQLite, DSN: o.cfg.Database.DSN})
	if err != nil {
		t.Fatalf("open a second store on the test database: %v", err)
	}
	raw, err := sql.Open("sqlite3", o.cfg.Database.DSN)
	if err != nil {
		t.Fatalf("open the test database: %v", err)
	}
	t.Cleanup(func() {
		db.Close()
		raw.Close()
	})
	return &mfaOP{testOP: o, secret: secret, db: db, raw: raw}
}

// enrolledUser provisions an employee and completes the first login, with
// enrolment, in a browser of its own; o.seeds then holds the phone's seed.
func (m *mfaOP) enrolledUser(t *testing.T) testUser {
	t.Helper()
	u := m.addUser(true)
	b := newBrowser(t)
	loginPage, _ := m.beginLogin(t, b)
	factor := m.password(b, loginPage, u)
	if !isEnrolPage(factor) {
		t.Fatalf("first login: got %s, want the enrolment page:\n%s", factor.url, factor.body)
	}
	m.wantCode(t, b, m.secondFactor(b, factor, u))
	return u
}

// beginLogin sends b to /authorize for profil (kv overrides parameters)
// and returns the login page and the auth request ID it carries.
func (m *mfaOP) beginLogin(t *testing.T, b *browser, kv ...string) (*page, string) {
	t.Helper()
	p := b.follow(m.URL, authorizeURL(m.URL, withParams(authorizeParams(newPKCE()), kv...)))
	if !isLoginPage(p) {
		t.Fatalf("authorize: got status %d Location %q, want the login page:\n%s", p.status, p.location(), p.body)
	}
	form, _ := parseForm(t, p, "/login/")
	return p, form.Get("id")
}

// atCodePage signs u in with the password and returns the code page.
func (m *mfaOP) atCodePage(t *testing.T, b *browser, u testUser) (*page, string) {
	t.Helper()
	loginPage, id := m.beginLogin(t, b)
	p := m.password(b, loginPage, u)
	if !isCodePage(p) {
		t.Fatalf("after the password: got %s, want the code page:\n%s", p.url, p.body)
	}
	return p, id
}

// signIn completes a login for u in b (both factors) and returns the
// code and the auth request ID.
func (m *mfaOP) signIn(t *testing.T, b *browser, u testUser) (code, id string) {
	t.Helper()
	cp, id := m.atCodePage(t, b, u)
	return m.wantCode(t, b, b.submit(cp, "/login/otp", map[string]string{"code": m.nextCode(u)})), id
}

func (m *mfaOP) callbackURL(id string) string {
	return m.URL + "/authorize/callback?id=" + url.QueryEscape(id)
}

// wantCode follows p, the answer to the last factor, through the recovery
// codes page (if shown) and the callback, and returns the code the client
// receives.
func (m *mfaOP) wantCode(t *testing.T, b *browser, p *page) string {
	t.Helper()
	p = pastRecoveryCodes(b, p) // the codes of a new authenticator, saved
	if p.status != http.StatusSeeOther || !strings.Contains(p.location(), "/authorize/callback?id=") {
		t.Fatalf("got status %d Location %q, want a redirect to the callback:\n%s", p.status, p.location(), p.body)
	}
	code, _ := codeFrom(t, b.follow(m.URL, p.location()), rpRedirect)
	return code
}

// wantNoCode fails when p hands the client a code, or when it sends the
// browser to the callback as if a factor had been completed.
func wantNoCode(t *testing.T, what string, p *page) {
	t.Helper()
	loc := p.location()
	if strings.HasPrefix(loc, rpRedirect) && queryOf(t, loc).Get("code") != "" {
		t.Errorf("%s: a code was issued: Location %q", what, loc)
	}
	if strings.Contains(loc, "/authorize/callback") {
		t.Errorf("%s: sent to the callback (Location %q), want no completed factor", what, loc)
	}
}

func isLoginPage(p *page) bool {
	return p.status == http.StatusOK && strings.Contains(p.body, `name="password"`)
}

func isCodePage(p *page) bool {
	return p.status == http.StatusOK && strings.Contains(p.body, `action="/login/otp"`)
}

func isEnrolPage(p *page) bool {
	return p.status == http.StatusOK && strings.Contains(p.body, `action="/login/enrol"`) && strings.Contains(p.body, `id="secret"`)
}

// csrfPost posts a form the page did not serve, as a script would, with
// the CSRF token from b's cookie (CSRF is not what these tests attack).
func (m *mfaOP) csrfPost(t *testing.T, b *browser, path string, form url.Values) *page {
	t.Helper()
	form.Set("csrf", cookieValue(t, b, m.testOP, cookie.CSRF))
	return b.post(m.URL+path, form)
}

// cookieValue is the value of cookie name in b for the OP, or "".
func cookieValue(t *testing.T, b *browser, o *testOP, name string) string {
	t.Helper()
	u, _ := url.Parse(o.URL)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// setCookie plants a cookie in b, as an attacker or a shared device would.
func setCookie(b *browser, o *testOP, name, value string) {
	u, _ := url.Parse(o.URL)
	c := &http.Cookie{Name: name, Value: value, Path: "/"}
	if value == "" {
		c.MaxAge = -1
	}
	b.client.Jar.SetCookies(u, []*http.Cookie{c})
}

func (m *mfaOP) user(t *testing.T, nip string) *storage.User {
	t.Helper()
	u, err := m.db.UserByNIP(t.Context(), nip)
	if err != nil {
		t.Fatalf("UserByNIP(%q): %v", nip, err)
	}
	return u
}

func (m *mfaOP) authRequest(t *testing.T, id string) *storage.AuthRequest {
	t.Helper()
	ar, err := m.db.AuthRequestByID(t.Context(), id, m.clock.Now())
	if err != nil {
		t.Fatalf("AuthRequestByID(%q): %v", id, err)
	}
	return ar
}

// wantNotDone fails when auth request id has a second factor, a session or
// a code recorded.
func (m *mfaOP) wantNotDone(t *testing.T, what, id string) {
	t.Helper()
	ar := m.authRequest(t, id)
	if !ar.OTPAt.IsZero() || ar.SessionID != "" || ar.CodeHash != "" {
		t.Errorf("%s: auth request has otp_at %v, session %q, code set %v; want none", what, ar.OTPAt, ar.SessionID, ar.CodeHash != "")
	}
}

// count runs a COUNT query on the test database.
func (m *mfaOP) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := m.raw.QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// logLines counts the server's log lines that contain every part.
func (m *mfaOP) logLines(parts ...string) int {
	n := 0
	for line := range strings.SplitSeq(m.logs.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

// seed is u's authenticator seed as the phone holds it.
func (m *mfaOP) seed(t *testing.T, u testUser) []byte {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.seeds[u.NIP]
	if s == nil {
		t.Fatalf("no authenticator seed for %s", u.NIP)
	}
	return s
}

// codeAt is the code u's phone shows when its clock is off the server's by
// offset.
func (m *mfaOP) codeAt(t *testing.T, u testUser, offset time.Duration) string {
	t.Helper()
	return rfc6238(m.seed(t, u), m.clock.Now().Add(offset).Unix()/30)
}

// wrongCode returns the n-th of a series of well-formed codes, skipping
// any that matches a step the server could accept for seed now.
func (m *mfaOP) wrongCode(seed []byte, n int) string {
	step := m.clock.Now().Unix() / 30
	valid := map[string]bool{}
	for s := step - 2; s <= step+2; s++ {
		valid[rfc6238(seed, s)] = true
	}
	for i := n; ; i++ {
		if c := fmt.Sprintf("%06d", i*7919%1_000_000); !valid[c] {
			return c
		}
	}
}

// foreignCode is the current code of a seed that is not seed.
func (m *mfaOP) foreignCode(seed []byte) string {
	for {
		other := make([]byte, 20)
		rand.Read(other)
		if c := rfc6238(other, m.clock.Now().Unix()/30); !slices.Contains(m.validCodes(seed), c) {
			return c
		}
	}
}

func (m *mfaOP) validCodes(seed []byte) []string {
	step := m.clock.Now().Unix() / 30
	return []string{rfc6238(seed, step-1), rfc6238(seed, step), rfc6238(seed, step+1)}
}

var messages = sync.OnceValues(i18n.New)

// msg is the Indonesian (default) text of a message key as a page shows it.
func msg(t *testing.T, key string) string {
	t.Helper()
	c, err := messages()
	if err != nil {
		t.Fatalf("load message catalog: %v", err)
	}
	return html.EscapeString(c.Localizer("id").T(key))
}

// wantRefused fails unless p is the code or enrolment page again with the
// message key and status 401: no redirect, nothing completed.
func wantRefused(t *testing.T, what string, p *page, key string) {
	t.Helper()
	wantNoCode(t, what, p)
	if p.status != http.StatusUnauthorized || !strings.Contains(p.body, msg(t, key)) {
		t.Errorf("%s: got status %d Location %q, want 401 with %q", what, p.status, p.location(), key)
	}
}

// A1 and docs/security.md "MFA cannot be skipped": every later step loaded
// directly, without the earlier one done in this browser, completes
// nothing and issues no code.
func TestMFA_A1_CannotBeSkipped(t *testing.T) {
	m := startMFAOP(t)
	u := m.enrolledUser(t)
	lastStep := m.user(t, u.NIP).TOTPLastStep
	wantStepUnused := func(t *testing.T) {
		t.Helper()
		if got := m.user(t, u.NIP).TOTPLastStep; got != lastStep {
			t.Errorf("last accepted TOTP step = %d, want %d (no code consumed)", got, lastStep)
		}
	}

	t.Run("callback before the password", func(t *testing.T) {
		b := newBrowser(t)
		_, id := m.beginLogin(t, b)
		p := b.get(m.callbackURL(id))
		wantNoCode(t, "callback", p)
		if back := b.follow(m.URL, p.location()); !isLoginPage(back) {
			t.Errorf("callback before the password led to %s (status %d), want the login page", back.url, back.status)
		}
		m.wantNotDone(t, "callback before the password", id)
	})

	t.Run("callback after the password only", func(t *testing.T) {
		b := newBrowser(t)
		codePage, id := m.atCodePage(t, b, u)
		p := b.get(m.callbackURL(id))
		wantNoCode(t, "callback", p)
		if back := b.follow(m.URL, p.location()); !isCodePage(back) {
			t.Errorf("callback after the password led to %s (status %d), want the code page", back.url, back.status)
		}
		m.wantNotDone(t, "callback after the password", id)
		wantStepUnused(t)

		// The pending login is intact: the right code still completes it.
		m.wantCode(t, b, b.submit(codePage, "/login/otp", map[string]string{"code": m.nextCode(u)}))
		lastStep = m.user(t, u.NIP).TOTPLastStep
	})

	t.Run("token endpoint with the auth request id or a guess", func(t *testing.T) {
		b := newBrowser(t)
		_, id := m.atCodePage(t, b, u)
		for _, code := range []string{id, "ar_" + rand.Text(), rand.Text() + rand.Text()} {
			resp := mustOAuthPost(t, m.testOP, "/oauth/token", "profil", m.secret, url.Values{
				"grant_type":    {"authorization_code"},
				"code":          {code},
				"redirect_uri":  {rpRedirect},
				"code_verifier": {newPKCE().verifier},
			})
			if resp.Error != "invalid_grant" || resp.AccessToken != "" || resp.IDToken != "" {
				t.Errorf("token request with code %.6s…: status %d error %q, want invalid_grant and no token", code, resp.status, resp.Error)
			}
		}
		m.wantNotDone(t, "token endpoint", id)
	})

	t.Run("guessed auth request id", func(t *testing.T) {
		b := newBrowser(t)
		m.atCodePage(t, b, u)
		p := b.get(m.callbackURL("ar_" + rand.Text()))
		wantNoCode(t, "callback with a guessed id", p)
		if last := b.follow(m.URL, p.location()); last.status != http.StatusBadRequest {
			t.Errorf("callback with a guessed id ended with status %d at %s, want 400 (unknown request)", last.status, last.url)
		}
	})

	t.Run("auth request id replayed from another browser", func(t *testing.T) {
		victim, attacker := newBrowser(t), newBrowser(t)
		codePage, id := m.atCodePage(t, victim, u)
		m.beginLogin(t, attacker)

		p := attacker.get(m.callbackURL(id))
		wantNoCode(t, "attacker's callback before the code", p)
		if last := attacker.follow(m.URL, p.location()); last.status != http.StatusForbidden {
			t.Errorf("attacker's callback ended with status %d at %s, want 403 (other browser)", last.status, last.url)
		}

		done := victim.submit(codePage, "/login/otp", map[string]string{"code": m.nextCode(u)})
		wantNoCode(t, "attacker's callback between code and callback", attacker.get(m.callbackURL(id)))
		m.wantCode(t, victim, done)
		lastStep = m.user(t, u.NIP).TOTPLastStep
		wantNoCode(t, "attacker's callback after the code", attacker.get(m.callbackURL(id)))
		wantNoCode(t, "victim's second callback", victim.get(m.callbackURL(id)))
	})

	t.Run("code page without the password", func(t *testing.T) {
		b := newBrowser(t)
		_, id := m.beginLogin(t, b)
		p := b.get(m.URL + "/login/otp?id=" + id)
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/login/?id=") {
			t.Errorf("GET code page without the password = %d %q, want 303 to the login page", p.status, p.location())
		}
		p = m.csrfPost(t, b, "/login/otp", url.Values{"id": {id}, "code": {m.nextCode(u)}})
		wantNoCode(t, "POST code page without the password", p)
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/login/?id=") {
			t.Errorf("POST code page without the password = %d %q, want 303 to the login page", p.status, p.location())
		}
		m.wantNotDone(t, "code page without the password", id)
		wantStepUnused(t)
	})

	t.Run("enrolment without the password", func(t *testing.T) {
		fresh := m.addUser(true)
		b := newBrowser(t)
		_, id := m.beginLogin(t, b, "login_hint", fresh.NIP)
		if p := b.get(m.URL + "/login/enrol?id=" + id); p.status != http.StatusSeeOther || strings.Contains(p.body, `id="secret"`) {
			t.Errorf("GET enrolment without the password = %d %q, want 303 and no seed", p.status, p.location())
		}
		p := m.csrfPost(t, b, "/login/enrol", url.Values{"id": {id}, "code": {"123456"}})
		wantNoCode(t, "POST enrolment without the password", p)
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/login/?id=") {
			t.Errorf("POST enrolment without the password = %d %q, want 303 to the login page", p.status, p.location())
		}
		m.wantNotDone(t, "enrolment without the password", id)
		if got := m.user(t, fresh.NIP); got.HasAuthenticator() {
			t.Error("an authenticator was bound without a password")
		}
	})

	t.Run("second factor of another browser's pending login", func(t *testing.T) {
		victim, attacker := newBrowser(t), newBrowser(t)
		_, id := m.atCodePage(t, victim, u)
		m.beginLogin(t, attacker)
		if p := attacker.get(m.URL + "/login/otp?id=" + id); p.status != http.StatusForbidden {
			t.Errorf("attacker GET code page = %d, want 403", p.status)
		}
		for _, path := range []string{"/login/otp", "/login/enrol"} {
			p := m.csrfPost(t, attacker, path, url.Values{"id": {id}, "code": {m.nextCode(u)}})
			wantNoCode(t, "attacker POST "+path, p)
			if p.status != http.StatusForbidden {
				t.Errorf("attacker POST %s = %d, want 403", path, p.status)
			}
		}
		m.wantNotDone(t, "another browser's factor", id)
		wantStepUnused(t)
	})
}

// A2: an account without an authenticator cannot leave the enrolment page
// for the callback or the code page; only a code of the seed shown to it
// binds an authenticator and completes the login.
func TestMFA_A2_EnrolmentCannotBeSkipped(t *testing.T) {
	m := startMFAOP(t)
	u := m.addUser(true)
	b := newBrowser(t)
	loginPage, id := m.beginLogin(t, b)
	done := b.submit(loginPage, "/login/", map[string]string{"nip": u.NIP, "password": u.Password})
	if done.status != http.StatusSeeOther || !strings.HasPrefix(done.location(), "/login/enrol?id=") {
		t.Fatalf("password POST = %d %q, want 303 to the enrolment page", done.status, done.location())
	}
	wantNotBound := func(what string) {
		t.Helper()
		if m.user(t, u.NIP).HasAuthenticator() {
			t.Fatalf("%s: an authenticator was bound", what)
		}
		m.wantNotDone(t, what, id)
	}

	// Confirming before any seed was shown binds nothing.
	p := m.csrfPost(t, b, "/login/enrol", url.Values{"id": {id}, "code": {"123456"}})
	wantNoCode(t, "confirm before the QR page", p)
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/login/enrol?id=") {
		t.Errorf("confirm before the QR page = %d %q, want 303 to the enrolment page", p.status, p.location())
	}
	wantNotBound("confirm before the QR page")

	for _, tc := range []struct{ name, url string }{
		{"callback", m.callbackURL(id)},
		{"code page", m.URL + "/login/otp?id=" + id},
		{"login page", m.URL + "/login/?id=" + id},
	} {
		if p := b.follow(m.URL, tc.url); !isEnrolPage(p) {
			t.Errorf("%s after the password: got status %d at %s, want the enrolment page", tc.name, p.status, p.url)
		}
	}
	p = m.csrfPost(t, b, "/login/otp", url.Values{"id": {id}, "code": {"123456"}})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/login/enrol?id=") {
		t.Errorf("POST code page without an authenticator = %d %q, want 303 to the enrolment page", p.status, p.location())
	}
	wantNotBound("skipping to the code page")

	enrol := b.follow(m.URL, "/login/enrol?id="+id)
	seed := seedFromPage(t, enrol)
	m.clock.Advance(totpPeriod)
	wantRefused(t, "code of another seed", b.submit(enrol, "/login/enrol", map[string]string{"code": m.foreignCode(seed)}), "enrol.wrong")
	wantNotBound("code of another seed")

	m.wantCode(t, b, b.submit(enrol, "/login/enrol", map[string]string{"code": rfc6238(seed, m.clock.Now().Unix()/30)}))
	if !m.user(t, u.NIP).HasAuthenticator() {
		t.Error("the confirmed authenticator is not bound")
	}

	// After an operator resets the authenticator, the old seed's codes
	// bind nothing: only the new seed shown counts.
	got := m.user(t, u.NIP)
	if err := m.db.ResetTOTP(t.Context(), got.ID, m.clock.Now()); err != nil {
		t.Fatal(err)
	}
	b = newBrowser(t)
	loginPage, id = m.beginLogin(t, b)
	enrol = m.password(b, loginPage, u)
	if !isEnrolPage(enrol) {
		t.Fatalf("after an authenticator reset: got %s, want the enrolment page", enrol.url)
	}
	newSeed := seedFromPage(t, enrol)
	if string(newSeed) == string(seed) {
		t.Fatal("the enrolment page offered the old seed again")
	}
	m.clock.Advance(totpPeriod)
	oldCode := rfc6238(seed, m.clock.Now().Unix()/30)
	if !slices.Contains(m.validCodes(newSeed), oldCode) {
		wantRefused(t, "old seed after a reset", b.submit(enrol, "/login/enrol", map[string]string{"code": oldCode}), "enrol.wrong")
		wantNotBound("old seed after a reset")
	}
	m.wantCode(t, b, b.submit(enrol, "/login/enrol", map[string]string{"code": rfc6238(newSeed, m.clock.Now().Unix()/30)}))
}

// A3: a wrong, foreign or missing enrolment code binds nothing and the page
// can be retried within the enrolment TTL; after it, only a fresh password
// login continues.
func TestMFA_A3_EnrolmentConfirmation(t *testing.T) {
	m := startMFAOP(t)
	ttl := m.cfg.Session.Enrolment

	t.Run("retry within the TTL", func(t *testing.T) {
		u := m.addUser(true)
		b := newBrowser(t)
		loginPage, _ := m.beginLogin(t, b)
		enrol := m.password(b, loginPage, u)
		seed := seedFromPage(t, enrol)
		for _, tc := range []struct{ name, code string }{
			{"wrong code", m.wrongCode(seed, 1)},
			{"code of another seed", m.foreignCode(seed)},
			{"no code", ""},
		} {
			p := b.submit(enrol, "/login/enrol", map[string]string{"code": tc.code})
			wantRefused(t, tc.name, p, "enrol.wrong")
			if !isEnrolPage(&page{status: http.StatusOK, body: p.body}) {
				t.Errorf("%s: the enrolment form is not offered again", tc.name)
			}
			if m.user(t, u.NIP).HasAuthenticator() {
				t.Fatalf("%s: an authenticator was bound", tc.name)
			}
		}
		m.clock.Advance(ttl - time.Minute)
		m.wantCode(t, b, b.submit(enrol, "/login/enrol", map[string]string{"code": rfc6238(seed, m.clock.Now().Unix()/30)}))
	})

	t.Run("after the TTL", func(t *testing.T) {
		u := m.addUser(true)
		b := newBrowser(t)
		loginPage, id := m.beginLogin(t, b)
		enrol := m.password(b, loginPage, u)
		seed := seedFromPage(t, enrol)
		m.clock.Advance(ttl + time.Second)
		p := b.submit(enrol, "/login/enrol", map[string]string{"code": rfc6238(seed, m.clock.Now().Unix()/30)})
		wantNoCode(t, "confirm after the TTL", p)
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/login/?id=") {
			t.Errorf("confirm after the TTL = %d %q, want 303 to the login page", p.status, p.location())
		}
		if m.user(t, u.NIP).HasAuthenticator() {
			t.Fatal("an authenticator was bound after the enrolment TTL")
		}
		if again := b.follow(m.URL, "/login/enrol?id="+id); !isLoginPage(again) {
			t.Errorf("enrolment page after the TTL: got status %d at %s, want the login page", again.status, again.url)
		}
		enrol = m.password(b, b.follow(m.URL, "/login/?id="+id), u)
		fresh := seedFromPage(t, enrol)
		if string(fresh) == string(seed) {
			t.Error("the expired seed was offered again")
		}
		m.wantCode(t, b, b.submit(enrol, "/login/enrol", map[string]string{"code": rfc6238(fresh, m.clock.Now().Unix()/30)}))
	})
}

// A4: with an authenticator bound, the enrolment endpoints show no seed and
// bind none, even for a pending login that was offered one before.
func TestMFA_A4_BoundAuthenticatorIsNotReplaced(t *testing.T) {
	m := startMFAOP(t)
	u := m.addUser(true)

	// Two pending enrolments of one account (say the employee and someone
	// who has the password); the first confirmed wins.
	first, second := newBrowser(t), newBrowser(t)
	lp, _ := m.beginLogin(t, first)
	enrolFirst := m.password(first, lp, u)
	lp, _ = m.beginLogin(t, second)
	enrolSecond := m.password(second, lp, u)
	seedFirst, seedSecond := seedFromPage(t, enrolFirst), seedFromPage(t, enrolSecond)
	m.mu.Lock()
	m.seeds[u.NIP] = seedFirst
	m.mu.Unlock()

	m.wantCode(t, first, first.submit(enrolFirst, "/login/enrol", map[string]string{"code": m.nextCode(u)}))
	bound := m.user(t, u.NIP)

	m.clock.Advance(totpPeriod)
	p := second.submit(enrolSecond, "/login/enrol", map[string]string{"code": rfc6238(seedSecond, m.clock.Now().Unix()/30)})
	wantNoCode(t, "second enrolment", p)
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/login/otp?id=") {
		t.Errorf("second enrolment = %d %q, want 303 to the code page", p.status, p.location())
	}

	b := newBrowser(t)
	codePage, id := m.atCodePage(t, b, u)
	p = b.get(m.URL + "/login/enrol?id=" + id)
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/login/otp?id=") || strings.Contains(p.body, `id="secret"`) {
		t.Errorf("GET enrolment with an authenticator = %d %q, want 303 to the code page and no seed", p.status, p.location())
	}
	attackerSeed := make([]byte, 20)
	rand.Read(attackerSeed)
	p = m.csrfPost(t, b, "/login/enrol", url.Values{"id": {id}, "code": {rfc6238(attackerSeed, m.clock.Now().Unix()/30)}})
	wantNoCode(t, "POST enrolment with an authenticator", p)
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/login/otp?id=") {
		t.Errorf("POST enrolment with an authenticator = %d %q, want 303 to the code page", p.status, p.location())
	}
	m.wantNotDone(t, "POST enrolment with an authenticator", id)

	got := m.user(t, u.NIP)
	if string(got.TOTPSecret) != string(bound.TOTPSecret) || got.TOTPLastStep != bound.TOTPLastStep {
		t.Error("the bound authenticator was changed")
	}
	if n := m.logLines("Authenticator ditambahkan", u.NIP); n != 1 {
		t.Errorf("%d 'authenticator added' mails, want 1", n)
	}
	// The phone enrolled first still signs in.
	m.wantCode(t, b, b.submit(codePage, "/login/otp", map[string]string{"code": m.nextCode(u)}))
}

// A5: an attacker who starts a login and lures the victim into finishing it
// holds a browser value that is rotated away after each factor: it never
// shows the victim's seed, completes nothing and gets no code or session.
func TestMFA_A5_FixationThroughThePendingLogin(t *testing.T) {
	m := startMFAOP(t)
	victimUser := m.addUser(true)
	attacker, victim := newBrowser(t), newBrowser(t)
	_, id := m.beginLogin(t, attacker)
	planted := cookieValue(t, attacker, m.testOP, cookie.Browser)
	for _, name := range []string{cookie.Browser, cookie.CSRF} {
		setCookie(victim, m.testOP, name, cookieValue(t, attacker, m.testOP, name))
	}

	lure := victim.get(m.URL + "/login/?id=" + id)
	if !isLoginPage(lure) {
		t.Fatalf("the lure link did not show the login page: %d", lure.status)
	}
	done := victim.submit(lure, "/login/", map[string]string{"nip": victimUser.NIP, "password": victimUser.Password})
	afterPassword := cookieValue(t, victim, m.testOP, cookie.Browser)
	if afterPassword == "" || afterPassword == planted {
		t.Fatal("the browser value was not rotated after the password")
	}
	if p := attacker.get(m.URL + "/login/enrol?id=" + id); p.status != http.StatusForbidden || strings.Contains(p.body, `id="secret"`) {
		t.Errorf("attacker GET enrolment = %d, want 403 and no seed", p.status)
	}

	enrol := victim.follow(m.URL, done.location())
	m.mu.Lock()
	m.seeds[victimUser.NIP] = seedFromPage(t, enrol)
	m.mu.Unlock()
	p := m.csrfPost(t, attacker, "/login/enrol", url.Values{"id": {id}, "code": {m.nextCode(victimUser)}})
	if p.status != http.StatusForbidden {
		t.Errorf("attacker POST enrolment = %d, want 403", p.status)
	}
	if m.user(t, victimUser.NIP).HasAuthenticator() {
		t.Fatal("the attacker's browser bound an authenticator")
	}

	m.clock.Advance(totpPeriod)
	done = victim.submit(enrol, "/login/enrol", map[string]string{"code": m.codeAt(t, victimUser, 0)})
	if after := cookieValue(t, victim, m.testOP, cookie.Browser); after == afterPassword || after == planted {
		t.Error("the browser value was not rotated after the second factor")
	}
	wantNoCode(t, "attacker's callback", attacker.get(m.callbackURL(id)))
	m.wantCode(t, victim, done)
	wantNoCode(t, "attacker's callback after the victim's code", attacker.get(m.callbackURL(id)))

	if cookieValue(t, attacker, m.testOP, cookie.Session) != "" {
		t.Error("the attacker's browser holds a session")
	}
	if p := attacker.follow(m.URL, authorizeURL(m.URL, authorizeParams(newPKCE()))); !isLoginPage(p) {
		t.Errorf("attacker's next authorization: got status %d Location %q, want the login page", p.status, p.location())
	}
	if p := victim.follow(m.URL, authorizeURL(m.URL, authorizeParams(newPKCE()))); p.status != http.StatusFound || queryOf(t, p.location()).Get("code") == "" {
		t.Errorf("victim's next authorization: got status %d Location %q, want a code from the SSO session", p.status, p.location())
	}
}

// A7: prompt=none needs a full session; max_age=0 and prompt=login ask for
// both factors again; the ID token says how and when the user signed in.
func TestMFA_A7_PromptAndMaxAge(t *testing.T) {
	m := startMFAOP(t)
	u := m.enrolledUser(t)
	r := newRelyingParty(t, m.testOP, "profil", m.secret)
	b := newBrowser(t)

	wantMFAToken := func(what string, code string, pk pkce, authTime time.Time) {
		t.Helper()
		claims := r.exchange(t, code, pk).IDTokenClaims
		if !slices.Equal(claims.AuthenticationMethodsReferences, []string{"pwd", "otp", "mfa"}) || claims.AuthenticationContextClassReference != m.cfg.Login.ACR {
			t.Errorf("%s: amr/acr = %v/%q, want [pwd otp mfa]/%q", what, claims.AuthenticationMethodsReferences, claims.AuthenticationContextClassReference, m.cfg.Login.ACR)
		}
		if got := claims.AuthTime.AsTime(); !got.Equal(authTime.Truncate(time.Second)) {
			t.Errorf("%s: auth_time = %v, want %v", what, got, authTime)
		}
	}
	// fullLogin expects the login page at start, completes both factors
	// and returns the authentication time.
	fullLogin := func(what string, opts ...rp.AuthURLOpt) time.Time {
		t.Helper()
		start, pk, _ := r.start(t, m.testOP, b, opts...)
		if !isLoginPage(start) {
			t.Fatalf("%s: got status %d Location %q, want the login page (both factors again)", what, start.status, start.location())
		}
		factor := m.password(b, start, u)
		if !isCodePage(factor) {
			t.Fatalf("%s: after the password got %s, want the code page", what, factor.url)
		}
		code, _ := codeFrom(t, b.follow(m.URL, m.secondFactor(b, factor, u).location()), rpRedirect)
		wantMFAToken(what, code, pk, m.clock.Now())
		return m.clock.Now()
	}

	// A password-only state is no session.
	start, _, _ := r.start(t, m.testOP, b)
	if factor := m.password(b, start, u); !isCodePage(factor) {
		t.Fatalf("after the password got %s, want the code page", factor.url)
	}
	p, _, _ := r.start(t, m.testOP, b, rp.WithPrompt("none"))
	wantLoginRequired(t, "prompt=none after the password only", p)

	authTime := fullLogin("first login")
	m.clock.Advance(time.Minute)
	code, pk := r.silent(t, m.testOP, b, rp.WithPrompt("none"))
	wantMFAToken("prompt=none with the full session", code, pk, authTime)

	fullLogin("max_age=0", rp.AuthURLOpt(rp.WithURLParam("max_age", "0")))
	authTime = fullLogin("prompt=login", rp.WithPrompt("login"))

	m.clock.Advance(5 * time.Minute)
	code, pk = r.silent(t, m.testOP, b, rp.AuthURLOpt(rp.WithURLParam("max_age", "600")))
	wantMFAToken("max_age=600 after five minutes", code, pk, authTime)
	m.clock.Advance(5*time.Minute + time.Second)
	fullLogin("max_age=600 after ten minutes", rp.AuthURLOpt(rp.WithURLParam("max_age", "600")))
}

// A8: one valid code passes once: a second submit in the same browser,
// one in a parallel login and one from a second browser within the
// 90-second window are refused, logged, and shown the "already used"
// message.
func TestMFA_A8_CodeReplay(t *testing.T) {
	m := startMFAOP(t)
	u := m.enrolledUser(t)
	first, second := newBrowser(t), newBrowser(t)
	firstPage, firstID := m.atCodePage(t, first, u)
	parallelPage, _ := m.atCodePage(t, second, u)

	code := m.nextCode(u)
	done := first.submit(firstPage, "/login/otp", map[string]string{"code": code})
	m.wantCode(t, first, done)
	replays := m.logLines("totp replay refused")

	// The finished login takes no further code at all.
	if p := first.submit(firstPage, "/login/otp", map[string]string{"code": code}); p.status != http.StatusBadRequest {
		t.Errorf("same code again in the finished login: status %d Location %q, want 400", p.status, p.location())
	}
	// A new login in the same browser session (prompt=login), a parallel
	// login and a second browser are told the code was used.
	loginPage, _ := m.beginLogin(t, first, "prompt", "login")
	again := m.password(first, loginPage, u)
	wantRefused(t, "same browser, new login", first.submit(again, "/login/otp", map[string]string{"code": code}), "otp.replayed")
	wantRefused(t, "parallel login", second.submit(parallelPage, "/login/otp", map[string]string{"code": code}), "otp.replayed")
	m.clock.Advance(totpPeriod) // still within the accepted window
	third := newBrowser(t)
	thirdPage, thirdID := m.atCodePage(t, third, u)
	wantRefused(t, "second browser 30 s later", third.submit(thirdPage, "/login/otp", map[string]string{"code": code}), "otp.replayed")
	m.wantNotDone(t, "second browser", thirdID)
	if got := m.logLines("totp replay refused") - replays; got != 3 {
		t.Errorf("%d replays logged, want 3", got)
	}
	if ar := m.authRequest(t, firstID); ar.CodeHash == "" {
		t.Error("the first login has no code")
	}

	// A genuinely new code still works.
	m.wantCode(t, third, third.submit(thirdPage, "/login/otp", map[string]string{"code": m.nextCode(u)}))
}

// A9: steps are accepted in increasing order only, within one step of the
// server's clock; no client time is read.
func TestMFA_A9_StepOrderAndSkew(t *testing.T) {
	m := startMFAOP(t)
	u := m.enrolledUser(t)
	m.clock.Advance(5 * time.Minute) // far from the enrolment step

	b := newBrowser(t)
	pg, _ := m.atCodePage(t, b, u)
	for _, tc := range []struct {
		name   string
		offset time.Duration
	}{
		{"phone 61 s behind", -61 * time.Second},
		{"phone 61 s ahead", 61 * time.Second},
	} {
		wantRefused(t, tc.name, b.submit(pg, "/login/otp", map[string]string{"code": m.codeAt(t, u, tc.offset)}), "otp.wrong")
	}
	// A time the client claims is never used.
	claimed := m.clock.Now().Add(5 * time.Minute)
	form, target := parseForm(t, pg, "/login/otp")
	form.Set("code", rfc6238(m.seed(t, u), claimed.Unix()/30))
	for _, k := range []string{"time", "timestamp", "now", "t"} {
		form.Set(k, strconv.Itoa(int(claimed.Unix())))
	}
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Date", claimed.UTC().Format(http.TimeFormat))
	wantRefused(t, "code of a client-claimed time", b.do(req), "otp.wrong")

	// Phone 30 s ahead: step N+1 is accepted, then step N is refused.
	m.wantCode(t, b, b.submit(pg, "/login/otp", map[string]string{"code": m.codeAt(t, u, totpPeriod)}))
	b = newBrowser(t)
	pg, id := m.atCodePage(t, b, u)
	wantRefused(t, "step N after step N+1", b.submit(pg, "/login/otp", map[string]string{"code": m.codeAt(t, u, 0)}), "otp.replayed")
	m.wantNotDone(t, "step N after step N+1", id)

	// Phone 30 s behind, once the clock is past the used steps.
	m.clock.Advance(3 * totpPeriod)
	m.wantCode(t, b, b.submit(pg, "/login/otp", map[string]string{"code": m.codeAt(t, u, -totpPeriod)}))
}

// A9: when two adjacent steps share their six digits, the value passes
// once, and the next genuinely new code is accepted.
func TestMFA_A9_AdjacentStepsWithTheSameCode(t *testing.T) {
	m := startMFAOP(t)
	u := m.enrolledUser(t)
	seed := m.seed(t, u)

	// The seed is the server's; the coincidence is found by moving the
	// server clock to the first pair of equal adjacent codes ahead.
	step := optest.RepeatedCodeStep(t, seed, m.clock.Now().Unix()/30+2)
	m.clock.Advance(time.Unix(step*30+10, 0).Sub(m.clock.Now()))
	same := rfc6238(seed, step)

	b := newBrowser(t)
	pg, _ := m.atCodePage(t, b, u)
	m.wantCode(t, b, b.submit(pg, "/login/otp", map[string]string{"code": same}))
	if got := m.user(t, u.NIP).TOTPLastStep; got != step+1 {
		t.Errorf("last step = %d, want %d (the later of the two equal steps)", got, step+1)
	}

	m.clock.Advance(totpPeriod) // the phone still shows the same digits
	b = newBrowser(t)
	pg, _ = m.atCodePage(t, b, u)
	wantRefused(t, "the shared value again", b.submit(pg, "/login/otp", map[string]string{"code": same}), "otp.replayed")

	m.clock.Advance(totpPeriod)
	m.wantCode(t, b, b.submit(pg, "/login/otp", map[string]string{"code": m.codeAt(t, u, 0)}))
}

// B2: five wrong codes end the pending login, the correct password does
// not reset the account's count, parallel logins add to one count, and the
// hundredth consecutive failure locks the authenticator and mails the
// employee.
func TestMFA_B2_WrongCodes(t *testing.T) {
	m := startMFAOP(t)
	u := m.enrolledUser(t)
	seed := m.seed(t, u)
	failures := func() int { t.Helper(); return m.user(t, u.NIP).FailedTOTP }

	b := newBrowser(t)
	pg, id := m.atCodePage(t, b, u)
	for i := 1; i < 5; i++ {
		wantRefused(t, "wrong code", b.submit(pg, "/login/otp", map[string]string{"code": m.wrongCode(seed, i)}), "otp.wrong")
	}
	p := b.submit(pg, "/login/otp", map[string]string{"code": m.wrongCode(seed, 5)})
	if p.status != http.StatusSeeOther || p.location() != "/login/?id="+id+"&notice=otp_too_many" {
		t.Fatalf("fifth wrong code = %d %q, want 303 to the login page", p.status, p.location())
	}
	if ar := m.authRequest(t, id); ar.UserID != "" || !ar.PasswordAt.IsZero() {
		t.Error("the pending login survived five wrong codes")
	}
	lastStep := m.user(t, u.NIP).TOTPLastStep
	p = b.submit(pg, "/login/otp", map[string]string{"code": m.nextCode(u)})
	wantNoCode(t, "right code after five wrong ones", p)
	if got := m.user(t, u.NIP).TOTPLastStep; got != lastStep {
		t.Error("a code was consumed by an ended pending login")
	}
	if got := failures(); got != 5 {
		t.Errorf("failures = %d, want 5", got)
	}

	// The password again, in this login and in a parallel one: the count
	// goes on.
	pg = m.password(b, b.follow(m.URL, "/login/?id="+id), u)
	other := newBrowser(t)
	otherPage, _ := m.atCodePage(t, other, u)
	if got := failures(); got != 5 {
		t.Errorf("after the password again failures = %d, want 5", got)
	}
	for i := range 2 {
		wantRefused(t, "wrong code", b.submit(pg, "/login/otp", map[string]string{"code": m.wrongCode(seed, 10+i)}), "otp.wrong")
		wantRefused(t, "wrong code in the parallel login", other.submit(otherPage, "/login/otp", map[string]string{"code": m.wrongCode(seed, 20+i)}), "otp.wrong")
	}
	if got := failures(); got != 9 {
		t.Errorf("after parallel logins failures = %d, want 9", got)
	}
	// A right code ends the run of consecutive failures.
	m.wantCode(t, other, other.submit(otherPage, "/login/otp", map[string]string{"code": m.nextCode(u)}))
	if got := failures(); got != 0 {
		t.Errorf("after a right code failures = %d, want 0", got)
	}

	// 100 consecutive failures: 20 pending logins of five wrong codes.
	b = newBrowser(t)
	loginPage, id := m.beginLogin(t, b)
	var last *page
	for round := range 20 {
		pg := m.password(b, loginPage, u)
		for i := range 5 {
			last = b.submit(pg, "/login/otp", map[string]string{"code": m.wrongCode(seed, round*5+i)})
		}
		if round < 19 {
			loginPage = b.follow(m.URL, last.location())
		}
	}
	got := m.user(t, u.NIP)
	if got.FailedTOTP != 100 || !got.TOTPLocked {
		t.Fatalf("after 100 wrong codes: failures %d locked %v, want 100 and locked", got.FailedTOTP, got.TOTPLocked)
	}
	if last.status != http.StatusForbidden || !strings.Contains(last.body, msg(t, "otp.locked")) {
		t.Errorf("hundredth wrong code = %d, want 403 with the lock message", last.status)
	}
	mails := m.logLines("Authenticator akun ASN Digital Anda dikunci", u.NIP) +
		m.logLines("The authenticator of your ASN Digital account is locked", u.NIP)
	if mails != 1 {
		t.Errorf("%d lock mails to the employee, want 1", mails)
	}

	// Locked: the right password and the right code give nothing.
	pg = m.password(b, b.follow(m.URL, "/login/?id="+id), u)
	p = b.submit(pg, "/login/otp", map[string]string{"code": m.nextCode(u)})
	wantNoCode(t, "right code while locked", p)
	if p.status != http.StatusForbidden || !strings.Contains(p.body, msg(t, "otp.locked")) {
		t.Errorf("right code while locked = %d, want 403 with the lock message", p.status)
	}
	if now := m.user(t, u.NIP); now.TOTPLastStep != got.TOTPLastStep {
		t.Error("a code was consumed while locked")
	}
}

// burst posts forms[i] to target from browsers[i], all at the same moment:
// each request goes out whole but for its last byte on a connection of its
// own, and after a barrier the last bytes go out together, so the server
// starts every handler at once (the single-packet attack, over loopback).
// Cookies the answers set are kept in the browsers' jars.
func burst(t *testing.T, browsers []*browser, target string, forms []url.Values) []*page {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	n := len(forms)
	conns := make([]net.Conn, n)
	reqs := make([]*http.Request, n)
	last := make([][]byte, n)
	for i, form := range forms {
		req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range browsers[i].client.Jar.Cookies(u) {
			req.AddCookie(c)
		}
		req.Close = true
		var raw bytes.Buffer
		if err := req.Write(&raw); err != nil {
			t.Fatal(err)
		}
		if conns[i], err = net.Dial("tcp", u.Host); err != nil {
			t.Fatal(err)
		}
		defer conns[i].Close()
		b := raw.Bytes()
		if _, err := conns[i].Write(b[:len(b)-1]); err != nil {
			t.Fatal(err)
		}
		reqs[i], last[i] = req, b[len(b)-1:]
	}

	out := make([]*page, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			if _, errs[i] = conns[i].Write(last[i]); errs[i] != nil {
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(conns[i]), reqs[i])
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			out[i], errs[i] = &page{status: resp.StatusCode, header: resp.Header, url: u, body: string(body)}, err
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("burst of POST %s: %v", target, err)
	}
	for i, p := range out {
		browsers[i].client.Jar.SetCookies(u, (&http.Response{Header: p.header}).Cookies())
	}
	return out
}

// B3: a burst of wrong codes for one account loses no count, evaluates no
// more than the budget of a pending login and lets nothing through.
func TestMFA_B3_ConcurrentWrongCodes(t *testing.T) {
	m := startMFAOP(t)
	const n = 50

	t.Run("one pending login", func(t *testing.T) {
		u := m.enrolledUser(t)
		seed := m.seed(t, u)
		b := newBrowser(t)
		same := make([]*browser, n)
		for i := range same {
			same[i] = b
		}
		loginPage, id := m.beginLogin(t, b)
		// The race is narrow on a small machine: a few rounds, each a fresh
		// pending login, give it a few chances.
		for round := range 3 {
			pg := m.password(b, loginPage, u)
			base, target := parseForm(t, pg, "/login/otp")
			forms := make([]url.Values, n)
			for i := range forms {
				forms[i] = url.Values{"csrf": base["csrf"], "id": base["id"], "code": {m.wrongCode(seed, round*n+i)}}
			}
			before := m.user(t, u.NIP).FailedTOTP
			evaluated := m.logLines("totp rejected", id)
			counted := 0
			for _, p := range burst(t, same, target, forms) {
				wantNoCode(t, "wrong code in a burst", p)
				switch {
				case p.status == http.StatusUnauthorized, strings.HasSuffix(p.location(), "&notice=otp_too_many"):
					counted++ // evaluated, or refused over the budget
				case p.status == http.StatusSeeOther && p.location() == "/login/?id="+id:
					// arrived after the pending login had ended: not an attempt
				default:
					t.Errorf("round %d: wrong code in a burst: status %d Location %q", round, p.status, p.location())
				}
			}
			if got := m.user(t, u.NIP).FailedTOTP - before; got != counted || got < 5 {
				t.Errorf("round %d: failures recorded = %d, want %d (one per counted attempt, at least 5)", round, got, counted)
			}
			if got := m.logLines("totp rejected", id) - evaluated; got > 5 {
				t.Errorf("round %d: %d codes evaluated in one pending login, want at most 5", round, got)
			}
			wantNoCode(t, "right code after the burst", b.submit(pg, "/login/otp", map[string]string{"code": m.nextCode(u)}))
			m.wantNotDone(t, "burst", id)

			m.signIn(t, newBrowser(t), u) // ends the run of failures
			loginPage = b.follow(m.URL, "/login/?id="+id)
		}
	})

	t.Run("parallel pending logins", func(t *testing.T) {
		u := m.enrolledUser(t)
		seed := m.seed(t, u)
		b := make([]*browser, n)
		forms := make([]url.Values, n)
		ids := make([]string, n)
		var target string
		for i := range b {
			b[i] = newBrowser(t)
			var pg *page
			pg, ids[i] = m.atCodePage(t, b[i], u)
			forms[i], target = parseForm(t, pg, "/login/otp")
			forms[i].Set("code", m.wrongCode(seed, i))
		}
		for i, p := range burst(t, b, target, forms) {
			wantNoCode(t, "wrong code in a parallel burst", p)
			m.wantNotDone(t, "parallel burst", ids[i])
		}
		if got := m.user(t, u.NIP).FailedTOTP; got != n {
			t.Errorf("failures recorded = %d, want exactly %d", got, n)
		}
	})
}

// G2: the same valid code from many parallel logins of one user gives
// exactly one session and one code; the step is stored once.
func TestMFA_G2_SameCodeInParallelLogins(t *testing.T) {
	m := startMFAOP(t)
	type pending struct {
		b    *browser
		form url.Values
		id   string
	}
	for _, n := range []int{2, 20} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			u := m.enrolledUser(t)
			userID := m.user(t, u.NIP).ID
			logins := make([]*pending, n)
			var target string
			// The race is narrow on a small machine: a few rounds, each
			// with n pending logins (the finished ones replaced), give it a
			// few chances.
			for round := range 4 {
				for i, l := range logins {
					if l == nil {
						l = &pending{b: newBrowser(t)}
						var pg *page
						pg, l.id = m.atCodePage(t, l.b, u)
						l.form, target = parseForm(t, pg, "/login/otp")
						logins[i] = l
					}
				}
				sessionsBefore := m.count(t, `SELECT COUNT(*) FROM sessions WHERE user_id = ?`, userID)
				accepted := m.logLines("totp accepted", userID)
				code := m.nextCode(u)
				step := m.clock.Now().Unix() / 30
				browsers := make([]*browser, n)
				forms := make([]url.Values, n)
				for i, l := range logins {
					l.form.Set("code", code)
					browsers[i], forms[i] = l.b, l.form
				}

				winners := 0
				for i, p := range burst(t, browsers, target, forms) {
					l := logins[i]
					if p.status == http.StatusSeeOther && strings.Contains(p.location(), "/authorize/callback?id=") {
						winners++
						m.wantCode(t, l.b, p)
						logins[i] = nil
						continue
					}
					// A refused code counts as a failure, so a loser may
					// also end its pending login (its fifth code, or every
					// fifth failure of the account).
					refused := p.status == http.StatusUnauthorized && (strings.Contains(p.body, msg(t, "otp.replayed")) || strings.Contains(p.body, msg(t, "otp.wrong")))
					ended := p.status == http.StatusSeeOther && p.location() == "/login/?id="+l.id+"&notice=otp_too_many"
					if !refused && !ended {
						t.Errorf("round %d: losing submission: status %d Location %q, want 401 with the code refused or the login ended", round, p.status, p.location())
					}
					wantNoCode(t, "losing submission's callback", l.b.get(m.callbackURL(l.id)))
					m.wantNotDone(t, "losing submission", l.id)
					if ended {
						logins[i] = nil
					}
				}
				if winners != 1 {
					t.Errorf("round %d: %d submissions succeeded, want exactly 1", round, winners)
				}
				if got := m.count(t, `SELECT COUNT(*) FROM sessions WHERE user_id = ?`, userID) - sessionsBefore; got != 1 {
					t.Errorf("round %d: %d sessions created, want 1", round, got)
				}
				if got := m.logLines("totp accepted", userID) - accepted; got != 1 {
					t.Errorf("round %d: step accepted %d times, want once", round, got)
				}
				if got := m.user(t, u.NIP).TOTPLastStep; got != step {
					t.Errorf("round %d: last step = %d, want %d", round, got, step)
				}
			}
		})
	}
}

// H6: the server clock jumping back does not reopen used steps (the last
// accepted step only grows), the employee is told to wait for a new code,
// and a code after the clock caught up works; a clock minutes off the
// phone's accepts nothing.
func TestMFA_H6_ClockFaults(t *testing.T) {
	m := startMFAOP(t)
	u := m.enrolledUser(t)

	m.clock.Advance(5 * time.Minute)
	b := newBrowser(t)
	pg, _ := m.atCodePage(t, b, u)
	for _, off := range []time.Duration{-2 * time.Minute, 2 * time.Minute} {
		wantRefused(t, "phone two minutes off", b.submit(pg, "/login/otp", map[string]string{"code": m.codeAt(t, u, off)}), "otp.wrong")
	}
	early := m.codeAt(t, u, 0)
	m.wantCode(t, b, b.submit(pg, "/login/otp", map[string]string{"code": early}))

	m.clock.Advance(5 * time.Minute)
	b = newBrowser(t)
	pg, _ = m.atCodePage(t, b, u)
	m.wantCode(t, b, b.submit(pg, "/login/otp", map[string]string{"code": m.codeAt(t, u, 0)}))
	lastStep := m.user(t, u.NIP).TOTPLastStep

	m.clock.Advance(-5 * time.Minute)
	b = newBrowser(t)
	pg, id := m.atCodePage(t, b, u)
	wantRefused(t, "code used five minutes earlier, clock back", b.submit(pg, "/login/otp", map[string]string{"code": early}), "otp.replayed")
	wantRefused(t, "unused code of an older step, clock back", b.submit(pg, "/login/otp", map[string]string{"code": m.codeAt(t, u, totpPeriod)}), "otp.replayed")
	m.wantNotDone(t, "clock back", id)
	if got := m.user(t, u.NIP).TOTPLastStep; got != lastStep {
		t.Errorf("last step after the clock went back = %d, want %d", got, lastStep)
	}

	m.clock.Advance(5*time.Minute + totpPeriod)
	b = newBrowser(t)
	pg, _ = m.atCodePage(t, b, u)
	m.wantCode(t, b, b.submit(pg, "/login/otp", map[string]string{"code": m.codeAt(t, u, 0)}))
}
