package storagetest

import (
	"testing"
	"time"

	"github.com/asnidp/asnidp/storage"
)

// E4: a "Bukan saya" link works once, before it expires, and ends every
// session of its account with its tokens and any pending self-reset.
func testAlertToken(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "198609262015051001")))
	must(t, s.CreateSession(ctx, newSession("sess-1", "u1")))
	must(t, s.StartSelfReset(ctx, &storage.SelfReset{ID: "sr1", UserID: "u1", CodeHash: "c", CodeExpiresAt: t0.Add(time.Hour), CreatedAt: t0}))
	must(t, s.CreateAlertToken(ctx, &storage.AlertToken{TokenHash: "tok", UserID: "u1", Purpose: "new_device", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}))
	must(t, s.CreateAlertToken(ctx, &storage.AlertToken{TokenHash: "old", UserID: "u1", CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}))

	_, err := s.UseAlertToken(ctx, "old", t0.Add(time.Minute))
	wantErr(t, "UseAlertToken of an expired token", err, storage.ErrNotFound)
	_, err = s.UseAlertToken(ctx, "tampered", t0)
	wantErr(t, "UseAlertToken of an unknown token", err, storage.ErrNotFound)
	userID, err := s.UseAlertToken(ctx, "tok", t0.Add(time.Second))
	must(t, err)
	if userID != "u1" {
		t.Errorf("UseAlertToken user = %q, want u1", userID)
	}
	_, err = s.UseAlertToken(ctx, "tok", t0.Add(2*time.Second))
	wantErr(t, "UseAlertToken replayed", err, storage.ErrNotFound)
	if sess, err := s.SessionByID(ctx, "sess-1"); err != nil || sess.RevokedAt.IsZero() {
		t.Errorf("session after UseAlertToken: %+v, %v; want revoked", sess, err)
	}
	_, err = s.ActiveSelfReset(ctx, "u1")
	wantErr(t, "ActiveSelfReset after UseAlertToken", err, storage.ErrNotFound)
}

// A browser is new once per account; the answer says whether the
// account had signed in from another before.
func testRecordDevice(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "198609262015051001")))
	must(t, s.CreateUser(ctx, newUser("u2", "199001012022212002")))
	for i, tc := range []struct {
		user, device     string
		isNew, hadOthers bool
	}{
		{"u1", "d1", true, false},
		{"u1", "d1", false, false},
		{"u1", "d2", true, true},
		{"u2", "d1", true, false}, // the same browser, another account
		{"u1", "d2", false, true},
	} {
		isNew, hadOthers, err := s.RecordDevice(ctx, tc.user, tc.device, t0.Add(time.Duration(i)*time.Minute))
		must(t, err)
		if isNew != tc.isNew || hadOthers != tc.hadOthers {
			t.Errorf("RecordDevice(%s, %s) #%d = new %v, others %v; want %v, %v", tc.user, tc.device, i, isNew, hadOthers, tc.isNew, tc.hadOthers)
		}
	}
}

// A self-reset: the mailed code is checked within its attempts and
// lifetime, confirming sets the waiting period, and it completes once,
// only when due, voiding the recovery codes.
func testSelfReset(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "198609262015051001")))
	must(t, s.SetRecoveryCodes(ctx, "u1", []string{"r1"}, t0))
	_, err := s.ActiveSelfReset(ctx, "u1")
	wantErr(t, "ActiveSelfReset without one", err, storage.ErrNotFound)
	start := func(id string) {
		must(t, s.StartSelfReset(ctx, &storage.SelfReset{ID: id, UserID: "u1", CodeHash: "code-" + id,
			CodeExpiresAt: t0.Add(10 * time.Minute), CreatedAt: t0}))
	}
	start("sr1")
	start("sr2") // replaces sr1
	got, err := s.ActiveSelfReset(ctx, "u1")
	must(t, err)
	if got.ID != "sr2" || !got.EligibleAt.IsZero() {
		t.Fatalf("ActiveSelfReset = %+v, want sr2 unconfirmed", got)
	}
	eligible := t0.Add(24 * time.Hour)
	wantErr(t, "ConfirmSelfReset of the replaced one", s.ConfirmSelfReset(ctx, "sr1", "code-sr1", 3, eligible, t0), storage.ErrNotFound)
	wantErr(t, "CompleteSelfReset before confirming", s.CompleteSelfReset(ctx, "sr2", eligible), storage.ErrNotFound)
	wantErr(t, "ConfirmSelfReset with a wrong code", s.ConfirmSelfReset(ctx, "sr2", "wrong", 3, eligible, t0), storage.ErrConflict)
	wantErr(t, "ConfirmSelfReset with a wrong code", s.ConfirmSelfReset(ctx, "sr2", "wrong", 3, eligible, t0), storage.ErrConflict)
	if got, _ := s.ActiveSelfReset(ctx, "u1"); got.CodeAttempts != 2 {
		t.Errorf("CodeAttempts = %d, want 2: wrong codes must stay counted", got.CodeAttempts)
	}
	must(t, s.ConfirmSelfReset(ctx, "sr2", "code-sr2", 3, eligible, t0.Add(time.Minute)))
	wantErr(t, "ConfirmSelfReset again", s.ConfirmSelfReset(ctx, "sr2", "code-sr2", 3, eligible, t0.Add(time.Minute)), storage.ErrNotFound)
	if got, _ := s.ActiveSelfReset(ctx, "u1"); !got.EligibleAt.Equal(eligible) {
		t.Errorf("EligibleAt = %v, want %v", got.EligibleAt, eligible)
	}
	wantErr(t, "CompleteSelfReset before the wait", s.CompleteSelfReset(ctx, "sr2", eligible.Add(-time.Second)), storage.ErrNotFound)
	errs := race(4, func(int) error { return s.CompleteSelfReset(ctx, "sr2", eligible) })
	if wins, _ := tally(t, "CompleteSelfReset", errs, storage.ErrNotFound); wins != 1 {
		t.Errorf("%d of 4 concurrent completions succeeded, want 1", wins)
	}
	if n, _ := s.RecoveryCodesLeft(ctx, "u1"); n != 0 {
		t.Errorf("%d recovery codes left after the self-reset, want 0", n)
	}

	start("sr5")
	must(t, s.CancelSelfResets(ctx, "u1", t0))
	_, err = s.ActiveSelfReset(ctx, "u1")
	wantErr(t, "ActiveSelfReset after CancelSelfResets", err, storage.ErrNotFound)

	// The code's attempts and lifetime bound the guesses.
	start("sr3")
	for range 3 {
		_ = s.ConfirmSelfReset(ctx, "sr3", "wrong", 3, eligible, t0)
	}
	wantErr(t, "ConfirmSelfReset after the attempts", s.ConfirmSelfReset(ctx, "sr3", "code-sr3", 3, eligible, t0), storage.ErrNotFound)
	start("sr4")
	wantErr(t, "ConfirmSelfReset after the code expired", s.ConfirmSelfReset(ctx, "sr4", "code-sr4", 3, eligible, t0.Add(10*time.Minute)), storage.ErrNotFound)
}
