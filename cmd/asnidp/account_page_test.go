package main

import (
	"database/sql"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/net/html"

	"github.com/asnidp/asnidp/internal/cookie"
	"github.com/asnidp/asnidp/internal/optest"
	"github.com/asnidp/asnidp/storage"
)

// The tests in this file drive the account page ("Akun Saya") through the
// real server: the sessions list and ending sessions (E4, E8), the latest
// events, the change of password (B8), new recovery codes (A10, A13), the
// language, and CSRF on every form (E5). Mail goes to an in-process SMTP
// server.

// Browsers as employees use them; the page names them from these headers.
const (
	uaPhone  = "Mozilla/5.0 (Linux; Android 14; SM-A155F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.122 Mobile Safari/537.36"
	uaLaptop = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
	uaTablet = "Mozilla/5.0 (iPad; CPU OS 16_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1"
)

// accountOP is a test OP with mail and two services: "Profil Pegawai",
// with a back-channel logout receiver, and "Riwayat Jabatan".
type accountOP struct {
	*resetOP
	profil, riwayat *relyingParty
	profilSecret    string
	profilLogouts   *logoutReceiver
}

func startAccountOP(t *testing.T, env ...string) *accountOP {
	t.Helper()
	r := startResetOP(t, env...)
	logouts := newLogoutReceiver(t, r.testOP, "profil")
	sp := r.addClient("--id", "profil", "--name", "Profil Pegawai", "--redirect-uri", rpRedirect,
		"--backchannel-logout-uri", logouts.srv.URL+"/backchannel-logout")
	sr := r.addClient("--id", "riwayat", "--name", "Riwayat Jabatan", "--redirect-uri", rpRedirect)
	return &accountOP{
		resetOP: r, profilSecret: sp, profilLogouts: logouts,
		profil: newRelyingParty(t, r.testOP, "profil", sp), riwayat: newRelyingParty(t, r.testOP, "riwayat", sr),
	}
}

// uaTransport sends a browser's User-Agent header with every request.
type uaTransport string

func (ua uaTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", string(ua))
	return http.DefaultTransport.RoundTrip(r)
}

// browserAs is a browser that calls itself ua.
func browserAs(t *testing.T, ua string) *browser {
	b := newBrowser(t)
	b.client.Transport = uaTransport(ua)
	return b
}

// signIn signs u in to Profil Pegawai in b (enrolling the authenticator at
// the first sign-in) and returns the tokens and the session's sid.
func (a *accountOP) signIn(t *testing.T, b *browser, u testUser) (*oidc.Tokens[*oidc.IDTokenClaims], string) {
	t.Helper()
	code, pk := a.profil.login(t, a.testOP, b, u)
	tokens := a.profil.exchange(t, code, pk)
	sid, _ := tokens.IDTokenClaims.Claims["sid"].(string)
	if sid == "" {
		t.Fatal("ID token without sid")
	}
	return tokens, sid
}

// account loads b's account page and fails unless it is served.
func (a *accountOP) account(t *testing.T, b *browser) *page {
	t.Helper()
	p := b.get(a.URL + "/login/account")
	if p.status != http.StatusOK {
		t.Fatalf("account page = %d:\n%s", p.status, p.body)
	}
	return p
}

// signedOut reports whether b's session no longer opens the account page.
func (a *accountOP) signedOut(b *browser) bool {
	return b.get(a.URL+"/login/account").status == http.StatusUnauthorized
}

// refreshes reports whether a refresh token still works (and rotates it).
func (a *accountOP) refreshes(t *testing.T, tokens *oidc.Tokens[*oidc.IDTokenClaims]) bool {
	t.Helper()
	resp := mustOAuthPost(t, a.testOP, "/oauth/token", "profil", a.profilSecret,
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tokens.RefreshToken}})
	if resp.status == http.StatusOK {
		tokens.RefreshToken = resp.RefreshToken
	}
	return resp.status == http.StatusOK
}

// row is one item of a list on the account page: its data-sid, if any,
// and its text with spaces collapsed.
type row struct{ sid, text string }

