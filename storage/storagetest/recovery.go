package storagetest

import (
	"testing"
	"time"

	"github.com/asnidp/asnidp/storage"
)

// A10: each recovery code works once, and a new set voids the old one.
func testRecoveryCodes(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := newUser("u1", "198609262015051001")
	must(t, s.CreateUser(ctx, u))
	other := newUser("u2", "199001012022212002")
	must(t, s.CreateUser(ctx, other))
	wantLeft := func(userID string, want int) {
		t.Helper()
		n, err := s.RecoveryCodesLeft(ctx, userID)
		must(t, err)
		if n != want {
			t.Errorf("RecoveryCodesLeft(%s) = %d, want %d", userID, n, want)
		}
	}
	wantLeft("u1", 0)
	must(t, s.SetRecoveryCodes(ctx, "u1", []string{"h1", "h2", "h3"}, t0))
	must(t, s.SetRecoveryCodes(ctx, "u2", []string{"h1"}, t0))
	wantLeft("u1", 3)

	_, err := s.RecordTOTPFailure(ctx, "u1", false, t0)
	must(t, err)
	must(t, s.UseRecoveryCode(ctx, "u1", "h2", t0.Add(time.Minute)))
	if got := getUser(t, s, "u1"); got.FailedTOTP != 0 {
		t.Errorf("FailedTOTP after a recovery code = %d, want 0", got.FailedTOTP)
	}
	wantErr(t, "UseRecoveryCode of a used code", s.UseRecoveryCode(ctx, "u1", "h2", t0.Add(time.Minute)), storage.ErrNotFound)
	wantErr(t, "UseRecoveryCode of an unknown code", s.UseRecoveryCode(ctx, "u1", "nope", t0), storage.ErrNotFound)
	wantLeft("u1", 2)
	wantLeft("u2", 1) // another account's code of the same hash is its own

	must(t, s.SetRecoveryCodes(ctx, "u1", []string{"h4", "h5"}, t0.Add(time.Hour)))
	wantErr(t, "UseRecoveryCode of a replaced code", s.UseRecoveryCode(ctx, "u1", "h1", t0.Add(time.Hour)), storage.ErrNotFound)
	wantLeft("u1", 2)
	must(t, s.UseRecoveryCode(ctx, "u1", "h4", t0.Add(time.Hour)))
	wantErr(t, "UseRecoveryCode of the other account's code", s.UseRecoveryCode(ctx, "u2", "h4", t0), storage.ErrNotFound)

	must(t, s.SetRecoveryCodes(ctx, "u1", nil, t0.Add(2*time.Hour)))
	wantLeft("u1", 0)
}

// A10, I4: of many simultaneous uses of one code exactly one wins.
func testUseRecoveryCodeRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "198609262015051001")))
	must(t, s.SetRecoveryCodes(ctx, "u1", []string{"h1", "h2"}, t0))
	errs := race(8, func(int) error { return s.UseRecoveryCode(ctx, "u1", "h1", t0) })
	if wins, _ := tally(t, "UseRecoveryCode", errs, storage.ErrNotFound); wins != 1 {
		t.Errorf("%d of 8 concurrent uses of one code succeeded, want 1", wins)
	}
	n, err := s.RecoveryCodesLeft(ctx, "u1")
	must(t, err)
	if n != 1 {
		t.Errorf("RecoveryCodesLeft after the race = %d, want 1", n)
	}
}

func testSkipRecoveryCodes(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "198609262015051001")))
	must(t, s.SetRecoveryCodes(ctx, "u1", []string{"h1"}, t0))
	must(t, s.SkipRecoveryCodes(ctx, "u1", t0.Add(time.Minute)))
	if got := getUser(t, s, "u1"); !got.RecoverySkippedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("RecoverySkippedAt = %v, want %v", got.RecoverySkippedAt, t0.Add(time.Minute))
	}
	wantErr(t, "UseRecoveryCode of a code shown and put off", s.UseRecoveryCode(ctx, "u1", "h1", t0), storage.ErrNotFound)
	wantErr(t, "SkipRecoveryCodes of an unknown user", s.SkipRecoveryCodes(ctx, "nobody", t0), storage.ErrNotFound)
}

// An operator's reset of the second factor voids the codes with it: they
// may have been kept with the phone that was lost or taken.
func testResetTOTPVoidsRecoveryCodes(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := newUser("u1", "198609262015051001")
	u.TOTPSecret = []byte("sealed")
	must(t, s.CreateUser(ctx, u))
	must(t, s.SetRecoveryCodes(ctx, "u1", []string{"h1", "h2"}, t0))
	must(t, s.ResetTOTP(ctx, "u1", t0.Add(time.Minute)))
	wantErr(t, "UseRecoveryCode after ResetTOTP", s.UseRecoveryCode(ctx, "u1", "h1", t0.Add(time.Minute)), storage.ErrNotFound)
}
