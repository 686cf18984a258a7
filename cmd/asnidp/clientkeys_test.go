package main

// Clients with their own keys: private_key_jwt (D16), pushed authorization
// requests (D17) and request objects (D18), through the real server. The
// clients' keys are made here; the OP only ever sees their public halves.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/asnidp/asnidp/op"
)

const parPath = "/oauth/par"

// clientKeys are one client's signing keys: an RSA key ("rsa-1", used
// with RS256 and PS256) and a P-256 key ("ec-1", ES256).
type clientKeys struct {
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
}

func newClientKeys(t *testing.T) clientKeys {
	t.Helper()
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return clientKeys{rsa: r, ec: e}
}

// jwks is the public key set of k, as a client registers it.
func (k clientKeys) jwks(t *testing.T) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &k.rsa.PublicKey, KeyID: "rsa-1", Use: "sig"},
		{Key: &k.ec.PublicKey, KeyID: "ec-1", Algorithm: "ES256", Use: "sig"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeJWKS writes data to a file in the test's directory.
func writeJWKS(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// signJWT signs claims with key under alg, naming kid (if any) and typ
// (if any) in the header.
func signJWT(t *testing.T, key any, alg jose.SignatureAlgorithm, kid, typ string, claims any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts.WithType(jose.ContentType(typ))
	}
	var signingKey any = key
	if kid != "" {
		signingKey = jose.JSONWebKey{Key: key, KeyID: kid}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: signingKey}, opts)
	if err != nil {
		t.Fatalf("signer %s: %v", alg, err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// unsignedJWT is claims with alg none, which go-jose will not make.
func unsignedJWT(claims any) string {
	payload, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		base64.RawURLEncoding.EncodeToString(payload) + "."
}

// hmacJWT signs claims with HS256 keyed by the client's public RSA key, the
// alg-confusion forgery.
func hmacJWT(t *testing.T, k clientKeys, claims any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return signJWT(t, der, jose.HS256, "rsa-1", "", claims)
}

// keyOP is a protoOP with clients that registered keys:
//
//	fapi      confidential, keys by value (k), private_key_jwt, two
//	          redirect URIs
//	fapi-par  as fapi, registered with --require-par
//	fapi-uri  confidential, keys at a jwks_uri served by jwksServer
type keyOP struct {
	*protoOP
	k clientKeys
	// stranger is a key pair no client registered.
	stranger clientKeys

	jwksMu   sync.Mutex
	jwksBody []byte
}

func startKeyOP(t *testing.T) *keyOP {
	t.Helper()
	f := &keyOP{protoOP: startProtoOP(t), k: newClientKeys(t), stranger: newClientKeys(t)}
	file := writeJWKS(t, f.k.jwks(t))
	for _, args := range [][]string{
		{"--id", "fapi", "--redirect-uri", protoRedirect, "--redirect-uri", protoRedirect2, "--jwks-file", file},
		{"--id", "fapi-par", "--redirect-uri", protoRedirect, "--jwks-file", file, "--require-par"},
	} {
		if secret := f.addClient(args...); secret != "" {
			t.Fatalf("client %s with keys was given a secret", args[1])
		}
	}
	f.jwksBody = f.k.jwks(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		f.jwksMu.Lock()
		defer f.jwksMu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(f.jwksBody)
	}))
	t.Cleanup(srv.Close)
	f.addClient("--id", "fapi-uri", "--redirect-uri", protoRedirect, "--jwks-uri", srv.URL+"/jwks.json")
	return f
}

// assertionClaims is a valid client assertion of clientID for aud.
func (f *keyOP) assertionClaims(clientID, aud string) map[string]any {
	now := f.clock.Now()
	return map[string]any{
		"iss": clientID, "sub": clientID, "aud": aud, "jti": rand.Text(),
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
	}
}

// assertion is a valid RS256 assertion of clientID for the issuer.
func (f *keyOP) assertion(t *testing.T, clientID string) string {
	t.Helper()
	return signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", f.assertionClaims(clientID, f.URL))
}

// withAssertion adds client authentication by assertion to form.
func withAssertion(form url.Values, assertion string) url.Values {
	out := url.Values{}
	for k, v := range form {
		out[k] = v
	}
	out.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	out.Set("client_assertion", assertion)
	return out
}

// requestClaims is a valid request object of clientID: the authorization
// parameters of authParams plus the JWT claims.
func (f *keyOP) requestClaims(clientID string, params map[string]string) map[string]any {
	now := f.clock.Now()
	claims := map[string]any{"iss": clientID, "aud": f.URL, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": rand.Text()}
	for k, v := range params {
		claims[k] = v
	}
	return claims
}

// codeWithAssertion signs in through params and redeems the code with an
// assertion of clientID.
func (f *keyOP) redeemWithAssertion(t *testing.T, clientID, code string, p pkce) *oauthResponse {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {protoRedirect}, "code_verifier": {p.verifier}}
	return mustOAuthPost(t, f.testOP, tokenPath, "", "", withAssertion(form, f.assertion(t, clientID)))
}

// TestProtocol_D16_PrivateKeyJWT: a client with registered keys
// authenticates with an assertion signed by one of them, once per jti, and
// with nothing else.
func TestProtocol_D16_PrivateKeyJWT(t *testing.T) {
	f := startKeyOP(t)
	b := newBrowser(t)
	p := newPKCE()
	code := f.code(t, b, authParams("fapi", protoRedirect, p))
	tokens := f.redeemWithAssertion(t, "fapi", code, p)
	wantTokens(t, "code exchange with a private_key_jwt assertion", tokens)

	refresh := func(t *testing.T, assertion string) *oauthResponse {
		t.Helper()
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tokens.RefreshToken}}
		r := mustOAuthPost(t, f.testOP, tokenPath, "", "", withAssertion(form, assertion))
		if r.RefreshToken != "" {
			tokens.RefreshToken = r.RefreshToken
		}
		return r
	}

	t.Run("replayed assertion", func(t *testing.T) {
		a := f.assertion(t, "fapi")
		wantTokens(t, "first use", refresh(t, a))
		wantOAuthError(t, "the same assertion again", refresh(t, a), http.StatusUnauthorized, "invalid_client")
		// The same jti in a freshly signed assertion is a replay too.
		claims := f.assertionClaims("fapi", f.URL)
		wantTokens(t, "new jti", refresh(t, signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", claims)))
		claims["exp"] = f.clock.Now().Add(2 * time.Minute).Unix()
		wantOAuthError(t, "used jti, new signature", refresh(t, signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", claims)), http.StatusUnauthorized, "invalid_client")
		if n := strings.Count(f.logs.String(), "type=client.assertion_replayed outcome=failure"); n < 2 {
			t.Errorf("%d replayed assertions audited, want at least 2", n)
		}
	})

	t.Run("every registered algorithm", func(t *testing.T) {
		for _, tc := range []struct {
			alg jose.SignatureAlgorithm
			key any
			kid string
		}{
			{jose.RS256, f.k.rsa, "rsa-1"}, {jose.PS256, f.k.rsa, "rsa-1"}, {jose.ES256, f.k.ec, "ec-1"}, {jose.ES256, f.k.ec, ""},
		} {
			wantTokens(t, string(tc.alg)+" kid "+tc.kid, refresh(t, signJWT(t, tc.key, tc.alg, tc.kid, "", f.assertionClaims("fapi", f.URL))))
		}
		wantTokens(t, "aud = token endpoint", refresh(t, signJWT(t, f.k.ec, jose.ES256, "ec-1", "", f.assertionClaims("fapi", f.URL+tokenPath))))
	})

	t.Run("forged or malformed assertions", func(t *testing.T) {
		good := func() map[string]any { return f.assertionClaims("fapi", f.URL) }
		with := func(k string, v any) map[string]any {
			c := good()
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
			return c
		}
		now := f.clock.Now()
		for _, tc := range []struct {
			name      string
			assertion string
		}{
			{"alg none", unsignedJWT(good())},
			{"HS256 keyed with the public key", hmacJWT(t, f.k, good())},
			{"a key nobody registered, named rsa-1", signJWT(t, f.stranger.rsa, jose.RS256, "rsa-1", "", good())},
			{"ES256 naming the RSA key's kid", signJWT(t, f.k.ec, jose.ES256, "rsa-1", "", good())},
			{"RS256 naming the EC key's kid", signJWT(t, f.k.rsa, jose.RS256, "ec-1", "", good())},
			{"unknown kid", signJWT(t, f.k.rsa, jose.RS256, "rsa-9", "", good())},
			{"aud of another server", signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", with("aud", "https://other-op.example"))},
			{"sub is not iss", signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", with("sub", "profil"))},
			{"iss of another client", signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", with("iss", "profil"))},
			{"no exp", signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", with("exp", nil))},
			{"exp 10 minutes ahead", signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", with("exp", now.Add(10*time.Minute).Unix()))},
			{"expired", signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", with("exp", now.Add(-time.Minute).Unix()))},
			{"no jti", signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", with("jti", nil))},
			{"a request object", signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "oauth-authz-req+jwt", good())},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantOAuthError(t, tc.name, refresh(t, tc.assertion), http.StatusUnauthorized, "invalid_client")
			})
		}
		form := withAssertion(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tokens.RefreshToken}, "client_id": {"profil"}}, f.assertion(t, "fapi"))
		wantOAuthError(t, "client_id of another client beside the assertion", mustOAuthPost(t, f.testOP, tokenPath, "", "", form), http.StatusUnauthorized, "invalid_client")
		// A client without keys cannot authenticate by assertion.
		form = withAssertion(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt_x"}}, f.assertion(t, "profil"))
		wantOAuthError(t, "assertion of a client without keys", mustOAuthPost(t, f.testOP, tokenPath, "", "", form), http.StatusUnauthorized, "invalid_client")
	})

	t.Run("no secret for a client with keys", func(t *testing.T) {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tokens.RefreshToken}}
		wantOAuthError(t, "empty Basic secret", mustOAuthPost(t, f.testOP, tokenPath, "fapi", "", form), http.StatusUnauthorized, "invalid_client")
		post := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tokens.RefreshToken}, "client_id": {"fapi"}}
		wantOAuthError(t, "client_id alone", mustOAuthPost(t, f.testOP, tokenPath, "", "", post), http.StatusUnauthorized, "invalid_client")
		wantTokens(t, "the refresh token still works with an assertion", refresh(t, f.assertion(t, "fapi")))
	})

	t.Run("introspection and revocation", func(t *testing.T) {
		a := signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", f.assertionClaims("fapi", f.URL+introspectPath))
		r := mustOAuthPost(t, f.testOP, introspectPath, "", "", withAssertion(url.Values{"token": {tokens.AccessToken}}, a))
		if r.status != http.StatusOK || !r.Active {
			t.Errorf("introspection with an assertion = %d %s, want active", r.status, r.body)
		}
		r = mustOAuthPost(t, f.testOP, introspectPath, "", "", withAssertion(url.Values{"token": {tokens.AccessToken}}, a))
		wantOAuthError(t, "introspection with a replayed assertion", r, http.StatusUnauthorized, "invalid_client")
		a = signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", f.assertionClaims("fapi", f.URL+revokePath))
		form := withAssertion(url.Values{"token": {tokens.AccessToken}, "token_type_hint": {"access_token"}}, a)
		resp, err := http.PostForm(f.URL+revokePath, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("revocation with an assertion = %d, want 200", resp.StatusCode)
		}
		if f.active(t, tokens.AccessToken) {
			t.Error("access token still active after its revocation")
		}
	})

	t.Run("keys at a jwks_uri", func(t *testing.T) {
		code := f.code(t, b, authParams("fapi-uri", protoRedirect, p))
		r := f.redeemWithAssertion(t, "fapi-uri", code, p)
		wantTokens(t, "code exchange, keys from the jwks_uri", r)
		refreshURI := func(a string) *oauthResponse {
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.RefreshToken}}
			got := mustOAuthPost(t, f.testOP, tokenPath, "", "", withAssertion(form, a))
			if got.RefreshToken != "" {
				r.RefreshToken = got.RefreshToken
			}
			return got
		}
		// The client rotates to a new key: until the cached set may be
		// fetched again, the new kid is unknown; then it is found.
		rotated := newClientKeys(t)
		body, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &rotated.ec.PublicKey, KeyID: "ec-2", Use: "sig"}}})
		f.jwksMu.Lock()
		f.jwksBody = body
		f.jwksMu.Unlock()
		next := func() string {
			return signJWT(t, rotated.ec, jose.ES256, "ec-2", "", f.assertionClaims("fapi-uri", f.URL))
		}
		wantOAuthError(t, "new kid within the refetch interval", refreshURI(next()), http.StatusUnauthorized, "invalid_client")
		f.clock.Advance(31 * time.Second)
		wantTokens(t, "new kid after the refetch interval", refreshURI(next()))
		wantOAuthError(t, "the retired key", refreshURI(signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", f.assertionClaims("fapi-uri", f.URL))),
			http.StatusUnauthorized, "invalid_client")
	})
}

