package main

// Attacks on the OIDC protocol surface: docs/security.md D1–D13, F3 and
// the authorization-code half of G3. Each test names the items it covers
// and fails if the protection it checks is removed. Redirect URIs such as
// https://app.example/cb are registered strings only: no test ever
// fetches them (b.follow stops at the first URL outside the OP).

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/net/idna"

	"github.com/asnidp/asnidp/op"
)

const (
	tokenPath      = "/oauth/token"
	introspectPath = "/oauth/introspect"
	revokePath     = "/revoke"
	endSessionPath = "/end_session"

	protoRedirect   = "https://profil.example.go.id/cb"
	protoRedirect2  = "https://profil.example.go.id/cb2"
	protoPostLogout = "https://profil.example.go.id/bye"
	appRedirect     = "https://app.example/cb"
	nativeRedirect  = "http://127.0.0.1:8400/cb"
)

// protoOP is a running OP with one client of each kind and one employee
// with a password:
//
//	profil   confidential, PKCE required (the default), two redirect URIs
//	other    confidential, a second client with valid credentials
//	legacy   confidential, registered with --pkce optional (nonce instead)
//	service  confidential, client_credentials only
//	app      public, https://app.example/cb
//	native   public, a loopback redirect URI
type protoOP struct {
	*testOP
	secret map[string]string
	user   testUser
}

func startProtoOP(t *testing.T) *protoOP {
	t.Helper()
	o := startOP(t)
	f := &protoOP{testOP: o, secret: map[string]string{}}
	f.secret["profil"] = o.addClient("--id", "profil", "--redirect-uri", protoRedirect, "--redirect-uri", protoRedirect2,
		"--post-logout-redirect-uri", protoPostLogout)
	f.secret["other"] = o.addClient("--id", "other", "--redirect-uri", protoRedirect)
	f.secret["legacy"] = o.addClient("--id", "legacy", "--redirect-uri", protoRedirect, "--pkce", "optional")
	f.secret["service"] = o.addClient("--id", "service", "--grant", "client_credentials")
	o.addClient("--id", "app", "--public", "--redirect-uri", appRedirect)
	o.addClient("--id", "native", "--public", "--redirect-uri", nativeRedirect)
	for _, id := range []string{"profil", "other", "legacy", "service"} {
		if f.secret[id] == "" {
			t.Fatalf("client %s registered without a secret", id)
		}
	}
	f.user = o.addUser(true)
	return f
}

// authParams is a valid authorization request of clientID to redirectURI
// with PKCE pair p and a random state and nonce; kv pairs override it, and an empty value removes the
// parameter.
func authParams(clientID, redirectURI string, p pkce, kv ...string) map[string]string {
	out := map[string]string{
		"client_id":             clientID,
		"redirect_uri":          redirectURI,
		"response_type":         "code",
		"scope":                 "openid profile offline_access",
		"state":                 "st-" + rand.Text()[:8],
		"nonce":                 "nn-" + rand.Text()[:8],
		"code_challenge":        p.challenge,
		"code_challenge_method": "S256",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
			continue
		}
		out[kv[i]] = kv[i+1]
	}
	return out
}

// code runs an authorization request in b, signing in when the OP shows
// the login page, and returns the code the client receives.
func (f *protoOP) code(t *testing.T, b *browser, params map[string]string) string {
	t.Helper()
	p := b.follow(f.URL, authorizeURL(f.URL, params))
	if p.status == http.StatusOK {
		p = passLogin(t, f.testOP, b, p, f.user)
	}
	code, state := codeFrom(t, p, params["redirect_uri"])
	if state != params["state"] {
		t.Errorf("state = %q, want %q", state, params["state"])
	}
	return code
}

// redeem exchanges code at the token endpoint as clientID (HTTP Basic for
// a confidential client, client_id in the form for a public one).
func (f *protoOP) redeem(t *testing.T, clientID, code, redirectURI, verifier string) *oauthResponse {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	secret := f.secret[clientID]
	if secret == "" {
		form.Set("client_id", clientID)
	}
	return mustOAuthPost(t, f.testOP, tokenPath, clientID, secret, form)
}

func (f *protoOP) refresh(t *testing.T, clientID, token string) *oauthResponse {
	t.Helper()
	return mustOAuthPost(t, f.testOP, tokenPath, clientID, f.secret[clientID],
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}})
}

func (f *protoOP) active(t *testing.T, accessToken string) bool {
	t.Helper()
	r := mustOAuthPost(t, f.testOP, introspectPath, "profil", f.secret["profil"], url.Values{"token": {accessToken}})
	if r.status != http.StatusOK {
		t.Fatalf("introspection = %d %s", r.status, r.body)
	}
	return r.Active
}

// wantTokens fails unless r issued tokens.
func wantTokens(t *testing.T, what string, r *oauthResponse) {
	t.Helper()
	if r.status != http.StatusOK || r.AccessToken == "" {
		t.Fatalf("%s = %d %s, want 200 with tokens", what, r.status, r.body)
	}
}

// wantOAuthError checks a refused protocol request: the status, the
// OAuth error code, and that nothing was issued.
func wantOAuthError(t *testing.T, what string, r *oauthResponse, status int, code string) {
	t.Helper()
	if r.status != status || r.Error != code || r.AccessToken != "" || r.IDToken != "" {
		t.Errorf("%s = %d %q (%s), want %d %q and no token", what, r.status, r.Error, r.Description, status, code)
	}
}

// wantNotRedirected checks that the OP answered an authorization request
// itself, with an OAuth error and no Location: the redirect URI was not
// trusted (D2).
func wantNotRedirected(t *testing.T, what string, p *page) {
	t.Helper()
	if p.status < 400 || p.status >= 500 || p.location() != "" {
		t.Errorf("%s = %d Location %q, want a 4xx answered by the OP without redirect", what, p.status, p.location())
	}
}

// wantAuthorizeError checks that an authorization request was refused
// towards its (registered) redirect URI with error code, before any login
// page and without a code or token.
func wantAuthorizeError(t *testing.T, what string, p *page, redirectURI, code string) {
	t.Helper()
	loc := p.location()
	if p.status < 300 || p.status > 399 || !strings.HasPrefix(loc, redirectURI+"?") {
		t.Errorf("%s = %d Location %q, want a redirect to %s carrying error=%s", what, p.status, loc, redirectURI, code)
		return
	}
	q := mustQuery(t, loc)
	if q.Get("error") != code || q.Has("code") || q.Has("access_token") || q.Has("id_token") {
		t.Errorf("%s redirected with %v, want only error=%s", what, q, code)
	}
}

// wantLoginPage checks that an authorization request was accepted and the
// browser sent to the login pages.
func wantLoginPage(t *testing.T, f *protoOP, what string, p *page) {
	t.Helper()
	if p.status < 300 || p.status > 399 || !strings.HasPrefix(p.location(), f.URL+"/login/?id=") {
		t.Errorf("%s = %d Location %q, want a redirect to the login page", what, p.status, p.location())
	}
}

func mustQuery(t *testing.T, loc string) url.Values {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("parse %q: %v", loc, err)
	}
	return u.Query()
}

// postForm posts form to u in b (the browser's cookies go along).
func (b *browser) postForm(u string, form url.Values, header http.Header) *page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	return b.do(req)
}

func verifierOfLength(n int) pkce {
	v := strings.Repeat(strings.ToLower(rand.Text()), 5)[:n]
	return pkceFor(v)
}

func pkceFor(verifier string) pkce {
	sum := sha256.Sum256([]byte(verifier))
	return pkce{verifier: verifier, challenge: base64.RawURLEncoding.EncodeToString(sum[:])}
}

// jwtClaims decodes a JWT's payload without verifying it.
func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("decode JWT payload: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatalf("decode JWT claims: %v", err)
	}
	return claims
}