// rows returns the items of the list with class class on p.
func rows(t *testing.T, p *page, class string) []row {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	var out []row
	var text func(*html.Node, *strings.Builder)
	text = func(n *html.Node, b *strings.Builder) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data + " ")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			text(c, b)
		}
	}
	var walk func(*html.Node, bool)
	walk = func(n *html.Node, inList bool) {
		if n.Type == html.ElementNode && (n.Data == "ul" || n.Data == "ol") && attr(n, "class") == class {
			inList = true
		}
		if inList && n.Type == html.ElementNode && n.Data == "li" {
			var b strings.Builder
			text(n, &b)
			out = append(out, row{sid: attr(n, "data-sid"), text: strings.Join(strings.Fields(b.String()), " ")})
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, inList)
		}
	}
	walk(doc, false)
	return out
}

// E4: the page lists the account's live sessions with what each was
// started in, from where, when, and the services signed in through it;
// "Akhiri sesi ini" and "Akhiri semua sesi lain" end sessions as a logout
// does: the browser is signed out, its refresh tokens die, and the
// services get their back-channel logout. This session and its tokens stay.
func TestAccount_E4_SessionsListedAndEnded(t *testing.T) {
	a := startAccountOP(t)
	u := a.addUser(true)
	phone := browserAs(t, uaPhone)
	phoneTokens, phoneSID := a.signIn(t, phone, u)
	code, pk := a.riwayat.silent(t, a.testOP, phone) // single sign-on into the second service
	a.riwayat.exchange(t, code, pk)
	laptop := browserAs(t, uaLaptop)
	laptopTokens, laptopSID := a.signIn(t, laptop, u)

	if got := newBrowser(t).get(a.URL + "/login/account"); got.status != http.StatusUnauthorized {
		t.Errorf("account page without a session = %d, want 401", got.status)
	}
	acct := a.account(t, phone)
	for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"} {
		if acct.header.Get(h) == "" {
			t.Errorf("account page lacks the %s header", h)
		}
	}
	if got := acct.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("account page Cache-Control = %q, want no-store", got)
	}
	if !strings.Contains(acct.body, "<h1>Akun Saya</h1>") {
		t.Errorf("account page title is not Akun Saya:\n%s", acct.body)
	}
	list := rows(t, acct, "sessions")
	if len(list) != 2 || list[0].sid != phoneSID || list[1].sid != laptopSID {
		t.Fatalf("sessions listed = %+v, want this one (%s) first, then the laptop's (%s)", list, phoneSID, laptopSID)
	}
	for _, want := range []string{"Chrome 126 di Android 14", "Sesi ini", "127.0.0.1", "Profil Pegawai", "Riwayat Jabatan", "WIB"} {
		if !strings.Contains(list[0].text, want) {
			t.Errorf("this session's row %q lacks %q", list[0].text, want)
		}
	}
	if !strings.Contains(list[1].text, "Firefox 128 di Windows") || !strings.Contains(list[1].text, "Profil Pegawai") ||
		strings.Contains(list[1].text, "Riwayat Jabatan") || strings.Contains(list[1].text, "Sesi ini") {
		t.Errorf("the laptop's row = %q, want Firefox 128 di Windows with Profil Pegawai only", list[1].text)
	}

	// "Akhiri sesi ini" on the laptop's row.
	done := phone.submit(acct, "/login/account/sessions/end", map[string]string{"sid": laptopSID})
	wantRedirect(t, "ending the laptop's session", done, "/login/account?notice=ended")
	if !a.signedOut(laptop) {
		t.Error("the laptop's session still opens the account page after it was ended")
	}
	if a.refreshes(t, laptopTokens) {
		t.Error("the laptop session's refresh token still works after the session was ended")
	}
	waitFor(t, "Profil Pegawai's back-channel logout of the laptop's session", func() bool {
		return slices.ContainsFunc(a.profilLogouts.received(), func(c map[string]any) bool { return c["sid"] == laptopSID })
	})
	after := a.account(t, phone)
	if list := rows(t, after, "sessions"); len(list) != 1 || list[0].sid != phoneSID {
		t.Errorf("after ending the laptop's session the list is %+v, want this session only", list)
	}
	if !a.refreshes(t, phoneTokens) {
		t.Error("this session's refresh token stopped working when another session was ended")
	}
	if a.logLines("type=session.ended", `reason="ended from the account page"`, "sid="+laptopSID) != 1 {
		t.Error("no audit event for the session ended")
	}

	// "Akhiri semua sesi lain".
	tablet, laptop2 := browserAs(t, uaTablet), browserAs(t, uaLaptop)
	tabletTokens, tabletSID := a.signIn(t, tablet, u)
	_, laptop2SID := a.signIn(t, laptop2, u)
	acct = a.account(t, phone)
	if n := len(rows(t, acct, "sessions")); n != 3 {
		t.Fatalf("%d sessions listed, want 3", n)
	}
	done = phone.submit(acct, "/login/account/sessions/others/end", nil)
	wantRedirect(t, "ending all other sessions", done, "/login/account?notice=others_ended")
	for name, b := range map[string]*browser{"tablet": tablet, "second laptop": laptop2} {
		if !a.signedOut(b) {
			t.Errorf("the %s's session survived Akhiri semua sesi lain", name)
		}
	}
	if a.refreshes(t, tabletTokens) {
		t.Error("the tablet session's refresh token survived Akhiri semua sesi lain")
	}
	waitFor(t, "back-channel logouts of both other sessions", func() bool {
		got := a.profilLogouts.received()
		return slices.ContainsFunc(got, func(c map[string]any) bool { return c["sid"] == tabletSID }) &&
			slices.ContainsFunc(got, func(c map[string]any) bool { return c["sid"] == laptop2SID })
	})
	if a.signedOut(phone) || !a.refreshes(t, phoneTokens) {
		t.Fatal("Akhiri semua sesi lain ended this session or its tokens")
	}

	// This session's own row signs out here.
	done = phone.submit(a.account(t, phone), "/login/account/sessions/end", map[string]string{"sid": phoneSID})
	wantRedirect(t, "ending this session", done, "/login/logout?done=1")
	if !a.signedOut(phone) || a.refreshes(t, phoneTokens) {
		t.Error("this session or its refresh token survived its own end")
	}
}