// TestProtocol_D17_PushedAuthorizationRequests: a pushed request is
// validated when pushed, used once, by its client, within 60 s, and not
// changed by the query; a client that must push cannot do without.
func TestProtocol_D17_PushedAuthorizationRequests(t *testing.T) {
	f := startKeyOP(t)
	b := newBrowser(t)

	push := func(t *testing.T, clientID, secret string, form url.Values) *parResponse {
		t.Helper()
		r := mustOAuthPost(t, f.testOP, parPath, clientID, secret, form)
		out := &parResponse{oauthResponse: r}
		json.Unmarshal([]byte(r.body), out)
		return out
	}
	mustPush := func(t *testing.T, params map[string]string) string {
		t.Helper()
		r := push(t, "profil", f.secret["profil"], urlValues(params))
		if r.status != http.StatusCreated || !strings.HasPrefix(r.RequestURI, "urn:ietf:params:oauth:request_uri:") || r.ExpiresIn != 60 {
			t.Fatalf("push = %d %s, want 201 with a request_uri for 60 s", r.status, r.body)
		}
		return r.RequestURI
	}
	// Each authorization request starts in a new browser, so none is
	// answered from the SSO session of the first.
	authorize := func(q map[string]string) *page {
		return newBrowser(t).get(authorizeURL(f.URL, q))
	}

	t.Run("flow", func(t *testing.T) {
		p := newPKCE()
		params := authParams("profil", protoRedirect, p)
		uri := mustPush(t, params)
		got := b.follow(f.URL, authorizeURL(f.URL, map[string]string{"client_id": "profil", "request_uri": uri}))
		if got.status != http.StatusOK {
			t.Fatalf("authorize with the request_uri = %d %q, want the login page", got.status, got.location())
		}
		code, state := codeFrom(t, passLogin(t, f.testOP, b, got, f.user), protoRedirect)
		if state != params["state"] {
			t.Errorf("state = %q, want the pushed %q", state, params["state"])
		}
		wantTokens(t, "code of a pushed request", f.redeem(t, "profil", code, protoRedirect, p.verifier))

		got = authorize(map[string]string{"client_id": "profil", "request_uri": uri})
		wantRefusalPage(t, "request_uri used again", got, "id", op.ReasonRequestURI)
		got = authorize(map[string]string{"client_id": "profil", "request_uri": uri, "redirect_uri": protoRedirect, "state": "s2"})
		wantAuthorizeError(t, "request_uri used again, redirect_uri in the query", got, protoRedirect, "invalid_request_uri")
		wantIss(t, "request_uri used again", got, f.URL)
	})

	t.Run("expired", func(t *testing.T) {
		uri := mustPush(t, authParams("profil", protoRedirect, newPKCE()))
		f.clock.Advance(61 * time.Second)
		wantRefusalPage(t, "request_uri after 61 s", authorize(map[string]string{"client_id": "profil", "request_uri": uri}), "id", op.ReasonRequestURI)
	})

	t.Run("another client", func(t *testing.T) {
		uri := mustPush(t, authParams("profil", protoRedirect, newPKCE()))
		wantRefusalPage(t, "profil's request_uri as other", authorize(map[string]string{"client_id": "other", "request_uri": uri}), "id", op.ReasonRequestURI)
		wantRefusalPage(t, "request_uri without client_id", authorize(map[string]string{"request_uri": uri}), "id", op.ReasonClientMissing)
		wantLoginPage(t, f.protoOP, "profil's request_uri by profil, after the attempts", authorize(map[string]string{"client_id": "profil", "request_uri": uri}))
	})

	t.Run("parameters overridden in the query", func(t *testing.T) {
		for _, kv := range [][2]string{
			{"scope", "openid email"}, {"prompt", "none"}, {"redirect_uri", protoRedirect2}, {"code_challenge", newPKCE().challenge},
			{"state", "other-state"}, {"response_type", "code id_token"},
		} {
			params := authParams("profil", protoRedirect, newPKCE())
			uri := mustPush(t, params)
			got := authorize(map[string]string{"client_id": "profil", "request_uri": uri, kv[0]: kv[1]})
			wantAuthorizeError(t, kv[0]+" in the query", got, protoRedirect, "invalid_request")
			if q := mustQuery(t, got.location()); q.Get("state") != params["state"] {
				t.Errorf("%s in the query: error state = %q, want the pushed %q", kv[0], q.Get("state"), params["state"])
			}
		}
		// Repeating a pushed parameter exactly changes nothing.
		params := authParams("profil", protoRedirect, newPKCE())
		uri := mustPush(t, params)
		wantLoginPage(t, f.protoOP, "pushed parameters repeated", authorize(map[string]string{
			"client_id": "profil", "request_uri": uri, "response_type": "code", "scope": params["scope"], "redirect_uri": protoRedirect,
		}))
	})

	t.Run("validated when pushed", func(t *testing.T) {
		p := newPKCE()
		for _, tc := range []struct {
			name     string
			clientID string
			secret   string
			form     url.Values
			status   int
			code     string
		}{
			{"unregistered redirect_uri", "profil", f.secret["profil"], urlValues(authParams("profil", "https://evil.example/cb", p)), 400, "invalid_request"},
			{"no PKCE", "profil", f.secret["profil"], urlValues(authParams("profil", protoRedirect, p, "code_challenge", "", "code_challenge_method", "")), 400, "invalid_request"},
			{"PKCE plain", "profil", f.secret["profil"], urlValues(authParams("profil", protoRedirect, p, "code_challenge_method", "plain")), 400, "invalid_request"},
			{"implicit", "profil", f.secret["profil"], urlValues(authParams("profil", protoRedirect, p, "response_type", "token")), 400, "unauthorized_client"},
			{"wrong secret", "profil", "nope", urlValues(authParams("profil", protoRedirect, p)), 401, "invalid_client"},
			{"no client authentication", "", "", urlValues(authParams("profil", protoRedirect, p)), 401, "invalid_client"},
			{"client_id of another client", "other", f.secret["other"], urlValues(authParams("profil", protoRedirect, p)), 400, "invalid_request"},
			{"a request_uri pushed", "profil", f.secret["profil"], urlValues(authParams("profil", protoRedirect, p, "request_uri", "urn:x")), 400, "invalid_request"},
			{"request object of a client without keys", "profil", f.secret["profil"], urlValues(authParams("profil", protoRedirect, p, "request", "a.b.c")), 400, "request_not_supported"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := push(t, tc.clientID, tc.secret, tc.form)
				if tc.clientID == "" {
					r = &parResponse{oauthResponse: mustOAuthPost(t, f.testOP, parPath, "", "", tc.form)}
				}
				if r.status != tc.status || r.Error != tc.code || r.RequestURI != "" {
					t.Errorf("push = %d %s, want %d %s and no request_uri", r.status, r.body, tc.status, tc.code)
				}
			})
		}
		req, _ := http.NewRequest(http.MethodGet, f.URL+parPath+"?"+urlValues(authParams("profil", protoRedirect, p)).Encode(), nil)
		if got := b.do(req); got.status != http.StatusMethodNotAllowed {
			t.Errorf("GET %s = %d, want 405", parPath, got.status)
		}
		// A public client pushes with its client_id and PKCE (RFC 9126 §2).
		r := mustOAuthPost(t, f.testOP, parPath, "", "", urlValues(authParams("app", appRedirect, p)))
		if r.status != http.StatusCreated {
			t.Errorf("push by a public client = %d %s, want 201", r.status, r.body)
		}
	})

	t.Run("private_key_jwt and a request object", func(t *testing.T) {
		p := newPKCE()
		params := authParams("fapi", protoRedirect, p)
		a := signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", f.assertionClaims("fapi", f.URL+parPath))
		r := push(t, "", "", withAssertion(urlValues(params), a))
		if r.status != http.StatusCreated {
			t.Fatalf("push with an assertion = %d %s, want 201", r.status, r.body)
		}
		again := push(t, "", "", withAssertion(urlValues(params), a))
		if again.status != http.StatusUnauthorized || again.Error != "invalid_client" {
			t.Errorf("push with a replayed assertion = %d %s, want 401 invalid_client", again.status, again.body)
		}
		wantLoginPage(t, f.protoOP, "pushed by private_key_jwt", authorize(map[string]string{"client_id": "fapi", "request_uri": r.RequestURI}))

		object := signJWT(t, f.k.ec, jose.ES256, "ec-1", "oauth-authz-req+jwt", f.requestClaims("fapi", authParams("fapi", protoRedirect, p)))
		form := withAssertion(url.Values{"client_id": {"fapi"}, "request": {object}}, f.assertion(t, "fapi"))
		r = push(t, "", "", form)
		if r.status != http.StatusCreated {
			t.Fatalf("push of a request object = %d %s, want 201", r.status, r.body)
		}
		wantLoginPage(t, f.protoOP, "pushed request object", authorize(map[string]string{"client_id": "fapi", "request_uri": r.RequestURI}))

		bad := unsignedJWT(f.requestClaims("fapi", authParams("fapi", protoRedirect, p)))
		r = push(t, "", "", withAssertion(url.Values{"client_id": {"fapi"}, "request": {bad}}, f.assertion(t, "fapi")))
		if r.status != http.StatusBadRequest || r.Error != "invalid_request_object" {
			t.Errorf("push of an unsigned request object = %d %s, want 400 invalid_request_object", r.status, r.body)
		}
	})

	t.Run("required for a client", func(t *testing.T) {
		p := newPKCE()
		params := authParams("fapi-par", protoRedirect, p)
		got := authorize(params)
		wantAuthorizeError(t, "plain request of a client that must push", got, protoRedirect, "invalid_request")
		if q := mustQuery(t, got.location()); !strings.Contains(q.Get("error_description"), "pushed authorization request required") {
			t.Errorf("error_description = %q, want it to say a pushed request is required", q.Get("error_description"))
		}
		object := signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", f.requestClaims("fapi-par", params))
		wantAuthorizeError(t, "request object by value of a client that must push", authorize(map[string]string{"client_id": "fapi-par", "request": object}), protoRedirect, "invalid_request")

		a := signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", f.assertionClaims("fapi-par", f.URL))
		r := push(t, "", "", withAssertion(urlValues(params), a))
		if r.status != http.StatusCreated {
			t.Fatalf("push = %d %s", r.status, r.body)
		}
		wantLoginPage(t, f.protoOP, "pushed request of a client that must push", authorize(map[string]string{"client_id": "fapi-par", "request_uri": r.RequestURI}))
		// Other clients are not affected.
		wantLoginPage(t, f.protoOP, "plain request of profil", authorize(authParams("profil", protoRedirect, p)))
	})
}

