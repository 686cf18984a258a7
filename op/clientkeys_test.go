package op

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func testKeys(t *testing.T) (*rsa.PrivateKey, *ecdsa.PrivateKey) {
	t.Helper()
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return r, e
}

func jwksJSON(t *testing.T, keys ...jose.JSONWebKey) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseClientJWKS(t *testing.T) {
	r, e := testKeys(t)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	tests := []struct {
		name    string
		data    []byte
		wantErr string // "" for a set that is accepted
	}{
		{"RSA and EC", jwksJSON(t, jose.JSONWebKey{Key: &r.PublicKey, KeyID: "r"}, jose.JSONWebKey{Key: &e.PublicKey, KeyID: "e", Algorithm: "ES256", Use: "sig"}), ""},
		{"RSA with PS256", jwksJSON(t, jose.JSONWebKey{Key: &r.PublicKey, KeyID: "r", Algorithm: "PS256"}), ""},
		{"not JSON", []byte("nope"), "not a JWKS"},
		{"empty", []byte(`{"keys":[]}`), "no keys"},
		{"private RSA", jwksJSON(t, jose.JSONWebKey{Key: r, KeyID: "r"}), "private key"},
		{"private EC", jwksJSON(t, jose.JSONWebKey{Key: e, KeyID: "e"}), "private key"},
		{"no kid", jwksJSON(t, jose.JSONWebKey{Key: &r.PublicKey}), "no kid"},
		{"P-384", jwksJSON(t, jose.JSONWebKey{Key: &p384.PublicKey, KeyID: "p"}), "P-256"},
		{"symmetric", jwksJSON(t, jose.JSONWebKey{Key: []byte("0123456789abcdef"), KeyID: "h"}), "not supported"},
		{"RSA key with ES256", jwksJSON(t, jose.JSONWebKey{Key: &r.PublicKey, KeyID: "r", Algorithm: "ES256"}), "does not fit"},
		{"EC key with RS256", jwksJSON(t, jose.JSONWebKey{Key: &e.PublicKey, KeyID: "e", Algorithm: "RS256"}), "does not fit"},
		{"encryption key", jwksJSON(t, jose.JSONWebKey{Key: &r.PublicKey, KeyID: "r", Use: "enc"}), "use"},
		{"duplicate kid", jwksJSON(t, jose.JSONWebKey{Key: &r.PublicKey, KeyID: "x"}, jose.JSONWebKey{Key: &e.PublicKey, KeyID: "x"}), "not unique"},
		{"too large", []byte(`{"keys":[` + strings.Repeat(" ", maxJWKSBytes) + `]}`), "larger"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseClientJWKS(tc.data)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("ParseClientJWKS = %v, want the set accepted", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("ParseClientJWKS = %q, %v; want an error saying %q", got, err, tc.wantErr)
			case tc.wantErr == "":
				if _, err := ParseClientJWKS([]byte(got)); err != nil {
					t.Errorf("the stored form %s does not parse again: %v", got, err)
				}
			}
		})
	}
}

// D16, D18: a signature header finds only a key of its kid whose type and
// alg fit; ES256 and RS256 keys are never taken for one another.
func TestSelectKey_D16_D18(t *testing.T) {
	r, e := testKeys(t)
	r2, _ := testKeys(t)
	set, err := parseClientJWKS(jwksJSON(t,
		jose.JSONWebKey{Key: &r.PublicKey, KeyID: "rsa-1"},
		jose.JSONWebKey{Key: &r2.PublicKey, KeyID: "rsa-ps", Algorithm: "PS256"},
		jose.JSONWebKey{Key: &e.PublicKey, KeyID: "ec-1"},
	))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		kid, alg string
		wantKID  string // "" for no key
	}{
		{"rsa-1", "RS256", "rsa-1"},
		{"rsa-1", "PS256", "rsa-1"},
		{"rsa-1", "ES256", ""},
		{"ec-1", "ES256", "ec-1"},
		{"ec-1", "RS256", ""},
		{"ec-1", "PS256", ""},
		{"rsa-ps", "PS256", "rsa-ps"},
		{"rsa-ps", "RS256", ""},
		{"", "ES256", "ec-1"},
		{"", "RS256", "rsa-1"},
		{"", "PS256", ""}, // two RSA keys fit: ambiguous without a kid
		{"rsa-9", "RS256", ""},
		{"rsa-1", "HS256", ""},
		{"rsa-1", "none", ""},
	}
	for _, tc := range tests {
		k, err := selectKey(set, tc.kid, tc.alg)
		got := ""
		if err == nil {
			got = k.KeyID
		}
		if got != tc.wantKID {
			t.Errorf("selectKey(kid %q, alg %s) = %q (%v), want %q", tc.kid, tc.alg, got, err, tc.wantKID)
		}
	}
}

