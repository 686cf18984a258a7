package main

// What a browser sees of the OP: security headers on every page and
// protocol response, cookie attributes, and the CSRF defence of every
// state-changing form (docs/security.md E5, E6). The header and cookie
// tests run with an https issuer, as in production; the server speaks
// plain HTTP behind it as it would behind a TLS-terminating proxy.

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/asnidp/asnidp/internal/config"
)

// startOPBehindTLS starts a server whose issuer is https://127.0.0.1:port
// while the listener speaks plain HTTP, as behind a TLS-terminating
// proxy. Browsers from tlsBrowser reach it with https URLs.
func startOPBehindTLS(t *testing.T) *testOP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	addr := ln.Addr().String()
	key := make([]byte, 32)
	rand.Read(key)
	cfgPath := filepath.Join(dir, "config.yaml")
	body := fmt.Sprintf(testConfig, "https://"+addr, base64.StdEncoding.EncodeToString(key), filepath.Join(dir, "asnidp.db"))
	if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	o := &testOP{t: t, URL: "http://" + addr, cfgPath: cfgPath, clock: newClock(), logs: &syncBuffer{}, seeds: map[string][]byte{}, recovery: map[string][]string{}}
	if o.cfg, err = config.Load(cfgPath, nil); err != nil {
		t.Fatalf("load test config: %v", err)
	}
	o.serve(ln) // waits for readiness over plain HTTP
	o.URL = "https://" + addr
	return o
}

// tlsBrowser is a browser whose https requests go to the loopback
// listener without TLS, like a proxy terminating it; its cookie jar
// treats the connection as secure.
func tlsBrowser(t *testing.T) *browser {
	b := newBrowser(t)
	b.client.Transport = &http.Transport{
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
				return nil, fmt.Errorf("refusing to dial %s", addr)
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	return b
}

// clientPost posts a protocol request from b with HTTP Basic client
// authentication.
func (b *browser) clientPost(u, clientID, secret string, form url.Values) *page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	return b.do(req)
}

