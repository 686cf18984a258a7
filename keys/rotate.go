package keys

import (
	"context"
	"errors"
	"fmt"
	"time"

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

func infos(rows []*storage.SigningKey, now time.Time) []KeyInfo {
	out := make([]KeyInfo, len(rows))
	for i, r := range rows {
		out[i] = KeyInfo{ID: r.ID, Algorithm: r.Algorithm, CreatedAt: r.CreatedAt, ActiveAt: r.ActiveAt}
	}
	cur := signerIndex(out, now)
	for i := range out {
		switch {
		case i == cur:
			out[i].Status = StatusCurrent
		case out[i].ActiveAt.After(now):
			out[i].Status = StatusNext
		default:
			out[i].Status = StatusRetired
		}
	}
	return out
}

// Rotate adds a next key that is published now and signs from
// now+PublishLead, and returns it. When a next key is pending already,
// Rotate adds none and returns that key with an error wrapping
// ErrRotationPending. Into an empty store it adds a key that signs at once,
// as Init does. Rotate first loads every stored key, so a process holding
// the wrong master key fails here instead of adding a key that the others
// cannot open.
func (m *Manager) Rotate(ctx context.Context) (KeyInfo, error) {
	if m.optErr != nil {
		return KeyInfo{}, m.optErr
	}
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	set, err := m.reloadLocked(ctx)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("rotate signing key: %w", err)
	}
	if len(set.keys) == 0 {
		if err := m.addFirstLocked(ctx); err != nil {
			return KeyInfo{}, fmt.Errorf("rotate signing key: %w", err)
		}
		return m.newestLocked()
	}
	now := m.opts.Now()
	if next := set.keys[len(set.keys)-1]; next.activeAt.After(now) {
		return m.pendingInfo(set, now)
	}
	k, err := m.add(ctx, now, now.Add(m.opts.PublishLead), now)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("rotate signing key: %w", err)
	}
	set, err = m.reloadLocked(ctx)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("rotate signing key: %w", err)
	}
	if k == nil {
		// Another process added a next key between our read and insert.
		return m.pendingInfo(set, m.opts.Now())
	}
	return m.newestLocked()
}

// pendingInfo reports the newest key of set as the pending one.
func (m *Manager) pendingInfo(set *keySet, now time.Time) (KeyInfo, error) {
	e := set.keys[len(set.keys)-1]
	info := set.info(now)[len(set.keys)-1]
	return info, fmt.Errorf("rotate signing key: key %q signs from %s: %w",
		e.key.ID, e.activeAt.UTC().Format(time.RFC3339), ErrRotationPending)
}

// newestLocked returns the info of the newest loaded key.
func (m *Manager) newestLocked() (KeyInfo, error) {
	set := m.set.Load()
	if set == nil || len(set.keys) == 0 {
		return KeyInfo{}, ErrNoSigningKey
	}
	return set.info(m.opts.Now())[len(set.keys)-1], nil
}

func (s *keySet) info(now time.Time) []KeyInfo {
	rows := make([]*storage.SigningKey, len(s.keys))
	for i, e := range s.keys {
		rows[i] = &storage.SigningKey{ID: e.key.ID, Algorithm: string(e.key.Algorithm), CreatedAt: e.createdAt, ActiveAt: e.activeAt}
	}
	return infos(rows, now)
}

// Maintain reloads the keys from the store, adds a next key when the
// current one has signed for RotationPeriod and none is pending, and
// deletes each key whose successor has signed for Retention. It does
// nothing else while any stored key fails to load. Processes may run it at
// the same time: they add one key between them, and deleting a key another
// process deleted already is not an error.
func (m *Manager) Maintain(ctx context.Context) error {
	if m.optErr != nil {
		return m.optErr
	}
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	set, err := m.loadOrAddFirstLocked(ctx)
	if err != nil {
		return fmt.Errorf("maintain signing keys: %w", err)
	}
	if len(set.keys) == 0 { // the first key was just added
		return nil
	}
	now := m.opts.Now()
	changed := false
	if m.rotationDue(set, now) {
		k, err := m.add(ctx, now, now.Add(m.opts.PublishLead), now)
		if err != nil {
			return fmt.Errorf("maintain signing keys: %w", err)
		}
		changed = k != nil
	}
	for _, e := range m.expired(set, now) {
		err := m.store.DeleteSigningKey(ctx, e.key.ID)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("maintain signing keys: delete key %q: %w", e.key.ID, err)
		}
		m.opts.Logger.InfoContext(ctx, "signing key deleted", "kid", e.key.ID)
		changed = true
	}
	if changed {
		if _, err := m.reloadLocked(ctx); err != nil {
			return fmt.Errorf("maintain signing keys: %w", err)
		}
	}
	return nil
}

// rotationDue reports whether the current key has signed for
// RotationPeriod with no next key pending.
func (m *Manager) rotationDue(set *keySet, now time.Time) bool {
	i := signerIndex(set.keys, now)
	if i < 0 || i != len(set.keys)-1 || set.keys[i].activeAt.After(now) {
		return false // a next key is pending
	}
	return now.Sub(set.keys[i].activeAt) >= m.opts.RotationPeriod
}

// expired returns the keys whose successor has signed for Retention: no
// unexpired token can carry their kid any more.
func (m *Manager) expired(set *keySet, now time.Time) []*entry {
	var out []*entry
	for i := 0; i+1 < len(set.keys); i++ {
		succ := set.keys[i+1].activeAt
		if !succ.After(now) && now.Sub(succ) >= m.opts.Retention {
			out = append(out, set.keys[i])
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