// E4, E8: a session ID is no secret (services see it as sid), so the
// page ends only the account's own sessions: another account's session,
// or an ID that names none, is refused alike with 404, and nothing
// changes; that session keeps working.
func TestAccount_E4_E8_AnotherAccountsSessionIsNotEnded(t *testing.T) {
	a := startAccountOP(t)
	attacker, victim := a.addUser(true), a.addUser(true)
	ab, vb := browserAs(t, uaLaptop), browserAs(t, uaPhone)
	a.signIn(t, ab, attacker)
	victimTokens, victimSID := a.signIn(t, vb, victim)

	acct := a.account(t, ab)
	if strings.Contains(acct.body, victimSID) {
		t.Fatal("the attacker's page shows the victim's session")
	}
	for _, sid := range []string{victimSID, "s_NOSUCHSESSIONATALL", ""} {
		got := ab.submit(acct, "/login/account/sessions/end", map[string]string{"sid": sid})
		wantMessage(t, "ending session "+sid+" from another account", got, http.StatusNotFound, "account.session_unknown")
	}
	sess, err := a.db.SessionByID(t.Context(), victimSID)
	if err != nil || !sess.RevokedAt.IsZero() {
		t.Fatalf("the victim's session after the attempt: %+v, %v; want it live", sess, err)
	}
	if a.signedOut(vb) || !a.refreshes(t, victimTokens) {
		t.Error("the victim's session or its tokens stopped working")
	}
	if a.logLines("type=session.ended", "sid="+victimSID) != 0 {
		t.Error("an audit event says the victim's session ended")
	}
	if a.logLines("end of another account's session refused", "target_sid="+victimSID) != 1 {
		t.Error("the refused attempt is not in the log")
	}
	if a.signedOut(ab) {
		t.Error("the attacker's own session ended")
	}
}

// recoveryHashes reads the stored recovery code hashes of the user sub.
func recoveryHashes(t *testing.T, a *accountOP, sub string) []string {
	t.Helper()
	db, err := sql.Open("sqlite3", a.cfg.Database.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rs, err := db.QueryContext(t.Context(), `SELECT code_hash || ':' || used_at FROM recovery_codes WHERE user_id = ? ORDER BY code_hash`, sub)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var h string
		if err := rs.Scan(&h); err != nil {
			t.Fatal(err)
		}
		out = append(out, h)
	}
	return out
}

