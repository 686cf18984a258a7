package main

import (
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/asnidp/asnidp/internal/optest"
)

// TestExample runs the example's handler against a real asnidp: the test
// is the browser (login form, authenticator), the example does the OIDC.
func TestExample(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	const secret = "go-rp-example-test-secret"
	o := optest.Start(t, optest.Client{ID: "go-rp", Secret: secret, RedirectURIs: []string{base + "/callback"}})
	u := optest.User{
		NIP: "199004152022212007", Name: "Siti Rahmawati", Email: "siti@example.go.id",
		Instansi: "Pemerintah Kota Bandung", UnitKerja: "Dinas Pendidikan", Jabatan: "Guru Ahli Pertama",
		Password: "kopi tubruk pagi hari",
	}
	o.AddUser(t, u)

	h, err := NewHandler(t.Context(), Config{Issuer: o.URL, ClientID: "go-rp", ClientSecret: secret, RedirectURI: base + "/callback"})
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
	var got struct {
		IDToken  map[string]any `json:"id_token_claims"`
		Userinfo map[string]any `json:"userinfo"`
	}
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
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