// TestProtocol_D1_RedirectURIVariants: no near miss of a registered
// redirect URI is ever redirected to, by GET or POST.
func TestProtocol_D1_RedirectURIVariants(t *testing.T) {
	f := startProtoOP(t)
	b := newBrowser(t)
	p := newPKCE()

	// The registered strings themselves work, so the refusals below are
	// about the variants.
	wantLoginPage(t, f, "registered https URI", b.get(authorizeURL(f.URL, authParams("app", appRedirect, p))))
	wantLoginPage(t, f, "registered loopback URI", b.get(authorizeURL(f.URL, authParams("native", nativeRedirect, p))))

	lookalike, err := idna.Lookup.ToASCII("аpp.example") // Cyrillic а
	if err != nil {
		t.Fatal(err)
	}
	var everyByteEncoded strings.Builder
	for _, c := range []byte(appRedirect) {
		fmt.Fprintf(&everyByteEncoded, "%%%02X", c)
	}
	variants := []struct {
		name, client, uri string
	}{
		{"trailing slash", "app", "https://app.example/cb/"},
		{"upper-case host", "app", "https://APP.example/cb"},
		{"upper-case scheme", "app", "HTTPS://app.example/cb"},
		{"upper-case path", "app", "https://app.example/CB"},
		{"extra query", "app", "https://app.example/cb?next=https://evil.example/"},
		{"empty query", "app", "https://app.example/cb?"},
		{"fragment", "app", "https://app.example/cb#frag"},
		{"empty fragment", "app", "https://app.example/cb#"},
		{"dot-dot semicolon", "app", "https://app.example/cb/..;/evil"},
		{"encoded dot-dot", "app", "https://app.example/cb/%2e%2e/evil"},
		{"encoded dot-dot upper", "app", "https://app.example/cb/%2E%2E/%2E%2E/evil"},
		{"encoded slash in host", "app", "https://app.example%2Fcb"},
		{"encoded slash at end", "app", "https://app.example/cb%2F"},
		{"encoded path letter", "app", "https://app.example/%63b"},
		{"percent-encoded copy", "app", url.QueryEscape(appRedirect)},
		{"every byte percent-encoded", "app", everyByteEncoded.String()},
		{"userinfo evil host", "app", "https://app.example@evil.example/cb"},
		{"userinfo registered host", "app", "https://evil.example@app.example/cb"},
		{"double at", "app", "https://app.example@evil.example@app.example/cb"},
		{"backslash userinfo", "app", `https://app.example\@evil.example/cb`},
		{"http scheme", "app", "http://app.example/cb"},
		{"scheme-relative", "app", "//app.example/cb"},
		{"explicit default port", "app", "https://app.example:443/cb"},
		{"other port", "app", "https://app.example:8443/cb"},
		{"unicode look-alike", "app", "https://аpp.example/cb"},
		{"punycode look-alike", "app", "https://" + lookalike + "/cb"},
		{"javascript", "app", "javascript:alert(document.domain)//https://app.example/cb"},
		{"data", "app", "data:text/html,<script>alert(1)</script>#https://app.example/cb"},
		{"suffix host", "app", "https://app.example.evil.example/cb"},
		{"suffix path dot", "app", "https://app.example/cb.evil.example"},
		{"suffix path char", "app", "https://app.example/cbx"},
		{"suffix path segment", "app", "https://app.example/cb/../../evil"},
		{"prefix", "app", "https://app.example/c"},
		{"nul byte", "app", "https://app.example/cb\x00"},
		{"encoded nul", "app", "https://app.example/cb%00"},
		{"leading space", "app", " https://app.example/cb"},
		{"trailing space", "app", "https://app.example/cb "},
		{"trailing tab", "app", "https://app.example/cb\t"},
		{"another client's URI", "app", protoRedirect},
		{"loopback other port", "native", "http://127.0.0.1:8401/cb"},
		{"loopback no port", "native", "http://127.0.0.1/cb"},
		{"loopback localhost", "native", "http://localhost:8400/cb"},
		{"loopback ipv6", "native", "http://[::1]:8400/cb"},
		{"loopback https", "native", "https://127.0.0.1:8400/cb"},
		{"loopback trailing slash", "native", "http://127.0.0.1:8400/cb/"},
		{"empty", "app", ""},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			params := authParams(v.client, v.uri, p)
			if v.uri == "" {
				delete(params, "redirect_uri")
			}
			wantRefusalPage(t, "GET /authorize", b.get(authorizeURL(f.URL, params)), "id", op.ReasonRedirectURI)
			form := url.Values{}
			for k, val := range params {
				form.Set(k, val)
			}
			wantRefusalPage(t, "POST /authorize", b.postForm(f.URL+"/authorize", form, nil), "id", op.ReasonRedirectURI)
		})
	}
}

// TestProtocol_D2_UnknownClientAndDuplicates: an unknown client, a missing
// client_id and repeated parameters are answered by the OP, never
// redirected.
func TestProtocol_D2_UnknownClientAndDuplicates(t *testing.T) {
	f := startProtoOP(t)
	b := newBrowser(t)
	p := newPKCE()

	wantRefusalPage(t, "unknown client_id", b.get(authorizeURL(f.URL, authParams("nobody", appRedirect, p))), "id", op.ReasonClientUnknown)
	wantRefusalPage(t, "missing client_id", b.get(authorizeURL(f.URL, authParams("", appRedirect, p))), "id", op.ReasonClientMissing)

	valid := url.Values{}
	for k, v := range authParams("app", appRedirect, p) {
		valid.Set(k, v)
	}
	for _, tc := range []struct{ name, extra string }{
		{"redirect_uri repeated, same value", "redirect_uri=" + url.QueryEscape(appRedirect)},
		{"redirect_uri repeated, other value", "redirect_uri=" + url.QueryEscape("https://evil.example/cb")},
		{"client_id repeated", "client_id=app"},
		{"client_id repeated, other client", "client_id=native"},
		{"state repeated", "state=other"},
		{"code_challenge repeated", "code_challenge=" + newPKCE().challenge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := b.get(f.URL + "/authorize?" + valid.Encode() + "&" + tc.extra)
			wantRefusalPage(t, "GET", got, "id", op.ReasonRepeated)
			// The same parameter once in the query and once in the body.
			extra, _ := url.ParseQuery(tc.extra)
			got = b.postForm(f.URL+"/authorize?"+extra.Encode(), valid, nil)
			wantRefusalPage(t, "POST with the parameter in query and body", got, "id", op.ReasonRepeated)
		})
	}
}

// TestProtocol_D2_PostLogoutRedirect: end_session redirects to the client
// only for a valid id_token_hint and an exactly registered URI; otherwise
// the OP's own confirmation page answers.
func TestProtocol_D2_PostLogoutRedirect(t *testing.T) {
	f := startProtoOP(t)
	b := newBrowser(t)
	pk := newPKCE()
	tokens := f.redeem(t, "profil", f.code(t, b, authParams("profil", protoRedirect, pk)), protoRedirect, pk.verifier)
	wantTokens(t, "redeem", tokens)
	logoutPage := f.URL + "/login/logout"

	// Without a hint the user is asked, and the session lives on.
	got := b.get(f.URL + endSessionPath + "?" + url.Values{"post_logout_redirect_uri": {protoPostLogout}, "state": {"s"}}.Encode())
	if got.status < 300 || got.status > 399 || !strings.HasPrefix(got.location(), logoutPage) {
		t.Errorf("end_session without id_token_hint = %d %q, want a redirect to %s", got.status, got.location(), logoutPage)
	}
	f.code(t, b, authParams("profil", protoRedirect, newPKCE())) // still signed in: no login page

	for _, uri := range []string{"https://evil.example/bye", protoPostLogout + "/", protoRedirect, strings.ToUpper(protoPostLogout)} {
		got := b.get(f.URL + endSessionPath + "?" + url.Values{"id_token_hint": {tokens.IDToken}, "post_logout_redirect_uri": {uri}}.Encode())
		if loc := got.location(); got.status >= 500 || strings.HasPrefix(loc, uri) || (loc != "" && !strings.HasPrefix(loc, f.URL)) {
			t.Errorf("end_session to unregistered %q = %d %q, want no redirect to it", uri, got.status, loc)
		}
		wantRefusalPage(t, "end_session to unregistered "+uri, got, "id", op.ReasonLogoutURI)
	}
	got = b.get(f.URL + endSessionPath + "?" + url.Values{"id_token_hint": {tokens.IDToken}, "client_id": {"other"},
		"post_logout_redirect_uri": {protoPostLogout}}.Encode())
	if strings.HasPrefix(got.location(), protoPostLogout) {
		t.Errorf("end_session with another client_id redirected to %q", got.location())
	}
}