// E5: every form of the account page is refused with 403 without this
// browser's CSRF token, with another browser's, or posted cross-site, and
// changes nothing: no session ends, the password, the recovery codes and
// the language stay.
func TestAccount_E5_CSRFOnEveryForm(t *testing.T) {
	a := startAccountOP(t)
	u := a.addUser(true)
	b, other := browserAs(t, uaPhone), browserAs(t, uaLaptop)
	a.signIn(t, b, u)
	_, otherSID := a.signIn(t, other, u)
	stranger := newBrowser(t)
	stranger.get(a.URL + "/login/logout") // a CSRF cookie of its own
	foreignToken := cookieValue(t, stranger, a.testOP, cookie.CSRF)
	sub := a.user(t, u.NIP).ID
	before := a.user(t, u.NIP)
	codesBefore := recoveryHashes(t, a, sub)

	forms := []struct {
		action string
		values map[string]string
	}{
		{"/login/account/language", map[string]string{"lang": "en"}},
		{"/login/account/sessions/end", map[string]string{"sid": otherSID}},
		{"/login/account/sessions/others/end", nil},
		{"/login/account/password", map[string]string{"current": u.Password, "password": newPassphrase(), "code": "from the phone"}},
		{"/login/account/recovery", map[string]string{"code": "from the phone"}},
		{"/login/account/authenticator", map[string]string{"code": "from the phone"}},
	}
	attacks := []struct {
		name   string
		edit   func(url.Values)
		header http.Header
	}{
		{"no token", func(f url.Values) { f.Del("csrf") }, nil},
		{"another browser's token", func(f url.Values) { f.Set("csrf", foreignToken) }, nil},
		{"cross-site", nil, http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}},
	}
	acct := a.account(t, b)
	for _, f := range forms {
		for _, at := range attacks {
			form, target := parseForm(t, acct, f.action)
			for k, v := range f.values {
				form.Set(k, v)
			}
			if form.Get("code") == "from the phone" {
				form.Set("code", a.nextCode(u)) // a right code: only the token is missing
			}
			if at.edit != nil {
				at.edit(form)
			}
			if got := b.postForm(target, form, at.header); got.status != http.StatusForbidden {
				t.Errorf("POST %s with %s = %d %q, want 403", f.action, at.name, got.status, got.location())
			}
		}
	}

	if a.signedOut(other) || a.signedOut(b) {
		t.Error("a refused form ended a session")
	}
	after := a.user(t, u.NIP)
	if after.PasswordHash != before.PasswordHash || !slices.Equal(recoveryHashes(t, a, sub), codesBefore) || !slices.Equal(after.TOTPSecret, before.TOTPSecret) {
		t.Error("a refused form changed the password, the recovery codes or the authenticator")
	}
	if got := cookieValue(t, b, a.testOP, "asnidp_lang"); got != "" {
		t.Errorf("a refused language form set the lang cookie to %q", got)
	}
	if p := a.account(t, b); !strings.Contains(p.body, `lang="id"`) {
		t.Error("the page is no longer Indonesian after a refused language form")
	}
}

