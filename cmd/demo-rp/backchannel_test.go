package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
)

// logoutFixture is an OP's signing key published at a JWKS URL on
// loopback, and an attacker's key that is not.
type logoutFixture struct {
	issuer   string
	key      *rsa.PrivateKey
	attacker *rsa.PrivateKey
	now      time.Time
}

func newLogoutFixture(t *testing.T) *logoutFixture {
	t.Helper()
	f := &logoutFixture{key: rsaKey(t), attacker: rsaKey(t), now: time.Unix(1_800_000_000, 0)}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &f.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(jwks)
	}))
	t.Cleanup(srv.Close)
	f.issuer = srv.URL
	return f
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// app returns a Profil app whose logout tokens are checked against the
// fixture's JWKS, holding sessions A (u1/s1), B (u1/s2) and C (u2/s3).
func (f *logoutFixture) app(t *testing.T) (*app, map[string]string) {
	t.Helper()
	cfg, err := parseConfig([]string{"--issuer", f.issuer}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(cfg, cfg.Apps[0], slog.New(slog.NewTextHandler(t.Output(), nil)), func() time.Time { return f.now })
	if err != nil {
		t.Fatal(err)
	}
	a.logout = newLogoutVerifier(f.issuer, "profil", rp.NewRemoteKeySet(http.DefaultClient, f.issuer+"/keys"))
	ids := map[string]string{}
	for name, s := range map[string]*session{"A": {sub: "u1", sid: "s1"}, "B": {sub: "u1", sid: "s2"}, "C": {sub: "u2", sid: "s3"}} {
		ids[name] = a.sessions.add(s, f.now)
	}
	return a, ids
}

// claims is a valid logout token's payload for session s1.
func (f *logoutFixture) claims() map[string]any {
	return map[string]any{
		"iss":    f.issuer,
		"aud":    "profil",
		"iat":    f.now.Add(-5 * time.Second).Unix(),
		"exp":    f.now.Add(2 * time.Minute).Unix(),
		"jti":    rand.Text(),
		"events": map[string]any{backchannelEvent: map[string]any{}},
		"sid":    "s1",
	}
}

func (f *logoutFixture) sign(t *testing.T, key any, alg jose.SignatureAlgorithm, opts *jose.SignerOptions, claims map[string]any) string {
	t.Helper()
	if opts == nil {
		opts = (&jose.SignerOptions{}).WithType("logout+jwt").WithHeader("kid", "k1")
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func postLogout(a *app, form url.Values) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/backchannel-logout", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	return rec
}

// live lists which of the named sessions still exist.
func live(a *app, ids map[string]string, now time.Time) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(ids)) {
		if a.sessions.get(ids[name], now) != nil {
			out = append(out, name)
		}
	}
	return out
}

