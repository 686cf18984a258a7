package main

import (
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/asnidp/asnidp/internal/cookie"
)

// The tests in this file attack the SSO session (docs/security.md E2, E3,
// E4, E7) with the helpers of mfa_test.go.

// authorizeAgain sends b to /authorize for profil once more and returns
// where it landed: a code from the SSO session or the login page.
func (m *mfaOP) authorizeAgain(b *browser, kv ...string) *page {
	return b.follow(m.URL, authorizeURL(m.URL, withParams(authorizeParams(newPKCE()), kv...)))
}

func hasCode(t *testing.T, p *page) bool {
	t.Helper()
	return strings.HasPrefix(p.location(), rpRedirect) && queryOf(t, p.location()).Get("code") != ""
}

// wantLoginRequired fails unless p sends the client login_required.
func wantLoginRequired(t *testing.T, what string, p *page) {
	t.Helper()
	wantNoCode(t, what, p)
	if !strings.HasPrefix(p.location(), rpRedirect) || queryOf(t, p.location()).Get("error") != "login_required" {
		t.Errorf("%s: got status %d Location %q, want login_required at the client", what, p.status, p.location())
	}
}

// rpLogin signs u in through the relying party library in b and returns
// the verified tokens.
func (m *mfaOP) rpLogin(t *testing.T, r *relyingParty, b *browser, u testUser, extra ...rp.AuthURLOpt) *oidc.Tokens[*oidc.IDTokenClaims] {
	t.Helper()
	code, pk := r.login(t, m.testOP, b, u, extra...)
	return r.exchange(t, code, pk)
}

// logout signs b out on the logout page.
func (m *mfaOP) logout(t *testing.T, b *browser) {
	t.Helper()
	confirm := b.get(m.URL + "/login/logout")
	done := b.submit(confirm, "/login/logout", nil)
	if done.status != http.StatusSeeOther || done.location() != "/login/logout?done=1" {
		t.Fatalf("logout = %d %q, want 303 to /login/logout?done=1", done.status, done.location())
	}
}

func sidOfToken(tokens *oidc.Tokens[*oidc.IDTokenClaims]) string {
	sid, _ := tokens.IDTokenClaims.Claims["sid"].(string)
	return sid
}

// E2: values planted in the browser before the login are rotated away
// after the password and again after the code; none of them, nor the value
// between the factors, reaches the session or the code.
func TestSession_E2_Fixation(t *testing.T) {
	m := startMFAOP(t)
	victim := m.enrolledUser(t)

	t.Run("planted browser and session values", func(t *testing.T) {
		attacker := newBrowser(t)
		m.beginLogin(t, attacker)
		plantedBrowser := cookieValue(t, attacker, m.testOP, cookie.Browser)
		plantedSession := rand.Text() + rand.Text()

		b := newBrowser(t)
		setCookie(b, m.testOP, cookie.Browser, plantedBrowser)
		setCookie(b, m.testOP, cookie.Session, plantedSession)
		loginPage, id := m.beginLogin(t, b)
		codePage := m.password(b, loginPage, victim)
		afterPassword := cookieValue(t, b, m.testOP, cookie.Browser)
		if afterPassword == plantedBrowser {
			t.Error("the planted browser value survived the password")
		}
		done := b.submit(codePage, "/login/otp", map[string]string{"code": m.nextCode(victim)})
		afterCode := cookieValue(t, b, m.testOP, cookie.Browser)
		session := cookieValue(t, b, m.testOP, cookie.Session)
		if afterCode == afterPassword || afterCode == plantedBrowser {
			t.Error("the browser value was not rotated after the code")
		}
		if session == "" || session == plantedSession {
			t.Errorf("session cookie after the code is %q, want a new value", session)
		}

		for _, tc := range []struct{ name, browser, session string }{
			{"planted values", plantedBrowser, plantedSession},
			{"value between the factors", afterPassword, plantedSession},
		} {
			other := newBrowser(t)
			setCookie(other, m.testOP, cookie.Browser, tc.browser)
			setCookie(other, m.testOP, cookie.Session, tc.session)
			wantNoCode(t, tc.name+": callback", other.get(m.callbackURL(id)))
			if p := m.authorizeAgain(other); !isLoginPage(p) {
				t.Errorf("%s: authorize got status %d Location %q, want the login page", tc.name, p.status, p.location())
			}
		}
		m.wantCode(t, b, done)
		if p := m.authorizeAgain(b); !hasCode(t, p) {
			t.Errorf("the victim's own session gives no code: status %d Location %q", p.status, p.location())
		}
	})

	t.Run("planted session of another employee", func(t *testing.T) {
		attackerUser := m.enrolledUser(t)
		attacker := newBrowser(t)
		m.signIn(t, attacker, attackerUser)
		planted := cookieValue(t, attacker, m.testOP, cookie.Session)

		r := newRelyingParty(t, m.testOP, "profil", m.secret)
		b := newBrowser(t)
		setCookie(b, m.testOP, cookie.Session, planted)
		tokens := m.rpLogin(t, r, b, victim, rp.WithPrompt("login"))
		if got, want := tokens.IDTokenClaims.Subject, m.user(t, victim.NIP).ID; got != want {
			t.Errorf("sub = %q, want the victim's %q", got, want)
		}
		if got := cookieValue(t, b, m.testOP, cookie.Session); got == planted || got == "" {
			t.Error("the planted session cookie was kept")
		}
		if p := m.authorizeAgain(attacker); !isLoginPage(p) {
			t.Errorf("planted session after the victim's login: status %d Location %q, want the login page", p.status, p.location())
		}
	})
}