// B8: a change of password takes the current password and a fresh
// authenticator code, and the reset's policy. On success the new password
// is the only one that signs in, every other session ends with its tokens
// (back-channel logouts sent), this session stays, the event is audited
// and the employee is mailed; no password reaches the log.
func TestAccount_B8_ChangePassword(t *testing.T) {
	a := startAccountOP(t)
	u := a.addUser(true)
	phone, laptop := browserAs(t, uaPhone), browserAs(t, uaLaptop)
	phoneTokens, _ := a.signIn(t, phone, u)
	laptopTokens, laptopSID := a.signIn(t, laptop, u)
	before := a.user(t, u.NIP)
	fresh := newPassphrase()
	acct := a.account(t, phone)
	for _, want := range []string{`autocomplete="current-password"`, `autocomplete="new-password"`, `data-password="current"`} {
		if !strings.Contains(acct.body, want) {
			t.Errorf("password form lacks %s", want)
		}
	}

	refusals := []struct {
		name       string
		values     map[string]string
		wantStatus int
		wantKey    string
	}{
		{"confirmation differs", map[string]string{"current": u.Password, "password": fresh, "confirm": fresh + "x", "code": "fresh"}, http.StatusUnprocessableEntity, "reset.password_mismatch"},
		{"too short", map[string]string{"current": u.Password, "password": "pendek", "confirm": "pendek", "code": "fresh"}, http.StatusUnprocessableEntity, "password.too_short"},
		{"built from the NIP", map[string]string{"current": u.Password, "password": "nip saya " + u.NIP, "confirm": "nip saya " + u.NIP, "code": "fresh"}, http.StatusUnprocessableEntity, "password.context"},
		{"the current one again", map[string]string{"current": u.Password, "password": u.Password, "confirm": u.Password, "code": "fresh"}, http.StatusUnprocessableEntity, "account.password_same"},
		// A right code clears the account's consecutive TOTP failures, so
		// it comes before the wrong ones, whose count is checked below.
		{"wrong current password", map[string]string{"current": u.Password + "x", "password": fresh, "confirm": fresh, "code": "fresh"}, http.StatusUnauthorized, "account.current_wrong"},
		{"wrong authenticator code", map[string]string{"current": u.Password, "password": fresh, "confirm": fresh, "code": "000000"}, http.StatusUnauthorized, "otp.wrong"},
		{"no authenticator code", map[string]string{"current": u.Password, "password": fresh, "confirm": fresh, "code": ""}, http.StatusUnauthorized, "otp.wrong"},
	}
	for _, tc := range refusals {
		if tc.values["code"] == "fresh" {
			tc.values["code"] = a.nextCode(u)
		}
		got := phone.submit(acct, "/login/account/password", tc.values)
		wantMessage(t, "change of password with "+tc.name, got, tc.wantStatus, tc.wantKey)
	}
	after := a.user(t, u.NIP)
	if after.PasswordHash != before.PasswordHash || a.signedOut(laptop) {
		t.Fatal("a refused change of password changed the password or ended the other session")
	}
	// The wrong codes counted on the TOTP budget, the wrong password on
	// the password ladder, and nothing else did.
	if after.FailedTOTP != 2 || after.FailedPasswords != before.FailedPasswords+1 {
		t.Errorf("after the refusals FailedTOTP = %d, FailedPasswords = %d; want 2 and %d",
			after.FailedTOTP, after.FailedPasswords, before.FailedPasswords+1)
	}

	done := phone.submit(acct, "/login/account/password", map[string]string{"current": u.Password, "password": fresh, "confirm": fresh, "code": a.nextCode(u)})
	wantRedirect(t, "change of password", done, "/login/account?notice=password")
	if p := phone.follow(a.URL, done.location()); !strings.Contains(p.body, indonesian(t, "account.password_changed")) {
		t.Error("the page does not say the password was changed")
	}
	if !a.signedOut(laptop) || a.refreshes(t, laptopTokens) {
		t.Error("the other session or its refresh token survived the change of password")
	}
	waitFor(t, "the back-channel logout of the other session", func() bool {
		return slices.ContainsFunc(a.profilLogouts.received(), func(c map[string]any) bool { return c["sid"] == laptopSID })
	})
	if a.signedOut(phone) || !a.refreshes(t, phoneTokens) {
		t.Error("the change of password ended this session or its tokens")
	}
	if got := a.user(t, u.NIP); got.FailedPasswords != 0 || got.PasswordHash == before.PasswordHash {
		t.Errorf("after the change: FailedPasswords %d, hash changed %v; want 0 and changed", got.FailedPasswords, got.PasswordHash != before.PasswordHash)
	}
	m := a.nextMail(t, emailOf(u.NIP), "mail.password_changed_account.subject")
	if !strings.Contains(m.Text, "Chrome 126 di Android 14") || !strings.Contains(m.Text, "127.0.0.1") {
		t.Errorf("the mail does not say where the password was changed:\n%s", m.Text)
	}
	notMeToken(t, m.Text) // a security mail: it carries the "Bukan saya" link
	if a.logLines("type=password.changed", `reason="changed on the account page"`) != 1 {
		t.Error("no audit event for the change")
	}

	// Only the new password signs in.
	old := newBrowser(t)
	start, _, _ := a.profil.start(t, a.testOP, old)
	wantMessage(t, "the old password", old.submit(start, "/login/", map[string]string{"nip": u.NIP, "password": u.Password}),
		http.StatusUnauthorized, "login.invalid_credentials")
	u.Password = fresh
	a.signIn(t, newBrowser(t), u)

	for _, pw := range []string{fresh, before.PasswordHash} {
		if strings.Contains(a.logs.String(), pw) {
			t.Error("a password or its hash is in the log")
		}
	}
}