type parResponse struct {
	*oauthResponse
	RequestURI string `json:"request_uri"`
	ExpiresIn  int    `json:"expires_in"`
}

// TestProtocol_D17_RequiredForEveryone: with
// oauth.require_pushed_authorization_requests every client must push, and
// discovery says so.
func TestProtocol_D17_RequiredForEveryone(t *testing.T) {
	o := startOP(t, "ASNIDP_OAUTH_REQUIRE_PUSHED_AUTHORIZATION_REQUESTS=true")
	secret := o.addClient("--id", "profil", "--redirect-uri", protoRedirect)
	b := newBrowser(t)
	params := authParams("profil", protoRedirect, newPKCE())
	wantAuthorizeError(t, "plain request", b.get(authorizeURL(o.URL, params)), protoRedirect, "invalid_request")
	r := mustOAuthPost(t, o, parPath, "profil", secret, urlValues(params))
	var pushed parResponse
	json.Unmarshal([]byte(r.body), &pushed)
	got := b.get(authorizeURL(o.URL, map[string]string{"client_id": "profil", "request_uri": pushed.RequestURI}))
	if !strings.HasPrefix(got.location(), o.URL+"/login/?id=") {
		t.Errorf("pushed request = %d %q, want the login page", got.status, got.location())
	}
	var d map[string]any
	json.Unmarshal([]byte(b.get(o.URL+"/.well-known/openid-configuration").body), &d)
	if d["require_pushed_authorization_requests"] != true {
		t.Errorf("discovery require_pushed_authorization_requests = %v, want true", d["require_pushed_authorization_requests"])
	}
}

