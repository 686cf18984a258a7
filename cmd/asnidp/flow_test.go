package main

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/client/rs"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

const (
	rpRedirect   = "https://profil.example.go.id/callback"
	rpPostLogout = "https://profil.example.go.id/bye"
)

// relyingParty is a certified OIDC client library pointed at the test OP.
type relyingParty struct {
	rp.RelyingParty
	id, secret string
	nonce      string
}

func newRelyingParty(t *testing.T, o *testOP, clientID, secret string, scopes ...string) *relyingParty {
	t.Helper()
	r := &relyingParty{id: clientID, secret: secret}
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess, "asn"}
	}
	var err error
	r.RelyingParty, err = rp.NewRelyingPartyOIDC(t.Context(), o.URL, clientID, secret, rpRedirect, scopes,
		rp.WithVerifierOpts(rp.WithNonce(func(context.Context) string { return r.nonce })),
		rp.WithHTTPClient(&http.Client{}),
	)
	if err != nil {
		t.Fatalf("relying party discovery: %v", err)
	}
	return r
}

// start sends b to /authorize with a fresh PKCE pair, nonce and state and
// follows the OP's redirects; it returns where b landed.
func (r *relyingParty) start(t *testing.T, o *testOP, b *browser, extra ...rp.AuthURLOpt) (*page, pkce, string) {
	t.Helper()
	p := newPKCE()
	r.nonce = "n-" + newPKCE().verifier[:10]
	state := "état ✓ " + r.nonce
	opts := append([]rp.AuthURLOpt{rp.WithCodeChallenge(p.challenge), rp.AuthURLOpt(rp.WithURLParam("nonce", r.nonce))}, extra...)
	return b.follow(o.URL, rp.AuthURL(state, r.RelyingParty, opts...)), p, state
}

// login walks authorize → password → second factor (enrolling the
// authenticator on first use) → callback in b and returns the code and the
// PKCE pair used.
func (r *relyingParty) login(t *testing.T, o *testOP, b *browser, u testUser, extra ...rp.AuthURLOpt) (string, pkce) {
	t.Helper()
	loginPage, p, state := r.start(t, o, b, extra...)
	if loginPage.status != http.StatusOK {
		t.Fatalf("login page status %d:\n%s", loginPage.status, loginPage.body)
	}
	factor := o.password(b, loginPage, u)
	done := o.secondFactor(b, factor, u)
	final := b.follow(o.URL, done.location())
	code, gotState := codeFrom(t, final, rpRedirect)
	if gotState != state { // D11: state round-trips byte-exact, Unicode included
		t.Errorf("state = %q, want %q", gotState, state)
	}
	return code, p
}

// silent expects the SSO session in b to complete the request without any
// page.
func (r *relyingParty) silent(t *testing.T, o *testOP, b *browser, extra ...rp.AuthURLOpt) (string, pkce) {
	t.Helper()
	final, p, state := r.start(t, o, b, extra...)
	code, gotState := codeFrom(t, final, rpRedirect)
	if gotState != state {
		t.Errorf("state = %q, want %q", gotState, state)
	}
	return code, p
}

// exchange redeems a code with the library, verifying the ID token.
func (r *relyingParty) exchange(t *testing.T, code string, p pkce) *oidc.Tokens[*oidc.IDTokenClaims] {
	t.Helper()
	tokens, err := rp.CodeExchange[*oidc.IDTokenClaims](t.Context(), code, r.RelyingParty, rp.WithCodeVerifier(p.verifier))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	return tokens
}