// B8: a wrong current password counts on the account's failure ladder as a
// login's would: from the ladder's delay on, the page takes no password,
// not even the right one, and spends no code, and the login page is
// delayed too.
func TestAccount_B8_CurrentPasswordOnTheLadder(t *testing.T) {
	a := startAccountOP(t, "ASNIDP_PASSWORD_DELAY_AFTER=2", "ASNIDP_PASSWORD_DELAY_START=5m")
	u := a.addUser(true)
	b := browserAs(t, uaPhone)
	a.signIn(t, b, u)
	form := a.account(t, b)
	fresh := newPassphrase()
	change := func(current, code string) *page {
		return b.submit(form, "/login/account/password", map[string]string{"current": current, "password": fresh, "confirm": fresh, "code": code})
	}
	for range 2 {
		wantMessage(t, "a wrong current password", change("tebakan yang salah", a.nextCode(u)), http.StatusUnauthorized, "account.current_wrong")
	}
	if got := a.user(t, u.NIP); got.FailedPasswords != 2 || !got.LockedUntil.After(a.clock.Now()) {
		t.Fatalf("after two wrong current passwords: FailedPasswords %d, LockedUntil %v; want 2 and a delay", got.FailedPasswords, got.LockedUntil)
	}
	before := a.user(t, u.NIP)
	delayed := change(u.Password, a.nextCode(u))
	wantMessage(t, "the right password during the delay", delayed, http.StatusTooManyRequests, "account.current_wrong")
	if delayed.header.Get("Retry-After") == "" {
		t.Error("the delayed answer has no Retry-After")
	}
	if got := a.user(t, u.NIP); got.PasswordHash != before.PasswordHash || got.FailedPasswords != 2 || got.TOTPLastStep != before.TOTPLastStep {
		t.Error("the delayed attempt changed the password, counted a password or spent a code")
	}
	other := newBrowser(t)
	start, _, _ := a.profil.start(t, a.testOP, other)
	login := other.submit(start, "/login/", map[string]string{"nip": u.NIP, "password": u.Password})
	if login.status != http.StatusUnauthorized || !strings.Contains(login.body, indonesian(t, "common.retry_at")) {
		t.Errorf("the login with the right password during the delay = %d, want 401 with a retry time", login.status)
	}
	if a.logLines("type=password.changed", "outcome=failure", `reason="wrong password"`) != 2 {
		t.Error("the wrong current passwords are not audited")
	}

	a.clock.Advance(6 * time.Minute)
	wantRedirect(t, "the right password after the delay", change(u.Password, a.nextCode(u)), "/login/account?notice=password")
}

// B8, B2: the codes typed with a change of password have a budget of their
// own: after five in one session the form takes none, not even a right
// one, while the other forms keep theirs.
func TestAccount_B8_PasswordFormCodeBudget(t *testing.T) {
	a := startAccountOP(t)
	u := a.addUser(true)
	b := browserAs(t, uaPhone)
	a.signIn(t, b, u)
	acct := a.account(t, b)
	before := a.user(t, u.NIP)
	fresh := newPassphrase()
	// Counters count in fixed windows: start this one at the beginning of
	// a window, so the six attempts cannot straddle two.
	now := a.clock.Now()
	a.clock.Advance(now.Truncate(10 * time.Minute).Add(10*time.Minute + time.Second).Sub(now))
	for range 5 {
		b.submit(acct, "/login/account/password", map[string]string{"current": u.Password, "password": fresh, "confirm": fresh, "code": "000000"})
	}
	got := b.submit(acct, "/login/account/password", map[string]string{"current": u.Password, "password": fresh, "confirm": fresh, "code": a.nextCode(u)})
	wantMessage(t, "a right code after five wrong ones", got, http.StatusTooManyRequests, "account.code_too_many")
	if a.user(t, u.NIP).PasswordHash != before.PasswordHash {
		t.Fatal("the password changed beyond the code budget")
	}
	if p := b.submit(acct, "/login/account/recovery", map[string]string{"code": a.nextCode(u)}); p.status != http.StatusOK {
		t.Errorf("new recovery codes with a right code after the password form's budget = %d, want 200", p.status)
	}
}