// TestProtocol_D3_D4_PKCERequired: every client must send an S256
// challenge (or, registered with PKCE optional, a nonce) before any login
// page is shown.
func TestProtocol_D3_D4_PKCERequired(t *testing.T) {
	f := startProtoOP(t)
	b := newBrowser(t)
	p := newPKCE()
	for _, c := range []struct{ client, uri string }{{"app", appRedirect}, {"profil", protoRedirect}, {"legacy", protoRedirect}} {
		for _, tc := range []struct {
			name string
			kv   []string
		}{
			{"method plain", []string{"code_challenge_method", "plain"}},
			{"plain with the verifier as challenge", []string{"code_challenge_method", "plain", "code_challenge", p.verifier}},
			{"method s256", []string{"code_challenge_method", "s256"}},
			{"method S512", []string{"code_challenge_method", "S512"}},
			{"method absent", []string{"code_challenge_method", ""}},
			{"challenge 42 chars", []string{"code_challenge", p.challenge[:42]}},
			{"challenge 44 chars", []string{"code_challenge", p.challenge + "A"}},
			{"challenge base64 std", []string{"code_challenge", "+/" + p.challenge[2:]}},
			{"method without challenge", []string{"code_challenge", ""}},
		} {
			t.Run(c.client+"/"+tc.name, func(t *testing.T) {
				got := b.get(authorizeURL(f.URL, authParams(c.client, c.uri, p, tc.kv...)))
				wantAuthorizeError(t, "authorize", got, c.uri, "invalid_request")
			})
		}
	}
	for _, c := range []struct{ client, uri string }{{"app", appRedirect}, {"profil", protoRedirect}} {
		t.Run(c.client+"/no challenge", func(t *testing.T) {
			got := b.get(authorizeURL(f.URL, authParams(c.client, c.uri, p, "code_challenge", "", "code_challenge_method", "")))
			wantAuthorizeError(t, "authorize", got, c.uri, "invalid_request")
		})
	}
	t.Run("legacy/no challenge, no nonce", func(t *testing.T) {
		got := b.get(authorizeURL(f.URL, authParams("legacy", protoRedirect, p, "code_challenge", "", "code_challenge_method", "", "nonce", "")))
		wantAuthorizeError(t, "authorize", got, protoRedirect, "invalid_request")
	})
	t.Run("legacy/no challenge, nonce", func(t *testing.T) {
		got := b.get(authorizeURL(f.URL, authParams("legacy", protoRedirect, p, "code_challenge", "", "code_challenge_method", "")))
		wantLoginPage(t, f, "authorize", got)
	})
}

// TestProtocol_D5_NoPKCEDowngrade: a challenge sent at /authorize always
// requires its verifier at the token endpoint, for confidential clients
// too; a PKCE-optional client without a challenge redeems with its nonce.
func TestProtocol_D5_NoPKCEDowngrade(t *testing.T) {
	f := startProtoOP(t)
	b := newBrowser(t)

	for _, client := range []string{"legacy", "profil"} {
		p := newPKCE()
		code := f.code(t, b, authParams(client, protoRedirect, p))
		wantOAuthError(t, client+": challenge sent, no verifier", f.redeem(t, client, code, protoRedirect, ""), http.StatusBadRequest, "invalid_grant")
		wantOAuthError(t, client+": verifier after the downgrade attempt", f.redeem(t, client, code, protoRedirect, p.verifier), http.StatusBadRequest, "invalid_grant")
	}

	params := authParams("legacy", protoRedirect, newPKCE(), "code_challenge", "", "code_challenge_method", "", "nonce", "nonce-ÿ-✓")
	code := f.code(t, b, params)
	got := f.redeem(t, "legacy", code, protoRedirect, "")
	wantTokens(t, "legacy without PKCE", got)
	if n := jwtClaims(t, got.IDToken)["nonce"]; n != params["nonce"] {
		t.Errorf("nonce = %v, want %q", n, params["nonce"])
	}

	code = f.code(t, b, authParams("legacy", protoRedirect, newPKCE(), "code_challenge", "", "code_challenge_method", ""))
	wantOAuthError(t, "verifier without a challenge", f.redeem(t, "legacy", code, protoRedirect, newPKCE().verifier), http.StatusBadRequest, "invalid_grant")
}

// TestProtocol_D6_VerifierChecks: a wrong or malformed verifier is
// refused and burns the code, so verifiers cannot be guessed online; a
// malformed verifier is refused even when its challenge matches, by the
// format rule of RFC 7636 §4.1 alone.
func TestProtocol_D6_VerifierChecks(t *testing.T) {
	f := startProtoOP(t)
	b := newBrowser(t)
	long := func(prefix string) string { return prefix + verifierOfLength(50).verifier }
	for _, tc := range []struct {
		name      string
		verifier  string
		wantValid bool // as a verifier of its own challenge
	}{
		{"wrong", newPKCE().verifier, true},
		{"42 chars", verifierOfLength(42).verifier, false},
		{"43 chars", verifierOfLength(43).verifier, true},
		{"128 chars", verifierOfLength(128).verifier, true},
		{"129 chars", verifierOfLength(129).verifier, false},
		{"plus and slash", long("ab+/"), false},
		{"space", long("ab cd"), false},
		{"percent", long("ab%20"), false},
		{"non-ASCII", long("ñandú"), false},
		{"NUL", long("ab\x00"), false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, c := range []struct{ client, uri string }{{"profil", protoRedirect}, {"app", appRedirect}} {
				// Against another challenge: refused, and the code is gone.
				p := newPKCE()
				code := f.code(t, b, authParams(c.client, c.uri, p))
				wantOAuthError(t, c.client+": bad verifier", f.redeem(t, c.client, code, c.uri, tc.verifier), http.StatusBadRequest, "invalid_grant")
				wantOAuthError(t, c.client+": right verifier afterwards", f.redeem(t, c.client, code, c.uri, p.verifier), http.StatusBadRequest, "invalid_grant")
			}
			if tc.verifier == "" {
				return
			}
			// Against its own challenge: only well-formed verifiers pass.
			own := pkceFor(tc.verifier)
			code := f.code(t, b, authParams("profil", protoRedirect, own))
			got := f.redeem(t, "profil", code, protoRedirect, own.verifier)
			if tc.wantValid {
				wantTokens(t, "verifier of its own challenge", got)
				return
			}
			wantOAuthError(t, "malformed verifier of its own challenge", got, http.StatusBadRequest, "invalid_grant")
		})
	}
}

