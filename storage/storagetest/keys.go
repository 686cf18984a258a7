package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/asnidp/asnidp/storage"
)

func testSigningKeys(t *testing.T, s storage.Store) {
	ctx := t.Context()
	keys, err := s.SigningKeys(ctx)
	if err != nil || len(keys) != 0 {
		t.Fatalf("SigningKeys() on an empty store = %v, %v; want none", keys, err)
	}

	k1 := newSigningKey("k1", t0)
	k2 := newSigningKey("k2", t0.Add(24*time.Hour))
	steps := []struct {
		name      string
		key       *storage.SigningKey
		notBefore time.Time
		want      bool
	}{
		{"first key", k1, t0.Add(-time.Hour), true},
		// k1 activates after notBefore: someone already added the next key.
		{"next key already there", k2, t0.Add(-time.Minute), false},
		{"next key due", k2, t0, true},
		{"k2 activates later", newSigningKey("k3", t0.Add(48*time.Hour)), t0.Add(time.Hour), false},
	}
	for _, st := range steps {
		got, err := s.AddSigningKey(ctx, st.key, st.notBefore)
		if err != nil {
			t.Fatalf("%s: AddSigningKey(%s, %v) = %v", st.name, st.key.ID, st.notBefore, err)
		}
		if got != st.want {
			t.Errorf("%s: AddSigningKey(%s, %v) = %v, want %v", st.name, st.key.ID, st.notBefore, got, st.want)
		}
	}
	// Same ActiveAt as k1: ties order by ID.
	k0 := newSigningKey("k0", t0)
	if ok, err := s.AddSigningKey(ctx, k0, t0.Add(48*time.Hour)); !ok || err != nil {
		t.Fatalf("AddSigningKey(k0) = %v, %v; want true, nil", ok, err)
	}

	keys, err = s.SigningKeys(ctx)
	if err != nil {
		t.Fatalf("SigningKeys() = %v", err)
	}
	if diff := cmp.Diff([]*storage.SigningKey{k0, k1, k2}, keys, cmpOpts...); diff != "" {
		t.Errorf("SigningKeys() mismatch (-want +got):\n%s", diff)
	}

	dup := newSigningKey("k1", t0.Add(72*time.Hour))
	_, err = s.AddSigningKey(ctx, dup, t0.Add(96*time.Hour))
	wantErr(t, "AddSigningKey with a taken ID", err, storage.ErrAlreadyExists)

	must(t, s.DeleteSigningKey(ctx, "k1"))
	wantErr(t, "DeleteSigningKey(k1) again", s.DeleteSigningKey(ctx, "k1"), storage.ErrNotFound)
	keys, err = s.SigningKeys(ctx)
	if err != nil {
		t.Fatalf("SigningKeys() = %v", err)
	}
	if diff := cmp.Diff([]*storage.SigningKey{k0, k2}, keys, cmpOpts...); diff != "" {
		t.Errorf("SigningKeys() after delete mismatch (-want +got):\n%s", diff)
	}
}

// I5: processes starting together add one key between them. Several
// rounds, so that later ones run on connections already open and overlap.
func testAddSigningKeyRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const rounds, n = 5, 10
	for r := range rounds {
		notBefore := t0.Add(time.Duration(r) * 24 * time.Hour)
		added := make([]bool, n)
		errs := race(n, func(i int) error {
			var err error
			key := newSigningKey(fmt.Sprintf("k%d-%d", r, i), notBefore.Add(time.Hour))
			added[i], err = s.AddSigningKey(ctx, key, notBefore)
			return err
		})
		tally(t, "AddSigningKey", errs, nil)
		inserted := 0
		for _, ok := range added {
			if ok {
				inserted++
			}
		}
		keys, err := s.SigningKeys(ctx)
		if err != nil {
			t.Fatalf("SigningKeys() = %v", err)
		}
		if inserted != 1 || len(keys) != r+1 {
			t.Errorf("round %d, %d concurrent AddSigningKey: %d reported inserted, %d stored in all; want 1, %d",
				r, n, inserted, len(keys), r+1)
		}
	}
}

// Each algorithm's keys rotate on their own: a pending RS256 key does not
// stop the first ES256 key, and a pending ES256 key does not stop the next
// RS256 one; within one algorithm the check still holds.
func testAddSigningKeyPerAlgorithm(t *testing.T, s storage.Store) {
	rsa1 := newSigningKey("rsa1", t0.Add(24*time.Hour)) // pending
	must1(t, s, rsa1, t0, true)
	ec1 := newSigningKey("ec1", t0.Add(24*time.Hour))
	ec1.Algorithm = "ES256"
	must1(t, s, ec1, t0, true)
	ec2 := newSigningKey("ec2", t0.Add(48*time.Hour))
	ec2.Algorithm = "ES256"
	must1(t, s, ec2, t0, false) // ec1 is pending
	rsa2 := newSigningKey("rsa2", t0.Add(48*time.Hour))
	must1(t, s, rsa2, t0.Add(24*time.Hour), true) // rsa1 signs by then; ec1 does not count
}

func must1(t *testing.T, s storage.Store, k *storage.SigningKey, notBefore time.Time, want bool) {
	t.Helper()
	got, err := s.AddSigningKey(t.Context(), k, notBefore)
	if err != nil || got != want {
		t.Fatalf("AddSigningKey(%s %s, %v) = %v, %v; want %v, nil", k.Algorithm, k.ID, notBefore, got, err, want)
	}
}