func TestBackchannelLogout(t *testing.T) {
	f := newLogoutFixture(t)
	with := func(kv ...any) map[string]any {
		c := f.claims()
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
				continue
			}
			c[kv[i].(string)] = kv[i+1]
		}
		return c
	}
	valid := func(kv ...any) func(*testing.T) string {
		return func(t *testing.T) string { return f.sign(t, f.key, jose.RS256, nil, with(kv...)) }
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&f.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	unsigned := func(header string) func(*testing.T) string {
		return func(t *testing.T) string {
			payload, _ := json.Marshal(f.claims())
			enc := base64.RawURLEncoding.EncodeToString
			return enc([]byte(header)) + "." + enc(payload) + "."
		}
	}

	all := []string{"A", "B", "C"}
	tests := []struct {
		name       string
		token      func(*testing.T) string
		wantStatus int
		wantLive   []string
	}{
		{"sid ends that OP session only", valid(), http.StatusOK, []string{"B", "C"}},
		{"sub alone ends every session of the user", valid("sid", nil, "sub", "u1"), http.StatusOK, []string{"C"}},
		{"sid and sub must both match", valid("sub", "u2"), http.StatusOK, all},
		{"unknown sid ends nothing", valid("sid", "s9"), http.StatusOK, all},
		{"aud as a list", valid("aud", []string{"other", "profil"}), http.StatusOK, []string{"B", "C"}},
		{"typ JWT", func(t *testing.T) string {
			return f.sign(t, f.key, jose.RS256, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"), f.claims())
		}, http.StatusOK, []string{"B", "C"}},
		{"no typ", func(t *testing.T) string {
			return f.sign(t, f.key, jose.RS256, (&jose.SignerOptions{}).WithHeader("kid", "k1"), f.claims())
		}, http.StatusOK, []string{"B", "C"}},

		// D12: what a forger or a confused sender might try.
		{"alg none", unsigned(`{"alg":"none","kid":"k1"}`), http.StatusBadRequest, all},
		{"HS256 keyed with the public key", func(t *testing.T) string {
			return f.sign(t, pubDER, jose.HS256, nil, f.claims())
		}, http.StatusBadRequest, all},
		{"PS256 with the right key", func(t *testing.T) string {
			return f.sign(t, f.key, jose.PS256, nil, f.claims())
		}, http.StatusBadRequest, all},
		{"another key under the published kid", func(t *testing.T) string {
			return f.sign(t, f.attacker, jose.RS256, nil, f.claims())
		}, http.StatusBadRequest, all},
		{"another key under an unknown kid", func(t *testing.T) string {
			return f.sign(t, f.attacker, jose.RS256, (&jose.SignerOptions{}).WithHeader("kid", "k2"), f.claims())
		}, http.StatusBadRequest, all},
		{"key embedded in the header", func(t *testing.T) string {
			return f.sign(t, f.attacker, jose.RS256, &jose.SignerOptions{EmbedJWK: true}, f.claims())
		}, http.StatusBadRequest, all},
		{"typ of an access token", func(t *testing.T) string {
			return f.sign(t, f.key, jose.RS256, (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "k1"), f.claims())
		}, http.StatusBadRequest, all},
		{"JWE", func(*testing.T) string { return "eyJhbGciOiJSU0EtT0FFUCJ9..iv.ct.tag" }, http.StatusBadRequest, all},
		{"not a JWT", func(*testing.T) string { return "logout please" }, http.StatusBadRequest, all},
		{"oversized", func(*testing.T) string { return strings.Repeat("a", maxLogoutToken+1) }, http.StatusBadRequest, all},

		{"other issuer", valid("iss", "http://127.0.0.1:1"), http.StatusBadRequest, all},
		{"other audience", valid("aud", "riwayat"), http.StatusBadRequest, all},
		{"no audience", valid("aud", nil), http.StatusBadRequest, all},
		{"no iat", valid("iat", nil), http.StatusBadRequest, all},
		{"iat in the future", valid("iat", f.now.Add(5*time.Minute).Unix()), http.StatusBadRequest, all},
		{"no exp", valid("exp", nil), http.StatusBadRequest, all},
		{"expired", valid("exp", f.now.Add(-time.Minute).Unix()), http.StatusBadRequest, all},
		{"no jti", valid("jti", nil), http.StatusBadRequest, all},
		{"no events", valid("events", nil), http.StatusBadRequest, all},
		{"events without the logout member", valid("events", map[string]any{"http://schemas.openid.net/event/other": map[string]any{}}), http.StatusBadRequest, all},
		{"logout member not an object", valid("events", map[string]any{backchannelEvent: "yes"}), http.StatusBadRequest, all},
		{"events a list", valid("events", []string{backchannelEvent}), http.StatusBadRequest, all},
		{"nonce present (an ID token)", valid("nonce", "n-1"), http.StatusBadRequest, all},
		{"neither sid nor sub", valid("sid", nil), http.StatusBadRequest, all},
		{"sub not a string", valid("sid", nil, "sub", 42), http.StatusBadRequest, all},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, ids := f.app(t)
			rec := postLogout(a, url.Values{"logout_token": {tc.token(t)}})
			if rec.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.wantStatus, rec.Body)
			}
			if got := live(a, ids, f.now); !slices.Equal(got, tc.wantLive) {
				t.Errorf("live sessions = %v, want %v", got, tc.wantLive)
			}
			if tc.wantStatus == http.StatusBadRequest {
				var body map[string]string
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["error"] != "invalid_request" {
					t.Errorf("body = %s, want an invalid_request JSON error", rec.Body)
				}
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
		})
	}
}

func TestBackchannelLogout_Form(t *testing.T) {
	f := newLogoutFixture(t)
	token := f.sign(t, f.key, jose.RS256, nil, f.claims())
	tests := []struct {
		name string
		form url.Values
	}{
		{"no logout_token", url.Values{}},
		{"logout_token twice", url.Values{"logout_token": {token, token}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, ids := f.app(t)
			if rec := postLogout(a, tc.form); rec.Code != http.StatusBadRequest {
				t.Errorf("status = %d, want 400", rec.Code)
			}
			if got := live(a, ids, f.now); len(got) != 3 {
				t.Errorf("live sessions = %v, want all three", got)
			}
		})
	}
}

// A replayed token ends nothing more: a session begun after the first
// delivery survives the second.
func TestBackchannelLogout_ReplayEndsNothingMore(t *testing.T) {
	f := newLogoutFixture(t)
	a, ids := f.app(t)
	c := f.claims()
	delete(c, "sid")
	c["sub"] = "u1"
	token := f.sign(t, f.key, jose.RS256, nil, c)
	if rec := postLogout(a, url.Values{"logout_token": {token}}); rec.Code != http.StatusOK {
		t.Fatalf("first delivery = %d, want 200", rec.Code)
	}
	if got := live(a, ids, f.now); !slices.Equal(got, []string{"C"}) {
		t.Fatalf("after first delivery live = %v, want [C]", got)
	}
	ids["D"] = a.sessions.add(&session{sub: "u1", sid: "s4"}, f.now)
	if rec := postLogout(a, url.Values{"logout_token": {token}}); rec.Code != http.StatusOK {
		t.Errorf("replay = %d, want 200 (already done)", rec.Code)
	}
	if got := live(a, ids, f.now); !slices.Equal(got, []string{"C", "D"}) {
		t.Errorf("after replay live = %v, want [C D]", got)
	}
}