// TestProtocol_D7_CodeReplayAndExpiry: a code redeems once; the second
// redemption is refused and revokes what the first issued; a code older
// than its 60 s lifetime is refused.
func TestProtocol_D7_CodeReplayAndExpiry(t *testing.T) {
	f := startProtoOP(t)
	b := newBrowser(t)

	p := newPKCE()
	code := f.code(t, b, authParams("profil", protoRedirect, p))
	first := f.redeem(t, "profil", code, protoRedirect, p.verifier)
	wantTokens(t, "first redemption", first)
	if first.RefreshToken == "" {
		t.Fatal("no refresh token for offline_access")
	}
	if !f.active(t, first.AccessToken) {
		t.Fatal("fresh access token inactive")
	}
	wantOAuthError(t, "second redemption", f.redeem(t, "profil", code, protoRedirect, p.verifier), http.StatusBadRequest, "invalid_grant")
	if f.active(t, first.AccessToken) {
		t.Error("access token of a replayed code still active")
	}
	wantOAuthError(t, "refresh token of a replayed code", f.refresh(t, "profil", first.RefreshToken), http.StatusBadRequest, "invalid_grant")

	// Within the lifetime a code works; past it, it does not.
	p = newPKCE()
	code = f.code(t, b, authParams("profil", protoRedirect, p))
	f.clock.Advance(59 * time.Second)
	wantTokens(t, "redeem at 59 s", f.redeem(t, "profil", code, protoRedirect, p.verifier))

	p = newPKCE()
	code = f.code(t, b, authParams("profil", protoRedirect, p))
	f.clock.Advance(61 * time.Second)
	wantOAuthError(t, "redeem at 61 s", f.redeem(t, "profil", code, protoRedirect, p.verifier), http.StatusBadRequest, "invalid_grant")
}

// TestProtocol_G3_ConcurrentCodeRedemption: of 20 simultaneous
// redemptions of one code exactly one gets tokens; the others are refused
// cleanly.
func TestProtocol_G3_ConcurrentCodeRedemption(t *testing.T) {
	f := startProtoOP(t)
	b := newBrowser(t)
	p := newPKCE()
	code := f.code(t, b, authParams("profil", protoRedirect, p))
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {protoRedirect}, "code_verifier": {p.verifier}}

	const n = 20
	results := make([]*oauthResponse, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			results[i], errs[i] = oauthPost(t.Context(), f.testOP, tokenPath, "profil", f.secret["profil"], form)
		})
	}
	close(start)
	wg.Wait()
	successes := 0
	var winner string
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		switch {
		case r.status == http.StatusOK && r.AccessToken != "":
			successes++
			winner = r.AccessToken
		case r.status == http.StatusBadRequest && r.Error == "invalid_grant":
		default:
			t.Errorf("request %d = %d %s, want 200 or 400 invalid_grant", i, r.status, r.body)
		}
	}
	if successes != 1 {
		t.Fatalf("%d of %d concurrent redemptions succeeded, want exactly 1", successes, n)
	}
	// The code was presented more than once, so what the winner got is
	// revoked too, whichever request ran first (RFC 6749 §4.1.2).
	if introspect(t, f.testOP, "profil", f.secret["profil"], winner).Active {
		t.Error("the winning redemption's access token is still active after the code was reused")
	}
}

// TestProtocol_D8_CodeBoundToClientAndRedirect: a code is redeemed only
// by the client it was issued to, with the redirect URI of its request.
func TestProtocol_D8_CodeBoundToClientAndRedirect(t *testing.T) {
	f := startProtoOP(t)
	b := newBrowser(t)

	p := newPKCE()
	code := f.code(t, b, authParams("profil", protoRedirect, p))
	wantOAuthError(t, "client other redeems profil's code", f.redeem(t, "other", code, protoRedirect, p.verifier), http.StatusBadRequest, "invalid_grant")

	p = newPKCE()
	code = f.code(t, b, authParams("profil", protoRedirect, p))
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {protoRedirect},
		"code_verifier": {p.verifier}, "client_id": {"app"}}
	wantOAuthError(t, "public client app redeems profil's code", mustOAuthPost(t, f.testOP, tokenPath, "", "", form), http.StatusBadRequest, "invalid_grant")

	p = newPKCE()
	code = f.code(t, b, authParams("profil", protoRedirect, p))
	wantOAuthError(t, "other registered redirect_uri", f.redeem(t, "profil", code, protoRedirect2, p.verifier), http.StatusBadRequest, "invalid_grant")

	// The same checks pass for the rightful client (the refusals are not
	// about the codes themselves).
	p = newPKCE()
	code = f.code(t, b, authParams("profil", protoRedirect2, p))
	wantTokens(t, "rightful redemption", f.redeem(t, "profil", code, protoRedirect2, p.verifier))
}

// TestProtocol_ClientAuthentication: bad client credentials are 401
// invalid_client, never a 500, on every endpoint that authenticates
// clients; using two methods at once is refused (D13).
func TestProtocol_ClientAuthentication(t *testing.T) {
	f := startProtoOP(t)
	b := newBrowser(t)
	p := newPKCE()
	code := f.code(t, b, authParams("profil", protoRedirect, p))
	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {protoRedirect}, "code_verifier": {p.verifier}}

	for _, tc := range []struct {
		name, path, id, secret string
		form                   url.Values
	}{
		{"code: wrong secret", tokenPath, "profil", "wrong-" + f.secret["profil"], exchange},
		{"code: another client's secret", tokenPath, "profil", f.secret["other"], exchange},
		{"code: empty secret", tokenPath, "profil", "", withForm(exchange, "client_id", "profil")},
		{"code: unknown client", tokenPath, "nobody", "secret", exchange},
		{"code: wrong secret in the body", tokenPath, "", "", withForm(exchange, "client_id", "profil", "client_secret", "wrong")},
		{"code: basic and post at once", tokenPath, "profil", f.secret["profil"], withForm(exchange, "client_id", "profil", "client_secret", f.secret["profil"])},
		{"client_credentials: wrong secret", tokenPath, "service", "wrong", url.Values{"grant_type": {"client_credentials"}}},
		{"client_credentials: unknown client", tokenPath, "nobody", "secret", url.Values{"grant_type": {"client_credentials"}}},
		{"client_credentials: in the body", tokenPath, "", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"service"}, "client_secret": {"wrong"}}},
		{"refresh: wrong secret", tokenPath, "profil", "wrong", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt_x"}}},
		{"introspect: wrong secret", introspectPath, "profil", "wrong", url.Values{"token": {"x"}}},
		{"introspect: unknown client", introspectPath, "nobody", "secret", url.Values{"token": {"x"}}},
		{"revoke: wrong secret", revokePath, "profil", "wrong", url.Values{"token": {"x"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mustOAuthPost(t, f.testOP, tc.path, tc.id, tc.secret, tc.form)
			wantOAuthError(t, "POST "+tc.path, got, http.StatusUnauthorized, "invalid_client")
		})
	}
	// Failed client authentication does not consume the code.
	wantTokens(t, "the rightful redemption", f.redeem(t, "profil", code, protoRedirect, p.verifier))
}

func withForm(base url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, v := range base {
		out[k] = slices.Clone(v)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}

// TestProtocol_ClientCredentials: only a client registered for
// client_credentials gets a token without a user (D10).
func TestProtocol_ClientCredentials(t *testing.T) {
	f := startProtoOP(t)
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"openid profile"}}

	got := mustOAuthPost(t, f.testOP, tokenPath, "service", f.secret["service"], form)
	wantTokens(t, "service client", got)
	if got.IDToken != "" || got.RefreshToken != "" {
		t.Errorf("client_credentials issued an ID or refresh token")
	}
	intro := mustOAuthPost(t, f.testOP, introspectPath, "service", f.secret["service"], url.Values{"token": {got.AccessToken}})
	if !intro.Active || strings.Contains(intro.body, `"preferred_username"`) {
		t.Errorf("introspection of a client_credentials token = %s, want active without user claims", intro.body)
	}

	for _, client := range []string{"profil", "legacy"} {
		wantOAuthError(t, client+" via client_credentials", mustOAuthPost(t, f.testOP, tokenPath, client, f.secret[client], form),
			http.StatusBadRequest, "unauthorized_client")
	}
	got = mustOAuthPost(t, f.testOP, tokenPath, "", "", withForm(form, "client_id", "app"))
	if got.status != http.StatusUnauthorized && got.status != http.StatusBadRequest || got.AccessToken != "" {
		t.Errorf("public client via client_credentials = %d %s, want refused", got.status, got.body)
	}
}