// A10, A13: a new set of recovery codes takes a fresh authenticator code:
// without one (none, a wrong one, or a recovery code in its place) nothing
// changes and the old codes still sign in. With one, ten new codes are
// shown once, the old ones stop working, the count is shown, the event is
// audited and the employee is mailed, and no code reaches the log.
func TestAccount_A10_A13_NewRecoveryCodes(t *testing.T) {
	a := startAccountOP(t)
	u := a.addUser(true)
	b := browserAs(t, uaPhone)
	a.signIn(t, b, u)
	old := a.recovery[u.NIP]
	sub := a.user(t, u.NIP).ID
	stored := recoveryHashes(t, a, sub)
	acct := a.account(t, b)
	if !strings.Contains(acct.body, indonesianWith(t, "account.recovery_left", "N", 10, "Total", 10)) {
		t.Errorf("the page does not say 10 of 10 codes are left:\n%s", acct.body)
	}

	for name, code := range map[string]string{"no code": "", "a wrong code": "123456", "a recovery code": old[0]} {
		got := b.submit(acct, "/login/account/recovery", map[string]string{"code": code})
		wantMessage(t, "new recovery codes with "+name, got, http.StatusUnauthorized, "otp.wrong")
		if len(optest.RecoveryCodes(got.body)) != 0 {
			t.Errorf("new recovery codes with %s were shown", name)
		}
	}
	if !slices.Equal(recoveryHashes(t, a, sub), stored) {
		t.Fatal("a refused request changed the recovery codes")
	}
	// The old codes still stand in for the phone.
	rb := newBrowser(t)
	start, _, _ := a.profil.start(t, a.testOP, rb)
	codePage := a.password(rb, start, u)
	form, _ := parseForm(t, codePage, "/login/otp")
	rec := rb.get(a.URL + "/login/recovery?id=" + form.Get("id"))
	wantRedirect(t, "an old recovery code after the refusals", rb.submit(rec, "/login/recovery", map[string]string{"code": old[1]}),
		"/login/enrol?id="+form.Get("id"))

	shown := b.submit(a.account(t, b), "/login/account/recovery", map[string]string{"code": a.nextCode(u)})
	codes := optest.RecoveryCodes(shown.body)
	if shown.status != http.StatusOK || len(codes) != 10 {
		t.Fatalf("new recovery codes = %d with %d codes, want 200 with 10:\n%s", shown.status, len(codes), shown.body)
	}
	if shown.header.Get("Cache-Control") != "no-store" || !strings.Contains(shown.body, indonesian(t, "account.recovery_new")) ||
		!strings.Contains(shown.body, `href="/login/account?notice=recovery"`) || strings.Contains(shown.body, `action="/login/recovery/codes"`) {
		t.Errorf("the new codes page: Cache-Control %q, body:\n%s", shown.header.Get("Cache-Control"), shown.body)
	}
	for _, c := range codes {
		if slices.Contains(old, c) {
			t.Errorf("new code %s was in the old set", c)
		}
	}
	m := a.nextMail(t, emailOf(u.NIP), "mail.recovery_regenerated.subject")
	notMeToken(t, m.Text)
	for _, c := range codes {
		if strings.Contains(m.Text, c) || strings.Contains(m.HTML, c) || strings.Contains(a.logs.String(), c) ||
			strings.Contains(a.logs.String(), strings.ReplaceAll(c, " ", "")) {
			t.Errorf("a new code is in the mail or the log")
		}
	}
	if a.logLines("type=mfa.recovery_issued", `reason="new set from the account page"`) != 1 {
		t.Error("no audit event for the new set")
	}

	// The old set is void; the new one works.
	useCode := func(code string) *page {
		rb := newBrowser(t)
		start, _, _ := a.profil.start(t, a.testOP, rb)
		f, _ := parseForm(t, a.password(rb, start, u), "/login/otp")
		return rb.submit(rb.get(a.URL+"/login/recovery?id="+f.Get("id")), "/login/recovery", map[string]string{"code": code})
	}
	wantMessage(t, "an old recovery code after the new set", useCode(old[2]), http.StatusUnauthorized, "recovery.wrong")
	if got := useCode(codes[0]); got.status != http.StatusSeeOther || !strings.HasPrefix(got.location(), "/login/enrol") {
		t.Errorf("a new recovery code = %d %q, want the enrolment", got.status, got.location())
	}
	if p := a.account(t, b); !strings.Contains(p.body, indonesianWith(t, "account.recovery_left", "N", 9, "Total", 10)) {
		t.Error("the page does not say 9 of 10 codes are left")
	}
}

