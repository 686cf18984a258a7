package keys

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/asnidp/asnidp/internal/seal"
	"github.com/asnidp/asnidp/storage"
)

// clock is a settable time source shared by the managers of one test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newMasterKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func newSealer(t testing.TB, masterKey []byte) *seal.Sealer {
	t.Helper()
	s, err := seal.New(masterKey)
	if err != nil {
		t.Fatalf("seal.New: %v", err)
	}
	return s
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

// testOptions are the defaults with the test's clock and logger, keeping
// the RS256 series only: the schedule tests follow one series, and
// TestSeries_* run both.
func testOptions(t testing.TB, c *clock) Options {
	return Options{Now: c.Now, Logger: testLogger(t), Algorithms: []jose.SignatureAlgorithm{jose.RS256}}
}

func newManager(t testing.TB, store storage.KeyStore, sealer *seal.Sealer, opts Options) *Manager {
	t.Helper()
	m := NewManager(store, sealer, opts)
	if err := m.Init(t.Context()); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return m
}

func signerID(t *testing.T, m *Manager) string {
	t.Helper()
	k, err := m.Signer(t.Context(), jose.RS256)
	if err != nil {
		t.Fatalf("Signer: %v", err)
	}
	return k.ID
}

// listStatus returns the stored keys as "kid:status", oldest first.
func listStatus(t *testing.T, m *Manager) []string {
	t.Helper()
	infos, err := m.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	out := make([]string, len(infos))
	for i, k := range infos {
		out[i] = k.ID + ":" + k.Status
	}
	return out
}

func publicIDs(t *testing.T, m *Manager) []string {
	t.Helper()
	keys, err := m.PublicKeys(t.Context())
	if err != nil {
		t.Fatalf("PublicKeys: %v", err)
	}
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.KeyID)
	}
	return ids
}

// jwksIDs parses the JWKS document and returns its kids.
func jwksIDs(t *testing.T, m *Manager) []string {
	t.Helper()
	b, err := m.JWKS(t.Context())
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatalf("parse JWKS %s: %v", b, err)
	}
	var ids []string
	for _, k := range set.Keys {
		ids = append(ids, k.KeyID)
	}
	return ids
}

// sign makes a compact JWS over a small claim set with the current key, as
// the token endpoint does.
func sign(t testing.TB, m *Manager, payload string) string {
	t.Helper()
	k, err := m.Signer(t.Context(), jose.RS256)
	if err != nil {
		t.Fatalf("Signer: %v", err)
	}
	return signWith(t, k, payload)
}

func signWith(t testing.TB, k *Key, payload string) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Algorithm, Key: jose.JSONWebKey{Key: k.Private, KeyID: k.ID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	jws, err := s.Sign([]byte(payload))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatalf("CompactSerialize: %v", err)
	}
	return tok
}

var errUnknownKID = errors.New("kid not published")

// verify checks tok as a relying party does: parse, pick the published key
// named by its kid, verify.
func verify(t *testing.T, m *Manager, tok string) (string, error) {
	t.Helper()
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("ParseSignedCompact: %v", err)
	}
	keys, err := m.PublicKeys(t.Context())
	if err != nil {
		t.Fatalf("PublicKeys: %v", err)
	}
	kid := jws.Signatures[0].Header.KeyID
	i := slices.IndexFunc(keys, func(k jose.JSONWebKey) bool { return k.KeyID == kid })
	if i < 0 {
		return "", errUnknownKID
	}
	payload, err := jws.Verify(keys[i])
	return string(payload), err
}
