package main

// Token formats a client registers: ES256 ID tokens (D21) and RFC 9068
// JWT access tokens (D22), end to end with the zitadel/oidc relying party
// and offline verification against the published JWKS.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// verifyOffline verifies token as a resource server with only the JWKS
// would: the kid names a published key, the header's alg is that key's,
// the signature holds. It returns the header and the claims.
func verifyOffline(t *testing.T, o *testOP, token string) (jose.Header, map[string]any) {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(fetch(t, o.URL+"/keys")), &set); err != nil {
		t.Fatalf("jwks: %v", err)
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatalf("parse %q: %v", token, err)
	}
	h := jws.Signatures[0].Header
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q: %d published keys", h.KeyID, len(keys))
	}
	if keys[0].Algorithm != h.Algorithm {
		t.Fatalf("token alg %s, but kid %q is a %s key", h.Algorithm, h.KeyID, keys[0].Algorithm)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("verify with kid %q: %v", h.KeyID, err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return h, claims
}

// TestTokens_D21_ES256Client: a client registered with
// --id-token-alg ES256 gets ES256 ID tokens (code and refresh) that the
// certified RP library verifies from discovery; other clients keep RS256;
// discovery and JWKS publish both.
func TestTokens_D21_ES256Client(t *testing.T) {
	o := startOP(t)
	secret := o.addClient("--id", "ecapp", "--redirect-uri", rpRedirect, "--id-token-alg", "ES256")
	rsSecret := o.addClient("--id", "profil", "--redirect-uri", rpRedirect)
	u := o.addUser(true)

	var disc struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := json.Unmarshal([]byte(fetch(t, o.URL+"/.well-known/openid-configuration")), &disc); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(disc.Algs, "ES256") || !slices.Contains(disc.Algs, "RS256") {
		t.Errorf("id_token_signing_alg_values_supported = %v, want RS256 and ES256", disc.Algs)
	}

	r := &relyingParty{id: "ecapp", secret: secret}
	var err error
	r.RelyingParty, err = rp.NewRelyingPartyOIDC(t.Context(), o.URL, "ecapp", secret, rpRedirect,
		[]string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeOfflineAccess},
		rp.WithVerifierOpts(rp.WithNonce(func(context.Context) string { return r.nonce }), rp.WithSupportedSigningAlgorithms("ES256")),
		rp.WithHTTPClient(&http.Client{}))
	if err != nil {
		t.Fatal(err)
	}
	code, p := r.login(t, o, newBrowser(t), u)
	tokens := r.exchange(t, code, p) // verified by the RP library, ES256 only
	h, claims := verifyOffline(t, o, tokens.IDToken)
	if h.Algorithm != "ES256" || claims["aud"] != "ecapp" && !slices.Contains(toStrings(claims["aud"]), "ecapp") {
		t.Errorf("ID token alg %s aud %v, want ES256 for ecapp", h.Algorithm, claims["aud"])
	}
	r.nonce = "" // a refreshed ID token carries none
	refreshed, err := rp.RefreshTokens[*oidc.IDTokenClaims](t.Context(), r.RelyingParty, tokens.RefreshToken, "", "")
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if h, _ := verifyOffline(t, o, refreshed.IDToken); h.Algorithm != "ES256" {
		t.Errorf("refreshed ID token alg %s, want ES256", h.Algorithm)
	}
	if st := userinfoStatus(t, o.URL, refreshed.AccessToken); st != http.StatusOK {
		t.Errorf("userinfo = %d, want 200", st)
	}

	rs := newRelyingParty(t, o, "profil", rsSecret)
	code, p = rs.login(t, o, newBrowser(t), u)
	if h, _ := verifyOffline(t, o, rs.exchange(t, code, p).IDToken); h.Algorithm != "RS256" {
		t.Errorf("a client without id_token_signed_response_alg got %s, want RS256", h.Algorithm)
	}

	// Registration refuses an algorithm asnidp does not sign with.
	if _, err := o.cli("", "client", "add", "--id", "bad", "--redirect-uri", rpRedirect, "--id-token-alg", "HS256"); err == nil ||
		!strings.Contains(err.Error(), "HS256") {
		t.Errorf("client add --id-token-alg HS256 = %v, want a refusal naming it", err)
	}
	if _, err := o.cli("", "client", "add", "--id", "bad", "--redirect-uri", rpRedirect, "--access-token", "paseto"); err == nil ||
		!strings.Contains(err.Error(), "paseto") {
		t.Errorf("client add --access-token paseto = %v, want a refusal naming it", err)
	}
}

func toStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, s := range l {
			if s, ok := s.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// TestTokens_D22_JWTAccessTokens: a client registered with
// --access-token jwt gets RFC 9068 access tokens (typ at+jwt, jti = the
// stored token) that verify offline; userinfo and introspection accept
// them while they live; a modified payload, a revoked token and one whose
// session logged out are refused there although the signature of the last
// two still verifies.
func TestTokens_D22_JWTAccessTokens(t *testing.T) {
	f := startProtoOP(t)
	f.secret["jwtapp"] = f.addClient("--id", "jwtapp", "--redirect-uri", protoRedirect, "--post-logout-redirect-uri", protoPostLogout,
		"--access-token", "jwt")
	f.secret["jwtes"] = f.addClient("--id", "jwtes", "--redirect-uri", protoRedirect, "--access-token", "jwt", "--id-token-alg", "ES256")
	f.secret["jwtsvc"] = f.addClient("--id", "jwtsvc", "--grant", "client_credentials", "--access-token", "jwt")

	signIn := func(b *browser, client string) *oauthResponse {
		t.Helper()
		p := newPKCE()
		code := f.code(t, b, authParams(client, protoRedirect, p))
		r := f.redeem(t, client, code, protoRedirect, p.verifier)
		wantTokens(t, client+" code exchange", r)
		return r
	}
	b := newBrowser(t)
	tok := signIn(b, "jwtapp")
	h, claims := verifyOffline(t, f.testOP, tok.AccessToken)
	if typ, _ := h.ExtraHeaders["typ"].(string); typ != "at+jwt" || h.Algorithm != "RS256" {
		t.Errorf("access token header typ %q alg %s, want at+jwt RS256", typ, h.Algorithm)
	}
	for _, c := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "auth_time"} {
		if _, ok := claims[c]; !ok {
			t.Errorf("access token lacks %q (RFC 9068 §2.2): %v", c, claims)
		}
	}
	if claims["iss"] != f.URL || claims["client_id"] != "jwtapp" || claims["sub"] != jwtClaims(t, tok.IDToken)["sub"] {
		t.Errorf("access token claims %v do not name the issuer, client and user", claims)
	}
	if st := userinfoStatus(t, f.URL, tok.AccessToken); st != http.StatusOK {
		t.Errorf("userinfo with the JWT access token = %d, want 200", st)
	}
	if !f.active(t, tok.AccessToken) {
		t.Error("introspection of a live JWT access token: inactive")
	}
	// The ID token's at_hash covers the JWT access token.
	if got, want := jwtClaims(t, tok.IDToken)["at_hash"], atHash(tok.AccessToken); got != want {
		t.Errorf("at_hash = %v, want %s", got, want)
	}

	// A modified payload: same header and signature, sub of someone else.
	parts := strings.Split(tok.AccessToken, ".")
	claims["sub"] = "someone-else"
	forged, _ := json.Marshal(claims)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(forged) + "." + parts[2]
	if st := userinfoStatus(t, f.URL, tampered); st != http.StatusUnauthorized {
		t.Errorf("userinfo with a modified payload = %d, want 401", st)
	}
	if f.active(t, tampered) {
		t.Error("introspection of a modified token: active")
	}

	// Refresh gives a new JWT access token; the old one still lives.
	ref := f.refresh(t, "jwtapp", tok.RefreshToken)
	wantTokens(t, "refresh", ref)
	if h, _ := verifyOffline(t, f.testOP, ref.AccessToken); h.ExtraHeaders["typ"] != "at+jwt" {
		t.Errorf("refreshed access token typ %v, want at+jwt", h.ExtraHeaders["typ"])
	}

	// Revocation (RFC 7009) ends it at userinfo and introspection; the
	// signature still verifies offline, which is why resource servers that
	// must see revocation introspect.
	req, _ := http.NewRequest(http.MethodPost, f.URL+revokePath,
		strings.NewReader(url.Values{"token": {ref.AccessToken}, "token_type_hint": {"access_token"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("jwtapp", f.secret["jwtapp"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revocation = %d", resp.StatusCode)
	}
	verifyOffline(t, f.testOP, ref.AccessToken)
	if st := userinfoStatus(t, f.URL, ref.AccessToken); st != http.StatusUnauthorized {
		t.Errorf("userinfo after revocation = %d, want 401", st)
	}
	if f.active(t, ref.AccessToken) {
		t.Error("introspection after revocation: active")
	}

	// Logout ends the session's tokens.
	live := signIn(b, "jwtapp")
	out := b.get(f.URL + endSessionPath + "?" + url.Values{"id_token_hint": {live.IDToken}, "post_logout_redirect_uri": {protoPostLogout}}.Encode())
	if out.status != http.StatusFound {
		t.Fatalf("end_session = %d", out.status)
	}
	if f.active(t, live.AccessToken) {
		t.Error("introspection after logout: active")
	}
	if st := userinfoStatus(t, f.URL, live.AccessToken); st != http.StatusUnauthorized {
		t.Errorf("userinfo after logout = %d, want 401", st)
	}

	// ES256 JWT access tokens, and at+jwt for client_credentials.
	es := signIn(newBrowser(t), "jwtes")
	if h, _ := verifyOffline(t, f.testOP, es.AccessToken); h.Algorithm != "ES256" || h.ExtraHeaders["typ"] != "at+jwt" {
		t.Errorf("jwtes access token alg %s typ %v, want ES256 at+jwt", h.Algorithm, h.ExtraHeaders["typ"])
	}
	if st := userinfoStatus(t, f.URL, es.AccessToken); st != http.StatusOK {
		t.Errorf("userinfo with an ES256 JWT access token = %d, want 200", st)
	}
	svc := mustOAuthPost(t, f.testOP, tokenPath, "jwtsvc", f.secret["jwtsvc"], url.Values{"grant_type": {"client_credentials"}})
	wantTokens(t, "client_credentials", svc)
	if _, c := verifyOffline(t, f.testOP, svc.AccessToken); c["client_id"] != "jwtsvc" {
		t.Errorf("client_credentials JWT claims %v, want client_id jwtsvc", c)
	}

	// An ID token is not an access token: no jti names a stored token.
	if st := userinfoStatus(t, f.URL, es.IDToken); st != http.StatusUnauthorized {
		t.Errorf("userinfo with an ID token = %d, want 401", st)
	}
	// Clients without the option keep opaque tokens.
	if opaque := signIn(newBrowser(t), "profil"); strings.Count(opaque.AccessToken, ".") == 2 {
		t.Errorf("profil got a JWT access token %q, want opaque", opaque.AccessToken)
	}
}

// atHash is the OpenID Connect at_hash of an RS256/ES256 token's access
// token: the left half of its SHA-256, base64url.
func atHash(accessToken string) string {
	h, err := oidc.ClaimHash(accessToken, jose.RS256)
	if err != nil {
		panic(err)
	}
	return h
}