func TestFlow_FullJourney(t *testing.T) {
	o := startOP(t)
	secret := o.addClient("--id", "profil", "--redirect-uri", rpRedirect, "--post-logout-redirect-uri", rpPostLogout)
	u := o.addUser(true)
	r := newRelyingParty(t, o, "profil", secret)
	b := newBrowser(t)
	ctx := t.Context()

	code, p := r.login(t, o, b, u)
	tokens, err := rp.CodeExchange[*oidc.IDTokenClaims](ctx, code, r.RelyingParty, rp.WithCodeVerifier(p.verifier))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	claims := tokens.IDTokenClaims
	if claims.Issuer != o.URL || !slices.Equal(claims.Audience, []string{"profil"}) { // D11
		t.Errorf("iss/aud = %q/%v, want %q/[profil]", claims.Issuer, claims.Audience, o.URL)
	}
	if claims.Nonce != r.nonce {
		t.Errorf("nonce = %q, want %q", claims.Nonce, r.nonce)
	}
	if claims.AuthTime == 0 || claims.GetExpiration().Sub(claims.GetIssuedAt()) > o.cfg.Tokens.IDToken {
		t.Errorf("auth_time %v, lifetime %v: want auth_time set and lifetime <= %v", claims.AuthTime, claims.GetExpiration().Sub(claims.GetIssuedAt()), o.cfg.Tokens.IDToken)
	}
	if claims.Subject == u.NIP || len(claims.Subject) != 36 {
		t.Errorf("sub = %q, want a UUID that is not the NIP", claims.Subject)
	}
	if !slices.Equal(claims.AuthenticationMethodsReferences, []string{"pwd", "otp", "mfa"}) || claims.AuthenticationContextClassReference != "urn:asn:loa:mfa" { // A7
		t.Errorf("amr/acr = %v/%q, want [pwd otp mfa]/urn:asn:loa:mfa", claims.AuthenticationMethodsReferences, claims.AuthenticationContextClassReference)
	}
	if claims.Claims["sid"] == nil {
		t.Error("ID token has no sid")
	}
	if tokens.RefreshToken == "" {
		t.Fatal("no refresh token for offline_access")
	}

	info, err := rp.Userinfo[*oidc.UserInfo](ctx, tokens.AccessToken, oidc.BearerToken, claims.Subject, r.RelyingParty)
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	if info.PreferredUsername != u.NIP || info.Claims["nip"] != u.NIP || info.Claims["instansi"] != "Pemerintah Kota Bandung" || info.Email == "" {
		t.Errorf("userinfo = %+v %v, want the NIP, instansi and email", info.UserInfoProfile, info.Claims)
	}

	// Refresh rotates; presenting the old token again revokes the family (D9).
	// A refreshed ID token carries no nonce (OIDC Core §12.2).
	r.nonce = ""
	refreshed, err := rp.RefreshTokens[*oidc.IDTokenClaims](ctx, r.RelyingParty, tokens.RefreshToken, "", "")
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if refreshed.RefreshToken == "" || refreshed.RefreshToken == tokens.RefreshToken {
		t.Fatalf("refresh did not rotate: %q", refreshed.RefreshToken)
	}
	if _, err := rp.RefreshTokens[*oidc.IDTokenClaims](ctx, r.RelyingParty, tokens.RefreshToken, "", ""); err == nil {
		t.Fatal("reused refresh token accepted")
	}
	if _, err := rp.RefreshTokens[*oidc.IDTokenClaims](ctx, r.RelyingParty, refreshed.RefreshToken, "", ""); err == nil {
		t.Error("refresh token of a revoked family accepted")
	}
	if introspect(t, o, "profil", secret, refreshed.AccessToken).Active {
		t.Error("access token of a revoked family still active")
	}

	// Introspection and revocation (RFC 7662, RFC 7009) on tokens from a
	// second authorization, completed silently by the SSO session.
	code, p = r.silent(t, o, b)
	tokens = r.exchange(t, code, p)
	got := introspect(t, o, "profil", secret, tokens.AccessToken)
	if !got.Active || got.Subject != claims.Subject || got.ClientID != "profil" || got.Username != u.NIP {
		t.Errorf("introspection = active %v sub %q client %q username %q", got.Active, got.Subject, got.ClientID, got.Username)
	}
	if err := rp.RevokeToken(ctx, r.RelyingParty, tokens.AccessToken, "access_token"); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if introspect(t, o, "profil", secret, tokens.AccessToken).Active {
		t.Error("revoked access token still active")
	}

	// RP-initiated logout ends the SSO session and its tokens.
	out := b.get(o.URL + "/end_session?" + url.Values{
		"id_token_hint":            {tokens.IDToken},
		"post_logout_redirect_uri": {rpPostLogout},
		"state":                    {"bye-state"},
	}.Encode())
	if out.status != http.StatusFound || out.location() != rpPostLogout+"?state=bye-state" {
		t.Errorf("end_session = %d %q, want 302 to %s?state=bye-state", out.status, out.location(), rpPostLogout)
	}
	if st := tokenStatus(t, o.URL, "profil", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tokens.RefreshToken}}); st != http.StatusBadRequest { // E4
		t.Errorf("refresh after logout = %d, want 400 invalid_grant", st)
	}
	again := b.follow(o.URL, rp.AuthURL("s", r.RelyingParty, rp.WithCodeChallenge(newPKCE().challenge)))
	if again.status != http.StatusOK || !strings.Contains(again.body, `name="password"`) {
		t.Errorf("after logout, authorize = %d; want the login form again", again.status)
	}
}

func introspect(t *testing.T, o *testOP, clientID, secret, token string) *oidc.IntrospectionResponse {
	t.Helper()
	server, err := rs.NewResourceServerClientCredentials(t.Context(), o.URL, clientID, secret)
	if err != nil {
		t.Fatalf("resource server: %v", err)
	}
	resp, err := rs.Introspect[*oidc.IntrospectionResponse](t.Context(), server, token)
	if err != nil {
		t.Fatalf("introspect: %v", err)
	}
	return resp
}

// authorizeParams is a valid authorization request for client profil.
func authorizeParams(p pkce) map[string]string {
	return map[string]string{
		"client_id":             "profil",
		"redirect_uri":          rpRedirect,
		"response_type":         "code",
		"scope":                 "openid profile",
		"state":                 "st",
		"nonce":                 "nn",
		"code_challenge":        p.challenge,
		"code_challenge_method": "S256",
	}
}

func withParams(base map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
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

func queryOf(t *testing.T, loc string) url.Values {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("parse %q: %v", loc, err)
	}
	return u.Query()
}
