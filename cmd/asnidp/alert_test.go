package main

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/client/rp"

	"github.com/asnidp/asnidp/internal/cookie"
)

// The tests in this file attack the security mails and their "Bukan
// saya?" link (docs/security.md E4).

var notMeLink = regexp.MustCompile(`https?://[^\s"]+/login/not-me\?t=([A-Za-z0-9_%-]+)`)

// notMeToken reads the link of a security mail and returns its path.
func notMeToken(t *testing.T, text string) string {
	t.Helper()
	m := notMeLink.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("the mail has no \"Bukan saya\" link:\n%s", text)
	}
	token, err := url.QueryUnescape(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// A sign-in from a browser the account has not used is mailed, with the
// browser and IP; the first sign-in and a known browser are not. The
// mail's link ends every session of the account, once; a tampered or
// replayed link changes nothing.
func TestSecurityMail_E4_NewBrowserAndNotMe(t *testing.T) {
	r := startRecoveryOP(t)
	u := r.enrolled(t) // first sign-in: no new-browser mail expected
	usual := newBrowser(t)
	r.rp.login(t, r.testOP, usual, u)
	r.nextMail(t, emailOf(u.NIP), "mail.new_device.subject") // the enrolment was in another browser
	// The same browser again: known, no mail.
	code, pk := r.rp.login(t, r.testOP, usual, u, rp.WithPrompt("login"))
	tokens := r.rp.exchange(t, code, pk)

	stranger := newBrowser(t)
	r.rp.login(t, r.testOP, stranger, u)
	m := r.nextMail(t, emailOf(u.NIP), "mail.new_device.subject")
	if !strings.Contains(m.Text, "127.0.0.1") || !strings.Contains(m.Text, "Go-http-client") {
		t.Errorf("new-browser mail lacks the IP or the browser:\n%s", m.Text)
	}
	// The first sign-in and the known browser were not mailed.
	if n := strings.Count(r.logs.String(), "sign-in from a new browser"); n != 2 {
		t.Errorf("%d sign-ins were taken for new browsers, want 2 (the second browser and the stranger's)", n)
	}
	token := notMeToken(t, m.Text)
	if !strings.Contains(m.HTML, html.EscapeString(url.QueryEscape(token))) && !strings.Contains(m.HTML, url.QueryEscape(token)) {
		t.Errorf("the HTML part lacks the link")
	}
	if strings.Contains(r.logs.String(), token) {
		t.Error("the not-me token appears in the log")
	}
	if strings.Contains(r.logs.String(), cookieValue(t, usual, r.testOP, cookie.Device)) {
		t.Error("the device cookie appears in the log")
	}

	// Tampered: refused, nothing ended.
	anyone := newBrowser(t)
	page := anyone.get(r.URL + "/login/not-me?t=" + url.QueryEscape(token+"x"))
	wantMessage(t, "a tampered link", anyone.submit(page, "/login/not-me", nil), http.StatusNotFound, "notme.invalid")
	if !introspect(t, r.testOP, "profil", r.rp.secret, tokens.AccessToken).Active {
		t.Fatal("a tampered link ended the sessions")
	}
	// E1: without the page's CSRF token nothing happens either.
	if p := anyone.post(r.URL+"/login/not-me", url.Values{"t": {token}}); p.status != http.StatusForbidden {
		t.Errorf("not-me without the CSRF token = %d, want 403", p.status)
	}

	page = anyone.get(r.URL + "/login/not-me?t=" + url.QueryEscape(token))
	if page.status != http.StatusOK || strings.Contains(page.body, "not-me-done") {
		t.Fatalf("the link's page = %d, want the confirmation first (a mail scanner's GET ends nothing):\n%s", page.status, page.body)
	}
	if !introspect(t, r.testOP, "profil", r.rp.secret, tokens.AccessToken).Active {
		t.Fatal("opening the link (GET) ended the sessions")
	}
	done := anyone.submit(page, "/login/not-me", nil)
	if done.status != http.StatusOK || !strings.Contains(done.body, `id="not-me-done"`) || !strings.Contains(done.body, `href="/login/reset"`) {
		t.Fatalf("not-me = %d, want the done page pointing to the reset:\n%s", done.status, done.body)
	}
	if introspect(t, r.testOP, "profil", r.rp.secret, tokens.AccessToken).Active {
		t.Error("the access token of another session survived the not-me link")
	}
	for name, b := range map[string]*browser{"usual": usual, "stranger": stranger} {
		p := b.follow(r.URL, authorizeURL(r.URL, withParams(authorizeParams(newPKCE()), "prompt", "none")))
		if got := queryOf(t, p.location()).Get("error"); got != "login_required" {
			t.Errorf("%s browser after not-me: prompt=none = %q (Location %q), want login_required", name, got, p.location())
		}
	}
	if !strings.Contains(r.logs.String(), "type=account.not_me outcome=success") {
		t.Error("no audit row for the not-me link")
	}
	// Replayed: refused.
	wantMessage(t, "the link replayed", anyone.submit(page, "/login/not-me", nil), http.StatusNotFound, "notme.invalid")
}
