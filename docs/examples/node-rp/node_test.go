// Package noderp runs the Node.js example relying party (index.mjs)
// against a real asnidp, so the integrator guide's example cannot rot.
package noderp

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/asnidp/asnidp/internal/optest"
)

// requireNode finds node and the example's installed dependencies. CI sets
// ASNIDP_TEST_REQUIRE_NODE=1 (after `npm ci`), which turns their absence
// into a failure instead of a skip.
func requireNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	missing := ""
	switch {
	case err != nil:
		missing = "node is not installed"
	default:
		if _, err := os.Stat("node_modules/openid-client/package.json"); err != nil {
			missing = "node_modules is missing (run npm ci in docs/examples/node-rp)"
		}
	}
	if missing == "" {
		return node
	}
	if os.Getenv("ASNIDP_TEST_REQUIRE_NODE") == "1" {
		t.Fatalf("%s, and ASNIDP_TEST_REQUIRE_NODE=1", missing)
	}
	t.Skipf("%s; set ASNIDP_TEST_REQUIRE_NODE=1 to make this a failure", missing)
	return ""
}

func TestExample(t *testing.T) {
	node := requireNode(t)
	addr := optest.FreeAddr(t)
	base := "http://" + addr
	const secret = "node-rp-example-test-secret"
	o := optest.Start(t, optest.Client{ID: "node-rp", Secret: secret, RedirectURIs: []string{base + "/callback"}})
	trail, _ := runExample(t, node, o, addr, "CLIENT_SECRET="+secret)
	if !slices.ContainsFunc(trail, func(s string) bool { return strings.Contains(s, "code_challenge_method=S256") }) {
		t.Errorf("authorization request without PKCE S256: %v", trail)
	}
}

// TestExample_PARWithPrivateKeyJWT: the same sign-in by a client that
// registered its public key and must push its requests (--require-par):
// openid-client authenticates with private_key_jwt at the PAR and token
// endpoints (D16), and the browser carries only client_id and the
// request_uri (D17).
func TestExample_PARWithPrivateKeyJWT(t *testing.T) {
	node := requireNode(t)
	addr := optest.FreeAddr(t)
	base := "http://" + addr
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, k jose.JSONWebKey, set bool) string {
		var v any = k
		if set {
			v = jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k}}
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	jwks := write("node-rp.jwks.json", jose.JSONWebKey{Key: &key.PublicKey, KeyID: "node-rp-1", Algorithm: "ES256", Use: "sig"}, true)
	private := write("node-rp.private.jwk.json", jose.JSONWebKey{Key: key, KeyID: "node-rp-1", Algorithm: "ES256", Use: "sig"}, false)
	o := optest.Start(t, optest.Client{ID: "node-rp", JWKSFile: jwks, RequirePAR: true, RedirectURIs: []string{base + "/callback"}})
	trail, _ := runExample(t, node, o, addr, "CLIENT_KEY="+private, "USE_PAR=1")
	authorize := slices.IndexFunc(trail, func(s string) bool { return strings.HasPrefix(s, o.URL+"/authorize?") })
	if authorize < 0 {
		t.Fatalf("no authorization request in %v", trail)
	}
	q, err := url.Parse(trail[authorize])
	if err != nil {
		t.Fatal(err)
	}
	if got := q.Query(); len(got) != 2 || got.Get("client_id") != "node-rp" || !strings.HasPrefix(got.Get("request_uri"), "urn:ietf:params:oauth:request_uri:") {
		t.Errorf("authorization request %s, want only client_id and a pushed request_uri", trail[authorize])
	}
}