// TestProtocol_D18_RequestObjects: a request object by value of a client
// with keys is the request, once verified; a forged, stale or mismatched
// one is refused at the registered redirect_uri with
// invalid_request_object.
func TestProtocol_D18_RequestObjects(t *testing.T) {
	f := startKeyOP(t)
	b := newBrowser(t)
	p := newPKCE()

	t.Run("flow", func(t *testing.T) {
		params := authParams("fapi", protoRedirect, p)
		object := signJWT(t, f.k.rsa, jose.PS256, "rsa-1", "oauth-authz-req+jwt", f.requestClaims("fapi", params))
		// As RFC 9101 §5 sends it: client_id and the object; the query's
		// other parameters are ignored (state here).
		got := b.follow(f.URL, authorizeURL(f.URL, map[string]string{"client_id": "fapi", "request": object, "state": "from-the-query"}))
		if got.status != http.StatusOK {
			t.Fatalf("authorize with a request object = %d %q, want the login page", got.status, got.location())
		}
		code, state := codeFrom(t, passLogin(t, f.testOP, b, got, f.user), protoRedirect)
		if state != params["state"] {
			t.Errorf("state = %q, want the object's %q", state, params["state"])
		}
		wantTokens(t, "code of a request object", f.redeemWithAssertion(t, "fapi", code, p))
		for _, tc := range []struct {
			alg jose.SignatureAlgorithm
			key any
			kid string
		}{{jose.RS256, f.k.rsa, "rsa-1"}, {jose.ES256, f.k.ec, "ec-1"}} {
			object := signJWT(t, tc.key, tc.alg, tc.kid, "", f.requestClaims("fapi", authParams("fapi", protoRedirect, p)))
			wantLoginPage(t, f.protoOP, string(tc.alg)+" request object with response_type and redirect_uri also in the query",
				newBrowser(t).get(authorizeURL(f.URL, map[string]string{"client_id": "fapi", "request": object, "response_type": "code", "redirect_uri": protoRedirect})))
		}
	})

	t.Run("refused", func(t *testing.T) {
		params := authParams("fapi", protoRedirect, p)
		good := func() map[string]any { return f.requestClaims("fapi", params) }
		with := func(k string, v any) map[string]any {
			c := good()
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
			return c
		}
		now := f.clock.Now()
		for _, tc := range []struct {
			name   string
			object string
			query  map[string]string
		}{
			{"alg none", unsignedJWT(good()), nil},
			{"HS256 keyed with the public key", hmacJWT(t, f.k, good()), nil},
			{"a key nobody registered", signJWT(t, f.stranger.rsa, jose.RS256, "rsa-1", "", good()), nil},
			{"ES256 naming the RSA key's kid", signJWT(t, f.k.ec, jose.ES256, "rsa-1", "", good()), nil},
			{"RS256 naming the EC key's kid", signJWT(t, f.k.rsa, jose.RS256, "ec-1", "", good()), nil},
			{"aud of another server", signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", with("aud", "https://other-op.example")), nil},
			{"no aud", signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", with("aud", nil)), nil},
			{"iss of another client", signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", with("iss", "profil")), nil},
			{"expired", signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", with("exp", now.Add(-time.Minute).Unix())), nil},
			{"no exp", signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", with("exp", nil)), nil},
			{"exp two hours ahead", signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", with("exp", now.Add(2*time.Hour).Unix())), nil},
			{"client_id of another client in the object", signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", with("client_id", "profil")), nil},
			{"request_uri in the object", signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", with("request_uri", "https://x.example/r")), nil},
			{"typ of another JWT", signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "logout+jwt", good()), nil},
			{"redirect_uri in the query differs", signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", good()), map[string]string{"redirect_uri": protoRedirect2}},
			{"redirect_uri only in the query", signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", with("redirect_uri", nil)), map[string]string{"redirect_uri": protoRedirect}},
			{"response_type in the query differs", signJWT(t, f.k.rsa, jose.RS256, "rsa-1", "", good()), map[string]string{"response_type": "code id_token"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				q := map[string]string{"client_id": "fapi", "request": tc.object, "state": "query-state"}
				for k, v := range tc.query {
					q[k] = v
				}
				got := b.get(authorizeURL(f.URL, q))
				where := protoRedirect
				if q["redirect_uri"] != "" {
					where = q["redirect_uri"]
				}
				wantAuthorizeError(t, tc.name, got, where, "invalid_request_object")
				wantIss(t, tc.name, got, f.URL)
				if got.location() != "" && mustQuery(t, got.location()).Get("state") != "query-state" {
					t.Errorf("%s: error state = %q, want the query's", tc.name, mustQuery(t, got.location()).Get("state"))
				}
			})
		}
		// Nothing tells where to answer a forged object with an
		// unregistered redirect_uri: the page.
		forged := unsignedJWT(f.requestClaims("fapi", authParams("fapi", "https://evil.example/cb", p)))
		got := b.get(authorizeURL(f.URL, map[string]string{"client_id": "fapi", "request": forged}))
		wantRefusalPage(t, "forged object naming an unregistered redirect_uri", got, "id", op.ReasonRequestObject)
		if strings.Contains(got.body, "evil.example") {
			t.Error("the page names the forged object's redirect_uri")
		}
	})
	if !strings.Contains(f.logs.String(), "type=client.request_object_refused outcome=failure") {
		t.Error("no audit row for a refused request object")
	}
}

// TestClient_AddWithKeys: bad key material is refused with a clear
// message and nothing is stored; good key material gives no secret.
func TestClient_AddWithKeys(t *testing.T) {
	o := startOP(t)
	k := newClientKeys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k.rsa, KeyID: "rsa-1"}}})
	noKid, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.rsa.PublicKey}}})
	weak, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &small.PublicKey, KeyID: "small"}}})
	hmac, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "h"}}})
	mismatch, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.ec.PublicKey, KeyID: "ec", Algorithm: "RS256"}}})
	dup, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.ec.PublicKey, KeyID: "x"}, {Key: &k.rsa.PublicKey, KeyID: "x"}}})
	good := writeJWKS(t, k.jwks(t))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"not JSON", []string{"--jwks-file", writeJWKS(t, []byte("-----BEGIN PUBLIC KEY-----"))}, "not a JWKS"},
		{"no keys", []string{"--jwks-file", writeJWKS(t, []byte(`{"keys":[]}`))}, "no keys"},
		{"a private key", []string{"--jwks-file", writeJWKS(t, priv)}, "private key"},
		{"no kid", []string{"--jwks-file", writeJWKS(t, noKid)}, "no kid"},
		{"RSA 1024", []string{"--jwks-file", writeJWKS(t, weak)}, "1024 bits"},
		{"a symmetric key", []string{"--jwks-file", writeJWKS(t, hmac)}, "not supported"},
		{"alg that does not fit", []string{"--jwks-file", writeJWKS(t, mismatch)}, "does not fit"},
		{"duplicate kid", []string{"--jwks-file", writeJWKS(t, dup)}, "not unique"},
		{"missing file", []string{"--jwks-file", filepath.Join(t.TempDir(), "none.json")}, "no such file"},
		{"public client", []string{"--jwks-file", good, "--public"}, "public client cannot register keys"},
		{"file and URI", []string{"--jwks-file", good, "--jwks-uri", "https://rp.example/jwks"}, "not both"},
		{"http jwks_uri", []string{"--jwks-uri", "http://rp.example/jwks"}, "jwks_uri"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"client", "add", "--id", "bad", "--redirect-uri", protoRedirect}, tc.args...)
			out, err := o.cli("", args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("client add %v = %v (%s), want an error saying %q", tc.args, err, out, tc.want)
			}
			if list := o.mustCLI("", "client", "list"); strings.Contains(list, "bad ") {
				t.Errorf("a refused client was stored:\n%s", list)
			}
		})
	}
	out := o.mustCLI("", "client", "add", "--id", "fapi", "--redirect-uri", protoRedirect, "--jwks-file", good, "--require-par")
	if strings.Contains(out, "secret") || !strings.Contains(out, "private_key_jwt") || !strings.Contains(out, "PAR required") {
		t.Errorf("client add with keys printed:\n%s\nwant private_key_jwt, PAR required and no secret", out)
	}
}

