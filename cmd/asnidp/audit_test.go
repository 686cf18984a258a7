package main

import (
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/asnidp/asnidp/internal/audit"
)

// auditRow is one line of `asnidp audit --format json`.
type auditRow map[string]string

// auditRows reads the whole audit log through the CLI.
func auditRows(t *testing.T, o *testOP, args ...string) ([]auditRow, string) {
	t.Helper()
	out := o.mustCLI("", append([]string{"audit", "--limit", "0", "--format", "json"}, args...)...)
	var rows []auditRow
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var r auditRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		rows = append(rows, r)
	}
	return rows, out
}

// wantAuditRow fails unless some row has every field of want.
func wantAuditRow(t *testing.T, rows []auditRow, want auditRow) {
	t.Helper()
	for _, r := range rows {
		match := true
		for k, v := range want {
			if r[k] != v {
				match = false
				break
			}
		}
		if match {
			return
		}
	}
	var types []string
	for _, r := range rows {
		types = append(types, r["type"]+"/"+r["outcome"]+"/"+r["reason"])
	}
	t.Errorf("no audit row with %v; rows: %v", want, types)
}

// A full journey leaves an audit row for each security event, with who
// (NIP, sub), through which client, from where and how it ended (E6, log
// and audit part): and neither those rows nor the server log hold the
// password, a code, the authenticator seed, a token, a cookie or the
// client secret used on the way.
//
// The mail driver is the default `log`, which writes whole mails to the
// server log. No mail of this journey carries a code (the only one is the
// notice that an authenticator was added), so nothing is excluded from the
// search: a reset code mailed through this driver would be a finding too.
func TestAudit_E6_JourneyRowsAndNoSecrets(t *testing.T) {
	o := startOP(t, "USER=budi.operator")
	firstStep := o.clock.Now().Unix() / 30
	secret := o.addClient("--id", "profil", "--redirect-uri", rpRedirect, "--post-logout-redirect-uri", rpPostLogout)
	u := o.addUser(true)
	r := newRelyingParty(t, o, "profil", secret)
	ctx := t.Context()

	// A wrong password, then the right one and the enrolment.
	const wrongPassword = "bukan sandi yang benar 9731"
	b := newBrowser(t)
	loginPage, pk1, _ := r.start(t, o, b)
	again := b.submit(loginPage, "/login/", map[string]string{"nip": u.NIP, "password": wrongPassword})
	if again.status != http.StatusUnauthorized {
		t.Fatalf("wrong password = %d, want 401", again.status)
	}
	done := o.secondFactor(b, o.password(b, again, u), u)
	code1, _ := codeFrom(t, b.follow(o.URL, done.location()), rpRedirect)
	tokens1 := r.exchange(t, code1, pk1)
	if _, err := rp.Userinfo[*oidc.UserInfo](ctx, tokens1.AccessToken, oidc.BearerToken, tokens1.IDTokenClaims.Subject, r.RelyingParty); err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	sub := tokens1.IDTokenClaims.Subject

	// Refresh, then the old refresh token again (reuse).
	r.nonce = ""
	refreshed, err := rp.RefreshTokens[*oidc.IDTokenClaims](ctx, r.RelyingParty, tokens1.RefreshToken, "", "")
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if _, err := rp.RefreshTokens[*oidc.IDTokenClaims](ctx, r.RelyingParty, tokens1.RefreshToken, "", ""); err == nil {
		t.Fatal("reused refresh token accepted")
	}

	// A second browser: a wrong authenticator code, then the right one.
	b2 := newBrowser(t)
	page2, pk2, _ := r.start(t, o, b2)
	codePage := o.password(b2, page2, u)
	o.mu.Lock()
	seed := o.seeds[u.NIP]
	o.mu.Unlock()
	wrongCode := "000000"
	for step := o.clock.Now().Unix()/30 - 2; step <= o.clock.Now().Unix()/30+2; step++ {
		if rfc6238(seed, step) == wrongCode {
			wrongCode = "999999"
		}
	}
	codePage = b2.submit(codePage, "/login/otp", map[string]string{"code": wrongCode})
	if codePage.status != http.StatusUnauthorized {
		t.Fatalf("wrong code = %d, want 401", codePage.status)
	}
	done = o.secondFactor(b2, codePage, u)
	code2, _ := codeFrom(t, b2.follow(o.URL, done.location()), rpRedirect)
	tokens2 := r.exchange(t, code2, pk2)

	// Cookies as they are while signed in.
	var cookies []string
	opURL, _ := url.Parse(o.URL)
	for _, br := range []*browser{b, b2} {
		for _, c := range br.client.Jar.Cookies(opURL) {
			cookies = append(cookies, c.Value)
		}
	}

	// Revocation, RP-initiated logout, and an operator's reset of the
	// authenticator.
	if err := rp.RevokeToken(ctx, r.RelyingParty, tokens2.AccessToken, "access_token"); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	out := b2.get(o.URL + "/end_session?" + url.Values{"id_token_hint": {tokens2.IDToken}, "post_logout_redirect_uri": {rpPostLogout}}.Encode())
	if out.status != http.StatusFound {
		t.Fatalf("end_session = %d", out.status)
	}
	o.mustCLI("", "user", "reset-mfa", u.NIP)
	lastStep := o.clock.Now().Unix()/30 + 1

	rows, auditText := auditRows(t, o)
	const ip, agent = "127.0.0.1", "Go-http-client/1.1"
	for _, want := range []auditRow{
		{"type": "client.created", "client_id": "profil", "actor": "operator:budi.operator"},
		{"type": "user.created", "nip": u.NIP, "sub": sub, "actor": "operator:budi.operator"},
		{"type": "password.changed", "nip": u.NIP, "sub": sub, "reason": "set by operator"},
		{"type": "login.password", "outcome": "failure", "reason": "wrong password", "nip": u.NIP, "client_id": "profil", "ip": ip, "user_agent": agent},
		{"type": "login.password", "outcome": "success", "nip": u.NIP, "sub": sub, "client_id": "profil", "ip": ip, "user_agent": agent},
		{"type": "mfa.enrolled", "outcome": "success", "nip": u.NIP, "sub": sub, "client_id": "profil", "ip": ip},
		{"type": "login.succeeded", "nip": u.NIP, "sub": sub, "client_id": "profil", "ip": ip},
		{"type": "token.issued", "sub": sub, "client_id": "profil", "ip": ip},
		{"type": "token.refreshed", "sub": sub, "client_id": "profil", "ip": ip},
		{"type": "token.reuse_detected", "outcome": "failure", "sub": sub, "client_id": "profil", "reason": "refresh token used again; its family revoked"},
		{"type": "mfa.failed", "outcome": "failure", "reason": "wrong code", "nip": u.NIP, "sub": sub, "ip": ip},
		{"type": "mfa.verified", "outcome": "success", "nip": u.NIP, "sub": sub, "client_id": "profil"},
		{"type": "token.revoked", "sub": sub, "client_id": "profil", "reason": "revocation request"},
		{"type": "session.ended", "sub": sub, "client_id": "profil", "reason": "relying party logout", "ip": ip},
		{"type": "mfa.reset", "nip": u.NIP, "sub": sub, "actor": "operator:budi.operator"},
	} {
		wantAuditRow(t, rows, want)
	}

	// The filters: one employee (token events found through the sub), one
	// family.
	mine, _ := auditRows(t, o, "--nip", u.NIP)
	mfa, _ := auditRows(t, o, "--type", "mfa")
	if len(mine) != len(rows)-1 { // all but client.created
		t.Errorf("audit --nip returned %d of %d rows, want all but the client's", len(mine), len(rows))
	}
	for _, r := range mfa {
		if !strings.HasPrefix(r["type"], "mfa.") {
			t.Errorf("audit --type mfa returned %q", r["type"])
		}
	}
	if len(mfa) != 5 { // enrolled, recovery codes issued, failed, verified, reset
		t.Errorf("audit --type mfa returned %d rows, want 5", len(mfa))
	}
	if table := o.mustCLI("", "audit", "--nip", u.NIP, "--type", "mfa.reset", "--since", "1h"); !strings.Contains(table, "mfa.reset") || strings.Count(table, "\n") != 2 {
		t.Errorf("audit table:\n%s", table)
	}

	// Nothing secret in the server log or the audit rows.
	haystack := o.logs.String() + "\n" + auditText
	secrets := map[string]string{
		"password":                u.Password,
		"password (form-encoded)": url.QueryEscape(u.Password),
		"wrong password":          wrongPassword,
		"client secret":           secret,
		"authenticator seed":      base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(seed),
		"authenticator seed, hex": hex.EncodeToString(seed),
		"PKCE verifier":           pk1.verifier,
		"authorization code 1":    code1,
		"authorization code 2":    code2,
		"access token 1":          tokens1.AccessToken,
		"access token 2":          tokens2.AccessToken,
		"access token refreshed":  refreshed.AccessToken,
		"refresh token 1":         tokens1.RefreshToken,
		"refresh token refreshed": refreshed.RefreshToken,
		"refresh token 2":         tokens2.RefreshToken,
		"ID token 1":              tokens1.IDToken,
		"ID token 2":              tokens2.IDToken,
		"ID token signature":      tokens1.IDToken[strings.LastIndex(tokens1.IDToken, ".")+1:],
	}
	o.mu.Lock()
	recovery := o.recovery[u.NIP]
	o.mu.Unlock()
	if len(recovery) != 10 {
		t.Fatalf("the journey showed %d recovery codes, want 10", len(recovery))
	}
	for i, c := range recovery {
		secrets[fmt.Sprintf("recovery code %d", i+1)] = c
		secrets[fmt.Sprintf("recovery code %d, digits only", i+1)] = strings.ReplaceAll(c, " ", "")
	}
	for i, c := range cookies {
		if len(c) >= 16 { // the language cookie holds "id"/"en"
			secrets["cookie "+string(rune('a'+i))] = c
		}
	}
	for what, s := range secrets {
		if s == "" {
			t.Fatalf("%s is empty: the journey did not produce it", what)
		}
		if strings.Contains(haystack, s) {
			t.Errorf("the %s appears in the log or the audit rows", what)
		}
	}
	// Six-digit codes: every code of every step the journey went through
	// (the wrong one included), as a number of its own.
	codes := map[string]bool{wrongCode: true}
	for step := firstStep - 1; step <= lastStep; step++ {
		codes[rfc6238(seed, step)] = true
	}
	for c := range codes {
		if regexp.MustCompile(`(^|[^0-9A-Za-z])` + c + `([^0-9A-Za-z]|$)`).MatchString(haystack) {
			t.Errorf("authenticator code %s appears in the log or the audit rows", c)
		}
	}
	if !strings.Contains(o.logs.String(), "msg=audit type=mfa.enrolled") {
		t.Error("audit events are not in the server log")
	}
}