// TestWeb_E6_SecurityHeaders walks a whole login and the protocol
// endpoints and checks the headers of every response: HTML pages cannot
// be framed, run no inline script, are never cached or leak a referrer;
// everything is nosniff and HSTS; no code or token travels in an OP URL;
// credential POSTs answer 303.
func TestWeb_E6_SecurityHeaders(t *testing.T) {
	o := startOPBehindTLS(t)
	secret := o.addClient("--id", "profil", "--redirect-uri", protoRedirect, "--post-logout-redirect-uri", protoPostLogout)
	u := o.addUser(true)
	b := tlsBrowser(t)
	type response struct {
		name string
		*page
	}
	var seen []response
	record := func(name string, p *page) *page {
		seen = append(seen, response{name, p})
		return p
	}

	p := pkceFor(newPKCE().verifier)
	authz := record("authorize", b.get(authorizeURL(o.URL, authParams("profil", protoRedirect, p))))
	loginPage := record("login page", b.get(authz.location()))
	wrong := record("wrong password", b.submit(loginPage, "/login/", map[string]string{"nip": u.NIP, "password": "wrong password 123"}))
	if wrong.status != http.StatusUnauthorized {
		t.Errorf("wrong password = %d, want 401", wrong.status)
	}
	loginPage = b.get(authz.location())
	enrol := record("enrolment page", o.password(b, loginPage, u))
	done := record("enrolment POST", o.secondFactor(b, enrol, u))
	if done.status != http.StatusSeeOther {
		t.Errorf("enrolment POST = %d, want 303", done.status)
	}
	callback := record("callback", b.get(done.location()))
	code, _ := codeFrom(t, callback, protoRedirect)

	tokenForm := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {protoRedirect}, "code_verifier": {p.verifier}}
	tok := record("token", b.clientPost(o.URL+tokenPath, "profil", secret, tokenForm))
	if tok.status != http.StatusOK {
		t.Fatalf("token = %d %s", tok.status, tok.body)
	}
	var tokens oauthResponse
	if err := json.Unmarshal([]byte(tok.body), &tokens); err != nil {
		t.Fatal(err)
	}
	record("introspection", b.clientPost(o.URL+introspectPath, "profil", secret, url.Values{"token": {tokens.AccessToken}}))
	req, _ := http.NewRequest(http.MethodGet, o.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tokens.AccessToken)
	if info := record("userinfo", b.do(req)); info.status != http.StatusOK {
		t.Errorf("userinfo = %d %s", info.status, info.body)
	}
	record("token bad client", b.clientPost(o.URL+tokenPath, "profil", "wrong", tokenForm))
	record("token error", b.clientPost(o.URL+tokenPath, "profil", secret, tokenForm))
	record("authorize error", b.get(authorizeURL(o.URL, authParams("nobody", protoRedirect, p))))
	record("silent authorize", b.get(authorizeURL(o.URL, authParams("profil", protoRedirect, newPKCE()))))
	record("unknown auth request", b.get(o.URL+"/login/?id=ar_NOPE"))
	record("not found", b.get(o.URL+"/login/nothing-here"))
	record("csrf refusal", b.postForm(o.URL+"/login/", url.Values{"id": {"x"}, "nip": {u.NIP}, "password": {u.Password}}, nil))
	record("revocation", b.clientPost(o.URL+revokePath, "profil", secret, url.Values{"token": {tokens.AccessToken}}))
	record("end_session", b.get(o.URL+endSessionPath+"?"+url.Values{"id_token_hint": {tokens.IDToken}}.Encode()))
	logoutPage := record("logout page", b.get(o.URL+"/login/logout"))
	logout := record("logout POST", b.submit(logoutPage, "/login/logout", nil))
	if logout.status != http.StatusSeeOther {
		t.Errorf("logout POST = %d, want 303", logout.status)
	}
	record("discovery", b.get(o.URL+"/.well-known/openid-configuration"))
	record("jwks", b.get(o.URL+"/keys"))

	// No secret of the walk reached the server's log.
	logs := o.logs.String()
	o.mu.Lock()
	seed := o.seeds[u.NIP]
	o.mu.Unlock()
	for what, v := range map[string]string{
		"password": u.Password, "client secret": secret, "code": code, "access token": tokens.AccessToken,
		"refresh token": tokens.RefreshToken, "ID token": tokens.IDToken, "PKCE verifier": p.verifier,
		"TOTP seed": base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(seed),
	} {
		if v != "" && strings.Contains(logs, v) {
			t.Errorf("the log contains the %s", what)
		}
	}

	maxAge := regexp.MustCompile(`max-age=(\d+)`)
	for _, got := range seen {
		name, h := got.name, got.header
		if h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s (%d): X-Content-Type-Options = %q, want nosniff", name, got.status, h.Get("X-Content-Type-Options"))
		}
		m := maxAge.FindStringSubmatch(h.Get("Strict-Transport-Security"))
		if n, _ := strconv.Atoi(append(m, "", "0")[1]); n < 31536000 {
			t.Errorf("%s (%d): Strict-Transport-Security = %q, want max-age >= 31536000", name, got.status, h.Get("Strict-Transport-Security"))
		}
		cacheable := name == "discovery" || name == "jwks"
		if !cacheable && !strings.Contains(h.Get("Cache-Control"), "no-store") {
			t.Errorf("%s (%d): Cache-Control = %q, want no-store", name, got.status, h.Get("Cache-Control"))
		}
		if strings.HasPrefix(h.Get("Content-Type"), "text/html") && got.status != http.StatusFound {
			csp := h.Get("Content-Security-Policy")
			if !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe") || !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("%s (%d): Content-Security-Policy = %q, want default-src 'none', frame-ancestors 'none' and nothing unsafe", name, got.status, csp)
			}
			if h.Get("X-Frame-Options") != "DENY" {
				t.Errorf("%s (%d): X-Frame-Options = %q, want DENY", name, got.status, h.Get("X-Frame-Options"))
			}
			if h.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("%s (%d): Referrer-Policy = %q, want no-referrer", name, got.status, h.Get("Referrer-Policy"))
			}
		}
		// Only the redirect to the client carries a code; no URL of the
		// OP ever carries a code, token or password.
		if loc := got.location(); strings.HasPrefix(loc, o.URL) || strings.HasPrefix(loc, "/") {
			q := mustQuery(t, loc)
			for _, k := range []string{"code", "access_token", "id_token", "refresh_token", "token", "password", "otp"} {
				if q.Has(k) {
					t.Errorf("%s: redirect to %q carries %s", name, loc, k)
				}
			}
		}
	}
}