// TestProtocol_D9_RefreshRotation: refresh tokens rotate on use; reuse of
// a rotated token revokes the family; parallel refreshes of one token
// yield one success; a family past its absolute expiry is refused.
func TestProtocol_D9_RefreshRotation(t *testing.T) {
	f := startProtoOP(t)
	b := newBrowser(t)
	issue := func() *oauthResponse {
		t.Helper()
		p := newPKCE()
		got := f.redeem(t, "profil", f.code(t, b, authParams("profil", protoRedirect, p)), protoRedirect, p.verifier)
		wantTokens(t, "redeem", got)
		if got.RefreshToken == "" {
			t.Fatal("no refresh token for offline_access")
		}
		return got
	}

	t.Run("reuse revokes the family", func(t *testing.T) {
		rt1 := issue().RefreshToken
		second := f.refresh(t, "profil", rt1)
		wantTokens(t, "refresh", second)
		if second.RefreshToken == "" || second.RefreshToken == rt1 {
			t.Fatal("refresh did not rotate")
		}
		wantOAuthError(t, "rotated token again", f.refresh(t, "profil", rt1), http.StatusBadRequest, "invalid_grant")
		wantOAuthError(t, "successor after reuse", f.refresh(t, "profil", second.RefreshToken), http.StatusBadRequest, "invalid_grant")
		if f.active(t, second.AccessToken) {
			t.Error("access token of a revoked family still active")
		}
	})
	t.Run("another client cannot refresh", func(t *testing.T) {
		rt := issue().RefreshToken
		wantOAuthError(t, "other refreshes profil's token", f.refresh(t, "other", rt), http.StatusBadRequest, "invalid_grant")
	})
	t.Run("parallel refreshes", func(t *testing.T) {
		rt := issue().RefreshToken
		const n = 10
		results := make([]*oauthResponse, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		for i := range n {
			wg.Go(func() {
				<-start
				results[i], errs[i] = oauthPost(t.Context(), f.testOP, tokenPath, "profil", f.secret["profil"], form)
			})
		}
		close(start)
		wg.Wait()
		successes := 0
		for i, r := range results {
			if errs[i] != nil {
				t.Fatalf("request %d: %v", i, errs[i])
			}
			switch {
			case r.status == http.StatusOK && r.RefreshToken != "":
				successes++
			case r.status == http.StatusBadRequest && r.Error == "invalid_grant":
			default:
				t.Errorf("request %d = %d %s, want 200 or 400 invalid_grant", i, r.status, r.body)
			}
		}
		if successes != 1 {
			t.Errorf("%d of %d parallel refreshes succeeded, want exactly 1", successes, n)
		}
	})
	t.Run("absolute expiry", func(t *testing.T) {
		rt := issue().RefreshToken
		f.clock.Advance(f.cfg.Tokens.OfflineRefreshToken + time.Second)
		wantOAuthError(t, "refresh past the absolute expiry", f.refresh(t, "profil", rt), http.StatusBadRequest, "invalid_grant")
	})
}

// TestProtocol_D10_UnsupportedFlows: no implicit or hybrid response type,
// no password grant, no grant the client was not registered for.
func TestProtocol_D10_UnsupportedFlows(t *testing.T) {
	f := startProtoOP(t)
	b := newBrowser(t)
	p := newPKCE()
	for _, rt := range []string{"token", "id_token", "code token", "code id_token", "id_token token", "code id_token token", "none", "CODE", "code code"} {
		t.Run("response_type="+rt, func(t *testing.T) {
			got := b.get(authorizeURL(f.URL, authParams("profil", protoRedirect, p, "response_type", rt)))
			loc := got.location()
			if got.status >= 500 || strings.HasPrefix(loc, f.URL+"/login/") {
				t.Fatalf("authorize = %d %q, want a refusal", got.status, loc)
			}
			if loc == "" {
				wantNotRedirected(t, "authorize", got)
				return
			}
			u, err := url.Parse(loc)
			if err != nil || !strings.HasPrefix(loc, protoRedirect) {
				t.Fatalf("authorize redirected to %q", loc)
			}
			frag, _ := url.ParseQuery(u.Fragment)
			q := u.Query()
			errCode := q.Get("error") + frag.Get("error")
			if !slices.Contains([]string{"unsupported_response_type", "unauthorized_client"}, errCode) {
				t.Errorf("error = %q, want unsupported_response_type or unauthorized_client", errCode)
			}
			for _, k := range []string{"code", "access_token", "id_token"} {
				if q.Has(k) || frag.Has(k) {
					t.Errorf("refusal carries %s: %s", k, loc)
				}
			}
		})
	}
	for _, tc := range []struct {
		name, client string
		form         url.Values
		want         []string
	}{
		{"password grant", "profil", url.Values{"grant_type": {"password"}, "username": {f.user.NIP}, "password": {f.user.Password}},
			[]string{"unsupported_grant_type"}},
		{"implicit grant", "profil", url.Values{"grant_type": {"implicit"}}, []string{"unsupported_grant_type"}},
		{"unknown grant", "profil", url.Values{"grant_type": {"urn:example:made-up"}}, []string{"unsupported_grant_type"}},
		{"jwt bearer grant", "profil", url.Values{"grant_type": {string(oidc.GrantTypeBearer)}, "assertion": {"a.b.c"}},
			[]string{"unsupported_grant_type"}},
		{"token exchange", "profil", url.Values{"grant_type": {string(oidc.GrantTypeTokenExchange)}, "subject_token": {"x"},
			"subject_token_type": {string(oidc.AccessTokenType)}}, []string{"unsupported_grant_type", "unauthorized_client"}},
		{"device code", "profil", url.Values{"grant_type": {string(oidc.GrantTypeDeviceCode)}, "device_code": {"x"}},
			[]string{"unsupported_grant_type", "unauthorized_client"}},
		{"refresh for a client_credentials client", "service", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt_x"}},
			[]string{"unauthorized_client"}},
		{"code for a client_credentials client", "service", url.Values{"grant_type": {"authorization_code"}, "code": {"x"},
			"redirect_uri": {protoRedirect}}, []string{"unauthorized_client"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mustOAuthPost(t, f.testOP, tokenPath, tc.client, f.secret[tc.client], tc.form)
			if got.status != http.StatusBadRequest || !slices.Contains(tc.want, got.Error) || got.AccessToken != "" {
				t.Errorf("token = %d %q (%s), want 400 with one of %v", got.status, got.Error, got.Description, tc.want)
			}
		})
	}
}

// TestProtocol_D11_StateNonceAndIDToken: state and nonce come back
// byte-exact; an oversized state or nonce is refused by the OP without a
// redirect; the ID token has the exact issuer, audience and lifetime.
func TestProtocol_D11_StateNonceAndIDToken(t *testing.T) {
	f := startProtoOP(t)
	b := newBrowser(t)
	p := newPKCE()
	state := "a b+c%2F&d=e?f#g ✓ ÿ \u202e\u00a0 '\"<>"
	nonce := "nonce ñ ✓ " + p.verifier[:5] + " &=+"
	params := authParams("profil", protoRedirect, p, "state", state, "nonce", nonce)
	code := f.code(t, b, params) // checks the state
	got := f.redeem(t, "profil", code, protoRedirect, p.verifier)
	wantTokens(t, "redeem", got)

	verifier := rp.NewIDTokenVerifier(f.URL, "profil", rp.NewRemoteKeySet(http.DefaultClient, f.URL+"/keys"),
		rp.WithNonce(func(context.Context) string { return nonce }))
	claims, err := rp.VerifyIDToken[*oidc.IDTokenClaims](t.Context(), got.IDToken, verifier)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	if claims.Issuer != f.URL || !slices.Equal(claims.Audience, []string{"profil"}) || claims.Nonce != nonce {
		t.Errorf("iss/aud/nonce = %q/%v/%q, want %q/[profil]/%q", claims.Issuer, claims.Audience, claims.Nonce, f.URL, nonce)
	}
	if life := claims.GetExpiration().Sub(claims.GetIssuedAt()); life <= 0 || life > f.cfg.Tokens.IDToken {
		t.Errorf("ID token lifetime %v, want (0, %v]", life, f.cfg.Tokens.IDToken)
	}
	if claims.AuthTime == 0 {
		t.Error("ID token has no auth_time")
	}

	big := strings.Repeat("s", 100<<10)
	for _, param := range []string{"state", "nonce"} {
		t.Run("100 kB "+param, func(t *testing.T) {
			params := authParams("profil", protoRedirect, newPKCE(), param, big)
			wantNotRedirected(t, "GET", b.get(authorizeURL(f.URL, params)))
			form := url.Values{}
			for k, v := range params {
				form.Set(k, v)
			}
			got := b.postForm(f.URL+"/authorize", form, nil)
			wantRefusalPage(t, "POST", got, "id", op.ReasonTooLarge)
		})
	}
}

// TestProtocol_D12_ForgedJWTs: every JWT the OP parses (id_token_hint at
// /authorize and /end_session, client_assertion) is refused unless the OP
// signed it, without a 5xx, and header key references are never fetched;
// request objects are refused without being read (D15).
func TestProtocol_D12_ForgedJWTs(t *testing.T) {
	f := startProtoOP(t)
	b := newBrowser(t)
	pk := newPKCE()
	real := f.redeem(t, "profil", f.code(t, b, authParams("profil", protoRedirect, pk)), protoRedirect, pk.verifier)
	wantTokens(t, "redeem", real)
	sub := jwtClaims(t, real.IDToken)["sub"].(string)

	var fetched atomic.Int32
	keyHost := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetched.Add(1)
		w.WriteHeader(http.StatusNotFound)
	}))
	t.Cleanup(keyHost.Close)

	jwks := b.get(f.URL + "/keys")
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(jwks.body), &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("JWKS %q: %v", jwks.body, err)
	}
	rsaAt := slices.IndexFunc(set.Keys, func(k jose.JSONWebKey) bool { _, ok := k.Key.(*rsa.PublicKey); return ok })
	ecAt := slices.IndexFunc(set.Keys, func(k jose.JSONWebKey) bool { _, ok := k.Key.(*ecdsa.PublicKey); return ok })
	if rsaAt < 0 || ecAt < 0 {
		t.Fatalf("JWKS %s: want an RSA and an EC key", jwks.body)
	}
	ourKID := set.Keys[rsaAt].KeyID
	ourPublic := set.Keys[rsaAt].Key.(*rsa.PublicKey)
	der, err := x509.MarshalPKIXPublicKey(ourPublic)
	if err != nil {
		t.Fatal(err)
	}
	ourPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	ourJWK, _ := set.Keys[rsaAt].MarshalJSON()
	ourECKID := set.Keys[ecAt].KeyID
	ourECJWK, _ := set.Keys[ecAt].MarshalJSON()
	ecDER, err := x509.MarshalPKIXPublicKey(set.Keys[ecAt].Key)
	if err != nil {
		t.Fatal(err)
	}
	attacker, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecAttacker, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	now := time.Now()
	claims := map[string]any{
		"iss": f.URL, "sub": sub, "aud": []string{"profil"}, "azp": "profil",
		"exp": now.Add(10 * time.Minute).Unix(), "iat": now.Unix(), "auth_time": now.Unix(),
		"jti": "j-" + pk.verifier[:8],
	}
	payload, _ := json.Marshal(claims)
	seg := func(v any) string {
		raw, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(raw)
	}
	sign := func(alg jose.SignatureAlgorithm, key any, headers map[jose.HeaderKey]any, embedJWK bool) string {
		t.Helper()
		opts := &jose.SignerOptions{EmbedJWK: embedJWK}
		for k, v := range headers {
			opts.WithHeader(k, v)
		}
		opts.WithType("JWT")
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
		if err != nil {
			t.Fatalf("signer %s: %v", alg, err)
		}
		jws, err := s.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		out, err := jws.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	realParts := strings.Split(real.IDToken, ".")
	forged := []struct{ name, token string }{
		{"alg none", seg(map[string]string{"alg": "none", "typ": "JWT"}) + "." + base64.RawURLEncoding.EncodeToString(payload) + "."},
		{"alg none with our kid and signature", seg(map[string]string{"alg": "none", "kid": ourKID}) + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + realParts[2]},
		{"alg NONE", seg(map[string]string{"alg": "NONE"}) + "." + base64.RawURLEncoding.EncodeToString(payload) + "."},
		{"HS256 keyed with our PEM", sign(jose.HS256, ourPEM, map[jose.HeaderKey]any{"kid": ourKID}, false)},
		{"HS256 keyed with our JWK", sign(jose.HS256, ourJWK, map[jose.HeaderKey]any{"kid": ourKID}, false)},
		{"HS256 keyed with our modulus", sign(jose.HS256, ourPublic.N.Bytes(), map[jose.HeaderKey]any{"kid": ourKID}, false)},
		// D21: kid and alg are never confused across the two key series.
		{"HS256 keyed with our EC JWK", sign(jose.HS256, ourECJWK, map[jose.HeaderKey]any{"kid": ourECKID}, false)},
		{"HS256 keyed with our EC key's DER", sign(jose.HS256, ecDER, map[jose.HeaderKey]any{"kid": ourECKID}, false)},
		{"our EC kid, attacker's EC key", sign(jose.ES256, ecAttacker, map[jose.HeaderKey]any{"kid": ourECKID}, false)},
		{"our EC kid, RS256 signature", sign(jose.RS256, attacker, map[jose.HeaderKey]any{"kid": ourECKID}, false)},
		{"our RSA kid, ES256 signature", sign(jose.ES256, ecAttacker, map[jose.HeaderKey]any{"kid": ourKID}, false)},
		{"unknown kid", sign(jose.RS256, attacker, map[jose.HeaderKey]any{"kid": "not-ours"}, false)},
		{"our kid, attacker's key", sign(jose.RS256, attacker, map[jose.HeaderKey]any{"kid": ourKID}, false)},
		{"embedded jwk", sign(jose.RS256, attacker, nil, true)},
		{"jku header", sign(jose.RS256, attacker, map[jose.HeaderKey]any{"kid": ourKID, "jku": keyHost.URL + "/jwks.json"}, false)},
		{"x5u header", sign(jose.RS256, attacker, map[jose.HeaderKey]any{"kid": ourKID, "x5u": keyHost.URL + "/cert.pem"}, false)},
		{"our header and payload, attacker's signature", realParts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + strings.Split(sign(jose.RS256, attacker, map[jose.HeaderKey]any{"kid": ourKID}, false), ".")[2]},
		{"altered payload of a real token", realParts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + realParts[2]},
		{"JWE with empty encrypted_key", seg(map[string]string{"alg": "dir", "enc": "A256GCM", "kid": ourKID}) + "..AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA"},
		{"compressed JWE", seg(map[string]string{"alg": "RSA-OAEP", "enc": "A256GCM", "zip": "DEF"}) + "." + strings.Repeat("A", 342) + ".AAAAAAAAAAAAAAAA." + strings.Repeat("A", 4096) + ".AAAAAAAAAAAAAAAAAAAAAA"},
		{"garbage", "not a token at all ☃"},
		{"three dots", "..."},
		{"bad base64", "e30.e30.!!!"},
		{"a million dots", strings.Repeat(".", 1_000_000)},
	}
	for _, tc := range forged {
		t.Run(tc.name, func(t *testing.T) {
			// The browser holds a live session for sub: an accepted hint
			// would complete the request silently with a code.
			form := url.Values{}
			for k, v := range authParams("profil", protoRedirect, newPKCE(), "id_token_hint", tc.token) {
				form.Set(k, v)
			}
			got := b.postForm(f.URL+"/authorize", form, nil)
			wantAuthorizeError(t, "authorize with id_token_hint", got, protoRedirect, "login_required")

			got = b.postForm(f.URL+endSessionPath, url.Values{"id_token_hint": {tc.token}, "post_logout_redirect_uri": {protoPostLogout}}, nil)
			if got.status >= 500 || strings.HasPrefix(got.location(), protoPostLogout) {
				t.Errorf("end_session = %d %q, want no redirect to the client", got.status, got.location())
			}

			for _, grant := range []url.Values{
				{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {protoRedirect}},
				{"grant_type": {"client_credentials"}},
			} {
				form := withForm(grant, "client_id", "profil", "client_assertion_type", oidc.ClientAssertionTypeJWTAssertion, "client_assertion", tc.token)
				got := mustOAuthPost(t, f.testOP, tokenPath, "", "", form)
				if got.status >= 500 || got.status < 400 || got.AccessToken != "" {
					t.Errorf("client_assertion with %s = %d %s, want a 4xx", grant.Get("grant_type"), got.status, got.body)
				}
			}

			// As a JWT access token (D22): userinfo refuses it (a
			// million dots never reach it: the header is too large).
			if st := userinfoStatus(t, f.URL, tc.token); st != http.StatusUnauthorized && st != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("userinfo with the forged token = %d, want 401", st)
			}

			bearer := url.Values{"grant_type": {string(oidc.GrantTypeBearer)}, "assertion": {tc.token}}
			wantOAuthError(t, "jwt-bearer grant", mustOAuthPost(t, f.testOP, tokenPath, "", "", bearer), http.StatusBadRequest, "unsupported_grant_type")

			// Request objects are refused unread (D15).
			form.Set("request", tc.token)
			form.Del("id_token_hint")
			got = b.postForm(f.URL+"/authorize", form, nil)
			wantAuthorizeError(t, "authorize with a request object", got, protoRedirect, "request_not_supported")
		})
	}
	t.Run("request_uri", func(t *testing.T) {
		got := b.get(authorizeURL(f.URL, authParams("profil", protoRedirect, newPKCE(), "request_uri", keyHost.URL+"/request.jwt")))
		wantAuthorizeError(t, "authorize with request_uri", got, protoRedirect, "request_uri_not_supported")
	})
	if n := fetched.Load(); n != 0 {
		t.Errorf("the OP fetched a URL named in a token %d times", n)
	}
	// Nothing above ended the session: it still completes silently.
	f.code(t, b, authParams("profil", protoRedirect, newPKCE()))
}

