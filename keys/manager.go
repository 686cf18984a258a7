// Package keys manages the keys that sign asnidp's tokens, one series per
// algorithm (RS256, the default, and ES256 for clients that register it):
// it creates them, keeps their private parts sealed in the shared store,
// rotates them on a schedule and publishes them all as one JWKS.
//
// Every key lives in the store, so all OP processes sign with the same keys
// and publish the same set; a process never invents a key of its own. The
// life of a key, by its ActiveAt and the clock, among the keys of its
// algorithm:
//
//	next     stored and published, not signing yet (ActiveAt > now)
//	current  signing: the key with the greatest ActiveAt <= now
//	retired  replaced by a successor that signs now; still published so
//	         the tokens it signed keep verifying
//	deleted  once its successor has signed for Retention, by which time
//	         every token it signed has expired
//
// Maintain moves keys along this path. When the current key is older than
// RotationPeriod it adds a next key that starts signing PublishLead later,
// so relying parties that cache the JWKS learn the key before any token
// carries its kid. The store's AddSigningKey is a conditional insert, so
// processes that rotate at the same moment add one key between them.
//
// Private keys are unsealed and parsed once per process and cached. Signer,
// PublicKeys and JWKS read that cache and refresh it from the store when it
// is older than RefreshInterval, so a rotation made by another process is
// seen here within that interval.
package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/asnidp/asnidp/internal/seal"
	"github.com/asnidp/asnidp/storage"
)

// MinBits is the smallest RSA modulus accepted for a signing key.
const MinBits = 2048

// Algorithms are the signature algorithms asnidp keeps keys for. Each has
// its own series of keys with the same rotation rules; RS256 is the
// default for clients that register none.
var Algorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

var (
	// ErrNotInitialized is returned by Signer, PublicKeys and JWKS before
	// Init has loaded the keys.
	ErrNotInitialized = errors.New("signing keys not initialized")
	// ErrNoSigningKey means the store holds no signing key at all.
	ErrNoSigningKey = errors.New("no signing key")
	// ErrRotationPending is returned by Rotate when a next key is already
	// published and not yet signing.
	ErrRotationPending = errors.New("a next signing key is already pending")
)

// Options configure a Manager. Zero fields take the documented defaults.
type Options struct {
	// Algorithms are the key series to keep, each with a first key made by
	// Init and rotated by Maintain: default all of Algorithms.
	Algorithms []jose.SignatureAlgorithm
	// Bits is the RSA modulus size of new RS256 keys: default 2048, at
	// least MinBits.
	Bits int
	// RotationPeriod is how long a key signs before a successor is added:
	// default 30 days.
	RotationPeriod time.Duration
	// PublishLead is how long a new key is published before it signs:
	// default 1h. It must cover the JWKS caches of relying parties and be
	// at least RefreshInterval, so every process has loaded the key before
	// any of them signs with it.
	PublishLead time.Duration
	// Retention is how long a replaced key stays published after its
	// successor starts signing, then it is deleted: default 1h. It must be
	// at least the longest token lifetime (plus the clock skew between
	// processes), or tokens stop verifying before they expire.
	Retention time.Duration
	// RefreshInterval bounds how stale the in-memory key set may get:
	// default 30s.
	RefreshInterval time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Rand supplies the random key IDs; default crypto/rand. Key
	// generation always draws from crypto/rand (the standard library
	// ignores any other reader since Go 1.26).
	Rand io.Reader
	// Logger receives errors of background refreshes and of Run; default
	// slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Algorithms == nil {
		o.Algorithms = Algorithms
	}
	if o.Bits == 0 {
		o.Bits = MinBits
	}
	if o.RotationPeriod == 0 {
		o.RotationPeriod = 30 * 24 * time.Hour
	}
	if o.PublishLead == 0 {
		o.PublishLead = time.Hour
	}
	if o.Retention == 0 {
		o.Retention = time.Hour
	}
	if o.RefreshInterval == 0 {
		o.RefreshInterval = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// validate reports every bad option at once.
func (o Options) validate() error {
	var errs []error
	for _, alg := range o.Algorithms {
		if !slices.Contains(Algorithms, alg) {
			errs = append(errs, fmt.Errorf("algorithm %q is not one of %v", alg, Algorithms))
		}
	}
	if len(o.Algorithms) == 0 {
		errs = append(errs, errors.New("no signing algorithm"))
	}
	if o.Bits < MinBits {
		errs = append(errs, fmt.Errorf("key size %d bits is below the minimum of %d", o.Bits, MinBits))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"rotation period", o.RotationPeriod},
		{"publish lead", o.PublishLead},
		{"retention", o.Retention},
		{"refresh interval", o.RefreshInterval},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v is negative", d.name, d.v))
		}
	}
	if o.PublishLead < o.RefreshInterval {
		errs = append(errs, fmt.Errorf("publish lead %v is shorter than the refresh interval %v: "+
			"a process could sign with a key that another process does not publish yet", o.PublishLead, o.RefreshInterval))
	}
	return errors.Join(errs...)
}