// TestWeb_E1_E6_CookieAttributes inspects every cookie the OP sets during a
// login, a language switch and a logout: __Host- prefix, Secure,
// HttpOnly, Path=/, no Domain, and an explicit SameSite (Strict for the
// CSRF token; Lax where a cross-site navigation must carry the cookie).
func TestWeb_E1_E6_CookieAttributes(t *testing.T) {
	o := startOPBehindTLS(t)
	o.addClient("--id", "profil", "--redirect-uri", protoRedirect)
	u := o.addUser(true)
	b := tlsBrowser(t)
	var cookies []*http.Cookie
	collect := func(p *page) *page {
		t.Helper()
		for _, line := range p.header.Values("Set-Cookie") {
			c, err := http.ParseSetCookie(line)
			if err != nil {
				t.Fatalf("Set-Cookie %q: %v", line, err)
			}
			c.Raw = line
			cookies = append(cookies, c)
		}
		return p
	}

	authz := collect(b.get(authorizeURL(o.URL, authParams("profil", protoRedirect, newPKCE()))))
	loginPage := collect(b.get(authz.location() + "&lang=en"))
	factor := o.password(b, loginPage, u)
	collect(factor)
	done := collect(o.secondFactor(b, factor, u))
	collect(b.get(done.location()))
	logoutPage := collect(b.get(o.URL + "/login/logout"))
	collect(b.submit(logoutPage, "/login/logout", nil))

	wantSameSite := map[string]http.SameSite{
		"__Host-asnidp_session": http.SameSiteLaxMode,    // SSO must survive an RP's cross-site redirect
		"__Host-asnidp_browser": http.SameSiteLaxMode,    // binds /authorize, reached cross-site
		"__Host-asnidp_csrf":    http.SameSiteStrictMode, // only our own forms post it
		"__Host-asnidp_lang":    http.SameSiteLaxMode,
		"__Host-asnidp_device":  http.SameSiteStrictMode, // read only when our own form completes a login
	}
	seen := map[string]bool{}
	for _, c := range cookies {
		seen[c.Name] = true
		if !strings.HasPrefix(c.Name, "__Host-") || !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" {
			t.Errorf("cookie %q: want __Host- prefix, Secure, HttpOnly, Path=/ and no Domain", c.Raw)
		}
		want, known := wantSameSite[c.Name]
		switch {
		case !known:
			t.Errorf("cookie %q is not one the OP is known to set", c.Raw)
		case c.SameSite != want:
			t.Errorf("cookie %q: SameSite = %v, want %v", c.Raw, c.SameSite, want)
		}
	}
	for name := range wantSameSite {
		if !seen[name] {
			t.Errorf("cookie %s never set during the walk", name)
		}
	}
}

