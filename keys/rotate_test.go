package keys

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/asnidp/asnidp/storage"
)

// H7, I5: rotation publishes the next key before it signs, in this process
// and (within RefreshInterval) in another; tokens of the old key verify
// until its successor has signed for Retention, then the old key is gone.
func TestRotation_H7_PublishBeforeSignRetainUntilExpiry(t *testing.T) {
	c := newClock()
	path := filepath.Join(t.TempDir(), "asnidp.db")
	master := newMasterKey(t)
	opts := testOptions(t, c)
	m := newManager(t, openStore(t, path), newSealer(t, master), opts)
	// other is a second process on the same database.
	other := newManager(t, openStore(t, path), newSealer(t, master), opts)
	period, lead, retention, refresh := m.opts.RotationPeriod, m.opts.PublishLead, m.opts.Retention, m.opts.RefreshInterval

	k1 := signerID(t, m)
	tok1 := sign(t, m, `{"sub":"one"}`)

	c.Advance(period - time.Second)
	maintain(t, m)
	if got, want := listStatus(t, m), []string{k1 + ":current"}; !cmp.Equal(got, want) {
		t.Fatalf("List one second before rotation is due = %v, want %v", got, want)
	}

	c.Advance(time.Second)
	maintain(t, m)
	infos, err := m.List(t.Context())
	if err != nil || len(infos) != 2 {
		t.Fatalf("List after rotation = %v, %v; want 2 keys", infos, err)
	}
	k2 := infos[1].ID
	if k2 == k1 {
		t.Fatalf("rotation reused kid %q", k1)
	}
	if want := c.Now().Add(lead); !infos[1].ActiveAt.Equal(want) {
		t.Errorf("next key ActiveAt = %v, want %v", infos[1].ActiveAt, want)
	}
	if got, want := listStatus(t, m), []string{k1 + ":current", k2 + ":next"}; !cmp.Equal(got, want) {
		t.Errorf("List after rotation = %v, want %v", got, want)
	}
	// Published at once, not signing yet.
	if got, want := publicIDs(t, m), []string{k1, k2}; !cmp.Equal(got, want) {
		t.Errorf("PublicKeys after rotation = %v, want %v", got, want)
	}
	if got, want := jwksIDs(t, m), []string{k1, k2}; !cmp.Equal(got, want) {
		t.Errorf("JWKS after rotation = %v, want %v", got, want)
	}
	if got := signerID(t, m); got != k1 {
		t.Errorf("Signer right after rotation = %q, want the old key %q", got, k1)
	}
	// The other process learns of the key within RefreshInterval, long
	// before the key signs.
	c.Advance(refresh)
	if got, want := jwksIDs(t, other), []string{k1, k2}; !cmp.Equal(got, want) {
		t.Errorf("other process JWKS one refresh interval after rotation = %v, want %v", got, want)
	}

	c.Advance(lead - refresh - time.Second)
	if got := signerID(t, m); got != k1 {
		t.Errorf("Signer one second before the next key is active = %q, want %q", got, k1)
	}
	c.Advance(time.Second)
	for name, mgr := range map[string]*Manager{"this": m, "other": other} {
		if got := signerID(t, mgr); got != k2 {
			t.Errorf("%s process Signer once the next key is active = %q, want %q", name, got, k2)
		}
	}
	if got, want := listStatus(t, m), []string{k1 + ":retired", k2 + ":current"}; !cmp.Equal(got, want) {
		t.Errorf("List once the next key is active = %v, want %v", got, want)
	}
	tok2 := sign(t, m, `{"sub":"two"}`)

	c.Advance(retention - time.Second)
	maintain(t, m)
	for _, tok := range []string{tok1, tok2} {
		if _, err := verify(t, m, tok); err != nil {
			t.Errorf("verify token within retention: %v", err)
		}
	}

	c.Advance(time.Second)
	maintain(t, m)
	if got, want := listStatus(t, m), []string{k2 + ":current"}; !cmp.Equal(got, want) {
		t.Errorf("List after retention = %v, want %v", got, want)
	}
	if got, want := jwksIDs(t, m), []string{k2}; !cmp.Equal(got, want) {
		t.Errorf("JWKS after retention = %v, want %v", got, want)
	}
	if _, err := verify(t, m, tok1); !errors.Is(err, errUnknownKID) {
		t.Errorf("verify old-key token after retention error = %v, want %v", err, errUnknownKID)
	}
	if got, err := verify(t, m, tok2); err != nil || got != `{"sub":"two"}` {
		t.Errorf("verify new-key token = %q, %v; want its payload", got, err)
	}
	// The other process deletes nothing more and drops the key from its
	// JWKS on its next refresh.
	maintain(t, other)
	c.Advance(refresh)
	if got, want := jwksIDs(t, other), []string{k2}; !cmp.Equal(got, want) {
		t.Errorf("other process JWKS after retention = %v, want %v", got, want)
	}
}

