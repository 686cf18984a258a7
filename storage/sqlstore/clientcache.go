package sqlstore

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/asnidp/asnidp/storage"
)

// DefaultClientCacheBound is how long a client change made by another
// process may go unseen by this one, unless Options says otherwise.
const DefaultClientCacheBound = time.Second

// clientCache keeps the clients read by ClientByID, so the token endpoint,
// which looks its client up twice per request, does not read and decode
// the row each time. Every change to the clients table increments
// client_generation in its transaction. An entry is used as is for up to
// bound after the generation was last read; after that the next lookup
// reads the generation (one small row) and drops every entry when it
// moved. So a change made through any Store is seen by every other one
// within bound, and by the Store that made it at once. Unknown IDs are
// not cached: the map holds registered clients only.
type clientCache struct {
	bound time.Duration
	now   func() time.Time

	mu sync.Mutex
	// gen is the generation the entries were read under; checked is when
	// it was last confirmed (the time before the read began).
	gen     int64
	checked time.Time
	entries map[string]*storage.Client
	// epoch counts this Store's own changes: a read that began before one
	// neither confirms nor fills the cache.
	epoch uint64
}

func newClientCache(bound time.Duration, now func() time.Time) *clientCache {
	return &clientCache{bound: bound, now: now, gen: -1, entries: map[string]*storage.Client{}}
}

// fresh returns the cached client when the generation was confirmed within
// bound.
func (c *clientCache) fresh(id string) *storage.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen < 0 || c.now().Sub(c.checked) >= c.bound {
		return nil
	}
	return c.entries[id]
}

// begin starts a read of the generation: it returns the time to confirm
// it with and the current epoch.
func (c *clientCache) begin() (time.Time, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now(), c.epoch
}

// confirm records the generation read at checked, dropping every entry
// when it moved, and returns the entry for id if one is still valid.
func (c *clientCache) confirm(epoch uint64, gen int64, checked time.Time, id string) *storage.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch != c.epoch {
		return nil
	}
	if gen != c.gen {
		clear(c.entries)
		c.gen = gen
	}
	if checked.After(c.checked) {
		c.checked = checked
	}
	return c.entries[id]
}

// put keeps cl if it was read under the current generation. The
// generation is read before the row, so a row read after a change it does
// not reflect cannot exist; one newer than its generation is dropped at
// the next confirm.
func (c *clientCache) put(epoch uint64, gen int64, cl *storage.Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch == c.epoch && gen == c.gen {
		c.entries[cl.ID] = cl
	}
}

// forget drops every entry: this Store changed a client.
func (c *clientCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
	c.gen = -1
	c.epoch++
}

// cloneClient copies c so that a caller changing its lists cannot change
// the cached one.
func cloneClient(c *storage.Client) *storage.Client {
	out := *c
	out.RedirectURIs = slices.Clone(c.RedirectURIs)
	out.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	out.GrantTypes = slices.Clone(c.GrantTypes)
	return &out
}

// clientGeneration reads the counter of client changes.
func clientGeneration(ctx context.Context, q sqlx.ExtContext) (int64, error) {
	var gen int64
	err := queryRow(ctx, q, `SELECT generation FROM client_generation WHERE id = 1`).Scan(&gen)
	return gen, err
}

// changeClients runs a change to the clients table with the increment of
// client_generation in one transaction, then forgets this Store's cached
// clients.
func (s *Store) changeClients(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	defer s.clients.forget()
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		_, err := exec(ctx, tx, `UPDATE client_generation SET generation = generation + 1 WHERE id = 1`)
		return err
	})
}
