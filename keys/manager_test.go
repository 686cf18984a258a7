package keys

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/asnidp/asnidp/storage"
)

// A first start creates one key that signs at once; a restart on the same
// database (a new Manager, a new connection) loads that key instead of
// making another.
func TestInit_FirstKeyOnceAndRestart(t *testing.T) {
	c := newClock()
	path := filepath.Join(t.TempDir(), "asnidp.db")
	master := newMasterKey(t)

	store := openStore(t, path)
	m := newManager(t, store, newSealer(t, master), testOptions(t, c))
	kid := signerID(t, m)
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`).MatchString(kid) {
		t.Errorf("kid %q is not 22 URL-safe characters", kid)
	}
	if got, want := listStatus(t, m), []string{kid + ":current"}; !cmp.Equal(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}
	// A second Init of the same Manager changes nothing.
	if err := m.Init(t.Context()); err != nil {
		t.Fatalf("second Init: %v", err)
	}
	first, err := m.Signer(t.Context(), jose.RS256)
	if err != nil {
		t.Fatalf("Signer: %v", err)
	}
	store.Close()

	c.Advance(time.Minute)
	restarted := newManager(t, openStore(t, path), newSealer(t, master), testOptions(t, c))
	got, err := restarted.Signer(t.Context(), jose.RS256)
	if err != nil {
		t.Fatalf("Signer after restart: %v", err)
	}
	if got.ID != kid {
		t.Errorf("Signer after restart = %q, want %q", got.ID, kid)
	}
	if !got.Private.(*rsa.PrivateKey).Equal(first.Private) {
		t.Errorf("private key after restart differs from the one before")
	}
	if got, want := listStatus(t, restarted), []string{kid + ":current"}; !cmp.Equal(got, want) {
		t.Errorf("List after restart = %v, want %v", got, want)
	}
	// A token signed before the restart verifies against the keys after it.
	tok := signWith(t, first, `{"sub":"a"}`)
	if _, err := verify(t, restarted, tok); err != nil {
		t.Errorf("verify token from before the restart: %v", err)
	}
}

// The JWKS publishes public parts only, each with use "sig", alg RS256 and
// its kid.
func TestJWKS_PublicPartsOnly(t *testing.T) {
	c := newClock()
	m := newManager(t, newStore(t), newSealer(t, newMasterKey(t)), testOptions(t, c))
	b, err := m.JWKS(t.Context())
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("parse JWKS %s: %v", b, err)
	}
	if len(doc.Keys) != 1 {
		t.Fatalf("JWKS has %d keys, want 1: %s", len(doc.Keys), b)
	}
	k := doc.Keys[0]
	for field, want := range map[string]string{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": signerID(t, m)} {
		if got := k[field]; got != want {
			t.Errorf("JWKS key %s = %v, want %q", field, got, want)
		}
	}
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		if _, ok := k[private]; ok {
			t.Errorf("JWKS key has private member %q", private)
		}
	}
	pub, err := m.PublicKeys(t.Context())
	if err != nil {
		t.Fatalf("PublicKeys: %v", err)
	}
	if len(pub) != 1 || !pub[0].IsPublic() || pub[0].Use != "sig" || pub[0].Algorithm != "RS256" {
		t.Errorf("PublicKeys = %+v, want one public RS256 signing key", pub)
	}
}

// Keys are unsealed once: Signer hands out the same parsed key on every
// call and across reloads that find the rows unchanged, and the JWKS is
// not rendered again.
func TestSigner_CachedAcrossReloads(t *testing.T) {
	c := newClock()
	m := newManager(t, newStore(t), newSealer(t, newMasterKey(t)), testOptions(t, c))
	k1, err := m.Signer(t.Context(), jose.RS256)
	if err != nil {
		t.Fatalf("Signer: %v", err)
	}
	j1, err := m.JWKS(t.Context())
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}

	c.Advance(2 * m.opts.RefreshInterval) // the next call reloads
	k2, err := m.Signer(t.Context(), jose.RS256)
	if err != nil {
		t.Fatalf("Signer: %v", err)
	}
	if err := m.Maintain(t.Context()); err != nil {
		t.Fatalf("Maintain: %v", err)
	}
	k3, err := m.Signer(t.Context(), jose.RS256)
	if err != nil {
		t.Fatalf("Signer: %v", err)
	}
	j2, err := m.JWKS(t.Context())
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	if k1 != k2 || k2 != k3 {
		t.Errorf("Signer returned different *Key values %p %p %p for one unchanged key", k1, k2, k3)
	}
	if &j1[0] != &j2[0] {
		t.Errorf("JWKS was rendered again although the key set did not change")
	}
}

func TestManager_NotInitialized(t *testing.T) {
	m := NewManager(newStore(t), newSealer(t, newMasterKey(t)), Options{Logger: testLogger(t)})
	if _, err := m.Signer(t.Context(), jose.RS256); !errors.Is(err, ErrNotInitialized) {
		t.Errorf("Signer before Init error = %v, want %v", err, ErrNotInitialized)
	}
	if _, err := m.PublicKeys(t.Context()); !errors.Is(err, ErrNotInitialized) {
		t.Errorf("PublicKeys before Init error = %v, want %v", err, ErrNotInitialized)
	}
	if _, err := m.JWKS(t.Context()); !errors.Is(err, ErrNotInitialized) {
		t.Errorf("JWKS before Init error = %v, want %v", err, ErrNotInitialized)
	}
}

// H8: options that would weaken or break signing refuse to start, before
// any key is made.
func TestInit_H8_BadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{name: "1024 bits", opts: Options{Bits: 1024}, want: "key size 1024 bits is below the minimum of 2048"},
		{name: "negative retention", opts: Options{Retention: -time.Hour}, want: "retention -1h0m0s is negative"},
		{name: "lead shorter than refresh", opts: Options{PublishLead: 10 * time.Second, RefreshInterval: time.Minute},
			want: "publish lead 10s is shorter than the refresh interval 1m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := newStore(t)
			tc.opts.Logger = testLogger(t)
			m := NewManager(store, newSealer(t, newMasterKey(t)), tc.opts)
			err := m.Init(t.Context())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Init error = %v, want it to contain %q", err, tc.want)
			}
			if _, err := m.Rotate(t.Context(), jose.RS256); err == nil {
				t.Errorf("Rotate with bad options succeeded")
			}
			if rows, _ := store.SigningKeys(t.Context()); len(rows) != 0 {
				t.Errorf("store has %d keys after a refused Init, want 0", len(rows))
			}
		})
	}
}

// H7: a stored key that does not open or does not parse stops the start
// with an error naming its kid; no replacement key is made.
func TestInit_H7_BrokenKeyRefusesToStart(t *testing.T) {
	c := newClock()
	master := newMasterKey(t)
	store := newStore(t)
	m := newManager(t, store, newSealer(t, master), testOptions(t, c))
	rows, err := store.SigningKeys(t.Context())
	if err != nil || len(rows) != 1 {
		t.Fatalf("SigningKeys = %d rows, %v; want 1", len(rows), err)
	}
	good := *rows[0]
	otherMaster := bytes.Clone(master)
	otherMaster[31] ^= 1

	// replace swaps the stored row for a changed copy through the
	// storage contract, as a database writer could.
	replace := func(t *testing.T, k storage.SigningKey) {
		t.Helper()
		for _, r := range mustRows(t, store) {
			if err := store.DeleteSigningKey(t.Context(), r.ID); err != nil {
				t.Fatalf("DeleteSigningKey: %v", err)
			}
		}
		if ok, err := store.AddSigningKey(t.Context(), &k, firstKeyNotBefore); err != nil || !ok {
			t.Fatalf("AddSigningKey = %v, %v", ok, err)
		}
	}
	other, err := rsa.GenerateKey(rand.Reader, MinBits)
	if err != nil {
		t.Fatal(err)
	}
	otherJWK, err := publicJWK(good.ID, jose.RS256, &other.PublicKey).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good.PrivateSealed)
	flipped[len(flipped)/2] ^= 1

	for _, tc := range []struct {
		name   string
		row    func() storage.SigningKey
		master []byte
		want   string
	}{
		{name: "wrong master key", row: func() storage.SigningKey { return good }, master: otherMaster, want: "open signing key"},
		{name: "tampered private key", row: func() storage.SigningKey {
			k := good
			k.PrivateSealed = flipped
			return k
		}, master: master, want: "open signing key"},
		{name: "missing private key", row: func() storage.SigningKey {
			k := good
			k.PrivateSealed = []byte{}
			return k
		}, master: master, want: "open signing key"},
		{name: "sealed key moved to another row", row: func() storage.SigningKey {
			k := good
			k.ID = "moved" + good.ID[5:]
			return k
		}, master: master, want: "open signing key"},
		{name: "public key swapped", row: func() storage.SigningKey {
			k := good
			k.PublicJWK = otherJWK
			return k
		}, master: master, want: "stored public key does not match"},
		{name: "public key of another kid", row: func() storage.SigningKey {
			k := good
			k.PublicJWK = []byte(strings.Replace(string(good.PublicJWK), good.ID, "other", 1))
			return k
		}, master: master, want: "stored public key does not match"},
		{name: "unknown algorithm", row: func() storage.SigningKey {
			k := good
			k.Algorithm = "HS256"
			return k
		}, master: master, want: `algorithm "HS256" is not one of`},
		{name: "algorithm column changed", row: func() storage.SigningKey {
			k := good
			k.Algorithm = "ES256"
			return k
		}, master: master, want: "an RSA key cannot sign ES256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := tc.row()
			replace(t, k)
			restarted := NewManager(store, newSealer(t, tc.master), testOptions(t, c))
			err := restarted.Init(t.Context())
			if err == nil {
				t.Fatal("Init with a broken key succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), k.ID) {
				t.Errorf("Init error = %q, want it to contain %q and the kid %q", err, tc.want, k.ID)
			}
			if _, err := restarted.Signer(t.Context(), jose.RS256); !errors.Is(err, ErrNotInitialized) {
				t.Errorf("Signer after failed Init error = %v, want %v", err, ErrNotInitialized)
			}
			if rows := mustRows(t, store); len(rows) != 1 || rows[0].ID != k.ID {
				t.Errorf("store after failed Init has %d keys, want only %q", len(rows), k.ID)
			}
		})
	}
	// The running manager loaded the good key before the row was broken;
	// it keeps signing with it, and its maintenance refuses to act.
	c.Advance(m.opts.RotationPeriod)
	if err := m.Maintain(t.Context()); err == nil {
		t.Errorf("Maintain over a broken key succeeded")
	}
	if got := signerID(t, m); got != good.ID {
		t.Errorf("Signer after a failed reload = %q, want %q", got, good.ID)
	}
	if rows := mustRows(t, store); len(rows) != 1 {
		t.Errorf("Maintain over a broken key left %d keys, want 1", len(rows))
	}
}

// H7: a process started with another master key cannot open the shared
// keys, so it refuses to start instead of adding keys of its own; and a
// process that rotates must first prove it opens every stored key.
func TestRotate_H7_WrongMasterKeyAddsNothing(t *testing.T) {
	c := newClock()
	store := newStore(t)
	m := newManager(t, store, newSealer(t, newMasterKey(t)), testOptions(t, c))
	kid := signerID(t, m)

	wrong := NewManager(store, newSealer(t, newMasterKey(t)), testOptions(t, c))
	for name, call := range map[string]func() error{
		"Init":     func() error { return wrong.Init(t.Context()) },
		"Rotate":   func() error { _, err := wrong.Rotate(t.Context(), jose.RS256); return err },
		"Maintain": func() error { return wrong.Maintain(t.Context()) },
	} {
		err := call()
		if err == nil || !strings.Contains(err.Error(), kid) {
			t.Errorf("%s with the wrong master key error = %v, want one naming %q", name, err, kid)
		}
	}
	if rows := mustRows(t, store); len(rows) != 1 {
		t.Errorf("store has %d keys, want 1", len(rows))
	}
}

// Processes starting together on an empty store, and rotating together
// later, add one key each time. Each manager has its own connection to
// the database, as two processes do.
func TestInitMaintain_ConcurrentAddOneKey(t *testing.T) {
	c := newClock()
	path := filepath.Join(t.TempDir(), "asnidp.db")
	store := openStore(t, path)
	master := newMasterKey(t)
	managers := []*Manager{
		NewManager(store, newSealer(t, master), testOptions(t, c)),
		NewManager(openStore(t, path), newSealer(t, master), testOptions(t, c)),
	}
	together := func(name string, call func(*Manager) error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, len(managers))
		for i, m := range managers {
			wg.Go(func() { errs[i] = call(m) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("%s of manager %d: %v", name, i, err)
			}
		}
	}

	together("Init", func(m *Manager) error { return m.Init(t.Context()) })
	rows := mustRows(t, store)
	if len(rows) != 1 {
		t.Fatalf("store has %d keys after two Inits, want 1", len(rows))
	}
	for i, m := range managers {
		if got := signerID(t, m); got != rows[0].ID {
			t.Errorf("manager %d signs with %q, want %q", i, got, rows[0].ID)
		}
	}

	c.Advance(managers[0].opts.RotationPeriod)
	together("Maintain", func(m *Manager) error { return m.Maintain(t.Context()) })
	if rows := mustRows(t, store); len(rows) != 2 {
		t.Errorf("store has %d keys after two rotations at once, want 2", len(rows))
	}
}

func mustRows(t *testing.T, store storage.KeyStore) []*storage.SigningKey {
	t.Helper()
	rows, err := store.SigningKeys(t.Context())
	if err != nil {
		t.Fatalf("SigningKeys: %v", err)
	}
	return rows
}