// Key is a signing key as the token issuer uses it. A Key returned by the
// Manager is shared: callers must not modify it.
type Key struct {
	ID        string
	Algorithm jose.SignatureAlgorithm
	Private   crypto.Signer // *rsa.PrivateKey for RS256, *ecdsa.PrivateKey for ES256
}

// Manager owns the signing keys of one process. Its methods are safe for
// concurrent use.
type Manager struct {
	store  storage.KeyStore
	sealer *seal.Sealer
	opts   Options
	optErr error

	// set is the loaded key set; nil until the first load.
	set atomic.Pointer[keySet]
	// reloadMu makes loads from the store one at a time. The hot path
	// only tries it, so at most one caller waits for the store while the
	// others keep using the cached set.
	reloadMu sync.Mutex
	// refreshAfter is when (Unix nanoseconds) the hot path next reloads.
	refreshAfter atomic.Int64
}

// NewManager returns a Manager over store. Bad options are reported by
// Init, Rotate and Maintain.
func NewManager(store storage.KeyStore, sealer *seal.Sealer, opts Options) *Manager {
	opts = opts.withDefaults()
	m := &Manager{store: store, sealer: sealer, opts: opts}
	if err := opts.validate(); err != nil {
		m.optErr = fmt.Errorf("signing key options: %w", err)
	}
	return m
}

// Init loads and unseals every stored key, after creating the first key
// of each algorithm (signing at once) that the store has none of. A key that does not unseal or
// parse, for example because the master key changed or a row was altered,
// is an error naming its kid: the process must not start, as a key of its
// own would make tokens that other processes cannot verify.
func (m *Manager) Init(ctx context.Context) error {
	if m.optErr != nil {
		return m.optErr
	}
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	if _, _, err := m.loadOrAddFirstLocked(ctx); err != nil {
		return fmt.Errorf("init signing keys: %w", err)
	}
	return nil
}

// loadOrAddFirstLocked reloads the keys and, for each algorithm the store
// has no key of, adds the first one. It returns the keys as loaded before
// any was added, and whether one was.
func (m *Manager) loadOrAddFirstLocked(ctx context.Context) (*keySet, bool, error) {
	set, err := m.reloadLocked(ctx)
	if err != nil {
		return nil, false, err
	}
	added := false
	for _, alg := range m.opts.Algorithms {
		if len(set.byAlg[alg]) > 0 {
			continue
		}
		if err := m.addFirstLocked(ctx, alg); err != nil {
			return nil, false, err
		}
		added = true
	}
	return set, added, nil
}

// addFirstLocked stores a first key of alg that signs at once, unless
// another process stored one meanwhile, and loads the result.
func (m *Manager) addFirstLocked(ctx context.Context, alg jose.SignatureAlgorithm) error {
	now := m.opts.Now()
	if _, err := m.add(ctx, alg, now, now, firstKeyNotBefore); err != nil {
		return err
	}
	set, err := m.reloadLocked(ctx)
	if err != nil {
		return err
	}
	if len(set.byAlg[alg]) == 0 {
		return fmt.Errorf("load first %s signing key: %w", alg, ErrNoSigningKey)
	}
	return nil
}

// Signer returns the key of alg that signs now: the one of alg with the
// greatest ActiveAt not after now.
func (m *Manager) Signer(ctx context.Context, alg jose.SignatureAlgorithm) (*Key, error) {
	now := m.opts.Now()
	set, err := m.current(ctx, now)
	if err != nil {
		return nil, err
	}
	keys := set.byAlg[alg]
	i := signerIndex(keys, now)
	if i < 0 {
		return nil, fmt.Errorf("%s: %w", alg, ErrNoSigningKey)
	}
	return keys[i].key, nil
}

// PublicKeys returns every published key (use "sig", its alg and kid),
// ordered by ActiveAt, oldest first.
func (m *Manager) PublicKeys(ctx context.Context) ([]jose.JSONWebKey, error) {
	set, err := m.current(ctx, m.opts.Now())
	if err != nil {
		return nil, err
	}
	return slices.Clone(set.public), nil
}

// JWKS returns the published keys as a JSON Web Key Set document. The
// bytes are rendered once per change of the key set and shared between
// callers, who must not modify them.
func (m *Manager) JWKS(ctx context.Context) ([]byte, error) {
	set, err := m.current(ctx, m.opts.Now())
	if err != nil {
		return nil, err
	}
	return set.jwks, nil
}