// TestProtocol_D13_StaticIssuer: Host and forwarding headers change
// nothing in discovery, JWKS, the login redirect or the tokens.
func TestProtocol_D13_StaticIssuer(t *testing.T) {
	f := startProtoOP(t)
	b := newBrowser(t)
	spoof := func(req *http.Request) {
		req.Host = "evil.example"
		req.Header.Set("X-Forwarded-Host", "evil.example")
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("X-Forwarded-Prefix", "/evil")
		req.Header.Set("X-Original-URL", "/evil")
		req.Header.Set("Forwarded", `host=evil.example;proto=https, for="[2001:db8::1]"`)
	}
	get := func(path string, spoofed bool) *page {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, f.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if spoofed {
			spoof(req)
		}
		return b.do(req)
	}
	for _, path := range []string{"/.well-known/openid-configuration", "/keys"} {
		plain, spoofed := get(path, false), get(path, true)
		if plain.status != http.StatusOK || spoofed.body != plain.body {
			t.Errorf("GET %s with forged host headers = %d %q, want %q", path, spoofed.status, spoofed.body, plain.body)
		}
		if strings.Contains(spoofed.body, "evil") {
			t.Errorf("GET %s echoes a forged host: %s", path, spoofed.body)
		}
	}
	var disco oidc.DiscoveryConfiguration
	if err := json.Unmarshal([]byte(get("/.well-known/openid-configuration", true).body), &disco); err != nil {
		t.Fatal(err)
	}
	if disco.Issuer != f.URL || disco.TokenEndpoint != f.URL+tokenPath || disco.AuthorizationEndpoint != f.URL+"/authorize" {
		t.Errorf("discovery issuer/endpoints = %q %q %q", disco.Issuer, disco.TokenEndpoint, disco.AuthorizationEndpoint)
	}

	// The cookie jar files cookies under a forged Host, so the login
	// continues without the forged headers.
	login := get("/authorize?"+urlValues(authParams("profil", protoRedirect, newPKCE())).Encode(), true)
	wantLoginPage(t, f, "authorize with forged host headers", login)
	p := newPKCE()
	code := f.code(t, b, authParams("profil", protoRedirect, p))

	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {protoRedirect}, "code_verifier": {p.verifier}}
	req, _ := http.NewRequest(http.MethodPost, f.URL+tokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("profil", f.secret["profil"])
	spoof(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tokens oauthResponse
	if err := json.NewDecoder(resp.Body).Decode(&tokens); err != nil || tokens.IDToken == "" {
		t.Fatalf("token with forged host headers = %d, %v", resp.StatusCode, err)
	}
	if iss := jwtClaims(t, tokens.IDToken)["iss"]; iss != f.URL {
		t.Errorf("ID token iss = %v, want %q", iss, f.URL)
	}

	ireq, _ := http.NewRequest(http.MethodPost, f.URL+introspectPath, strings.NewReader(url.Values{"token": {tokens.AccessToken}}.Encode()))
	ireq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	ireq.SetBasicAuth("profil", f.secret["profil"])
	spoof(ireq)
	iresp, err := http.DefaultClient.Do(ireq)
	if err != nil {
		t.Fatal(err)
	}
	defer iresp.Body.Close()
	var intro struct {
		Active bool   `json:"active"`
		Issuer string `json:"iss"`
	}
	if err := json.NewDecoder(iresp.Body).Decode(&intro); err != nil || !intro.Active || intro.Issuer != f.URL {
		t.Errorf("introspection with forged host headers = active %v iss %q (%v), want active from %q", intro.Active, intro.Issuer, err, f.URL)
	}
}

func urlValues(m map[string]string) url.Values {
	out := url.Values{}
	for k, v := range m {
		out.Set(k, v)
	}
	return out
}

// TestProtocol_AuthRequestBoundToBrowser: the auth request id, seen by
// another browser, gives it neither the login form nor a code.
func TestProtocol_AuthRequestBoundToBrowser(t *testing.T) {
	f := startProtoOP(t)
	victim, attacker := newBrowser(t), newBrowser(t)
	p := newPKCE()

	start := victim.get(authorizeURL(f.URL, authParams("profil", protoRedirect, p)))
	wantLoginPage(t, f, "authorize", start)
	loginURL := start.location()
	id := mustQuery(t, loginURL).Get("id")
	callback := f.URL + "/authorize/callback?id=" + url.QueryEscape(id)

	got := attacker.get(loginURL)
	if got.status != http.StatusForbidden || strings.Contains(got.body, `name="password"`) {
		t.Errorf("GET the login page from another browser = %d, want 403 without the form", got.status)
	}
	// The attacker posts with a CSRF token of its own (valid for its own
	// cookie) and correct credentials: the request still belongs to the
	// victim's browser.
	attackerForm, _ := parseForm(t, attacker.follow(f.URL, authorizeURL(f.URL, authParams("profil", protoRedirect, newPKCE()))), "/login/")
	got = attacker.postForm(f.URL+"/login/", url.Values{"csrf": {attackerForm.Get("csrf")}, "id": {id}, "nip": {f.user.NIP}, "password": {f.user.Password}}, nil)
	if got.status != http.StatusForbidden {
		t.Errorf("POST the login form for another browser's request = %d %q, want 403", got.status, got.location())
	}
	for _, who := range []*browser{attacker, victim} {
		got = who.get(callback)
		if loc := got.location(); strings.HasPrefix(loc, protoRedirect) || !strings.HasPrefix(loc, f.URL+"/login/") {
			t.Errorf("callback before the login = %d %q, want back to the login page", got.status, loc)
		}
	}

	// The victim signs in; the attacker, racing to the callback with the
	// id, still gets nothing, and the victim's code is intact.
	victimCallback := completeLogin(t, f.testOP, victim, victim.get(loginURL), f.user)
	got = attacker.get(victimCallback)
	if loc := got.location(); strings.HasPrefix(loc, protoRedirect) {
		t.Errorf("another browser at the callback got %q", loc)
	}
	code, _ := codeFrom(t, victim.follow(f.URL, victimCallback), protoRedirect)
	wantTokens(t, "victim's code", f.redeem(t, "profil", code, protoRedirect, p.verifier))
}

// TestProtocol_F3_ParserLimits: oversized bodies are 413, repeated
// parameters 400 invalid_request, odd values clean 4xx OAuth errors; no
// 5xx and no stack trace anywhere.
func TestProtocol_F3_ParserLimits(t *testing.T) {
	f := startProtoOP(t)
	b := newBrowser(t)
	noTrace := func(t *testing.T, what string, status int, body string) {
		t.Helper()
		if status >= 500 {
			t.Errorf("%s = %d, want no 5xx", what, status)
		}
		for _, leak := range []string{"goroutine ", ".go:", "panic", "runtime."} {
			if strings.Contains(body, leak) {
				t.Errorf("%s leaks %q: %.300s", what, leak, body)
			}
		}
	}
	raw := func(method, path, contentType string, body io.Reader, clientAuth bool) *page {
		t.Helper()
		req, err := http.NewRequest(method, f.URL+path, body)
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if clientAuth {
			req.SetBasicAuth("profil", f.secret["profil"])
		}
		return b.do(req)
	}

	t.Run("body over 1 MB", func(t *testing.T) {
		big := "x=" + strings.Repeat("a", 1<<20)
		for _, path := range []string{tokenPath, introspectPath, revokePath, "/authorize", endSessionPath, "/userinfo"} {
			got := raw(http.MethodPost, path, "application/x-www-form-urlencoded", strings.NewReader(big), true)
			if got.status != http.StatusRequestEntityTooLarge {
				t.Errorf("POST %s with 1 MB + 2 bytes = %d, want 413", path, got.status)
			}
			noTrace(t, path, got.status, got.body)
		}
	})
	t.Run("repeated parameters", func(t *testing.T) {
		for _, tc := range []struct{ path, body string }{
			{tokenPath, "grant_type=authorization_code&code=a&code=b&redirect_uri=" + url.QueryEscape(protoRedirect)},
			{tokenPath, "grant_type=authorization_code&grant_type=client_credentials&code=a"},
			{tokenPath, "grant_type=refresh_token&refresh_token=a&refresh_token=a"},
			{introspectPath, "token=a&token=b"},
			{revokePath, "token=a&token=a"},
		} {
			got := raw(http.MethodPost, tc.path, "application/x-www-form-urlencoded", strings.NewReader(tc.body), true)
			if got.status != http.StatusBadRequest || !strings.Contains(got.body, `"invalid_request"`) {
				t.Errorf("POST %s %q = %d %s, want 400 invalid_request", tc.path, tc.body, got.status, got.body)
			}
		}
		got := raw(http.MethodPost, tokenPath+"?grant_type=client_credentials", "application/x-www-form-urlencoded",
			strings.NewReader("grant_type=authorization_code&code=a"), true)
		if got.status != http.StatusBadRequest || !strings.Contains(got.body, `"invalid_request"`) {
			t.Errorf("grant_type in query and body = %d %s, want 400 invalid_request", got.status, got.body)
		}
	})
	t.Run("10 000 parameters", func(t *testing.T) {
		var sb strings.Builder
		sb.WriteString("grant_type=authorization_code&code=a&redirect_uri=x")
		for i := range 10_000 {
			fmt.Fprintf(&sb, "&p%d=%d", i, i)
		}
		got := raw(http.MethodPost, tokenPath, "application/x-www-form-urlencoded", strings.NewReader(sb.String()), true)
		if got.status < 400 || accessTokenIn(got) != "" {
			t.Errorf("10 000 parameters = %d, want a 4xx", got.status)
		}
		noTrace(t, "10 000 parameters", got.status, got.body)
	})
	t.Run("malformed max_age", func(t *testing.T) {
		for _, v := range []string{"-1", "1e30", "abc", "99999999999999999999999", "0x10", " 5", "1.5", "５"} {
			got := b.postForm(f.URL+"/authorize", urlValues(authParams("profil", protoRedirect, newPKCE(), "max_age", v)), nil)
			wantRefusalPage(t, "max_age="+v, got, "id", op.ReasonMalformed)
			noTrace(t, "max_age="+v, got.status, got.body)
		}
	})
	t.Run("odd authorization parameters", func(t *testing.T) {
		for _, kv := range [][]string{
			{"max_age", "-1"}, {"max_age", "1e30"}, {"max_age", "abc"}, {"max_age", "99999999999999999999999"},
			{"max_age", "18446744073709551615"}, {"max_age", "0x10"}, {"max_age", " 5"},
			{"prompt", "none login"}, {"prompt", "none consent"}, {"prompt", "none none"}, {"prompt", "login login select_account create"},
			{"prompt", "\x00"}, {"ui_locales", strings.Repeat("x-", 500)}, {"display", "☃"},
			{"claims", strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)},
			{"claims", `{"id_token":{"acr":{"essential":true,"essential":false}}}`}, {"claims", `[1,2,`},
			{"scope", strings.Repeat("openid ", 2000)}, {"response_mode", "form_post"}, {"response_mode", "☃"},
			{"login_hint", strings.Repeat("9", 5000)}, {"acr_values", "\xff\xfe"},
		} {
			params := authParams("profil", protoRedirect, newPKCE(), kv...)
			what := fmt.Sprintf("POST /authorize %s=%.40q", kv[0], kv[1])
			got := b.postForm(f.URL+"/authorize", urlValues(params), nil)
			noTrace(t, what, got.status, got.body)
			if loc := got.location(); loc != "" && !strings.HasPrefix(loc, protoRedirect) && !strings.HasPrefix(loc, f.URL+"/login/") {
				t.Errorf("%s redirected to %q", what, loc)
			}
			if got.status >= 400 && !strings.HasPrefix(got.header.Get("Content-Type"), "text/html") {
				t.Errorf("%s = %d with %q, want the refusal page", what, got.status, got.header.Get("Content-Type"))
			}
			// The same in the query; a URL past the header limit is
			// refused by the HTTP server itself (431).
			got = b.get(authorizeURL(f.URL, params))
			noTrace(t, "GET "+what[5:], got.status, got.body)
		}
	})
	t.Run("wrong content types and methods", func(t *testing.T) {
		for _, tc := range []struct{ method, path, ctype, body string }{
			{http.MethodPost, tokenPath, "application/json", `{"grant_type":"client_credentials","grant_type":"password"}`},
			{http.MethodPost, tokenPath, "application/x-www-form-urlencoded", "%zz=%zz&grant_type"},
			{http.MethodPost, tokenPath, "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\npassword\r\n--x--\r\n"},
			{http.MethodPost, introspectPath, "text/plain", "\xff\xfe\x00"},
			{http.MethodGet, tokenPath, "", ""},
			{http.MethodPost, "/userinfo", "application/x-www-form-urlencoded", "access_token=" + strings.Repeat("A", 5000)},
		} {
			got := raw(tc.method, tc.path, tc.ctype, strings.NewReader(tc.body), true)
			what := tc.method + " " + tc.path + " " + tc.ctype
			noTrace(t, what, got.status, got.body)
			if got.status < 400 || accessTokenIn(got) != "" {
				t.Errorf("%s = %d, want a 4xx", what, got.status)
			}
		}
	})
}

// accessTokenIn returns the access token in a protocol answer read as a
// page, if any.
func accessTokenIn(p *page) string {
	var r oauthResponse
	_ = json.Unmarshal([]byte(p.body), &r)
	return r.AccessToken
}