// TestWeb_E5_CSRF posts every state-changing form without its CSRF token,
// with another browser's token, and announced as cross-site: each is
// refused with 403 and changes nothing, while the OIDC /authorize POST
// still works cross-origin.
func TestWeb_E5_CSRF(t *testing.T) {
	o := startOP(t)
	o.addClient("--id", "profil", "--redirect-uri", protoRedirect)
	u := o.addUser(true)
	b, other := newBrowser(t), newBrowser(t)
	params := authParams("profil", protoRedirect, newPKCE())
	foreign, _ := parseForm(t, other.follow(o.URL, authorizeURL(o.URL, params)), "/login/")

	attacks := []struct {
		name   string
		edit   func(url.Values)
		header http.Header
	}{
		{"no token", func(f url.Values) { f.Del("csrf") }, nil},
		{"empty token", func(f url.Values) { f.Set("csrf", "") }, nil},
		{"another browser's token", func(f url.Values) { f.Set("csrf", foreign.Get("csrf")) }, nil},
		{"token twice", func(f url.Values) { f.Add("csrf", f.Get("csrf")) }, nil},
		{"cross-site Origin", nil, http.Header{"Origin": {"https://evil.example"}}},
		{"null Origin", nil, http.Header{"Origin": {"null"}}},
		{"Origin on another port", nil, http.Header{"Origin": {"http://127.0.0.1:1"}}},
		{"Origin https of the issuer host", nil, http.Header{"Origin": {"https" + strings.TrimPrefix(o.URL, "http")}}},
		{"Sec-Fetch-Site cross-site", nil, http.Header{"Sec-Fetch-Site": {"cross-site"}}},
		{"Sec-Fetch-Site same-site", nil, http.Header{"Sec-Fetch-Site": {"same-site"}}},
	}
	// forge posts page's form with the attack applied and wants a 403
	// that sets no session.
	forge := func(t *testing.T, b *browser, page *page, action string, values map[string]string) {
		t.Helper()
		for _, a := range attacks {
			form, target := parseForm(t, page, action)
			for k, v := range values {
				form.Set(k, v)
			}
			if a.edit != nil {
				a.edit(form)
			}
			got := b.postForm(target, form, a.header)
			if got.status != http.StatusForbidden {
				t.Errorf("POST %s with %s = %d %q, want 403", action, a.name, got.status, got.location())
			}
			for _, c := range got.header.Values("Set-Cookie") {
				if strings.HasPrefix(c, "asnidp_session=") && !strings.Contains(c, "Max-Age=0") {
					t.Errorf("POST %s with %s set a session: %s", action, a.name, c)
				}
			}
		}
	}

	authz := b.get(authorizeURL(o.URL, params))
	loginPage := b.get(authz.location())
	id := mustQuery(t, authz.location()).Get("id")
	forge(t, b, loginPage, "/login/", map[string]string{"nip": u.NIP, "password": u.Password})
	if loc := b.get(o.URL + "/authorize/callback?id=" + id).location(); strings.HasPrefix(loc, protoRedirect) {
		t.Fatalf("refused password POSTs completed the request: %s", loc)
	}

	enrol := o.password(b, b.get(authz.location()), u)
	code := rfc6238(seedFromPage(t, enrol), o.clock.Now().Unix()/30)
	forge(t, b, enrol, "/login/enrol", map[string]string{"code": code})
	if loc := b.get(o.URL + "/authorize/callback?id=" + id).location(); strings.HasPrefix(loc, protoRedirect) {
		t.Fatalf("refused enrolment POSTs completed the request: %s", loc)
	}
	// The refusals changed nothing: the enrolment page still offers the
	// same seed, and it binds now.
	again := b.get(enrol.url.String())
	if string(seedFromPage(t, again)) != string(seedFromPage(t, enrol)) {
		t.Error("refused enrolment POSTs changed the offered seed")
	}
	done := o.secondFactor(b, again, u)
	codeFrom(t, b.follow(o.URL, done.location()), protoRedirect)

	logoutPage := b.get(o.URL + "/login/logout")
	forge(t, b, logoutPage, "/login/logout", nil)
	silent := b.follow(o.URL, authorizeURL(o.URL, authParams("profil", protoRedirect, newPKCE())))
	codeFrom(t, silent, protoRedirect) // still signed in

	// The second factor of a later login is protected the same way.
	b2 := newBrowser(t)
	otpPage := o.password(b2, b2.follow(o.URL, authorizeURL(o.URL, params)), u)
	forge(t, b2, otpPage, "/login/otp", map[string]string{"code": o.nextCode(u)})

	// /authorize is a protocol endpoint: an RP on another site may POST
	// to it (OIDC Core §3.1.2.1).
	cross := b2.postForm(o.URL+"/authorize", urlValues(authParams("profil", protoRedirect, newPKCE())),
		http.Header{"Origin": {"https://profil.example.go.id"}, "Sec-Fetch-Site": {"cross-site"}})
	if cross.status != http.StatusFound || !strings.HasPrefix(cross.location(), o.URL+"/login/") {
		t.Errorf("cross-site POST /authorize = %d %q, want 302 to the login page", cross.status, cross.location())
	}
}