// The language choice is kept in the lang cookie: the page and what
// follows speak English after it, and a language not offered is refused.
func TestAccount_Language(t *testing.T) {
	a := startAccountOP(t)
	u := a.addUser(true)
	b := browserAs(t, uaPhone)
	a.signIn(t, b, u)
	acct := a.account(t, b)
	if !strings.Contains(acct.body, `lang="id"`) || !strings.Contains(acct.body, `value="id" checked`) {
		t.Fatalf("the page is not Indonesian with Indonesian chosen:\n%s", acct.body)
	}
	wantRedirect(t, "choosing English", b.submit(acct, "/login/account/language", map[string]string{"lang": "en"}), "/login/account?notice=language")
	if got := cookieValue(t, b, a.testOP, "asnidp_lang"); got != "en" {
		t.Errorf("lang cookie = %q, want en", got)
	}
	en := a.account(t, b)
	if !strings.Contains(en.body, `lang="en"`) || !strings.Contains(en.body, "<h1>My account</h1>") || !strings.Contains(en.body, `value="en" checked`) {
		t.Errorf("the page after choosing English:\n%s", en.body)
	}
	if got := b.submit(en, "/login/account/language", map[string]string{"lang": "fr"}); got.status != http.StatusBadRequest {
		t.Errorf("choosing a language not offered = %d, want 400", got.status)
	}
	if got := cookieValue(t, b, a.testOP, "asnidp_lang"); got != "en" {
		t.Errorf("lang cookie after a refused choice = %q, want en", got)
	}
}

// The page shows the account's 20 latest sign-ins and security events,
// newest first, in plain words with the time, the IP and the browser;
// tokens fetched in the background and other accounts' events are not
// among them.
func TestAccount_LatestEvents(t *testing.T) {
	a := startAccountOP(t)
	u := a.addUser(true)
	b := browserAs(t, uaPhone)
	a.signIn(t, b, u)
	laptop := browserAs(t, uaLaptop)
	start, _, _ := a.profil.start(t, a.testOP, laptop)
	laptop.submit(start, "/login/", map[string]string{"nip": u.NIP, "password": "bukan password saya"})

	list := rows(t, a.account(t, b), "events")
	if len(list) == 0 {
		t.Fatal("no events listed")
	}
	if want := indonesian(t, "event.login.password.failure"); !strings.HasPrefix(list[0].text, want) ||
		!strings.Contains(list[0].text, "Firefox 128 di Windows") || !strings.Contains(list[0].text, "127.0.0.1") {
		t.Errorf("newest event = %q, want %q from Firefox 128 di Windows at 127.0.0.1", list[0].text, want)
	}
	if !slices.ContainsFunc(list, func(r row) bool {
		return strings.HasPrefix(r.text, indonesian(t, "event.login.succeeded")) && strings.Contains(r.text, "Chrome 126 di Android 14")
	}) {
		t.Errorf("no sign-in from Chrome 126 di Android 14 in %+v", list)
	}
	// The password the operator set (user set-password) says who did it.
	if want := indonesian(t, "event.password.changed") + " (" + indonesian(t, "account.by_operator") + ")"; !slices.ContainsFunc(list, func(r row) bool {
		return strings.HasPrefix(r.text, want)
	}) {
		t.Errorf("no %q in %+v", want, list)
	}

	// 25 more events of the account, then newer ones that are not shown.
	sub := a.user(t, u.NIP).ID
	now := a.clock.Now()
	add := func(e storage.AuditEvent) {
		if err := a.db.AppendAudit(t.Context(), &e); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 25 {
		add(storage.AuditEvent{Time: now.Add(time.Duration(i+1) * time.Minute), Type: "mfa.failed", Outcome: storage.OutcomeFailure,
			UserID: sub, NIP: u.NIP, IP: "198.51.100." + strconv.Itoa(i+1), UserAgent: uaTablet})
	}
	add(storage.AuditEvent{Time: now.Add(time.Hour), Type: "token.issued", UserID: sub, IP: "192.0.2.1"})
	add(storage.AuditEvent{Time: now.Add(time.Hour), Type: "login.succeeded", UserID: "someone-else", IP: "192.0.2.2"})
	list = rows(t, a.account(t, b), "events")
	if len(list) != 20 {
		t.Fatalf("%d events listed, want 20", len(list))
	}
	for i, r := range list {
		ip := "198.51.100." + strconv.Itoa(25-i)
		if !strings.Contains(r.text, " "+ip+" ") || !strings.HasPrefix(r.text, indonesian(t, "event.mfa.failed")) || !strings.Contains(r.text, "Safari 16 di iPadOS 16") {
			t.Errorf("event %d = %q, want the wrong code from %s (newest first)", i, r.text, ip)
		}
	}
}