// Discovery names everything a certified library needs to choose
// private_key_jwt, request objects and PAR by itself.
func TestProtocol_D16_D17_D18_Discovery(t *testing.T) {
	o := startOP(t)
	var d map[string]any
	if err := json.Unmarshal([]byte(newBrowser(t).get(o.URL+"/.well-known/openid-configuration").body), &d); err != nil {
		t.Fatal(err)
	}
	has := func(key, value string) {
		t.Helper()
		list, _ := d[key].([]any)
		for _, v := range list {
			if v == value {
				return
			}
		}
		t.Errorf("discovery %s = %v, want it to list %q", key, d[key], value)
	}
	has("token_endpoint_auth_methods_supported", "private_key_jwt")
	has("introspection_endpoint_auth_methods_supported", "private_key_jwt")
	has("revocation_endpoint_auth_methods_supported", "private_key_jwt")
	for _, alg := range []string{"RS256", "PS256", "ES256"} {
		has("token_endpoint_auth_signing_alg_values_supported", alg)
		has("request_object_signing_alg_values_supported", alg)
	}
	for _, key := range []string{"token_endpoint_auth_signing_alg_values_supported", "request_object_signing_alg_values_supported"} {
		for _, v := range d[key].([]any) {
			if v == "none" || strings.HasPrefix(v.(string), "HS") {
				t.Errorf("discovery %s lists %v", key, v)
			}
		}
	}
	for key, want := range map[string]any{
		"request_parameter_supported":           true,
		"request_uri_parameter_supported":       false,
		"pushed_authorization_request_endpoint": o.URL + parPath,
		"require_pushed_authorization_requests": false,
	} {
		if d[key] != want {
			t.Errorf("discovery %s = %v, want %v", key, d[key], want)
		}
	}
}