// An unknown --type would match nothing and print an empty log, which
// reads as "no such events"; it is refused with the valid families and
// types instead. Every defined family and type is accepted.
func TestAudit_UnknownTypeRefused(t *testing.T) {
	o := startOP(t)
	o.addUser(false) // a user.created row, so an empty answer means something
	for _, bad := range []string{"logn", "mfa.rest", "user.", "User"} {
		out, err := o.cli("", "audit", "--type", bad)
		if err == nil {
			t.Errorf("audit --type %s = nil error, printed %q; want a refusal", bad, out)
			continue
		}
		msg := err.Error()
		for _, want := range []string{`--type: unknown event type or family "` + bad + `"`,
			"families: account, client, key, login, mfa, operator, password, reset, session, token, user;",
			"types: account.not_me, client.assertion_replayed, client.created, client.removed, client.request_object_refused, key.rotated,", "user.created"} {
			if !strings.Contains(msg, want) {
				t.Errorf("audit --type %s error = %q, want it to contain %q", bad, msg, want)
			}
		}
		if out != "" {
			t.Errorf("audit --type %s printed %q alongside the error", bad, out)
		}
	}
	for _, good := range append(audit.Families(), audit.Types()...) {
		if _, err := o.cli("", "audit", "--type", good); err != nil {
			t.Errorf("audit --type %s = %v, want it accepted", good, err)
		}
	}
	if rows, _ := auditRows(t, o, "--type", "user"); len(rows) != 1 || rows[0]["type"] != audit.UserCreated {
		t.Errorf("audit --type user = %v, want the one user.created row", rows)
	}
}