// current returns the cached key set, first reloading it when it is due
// and no other caller is reloading already. A failed reload is logged and
// the cached set kept: a short database outage must not stop the keys
// already loaded from signing.
func (m *Manager) current(ctx context.Context, now time.Time) (*keySet, error) {
	set := m.set.Load()
	if set == nil {
		return nil, ErrNotInitialized
	}
	if now.UnixNano() < m.refreshAfter.Load() || !m.reloadMu.TryLock() {
		return set, nil
	}
	defer m.reloadMu.Unlock()
	if now.UnixNano() < m.refreshAfter.Load() {
		return m.set.Load(), nil // reloaded by the caller that held the lock
	}
	// Back off before trying, so a failing store is asked once per
	// interval rather than once per token.
	m.refreshAfter.Store(now.Add(m.opts.RefreshInterval).UnixNano())
	fresh, err := m.reloadLocked(ctx)
	if err != nil {
		if ctx.Err() == nil {
			m.opts.Logger.ErrorContext(ctx, "reload signing keys", "err", err)
		}
		return set, nil
	}
	return fresh, nil
}

// keySet is an immutable snapshot of the stored keys, unsealed.
type keySet struct {
	keys   []*entry // ordered by ActiveAt, oldest first
	byAlg  map[jose.SignatureAlgorithm][]*entry
	public []jose.JSONWebKey
	jwks   []byte
}

// byAlgorithm splits keys, keeping their order, into one series per
// algorithm: each series has its own schedule.
func byAlgorithm(keys []*entry) map[jose.SignatureAlgorithm][]*entry {
	out := make(map[jose.SignatureAlgorithm][]*entry, len(Algorithms))
	for _, e := range keys {
		out[e.key.Algorithm] = append(out[e.key.Algorithm], e)
	}
	return out
}

// entry is one loaded key with the stored bytes it came from, so a reload
// reuses it only while its row is unchanged.
type entry struct {
	key       *Key
	public    jose.JSONWebKey
	createdAt time.Time
	activeAt  time.Time
	sealed    []byte
	publicJWK []byte
}

func (e *entry) sameRow(r *storage.SigningKey) bool {
	return e.key.ID == r.ID && string(e.key.Algorithm) == r.Algorithm &&
		e.createdAt.Equal(r.CreatedAt) && e.activeAt.Equal(r.ActiveAt) &&
		bytes.Equal(e.sealed, r.PrivateSealed) && bytes.Equal(e.publicJWK, r.PublicJWK)
}

// reloadLocked reads every stored key, unseals the ones not cached yet and
// publishes the new set. Any key that fails to load fails the whole reload
// and leaves the cached set in place. The caller holds reloadMu.
func (m *Manager) reloadLocked(ctx context.Context) (*keySet, error) {
	rows, err := m.store.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	old := m.set.Load()
	cached := map[string]*entry{}
	if old != nil {
		for _, e := range old.keys {
			cached[e.key.ID] = e
		}
	}
	keys := make([]*entry, 0, len(rows))
	for _, r := range rows {
		if e := cached[r.ID]; e != nil && e.sameRow(r) {
			keys = append(keys, e)
			continue
		}
		e, err := m.open(r)
		if err != nil {
			return nil, err
		}
		keys = append(keys, e)
	}
	// The store orders by ActiveAt already; sorting again keeps the
	// schedule right whatever the engine does with equal times.
	slices.SortStableFunc(keys, func(a, b *entry) int { return a.activeAt.Compare(b.activeAt) })

	m.refreshAfter.Store(m.opts.Now().Add(m.opts.RefreshInterval).UnixNano())
	if old != nil && slices.Equal(old.keys, keys) {
		return old, nil
	}
	set := &keySet{keys: keys, byAlg: byAlgorithm(keys), public: make([]jose.JSONWebKey, len(keys))}
	for i, e := range keys {
		set.public[i] = e.public
	}
	set.jwks, err = json.Marshal(jose.JSONWebKeySet{Keys: set.public})
	if err != nil {
		return nil, fmt.Errorf("render JWKS: %w", err)
	}
	m.set.Store(set)
	return set, nil
}

// signerIndex returns the index of the key that signs at now among keys of
// one algorithm ordered by ActiveAt: the last one active at now. When none is active
// yet it returns the first key: that happens only in a process whose clock
// runs behind the one that created the first key, and that key is already
// published. It returns -1 for no keys.
func signerIndex[T interface{ activeAtTime() time.Time }](keys []T, now time.Time) int {
	for i := len(keys) - 1; i >= 0; i-- {
		if !keys[i].activeAtTime().After(now) {
			return i
		}
	}
	if len(keys) == 0 {
		return -1
	}
	return 0
}

func (e *entry) activeAtTime() time.Time { return e.activeAt }