// E3: the server ends a session idle for 30 minutes or 12 hours old, while
// the browser still sends its cookie; activity extends only the idle time.
func TestSession_E3_IdleAndAbsoluteTimeouts(t *testing.T) {
	m := startMFAOP(t)
	u := m.enrolledUser(t)
	idle, absolute := m.cfg.Session.Idle, m.cfg.Session.Absolute
	step := idle - time.Minute

	wantExpired := func(t *testing.T, b *browser, token string) {
		t.Helper()
		if got := cookieValue(t, b, m.testOP, cookie.Session); got != token {
			t.Fatal("the browser no longer sends the session cookie; the test needs it sent")
		}
		if p := m.authorizeAgain(b); !isLoginPage(p) {
			t.Errorf("expired session: status %d Location %q, want the login page", p.status, p.location())
		}
		wantLoginRequired(t, "expired session, prompt=none", m.authorizeAgain(b, "prompt", "none"))
	}

	t.Run("idle", func(t *testing.T) {
		b := newBrowser(t)
		m.signIn(t, b, u)
		token := cookieValue(t, b, m.testOP, cookie.Session)
		for i := range 3 { // 87 minutes in all, never idle for 30
			m.clock.Advance(step)
			if p := m.authorizeAgain(b); !hasCode(t, p) {
				t.Fatalf("activity %d after %v idle: status %d Location %q, want a code", i, step, p.status, p.location())
			}
		}
		m.clock.Advance(idle + time.Second)
		wantExpired(t, b, token)
	})

	t.Run("absolute", func(t *testing.T) {
		b := newBrowser(t)
		_, id := m.signIn(t, b, u)
		start := m.clock.Now()
		sid := m.authRequest(t, id).SessionID
		token := cookieValue(t, b, m.testOP, cookie.Session)
		for m.clock.Now().Add(step).Before(start.Add(absolute)) {
			m.clock.Advance(step)
			if p := m.authorizeAgain(b); !hasCode(t, p) {
				t.Fatalf("activity %v after the login: status %d Location %q, want a code", m.clock.Now().Sub(start), p.status, p.location())
			}
		}
		sess, err := m.db.SessionByID(t.Context(), sid)
		if err != nil {
			t.Fatal(err)
		}
		if !sess.ExpiresAt.Equal(start.Add(absolute)) {
			t.Errorf("absolute end = %v, want %v (activity must not extend it)", sess.ExpiresAt, start.Add(absolute))
		}
		m.clock.Advance(step)
		wantExpired(t, b, token)
	})
}