// TestExample_ES256AndJWTAccessToken: a client registered with ES256
// tokens and RFC 9068 access tokens (D21, D22). openid-client accepts only
// the registered alg for the ID token, and oauth4webapi's resource-server
// check (validateJwtAccessToken) verifies the at+jwt offline.
func TestExample_ES256AndJWTAccessToken(t *testing.T) {
	node := requireNode(t)
	addr := optest.FreeAddr(t)
	const secret = "node-rp-example-test-secret"
	o := optest.Start(t, optest.Client{ID: "node-rp", Secret: secret, RedirectURIs: []string{"http://" + addr + "/callback"},
		IDTokenAlg: "ES256", AccessTokenJWT: true})
	_, got := runExample(t, node, o, addr, "CLIENT_SECRET="+secret, "ID_TOKEN_ALG=ES256")
	at := got.AccessToken
	if at == nil || at["client_id"] != "node-rp" || at["iss"] != o.URL || at["sub"] != got.IDToken["sub"] {
		t.Errorf("access token claims %v: want client_id node-rp, iss and the ID token's sub", at)
	}
}

type exampleResult struct {
	IDToken     map[string]any `json:"id_token_claims"`
	Userinfo    map[string]any `json:"userinfo"`
	AccessToken map[string]any `json:"access_token_claims"`
}

// runExample starts index.mjs with env against o, listening on addr, and
// signs in through it; it returns the browser's trail to the login page
// and what the example answered.
func runExample(t *testing.T, node string, o *optest.OP, addr string, env ...string) ([]string, exampleResult) {
	t.Helper()
	base := "http://" + addr
	u := optest.User{
		NIP: "199004152022212007", Name: "Siti Rahmawati", Email: "siti@example.go.id",
		Instansi: "Pemerintah Kota Bandung", UnitKerja: "Dinas Pendidikan", Jabatan: "Guru Ahli Pertama",
		Password: "kopi tubruk pagi hari",
	}
	o.AddUser(t, u)

	cmd := exec.Command(node, "index.mjs")
	cmd.Env = append(os.Environ(),
		"ISSUER="+o.URL, "CLIENT_ID=node-rp",
		"REDIRECT_URI="+base+"/callback", "PORT="+addr[strings.LastIndex(addr, ":")+1:],
	)
	cmd.Env = append(cmd.Env, env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("node stderr:\n%s", stderr.String())
		}
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "listening on ") {
				ready <- line
			}
		}
		close(ready)
	}()
	select {
	case line, ok := <-ready:
		if !ok {
			t.Fatalf("node exited before listening:\n%s", stderr.String())
		}
		t.Log(line)
	case <-time.After(20 * time.Second):
		t.Fatalf("node did not start listening:\n%s", stderr.String())
	}

	b := optest.NewBrowser(t)
	loginPage, trail := b.Follow(base + "/login")
	if !optest.IsLoginPage(loginPage) {
		t.Fatalf("/login did not lead to the login page: %v", trail)
	}
	result, resultTrail := o.Login(t, b, loginPage, u)
	if result.Status != http.StatusOK || result.URL.Path != "/callback" {
		t.Fatalf("callback answered %d at %s (trail %v):\n%s", result.Status, result.URL, resultTrail, result.Body)
	}
	var got exampleResult
	if err := json.Unmarshal([]byte(result.Body), &got); err != nil {
		t.Fatalf("decode %s: %v", result.Body, err)
	}
	t.Logf("ID token claims: %s", mustJSON(got.IDToken))
	t.Logf("userinfo: %s", mustJSON(got.Userinfo))
	if got.IDToken["iss"] != o.URL || got.IDToken["nonce"] == nil || got.IDToken["acr"] != "urn:asn:loa:mfa" {
		t.Errorf("ID token claims %v: want iss %s, a nonce and acr urn:asn:loa:mfa", got.IDToken, o.URL)
	}
	for k, want := range map[string]string{
		"preferred_username": u.NIP, "nip": u.NIP, "name": u.Name, "email": u.Email, "instansi": u.Instansi,
	} {
		if got.Userinfo[k] != want {
			t.Errorf("userinfo %s = %v, want %q", k, got.Userinfo[k], want)
		}
	}
	return trail, got
}

func mustJSON(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}
