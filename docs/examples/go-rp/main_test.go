package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/asnidp/asnidp/internal/optest"
)

// TestExample runs the example's handler against a real asnidp: the test
// is the browser (login form, authenticator), the example does the OIDC.
func TestExample(t *testing.T) {
	ln, base := listen(t)
	const secret = "go-rp-example-test-secret"
	o := optest.Start(t, optest.Client{ID: "go-rp", Secret: secret, RedirectURIs: []string{base + "/callback"}})
	runExample(t, o, ln, base, Config{Issuer: o.URL, ClientID: "go-rp", ClientSecret: secret, RedirectURI: base + "/callback"})
}

// TestExample_PrivateKeyJWT: the same sign-in with the client registered
// by its public key (asnidp's jwks_file) and authenticated with
// private_key_jwt (D16).
func TestExample_PrivateKeyJWT(t *testing.T) {
	ln, base := listen(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "go-rp-1", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	jwksFile := filepath.Join(t.TempDir(), "go-rp.jwks.json")
	if err := os.WriteFile(jwksFile, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	o := optest.Start(t, optest.Client{ID: "go-rp", JWKSFile: jwksFile, RedirectURIs: []string{base + "/callback"}})
	runExample(t, o, ln, base, Config{
		Issuer: o.URL, ClientID: "go-rp", RedirectURI: base + "/callback",
		PrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), KeyID: "go-rp-1",
	})
}

// TestExample_ES256AndJWTAccessToken: a client registered with ES256 ID
// tokens and RFC 9068 access tokens (D21, D22): the rp package accepts
// ES256 only, and the app verifies the at+jwt access token offline.
func TestExample_ES256AndJWTAccessToken(t *testing.T) {
	ln, base := listen(t)
	const secret = "go-rp-example-test-secret"
	o := optest.Start(t, optest.Client{ID: "go-rp", Secret: secret, RedirectURIs: []string{base + "/callback"},
		IDTokenAlg: "ES256", AccessTokenJWT: true})
	got := runExample(t, o, ln, base, Config{Issuer: o.URL, ClientID: "go-rp", ClientSecret: secret, RedirectURI: base + "/callback", IDTokenAlg: "ES256"})
	at := got.AccessToken
	if at == nil || at["client_id"] != "go-rp" || at["iss"] != o.URL || at["sub"] != got.IDToken["sub"] || at["jti"] == "" {
		t.Errorf("access token claims %v: want client_id go-rp, iss, the ID token's sub and a jti", at)
	}
}

// An app that accepts RS256 only refuses the ES256 client's ID token.
func TestExample_WrongAlgorithmRefused(t *testing.T) {
	ln, base := listen(t)
	const secret = "go-rp-example-test-secret"
	o := optest.Start(t, optest.Client{ID: "go-rp", Secret: secret, RedirectURIs: []string{base + "/callback"}, IDTokenAlg: "ES256"})
	o.AddUser(t, exampleUser)
	h, err := NewHandler(t.Context(), Config{Issuer: o.URL, ClientID: "go-rp", ClientSecret: secret, RedirectURI: base + "/callback", IDTokenAlg: "RS256"})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	b := optest.NewBrowser(t)
	loginPage, _ := b.Follow(base + "/login")
	result, _ := o.Login(t, b, loginPage, exampleUser)
	if result.Status == http.StatusOK {
		t.Errorf("an RS256-only app accepted an ES256 ID token:\n%s", result.Body)
	}
}

var exampleUser = optest.User{
	NIP: "199004152022212007", Name: "Siti Rahmawati", Email: "siti@example.go.id",
	Instansi: "Pemerintah Kota Bandung", UnitKerja: "Dinas Pendidikan", Jabatan: "Guru Ahli Pertama",
	Password: "kopi tubruk pagi hari",
}

func listen(t *testing.T) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, "http://" + ln.Addr().String()
}

// exampleResult is what the example answers after a sign-in.
type exampleResult struct {
	IDToken     map[string]any `json:"id_token_claims"`
	Userinfo    map[string]any `json:"userinfo"`
	AccessToken map[string]any `json:"access_token_claims"`
}

// runExample serves the example with cfg on ln and signs in through it.
func runExample(t *testing.T, o *optest.OP, ln net.Listener, base string, cfg Config) exampleResult {
	t.Helper()
	u := exampleUser
	o.AddUser(t, u)

	h, err := NewHandler(t.Context(), cfg)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	b := optest.NewBrowser(t)
	loginPage, trail := b.Follow(base + "/login")
	if !optest.IsLoginPage(loginPage) {
		t.Fatalf("/login did not lead to the login page: %v", trail)
	}
	if !slices.ContainsFunc(trail, func(s string) bool { return containsAll(s, "code_challenge_method=S256", "state=") }) {
		t.Errorf("authorization request without PKCE S256 or state: %v", trail)
	}
	result, trail := o.Login(t, b, loginPage, u)
	if result.Status != http.StatusOK || result.URL.Path != "/callback" {
		t.Fatalf("callback answered %d at %s (trail %v):\n%s", result.Status, result.URL, trail, result.Body)
	}
	if iss := result.URL.Query()["iss"]; len(iss) != 1 || iss[0] != o.URL {
		t.Errorf("the callback got iss %q, want [%s] (RFC 9207)", iss, o.URL)
	}
	// A response that names another issuer is refused before the code is
	// redeemed.
	forged := result.URL.Query()
	forged.Set("iss", "https://other-op.example")
	if got := b.Get(base + "/callback?" + forged.Encode()); got.Status != http.StatusBadRequest {
		t.Errorf("callback with iss of another OP = %d, want 400", got.Status)
	}
	var got exampleResult
	if err := json.Unmarshal([]byte(result.Body), &got); err != nil {
		t.Fatalf("decode %s: %v", result.Body, err)
	}
	t.Logf("ID token claims: %v", got.IDToken)
	t.Logf("userinfo: %v", got.Userinfo)
	if got.IDToken["iss"] != o.URL || got.IDToken["sub"] == "" || got.IDToken["sid"] == nil || got.IDToken["acr"] != "urn:asn:loa:mfa" {
		t.Errorf("ID token claims %v: want iss %s, sub, sid and acr urn:asn:loa:mfa", got.IDToken, o.URL)
	}
	for k, want := range map[string]string{
		"sub": got.IDToken["sub"].(string), "name": u.Name, "preferred_username": u.NIP, "nip": u.NIP, "email": u.Email,
		"instansi": u.Instansi, "unit_kerja": u.UnitKerja, "jabatan": u.Jabatan,
	} {
		if got.Userinfo[k] != want {
			t.Errorf("userinfo %s = %v, want %q", k, got.Userinfo[k], want)
		}
	}
	return got
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
