package storagetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/asnidp/asnidp/storage"
)

// OpenShared opens two stores on one fresh database, as two processes
// sharing it have them, both reading the time from now. It returns them
// with the bound within which each sees the other's changes to clients.
type OpenShared func(t *testing.T, now func() time.Time) (a, b storage.Store, bound time.Duration)

// RunShared runs the tests that need two stores on one database.
func RunShared(t *testing.T, open OpenShared) {
	tests := []struct {
		name string
		run  func(t *testing.T, open OpenShared)
	}{
		{"Client/ChangesSeenAcrossStores_I6", testClientChangesAcrossStores},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, open) })
	}
}

// clock is a settable time for both stores of a shared test.
type clock struct {
	mu  sync.Mutex
	now time.Time
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

// I6: a client changed or removed through one store (the CLI, another
// `asnidp serve`) is seen by the other within the bound, however often the
// other read it before: a changed secret, a changed redirect URI and a
// removal. The store that made a change sees it at once.
func testClientChangesAcrossStores(t *testing.T, open OpenShared) {
	clk := &clock{now: t0}
	a, b, bound := open(t, clk.Now)
	ctx := t.Context()
	c := newClient("rp")
	c.SecretHash = "secret-1"
	must(t, a.CreateClient(ctx, c))

	// b reads (and may keep) the client, again and again within the bound.
	for range 3 {
		got, err := b.ClientByID(ctx, "rp")
		if err != nil || got.SecretHash != "secret-1" {
			t.Fatalf("b.ClientByID(rp) = %+v, %v; want secret-1", got, err)
		}
		clk.Advance(bound / 4)
	}
	// A caller changing what it got does not change what b answers next.
	got, _ := b.ClientByID(ctx, "rp")
	got.RedirectURIs[0] = "https://evil.example/cb"
	if again, err := b.ClientByID(ctx, "rp"); err != nil || again.RedirectURIs[0] == "https://evil.example/cb" {
		t.Errorf("b.ClientByID(rp) after the caller changed its copy = %+v, %v; want the stored redirect URI", again, err)
	}

	changed := newClient("rp")
	changed.SecretHash = "secret-2"
	changed.RedirectURIs = []string{"https://rp.example/new-cb"}
	must(t, a.UpsertClient(ctx, changed))
	if got, err := a.ClientByID(ctx, "rp"); err != nil || got.SecretHash != "secret-2" {
		t.Errorf("a.ClientByID(rp) right after a's own change = %+v, %v; want secret-2", got, err)
	}
	clk.Advance(bound)
	got, err := b.ClientByID(ctx, "rp")
	if err != nil || got.SecretHash != "secret-2" || got.RedirectURIs[0] != "https://rp.example/new-cb" {
		t.Errorf("b.ClientByID(rp) one bound after a changed it = %+v, %v; want secret-2 and the new redirect URI", got, err)
	}

	must(t, a.DeleteClient(ctx, "rp"))
	if _, err := a.ClientByID(ctx, "rp"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a.ClientByID(rp) right after a removed it = %v, want ErrNotFound", err)
	}
	clk.Advance(bound)
	if got, err := b.ClientByID(ctx, "rp"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("b.ClientByID(rp) one bound after a removed it = %+v, %v; want ErrNotFound", got, err)
	}

	// A client registered again under the old ID is seen with its new
	// secret, not a remembered one.
	again := newClient("rp")
	again.SecretHash = "secret-3"
	must(t, b.CreateClient(ctx, again))
	clk.Advance(bound)
	if got, err := a.ClientByID(ctx, "rp"); err != nil || got.SecretHash != "secret-3" {
		t.Errorf("a.ClientByID(rp) after b registered it again = %+v, %v; want secret-3", got, err)
	}
}
