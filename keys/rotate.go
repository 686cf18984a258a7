package keys

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/asnidp/asnidp/storage"
)

// Key statuses reported by List.
const (
	StatusNext    = "next"    // published, signs from ActiveAt
	StatusCurrent = "current" // signs now
	StatusRetired = "retired" // replaced, published until its successor has signed for Retention
)

// KeyInfo describes a stored key without its private part.
type KeyInfo struct {
	ID        string
	Algorithm string
	Status    string
	CreatedAt time.Time
	ActiveAt  time.Time
}

func (k KeyInfo) activeAtTime() time.Time { return k.ActiveAt }

// List returns every stored key, ordered by ActiveAt, oldest first, with
// its status at now. It reads the store and opens no private key, so it
// works without Init.
func (m *Manager) List(ctx context.Context) ([]KeyInfo, error) {
	rows, err := m.store.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	return infos(rows, m.opts.Now()), nil
}

// infos describes rows (ordered by ActiveAt) with their status at now,
// each among the keys of its own algorithm.
func infos(rows []*storage.SigningKey, now time.Time) []KeyInfo {
	out := make([]KeyInfo, len(rows))
	series := map[string][]int{} // algorithm -> indexes into out
	for i, r := range rows {
		out[i] = KeyInfo{ID: r.ID, Algorithm: r.Algorithm, CreatedAt: r.CreatedAt, ActiveAt: r.ActiveAt}
		series[r.Algorithm] = append(series[r.Algorithm], i)
	}
	for _, idx := range series {
		keys := make([]KeyInfo, len(idx))
		for j, i := range idx {
			keys[j] = out[i]
		}
		cur := signerIndex(keys, now)
		for j, i := range idx {
			switch {
			case j == cur:
				out[i].Status = StatusCurrent
			case out[i].ActiveAt.After(now):
				out[i].Status = StatusNext
			default:
				out[i].Status = StatusRetired
			}
		}
	}
	return out
}

// Rotate adds a next key of alg that is published now and signs from
// now+PublishLead, and returns it. When a next key of alg is pending
// already, Rotate adds none and returns that key with an error wrapping
// ErrRotationPending. When the store has no key of alg it adds one that
// signs at once, as Init does. Rotate first loads every stored key, so a
// process holding the wrong master key fails here instead of adding a key
// that the others cannot open.
func (m *Manager) Rotate(ctx context.Context, alg jose.SignatureAlgorithm) (KeyInfo, error) {
	if m.optErr != nil {
		return KeyInfo{}, m.optErr
	}
	if !slices.Contains(m.opts.Algorithms, alg) {
		return KeyInfo{}, fmt.Errorf("rotate signing key: algorithm %q is not one of %v", alg, m.opts.Algorithms)
	}
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	set, err := m.reloadLocked(ctx)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("rotate signing key: %w", err)
	}
	if len(set.byAlg[alg]) == 0 {
		if err := m.addFirstLocked(ctx, alg); err != nil {
			return KeyInfo{}, fmt.Errorf("rotate signing key: %w", err)
		}
		return m.newestLocked(alg)
	}
	now := m.opts.Now()
	if keys := set.byAlg[alg]; keys[len(keys)-1].activeAt.After(now) {
		return m.pendingInfo(set, alg, now)
	}
	k, err := m.add(ctx, alg, now, now.Add(m.opts.PublishLead), now)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("rotate signing key: %w", err)
	}
	set, err = m.reloadLocked(ctx)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("rotate signing key: %w", err)
	}
	if k == nil {
		// Another process added a next key between our read and insert.
		return m.pendingInfo(set, alg, m.opts.Now())
	}
	return m.newestLocked(alg)
}

// pendingInfo reports the newest key of alg in set as the pending one.
func (m *Manager) pendingInfo(set *keySet, alg jose.SignatureAlgorithm, now time.Time) (KeyInfo, error) {
	info := newestInfo(set, alg, now)
	return info, fmt.Errorf("rotate signing key: %s key %q signs from %s: %w",
		alg, info.ID, info.ActiveAt.UTC().Format(time.RFC3339), ErrRotationPending)
}

// newestLocked returns the info of the newest loaded key of alg.
func (m *Manager) newestLocked(alg jose.SignatureAlgorithm) (KeyInfo, error) {
	set := m.set.Load()
	if set == nil || len(set.byAlg[alg]) == 0 {
		return KeyInfo{}, ErrNoSigningKey
	}
	return newestInfo(set, alg, m.opts.Now()), nil
}

func newestInfo(set *keySet, alg jose.SignatureAlgorithm, now time.Time) KeyInfo {
	keys := set.byAlg[alg]
	rows := make([]*storage.SigningKey, len(keys))
	for i, e := range keys {
		rows[i] = &storage.SigningKey{ID: e.key.ID, Algorithm: string(e.key.Algorithm), CreatedAt: e.createdAt, ActiveAt: e.activeAt}
	}
	return infos(rows, now)[len(rows)-1]
}

// Maintain reloads the keys from the store and, for each algorithm, adds a
// next key when the current one has signed for RotationPeriod and none is
// pending, and deletes each key whose successor has signed for Retention.
// It does nothing else while any stored key fails to load. Processes may
// run it at the same time: they add one key between them, and deleting a
// key another process deleted already is not an error.
func (m *Manager) Maintain(ctx context.Context) error {
	if m.optErr != nil {
		return m.optErr
	}
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	set, changed, err := m.loadOrAddFirstLocked(ctx)
	if err != nil {
		return fmt.Errorf("maintain signing keys: %w", err)
	}
	now := m.opts.Now()
	for _, alg := range m.opts.Algorithms {
		keys := set.byAlg[alg]
		if rotationDue(keys, now, m.opts.RotationPeriod) {
			k, err := m.add(ctx, alg, now, now.Add(m.opts.PublishLead), now)
			if err != nil {
				return fmt.Errorf("maintain signing keys: %w", err)
			}
			changed = changed || k != nil
		}
		for _, e := range expired(keys, now, m.opts.Retention) {
			err := m.store.DeleteSigningKey(ctx, e.key.ID)
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("maintain signing keys: delete key %q: %w", e.key.ID, err)
			}
			m.opts.Logger.InfoContext(ctx, "signing key deleted", "kid", e.key.ID, "alg", alg)
			changed = true
		}
	}
	if changed {
		if _, err := m.reloadLocked(ctx); err != nil {
			return fmt.Errorf("maintain signing keys: %w", err)
		}
	}
	return nil
}

// rotationDue reports whether the current key of one algorithm's series
// has signed for period with no next key pending.
func rotationDue(keys []*entry, now time.Time, period time.Duration) bool {
	i := signerIndex(keys, now)
	if i < 0 || i != len(keys)-1 || keys[i].activeAt.After(now) {
		return false // none yet, or a next key is pending
	}
	return now.Sub(keys[i].activeAt) >= period
}

// expired returns the keys of one algorithm's series whose successor has
// signed for retention: no unexpired token can carry their kid any more.
func expired(keys []*entry, now time.Time, retention time.Duration) []*entry {
	var out []*entry
	for i := 0; i+1 < len(keys); i++ {
		succ := keys[i+1].activeAt
		if !succ.After(now) && now.Sub(succ) >= retention {
			out = append(out, keys[i])
		}
	}
	return out
}

// Run calls Maintain at once and then every interval (RefreshInterval when
// every is not positive) until ctx is done, logging its errors.
func (m *Manager) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = m.opts.RefreshInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := m.Maintain(ctx); err != nil && ctx.Err() == nil {
			m.opts.Logger.ErrorContext(ctx, "maintain signing keys", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