func TestCheckTimes(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	at := func(d time.Duration) *jwt.NumericDate { return jwt.NewNumericDate(now.Add(d)) }
	tests := []struct {
		name   string
		claims jwtClaims
		wantOK bool
	}{
		{"one minute", jwtClaims{Expiry: at(time.Minute), IssuedAt: at(0)}, true},
		{"at the limit", jwtClaims{Expiry: at(maxAssertionLifetime)}, true},
		{"no exp", jwtClaims{IssuedAt: at(0)}, false},
		{"expired beyond the skew", jwtClaims{Expiry: at(-clientClockSkew)}, false},
		{"expired within the skew", jwtClaims{Expiry: at(-clientClockSkew / 2)}, true},
		{"too long", jwtClaims{Expiry: at(maxAssertionLifetime + clientClockSkew + time.Second)}, false},
		{"nbf ahead", jwtClaims{Expiry: at(time.Minute), NotBefore: at(time.Minute)}, false},
		{"iat ahead", jwtClaims{Expiry: at(time.Minute), IssuedAt: at(time.Minute)}, false},
	}
	for _, tc := range tests {
		if err := tc.claims.checkTimes(now, maxAssertionLifetime); (err == nil) != tc.wantOK {
			t.Errorf("%s: checkTimes = %v, want ok %v", tc.name, err, tc.wantOK)
		}
	}
}

// A jwks_uri is fetched with a size bound and without redirects, cached
// for the TTL, and fetched again on demand at most every jwksRefetchAfter.
func TestKeyCache(t *testing.T) {
	r, _ := testKeys(t)
	good := jwksJSON(t, jose.JSONWebKey{Key: &r.PublicKey, KeyID: "r"})
	var fetches atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		w.Write(good)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`{"keys":[` + strings.Repeat(" ", maxJWKSBytes) + `]}`))
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/jwks", http.StatusFound)
	})
	mux.HandleFunc("/missing", http.NotFound)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	now := time.Unix(1_800_000_000, 0)
	c := newKeyCache(5*time.Minute, func() time.Time { return now }, nil)
	ctx := t.Context()
	for _, path := range []string{"/big", "/redirect", "/missing"} {
		if _, err := c.get(ctx, srv.URL+path, false); err == nil {
			t.Errorf("get(%s) = nil error, want it refused", path)
		}
	}
	fetchesAfter := func(what string, refresh bool, want int32) {
		t.Helper()
		if _, err := c.get(ctx, srv.URL+"/jwks", refresh); err != nil {
			t.Fatalf("%s: get = %v", what, err)
		}
		if got := fetches.Load(); got != want {
			t.Errorf("%s: %d fetches, want %d", what, got, want)
		}
	}
	fetchesAfter("first use", false, 1)
	fetchesAfter("cached", false, 1)
	fetchesAfter("refresh right away", true, 1)
	now = now.Add(jwksRefetchAfter)
	fetchesAfter("cached after the refetch interval", false, 1)
	fetchesAfter("refresh after the refetch interval", true, 2)
	now = now.Add(5 * time.Minute)
	fetchesAfter("after the TTL", false, 3)
}