// E4 (logout): after a logout, the old session cookie, the pages of the
// finished login (back button) and the old tokens give no access.
func TestSession_E4_Logout(t *testing.T) {
	m := startMFAOP(t)
	u := m.enrolledUser(t)
	r := newRelyingParty(t, m.testOP, "profil", m.secret)

	for _, tc := range []struct {
		name   string
		logout func(t *testing.T, b *browser, tokens *oidc.Tokens[*oidc.IDTokenClaims])
	}{
		{"logout page", func(t *testing.T, b *browser, _ *oidc.Tokens[*oidc.IDTokenClaims]) { m.logout(t, b) }},
		{"end_session", func(t *testing.T, b *browser, tokens *oidc.Tokens[*oidc.IDTokenClaims]) {
			p := b.get(m.URL + "/end_session?" + url.Values{
				"id_token_hint":            {tokens.IDToken},
				"post_logout_redirect_uri": {rpPostLogout},
			}.Encode())
			if p.status != http.StatusFound || p.location() != rpPostLogout {
				t.Fatalf("end_session = %d %q, want 302 to %s", p.status, p.location(), rpPostLogout)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrowser(t)
			loginPage, pk, _ := r.start(t, m.testOP, b)
			form, _ := parseForm(t, loginPage, "/login/")
			id := form.Get("id")
			codePage := m.password(b, loginPage, u)
			codeForm, codeTarget := parseForm(t, codePage, "/login/otp")
			done := m.secondFactor(b, codePage, u)
			code, _ := codeFrom(t, b.follow(m.URL, done.location()), rpRedirect)
			tokens := r.exchange(t, code, pk)
			oldSession := cookieValue(t, b, m.testOP, cookie.Session)
			oldBrowser := cookieValue(t, b, m.testOP, cookie.Browser)
			userID := m.user(t, u.NIP).ID
			sessions := m.count(t, `SELECT COUNT(*) FROM sessions WHERE user_id = ? AND revoked_at = 0`, userID)

			tc.logout(t, b, tokens)
			if cookieValue(t, b, m.testOP, cookie.Session) != "" {
				t.Error("the session cookie was not deleted")
			}
			if got := m.count(t, `SELECT COUNT(*) FROM sessions WHERE user_id = ? AND revoked_at = 0`, userID); got != sessions-1 {
				t.Errorf("%d live sessions after logout, want %d", got, sessions-1)
			}

			replay := newBrowser(t)
			setCookie(replay, m.testOP, cookie.Session, oldSession)
			setCookie(replay, m.testOP, cookie.Browser, oldBrowser)
			if p := m.authorizeAgain(replay); !isLoginPage(p) {
				t.Errorf("old cookie replayed: status %d Location %q, want the login page", p.status, p.location())
			}
			wantLoginRequired(t, "old cookie replayed, prompt=none", m.authorizeAgain(replay, "prompt", "none"))
			if p := m.authorizeAgain(b); !isLoginPage(p) {
				t.Errorf("same browser after logout: status %d Location %q, want the login page", p.status, p.location())
			}

			// Back button: every page of the finished login, and the code
			// form sent again with a new code.
			for _, target := range []string{"/login/?id=" + id, "/login/otp?id=" + id, "/login/enrol?id=" + id, m.callbackURL(id)} {
				p := b.follow(m.URL, target)
				wantNoCode(t, "back to "+target, p)
				if isCodePage(p) || isEnrolPage(p) {
					t.Errorf("back to %s after logout shows the second factor of the ended login", target)
				}
			}
			codeForm.Set("code", m.nextCode(u))
			p := b.post(codeTarget, codeForm)
			wantNoCode(t, "code form sent again after logout", p)
			if got := m.count(t, `SELECT COUNT(*) FROM sessions WHERE user_id = ? AND revoked_at = 0`, userID); got != sessions-1 {
				t.Errorf("code form sent again after logout: %d live sessions, want %d", got, sessions-1)
			}
			if got := cookieValue(t, b, m.testOP, cookie.Session); got != "" {
				t.Error("code form sent again after logout set a session cookie")
			}

			resp := mustOAuthPost(t, m.testOP, "/oauth/token", "profil", m.secret, url.Values{
				"grant_type":    {"refresh_token"},
				"refresh_token": {tokens.RefreshToken},
			})
			if resp.Error != "invalid_grant" || resp.AccessToken != "" {
				t.Errorf("old refresh token after logout: status %d error %q, want invalid_grant", resp.status, resp.Error)
			}
			if introspect(t, m.testOP, "profil", m.secret, tokens.AccessToken).Active {
				t.Error("old access token still active after logout")
			}
		})
	}
}

// E7: on a shared browser, whatever A leaves behind (a logout, a deleted
// cookie, or nothing), B who signs in next gets only B's session, codes and
// tokens.
func TestSession_E7_SharedBrowser(t *testing.T) {
	m := startMFAOP(t)
	a, bUser := m.enrolledUser(t), m.enrolledUser(t)
	subA, subB := m.user(t, a.NIP).ID, m.user(t, bUser.NIP).ID
	r := newRelyingParty(t, m.testOP, "profil", m.secret)

	for _, tc := range []struct {
		name  string
		leave func(t *testing.T, br *browser)
		// prompt B's relying party sends (B must see the login page)
		opts []rp.AuthURLOpt
	}{
		{"A logs out", func(t *testing.T, br *browser) { m.logout(t, br) }, nil},
		{"A's cookie deleted", func(t *testing.T, br *browser) { setCookie(br, m.testOP, cookie.Session, "") }, nil},
		{"A walks away, B asks to sign in", func(*testing.T, *browser) {}, []rp.AuthURLOpt{rp.WithPrompt("login")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br := newBrowser(t)
			tokA := m.rpLogin(t, r, br, a)
			tc.leave(t, br)

			tokB := m.rpLogin(t, r, br, bUser, tc.opts...)
			if got := tokB.IDTokenClaims.Subject; got != subB {
				t.Errorf("B's ID token sub = %q, want %q (A is %q)", got, subB, subA)
			}
			if sidOfToken(tokB) == sidOfToken(tokA) {
				t.Error("B's ID token carries A's session")
			}
			if got := introspect(t, m.testOP, "profil", m.secret, tokB.AccessToken); got.Subject != subB {
				t.Errorf("B's access token belongs to %q, want %q", got.Subject, subB)
			}
			code, pk := r.silent(t, m.testOP, br)
			if got := r.exchange(t, code, pk).IDTokenClaims.Subject; got != subB {
				t.Errorf("the browser's SSO session signs in %q, want B %q", got, subB)
			}
		})
	}
}