// An operator's rotation adds a next key that signs after PublishLead; a
// second rotation while it is pending adds nothing and names it.
func TestRotate_Pending(t *testing.T) {
	c := newClock()
	store := newStore(t)
	m := newManager(t, store, newSealer(t, newMasterKey(t)), testOptions(t, c))
	k1 := signerID(t, m)

	c.Advance(time.Minute)
	next, err := m.Rotate(t.Context(), jose.RS256)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	want := KeyInfo{ID: next.ID, Algorithm: "RS256", Status: StatusNext, CreatedAt: c.Now(), ActiveAt: c.Now().Add(m.opts.PublishLead)}
	if diff := cmp.Diff(want, next); diff != "" || next.ID == k1 {
		t.Errorf("Rotate mismatch (-want +got):\n%s", diff)
	}
	if got, want := publicIDs(t, m), []string{k1, next.ID}; !cmp.Equal(got, want) {
		t.Errorf("PublicKeys after Rotate = %v, want %v", got, want)
	}

	c.Advance(time.Minute)
	again, err := m.Rotate(t.Context(), jose.RS256)
	if !errors.Is(err, ErrRotationPending) {
		t.Errorf("second Rotate error = %v, want %v", err, ErrRotationPending)
	}
	if again.ID != next.ID {
		t.Errorf("second Rotate reported %q, want the pending key %q", again.ID, next.ID)
	}
	if rows := mustRows(t, store); len(rows) != 2 {
		t.Errorf("store has %d keys, want 2", len(rows))
	}
	// Maintenance does not rotate over a pending key either, even long
	// past the rotation period of the current one.
	c.Advance(m.opts.PublishLead - 2*time.Minute - time.Second)
	maintain(t, m)
	if rows := mustRows(t, store); len(rows) != 2 {
		t.Errorf("store has %d keys after Maintain, want 2", len(rows))
	}
}

// addRecorder is the real store, reporting each key it adds.
type addRecorder struct {
	storage.KeyStore
	added chan string
}

func (s addRecorder) AddSigningKey(ctx context.Context, k *storage.SigningKey, notBefore time.Time) (bool, error) {
	ok, err := s.KeyStore.AddSigningKey(ctx, k, notBefore)
	if ok {
		s.added <- k.ID
	}
	return ok, err
}

func TestRun_RotatesAndStops(t *testing.T) {
	c := newClock()
	store := addRecorder{KeyStore: newStore(t), added: make(chan string, 4)}
	m := newManager(t, store, newSealer(t, newMasterKey(t)), testOptions(t, c))
	first := <-store.added

	c.Advance(m.opts.RotationPeriod)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		m.Run(ctx, time.Hour)
		close(done)
	}()
	next := <-store.added
	cancel()
	<-done
	if got, want := listStatus(t, m), []string{first + ":current", next + ":next"}; !cmp.Equal(got, want) {
		t.Errorf("List after Run = %v, want %v", got, want)
	}
}

func maintain(t *testing.T, m *Manager) {
	t.Helper()
	if err := m.Maintain(t.Context()); err != nil {
		t.Fatalf("Maintain: %v", err)
	}
}
