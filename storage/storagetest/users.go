package storagetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/asnidp/asnidp/storage"
)

// getUser reads a user back, stopping the test when it cannot.
func getUser(t *testing.T, s storage.Store, id string) *storage.User {
	t.Helper()
	u, err := s.UserByID(t.Context(), id)
	if err != nil {
		t.Fatalf("UserByID(%q) = %v, want a user", id, err)
	}
	return u
}

func testUserCreateAndGet(t *testing.T, s storage.Store) {
	ctx := t.Context()
	want := newUser("u1", "198609262015051001")
	must(t, s.CreateUser(ctx, want))
	bare := newBareUser("u2", "199001012022032002")
	must(t, s.CreateUser(ctx, bare))

	tests := []struct {
		name string
		get  func() (*storage.User, error)
		want *storage.User
	}{
		{"UserByID", func() (*storage.User, error) { return s.UserByID(ctx, "u1") }, want},
		{"UserByNIP", func() (*storage.User, error) { return s.UserByNIP(ctx, "198609262015051001") }, want},
		{"UserByID provisioned", func() (*storage.User, error) { return s.UserByID(ctx, "u2") }, bare},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.get()
			if err != nil {
				t.Fatalf("%s = %v, want a user", tc.name, err)
			}
			if diff := cmp.Diff(tc.want, got, cmpOpts...); diff != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", tc.name, diff)
			}
		})
	}
	if got := getUser(t, s, "u2"); got.HasAuthenticator() {
		t.Errorf("provisioned user HasAuthenticator() = true, want false (TOTPSecret %v)", got.TOTPSecret)
	}

	_, err := s.UserByID(ctx, "nobody")
	wantErr(t, `UserByID("nobody")`, err, storage.ErrNotFound)
	_, err = s.UserByNIP(ctx, "000000000000000000")
	wantErr(t, `UserByNIP("000000000000000000")`, err, storage.ErrNotFound)
}

func testUserCreateDuplicate(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "198609262015051001")))
	tests := []struct {
		name    string
		user    *storage.User
		wantErr error
	}{
		{"same ID", newUser("u1", "199001012022032002"), storage.ErrAlreadyExists},
		{"same NIP", newUser("u2", "198609262015051001"), storage.ErrAlreadyExists},
		{"new ID and NIP", newUser("u3", "199001012022032003"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.CreateUser(ctx, tc.user)
			wantErr(t, fmt.Sprintf("CreateUser(%q, %q)", tc.user.ID, tc.user.NIP), err, tc.wantErr)
		})
	}
	if got := getUser(t, s, "u1"); got.NIP != "198609262015051001" {
		t.Errorf("after clashes UserByID(u1).NIP = %q, want unchanged %q", got.NIP, "198609262015051001")
	}
}

func testUpdateProfile(t *testing.T, s storage.Store) {
	ctx := t.Context()
	before := newUser("u1", "198609262015051001")
	must(t, s.CreateUser(ctx, before))

	now := t0.Add(time.Hour)
	update := &storage.User{
		ID:           "u1",
		Name:         "Siti Aminah, S.Kom.",
		Email:        "siti@baru.go.id",
		Instansi:     "Kementerian Keuangan",
		UnitKerja:    "Biro Umum",
		Jabatan:      "Analis",
		JenisPegawai: "PNS",
		// Fields UpdateProfile must not touch, set to other values.
		NIP:             "111111111111111111",
		State:           storage.StateDisabled,
		PasswordHash:    "other",
		TOTPSecret:      []byte("other"),
		FailedPasswords: 99,
		PasswordLocked:  true,
	}
	must(t, s.UpdateProfile(ctx, update, now))

	want := *before
	want.Name, want.Email = update.Name, update.Email
	want.Instansi, want.UnitKerja = update.Instansi, update.UnitKerja
	want.Jabatan, want.JenisPegawai = update.Jabatan, update.JenisPegawai
	want.UpdatedAt = now
	if diff := cmp.Diff(&want, getUser(t, s, "u1"), cmpOpts...); diff != "" {
		t.Errorf("UserByID after UpdateProfile mismatch (-want +got):\n%s", diff)
	}

	err := s.UpdateProfile(ctx, &storage.User{ID: "nobody", Name: "x"}, now)
	wantErr(t, "UpdateProfile(nobody)", err, storage.ErrNotFound)
}

func testSetState(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newBareUser("u1", "198609262015051001")))
	for i, state := range []storage.UserState{
		storage.StatePasswordSet, storage.StateActive, storage.StateDisabled, storage.StateActive,
	} {
		now := t0.Add(time.Duration(i+1) * time.Minute)
		if err := s.SetState(ctx, "u1", state, now); err != nil {
			t.Fatalf("SetState(u1, %q) = %v, want nil", state, err)
		}
		got := getUser(t, s, "u1")
		if got.State != state || !got.UpdatedAt.Equal(now) {
			t.Errorf("after SetState(u1, %q): State = %q, UpdatedAt = %v; want %q, %v",
				state, got.State, got.UpdatedAt, state, now)
		}
	}
	if err := s.SetState(ctx, "u1", "bogus", t0); err == nil {
		t.Errorf(`SetState(u1, "bogus") = nil, want an error`)
	}
	if got := getUser(t, s, "u1").State; got != storage.StateActive {
		t.Errorf(`after SetState(u1, "bogus") State = %q, want unchanged %q`, got, storage.StateActive)
	}
	wantErr(t, "SetState(nobody)", s.SetState(ctx, "nobody", storage.StateActive, t0), storage.ErrNotFound)
}

func testSetPassword(t *testing.T, s storage.Store) {
	ctx := t.Context()
	tests := []struct {
		name      string
		state     storage.UserState
		wantState storage.UserState
	}{
		{"provisioned becomes password_set", storage.StateProvisioned, storage.StatePasswordSet},
		{"password_set stays", storage.StatePasswordSet, storage.StatePasswordSet},
		{"active stays", storage.StateActive, storage.StateActive},
		{"disabled stays", storage.StateDisabled, storage.StateDisabled},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := newUser(fmt.Sprintf("u%d", i), fmt.Sprintf("19860926201505100%d", i))
			before.State = tc.state
			before.FailedPasswords = 7
			before.LockedUntil = t0.Add(time.Hour)
			before.PasswordLocked = true
			before.FailedTOTP = 3
			before.TOTPLocked = true
			must(t, s.CreateUser(ctx, before))

			now := t0.Add(time.Minute)
			if err := s.SetPassword(ctx, before.ID, "$argon2id$new", now); err != nil {
				t.Fatalf("SetPassword(%s) = %v, want nil", before.ID, err)
			}
			want := *before
			want.PasswordHash = "$argon2id$new"
			want.State = tc.wantState
			want.FailedPasswords = 0
			want.LockedUntil = time.Time{}
			want.PasswordLocked = false
			want.UpdatedAt = now
			// The TOTP counter and lock are not the password's to clear.
			if diff := cmp.Diff(&want, getUser(t, s, before.ID), cmpOpts...); diff != "" {
				t.Errorf("UserByID after SetPassword mismatch (-want +got):\n%s", diff)
			}
		})
	}
	wantErr(t, "SetPassword(nobody)", s.SetPassword(ctx, "nobody", "$argon2id$x", t0), storage.ErrNotFound)
}

func testRecordPasswordFailure(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := newUser("u1", "198609262015051001")
	u.FailedPasswords, u.LockedUntil = 0, time.Time{}
	must(t, s.CreateUser(ctx, u))

	delay1 := t0.Add(30 * time.Second)
	steps := []struct {
		name            string
		lockedUntil     time.Time
		lock            bool
		wantCount       int
		wantLockedUntil time.Time
		wantLocked      bool
	}{
		{"first failure", time.Time{}, false, 1, time.Time{}, false},
		{"second failure", time.Time{}, false, 2, time.Time{}, false},
		{"delay set", delay1, false, 3, delay1, false},
		{"zero keeps the delay", time.Time{}, false, 4, delay1, false},
		{"hard lock", time.Time{}, true, 5, delay1, true},
		{"lock false keeps the lock", time.Time{}, false, 6, delay1, true},
	}
	for i, st := range steps {
		now := t0.Add(time.Duration(i) * time.Second)
		got, err := s.RecordPasswordFailure(ctx, "u1", st.lockedUntil, st.lock, now)
		if err != nil {
			t.Fatalf("%s: RecordPasswordFailure = %v, want nil", st.name, err)
		}
		if got != st.wantCount {
			t.Errorf("%s: RecordPasswordFailure = %d, want %d", st.name, got, st.wantCount)
		}
		u := getUser(t, s, "u1")
		if u.FailedPasswords != st.wantCount || !u.LockedUntil.Equal(st.wantLockedUntil) || u.PasswordLocked != st.wantLocked {
			t.Errorf("%s: user has FailedPasswords %d, LockedUntil %v, PasswordLocked %v; want %d, %v, %v",
				st.name, u.FailedPasswords, u.LockedUntil, u.PasswordLocked,
				st.wantCount, st.wantLockedUntil, st.wantLocked)
		}
		if u.FailedTOTP != 1 {
			t.Errorf("%s: FailedTOTP = %d, want untouched 1", st.name, u.FailedTOTP)
		}
	}
	_, err := s.RecordPasswordFailure(ctx, "nobody", time.Time{}, false, t0)
	wantErr(t, "RecordPasswordFailure(nobody)", err, storage.ErrNotFound)
}

// B3: a burst of wrong passwords for one account counts every one.
func testRecordPasswordFailureRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := newBareUser("u1", "198609262015051001")
	must(t, s.CreateUser(ctx, u))
	const n = 50
	counts := make([]int, n)
	errs := race(n, func(i int) error {
		var err error
		counts[i], err = s.RecordPasswordFailure(ctx, "u1", time.Time{}, false, t0)
		return err
	})
	if wins, _ := tally(t, "RecordPasswordFailure", errs, nil); wins != n {
		t.Fatalf("%d of %d concurrent RecordPasswordFailure calls succeeded, want all", wins, n)
	}
	checkCounts(t, "RecordPasswordFailure", counts)
	if got := getUser(t, s, "u1").FailedPasswords; got != n {
		t.Errorf("after %d concurrent failures FailedPasswords = %d, want %d", n, got, n)
	}
}

// An attempt the hasher was too busy to evaluate gives its counted failure
// back, unless another attempt counted since or the password is locked.
func testReleasePasswordFailure(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := newBareUser("u1", "198609262015051001")
	must(t, s.CreateUser(ctx, u))
	delay := t0.Add(30 * time.Second)
	if _, err := s.RecordPasswordFailure(ctx, "u1", time.Time{}, false, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordPasswordFailure(ctx, "u1", delay, false, t0); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.ReleasePasswordFailure(ctx, "u1", 1, time.Time{}, t0); ok || err != nil {
		t.Errorf("ReleasePasswordFailure of a count another attempt moved = %v, %v; want false, nil", ok, err)
	}
	if ok, err := s.ReleasePasswordFailure(ctx, "u1", 2, time.Time{}, t0); !ok || err != nil {
		t.Errorf("ReleasePasswordFailure(count 2) = %v, %v; want true, nil", ok, err)
	}
	if got := getUser(t, s, "u1"); got.FailedPasswords != 1 || !got.LockedUntil.IsZero() {
		t.Errorf("after the release FailedPasswords %d, LockedUntil %v; want 1 and the delay of before", got.FailedPasswords, got.LockedUntil)
	}
	if _, err := s.RecordPasswordFailure(ctx, "u1", time.Time{}, true, t0); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.ReleasePasswordFailure(ctx, "u1", 2, time.Time{}, t0); ok || err != nil {
		t.Errorf("ReleasePasswordFailure of a locked password = %v, %v; want false, nil", ok, err)
	}
	if got := getUser(t, s, "u1"); got.FailedPasswords != 2 || !got.PasswordLocked {
		t.Errorf("locked account after a refused release: FailedPasswords %d, locked %v; want 2, true", got.FailedPasswords, got.PasswordLocked)
	}
	_, err := s.ReleasePasswordFailure(ctx, "nobody", 1, time.Time{}, t0)
	wantErr(t, "ReleasePasswordFailure(nobody)", err, storage.ErrNotFound)
}

func testRecordLogin(t *testing.T, s storage.Store) {
	ctx := t.Context()
	before := newUser("u1", "198609262015051001")
	before.FailedPasswords = 4
	before.LockedUntil = t0.Add(time.Minute)
	before.PasswordLocked = true
	before.FailedTOTP = 2
	must(t, s.CreateUser(ctx, before))

	now := t0.Add(5 * time.Minute)
	must(t, s.RecordLogin(ctx, "u1", now))
	want := *before
	want.FailedPasswords = 0
	want.LockedUntil = time.Time{}
	want.LastLoginAt = now
	want.UpdatedAt = now
	if diff := cmp.Diff(&want, getUser(t, s, "u1"), cmpOpts...); diff != "" {
		t.Errorf("UserByID after RecordLogin mismatch (-want +got):\n%s", diff)
	}
	wantErr(t, "RecordLogin(nobody)", s.RecordLogin(ctx, "nobody", now), storage.ErrNotFound)
}

func testBindTOTP(t *testing.T, s storage.Store) {
	ctx := t.Context()
	before := newBareUser("u1", "198609262015051001")
	before.State = storage.StatePasswordSet
	before.PasswordHash = "$argon2id$p"
	before.FailedTOTP = 3
	must(t, s.CreateUser(ctx, before))

	now := t0.Add(time.Minute)
	seed := []byte("sealed-seed-1")
	must(t, s.BindTOTP(ctx, "u1", seed, 58000010, now))
	want := *before
	want.TOTPSecret = seed
	want.TOTPLastStep = 58000010
	want.State = storage.StateActive
	want.FailedTOTP = 0
	want.ActivatedAt = now // the first binding activates
	want.UpdatedAt = now
	got := getUser(t, s, "u1")
	if diff := cmp.Diff(&want, got, cmpOpts...); diff != "" {
		t.Errorf("UserByID after BindTOTP mismatch (-want +got):\n%s", diff)
	}
	if !got.HasAuthenticator() {
		t.Errorf("after BindTOTP HasAuthenticator() = false, want true")
	}

	// A4: a bound seed is not replaced.
	err := s.BindTOTP(ctx, "u1", []byte("attacker-seed"), 58000020, now)
	wantErr(t, "second BindTOTP", err, storage.ErrConflict)
	if got := getUser(t, s, "u1"); string(got.TOTPSecret) != string(seed) || got.TOTPLastStep != 58000010 {
		t.Errorf("after refused BindTOTP: TOTPSecret %q, TOTPLastStep %d; want %q, %d",
			got.TOTPSecret, got.TOTPLastStep, seed, 58000010)
	}

	// The enrolment code's step is consumed.
	wantErr(t, "AcceptTOTPStep(enrolment step)", s.AcceptTOTPStep(ctx, "u1", 58000010, now), storage.ErrConflict)

	// A disabled account is not re-enabled by binding.
	disabled := newBareUser("u2", "198609262015051002")
	disabled.State = storage.StateDisabled
	must(t, s.CreateUser(ctx, disabled))
	must(t, s.BindTOTP(ctx, "u2", seed, 1, now))
	if got := getUser(t, s, "u2").State; got != storage.StateDisabled {
		t.Errorf("BindTOTP on a disabled account: State = %q, want %q", got, storage.StateDisabled)
	}

	if got := getUser(t, s, "u2").ActivatedAt; !got.Equal(now) {
		t.Errorf("BindTOTP on a disabled account: ActivatedAt = %v, want %v", got, now)
	}

	// A binding after a reset keeps the date of the first activation.
	later := now.Add(48 * time.Hour)
	must(t, s.ResetTOTP(ctx, "u1", later))
	must(t, s.BindTOTP(ctx, "u1", []byte("sealed-seed-2"), 58000100, later))
	if got := getUser(t, s, "u1"); !got.ActivatedAt.Equal(now) || got.State != storage.StateActive {
		t.Errorf("BindTOTP after ResetTOTP: ActivatedAt %v, State %q; want %v, %q", got.ActivatedAt, got.State, now, storage.StateActive)
	}

	wantErr(t, "BindTOTP(nobody)", s.BindTOTP(ctx, "nobody", seed, 1, now), storage.ErrNotFound)
	if err := s.BindTOTP(ctx, "u1", nil, 1, now); err == nil {
		t.Errorf("BindTOTP with an empty seed = nil, want an error")
	}
}

// A8, A9: a step is accepted once, and never one at or below the last.
func testAcceptTOTPStep(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := newUser("u1", "198609262015051001")
	u.TOTPLastStep = 0
	u.FailedTOTP = 3
	must(t, s.CreateUser(ctx, u))

	steps := []struct {
		step     int64
		wantErr  error
		wantLast int64
	}{
		{100, nil, 100},
		{100, storage.ErrConflict, 100}, // replay
		{101, nil, 101},                 // next code (clock ahead)
		{100, storage.ErrConflict, 101}, // then the earlier one
		{99, storage.ErrConflict, 101},
		{103, nil, 103},
	}
	for i, st := range steps {
		now := t0.Add(time.Duration(i) * time.Second)
		err := s.AcceptTOTPStep(ctx, "u1", st.step, now)
		wantErr(t, fmt.Sprintf("AcceptTOTPStep(%d) #%d", st.step, i), err, st.wantErr)
		got := getUser(t, s, "u1")
		if got.TOTPLastStep != st.wantLast {
			t.Errorf("after AcceptTOTPStep(%d) #%d TOTPLastStep = %d, want %d", st.step, i, got.TOTPLastStep, st.wantLast)
		}
		if st.wantErr == nil && got.FailedTOTP != 0 {
			t.Errorf("after AcceptTOTPStep(%d) FailedTOTP = %d, want 0", st.step, got.FailedTOTP)
		}
	}
	wantErr(t, "AcceptTOTPStep(nobody)", s.AcceptTOTPStep(ctx, "nobody", 1, t0), storage.ErrNotFound)
}

// G2, I3: one code submitted by many logins at once is accepted once.
func testAcceptTOTPStepRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := newUser("u1", "198609262015051001")
	u.TOTPLastStep = 1000
	must(t, s.CreateUser(ctx, u))
	const n = 20
	errs := race(n, func(int) error { return s.AcceptTOTPStep(ctx, "u1", 1001, t0) })
	if wins, losses := tally(t, "AcceptTOTPStep", errs, storage.ErrConflict); wins != 1 || losses != n-1 {
		t.Errorf("%d concurrent AcceptTOTPStep(1001): %d succeeded, %d ErrConflict; want 1, %d", n, wins, losses, n-1)
	}
	if got := getUser(t, s, "u1").TOTPLastStep; got != 1001 {
		t.Errorf("TOTPLastStep = %d, want 1001", got)
	}
}

func testRecordTOTPFailure(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := newUser("u1", "198609262015051001")
	u.FailedTOTP = 0
	must(t, s.CreateUser(ctx, u))
	steps := []struct {
		lock       bool
		wantCount  int
		wantLocked bool
	}{
		{false, 1, false},
		{false, 2, false},
		{true, 3, true},
		{false, 4, true},
	}
	for _, st := range steps {
		got, err := s.RecordTOTPFailure(ctx, "u1", st.lock, t0)
		if err != nil {
			t.Fatalf("RecordTOTPFailure(lock=%v) = %v, want nil", st.lock, err)
		}
		if got != st.wantCount {
			t.Errorf("RecordTOTPFailure(lock=%v) = %d, want %d", st.lock, got, st.wantCount)
		}
		u := getUser(t, s, "u1")
		if u.FailedTOTP != st.wantCount || u.TOTPLocked != st.wantLocked {
			t.Errorf("after RecordTOTPFailure(lock=%v): FailedTOTP %d, TOTPLocked %v; want %d, %v",
				st.lock, u.FailedTOTP, u.TOTPLocked, st.wantCount, st.wantLocked)
		}
		if u.FailedPasswords != 2 {
			t.Errorf("RecordTOTPFailure touched FailedPasswords: %d, want 2", u.FailedPasswords)
		}
	}
	// B2: a fresh password does not reset the TOTP counter.
	must(t, s.RecordLogin(ctx, "u1", t0))
	if got := getUser(t, s, "u1").FailedTOTP; got != 4 {
		t.Errorf("after RecordLogin FailedTOTP = %d, want 4", got)
	}
	_, err := s.RecordTOTPFailure(ctx, "nobody", false, t0)
	wantErr(t, "RecordTOTPFailure(nobody)", err, storage.ErrNotFound)
}

// B3: a burst of wrong TOTP codes counts every one.
func testRecordTOTPFailureRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := newUser("u1", "198609262015051001")
	u.FailedTOTP = 0
	must(t, s.CreateUser(ctx, u))
	const n = 50
	counts := make([]int, n)
	errs := race(n, func(i int) error {
		var err error
		counts[i], err = s.RecordTOTPFailure(ctx, "u1", false, t0)
		return err
	})
	if wins, _ := tally(t, "RecordTOTPFailure", errs, nil); wins != n {
		t.Fatalf("%d of %d concurrent RecordTOTPFailure calls succeeded, want all", wins, n)
	}
	checkCounts(t, "RecordTOTPFailure", counts)
	if got := getUser(t, s, "u1").FailedTOTP; got != n {
		t.Errorf("after %d concurrent failures FailedTOTP = %d, want %d", n, got, n)
	}
}

// testResetTOTP: an operator's reset unbinds the seed and ends every
// session and token of the user in the same transaction (E4).
func testResetTOTP(t *testing.T, s storage.Store) {
	ctx := t.Context()
	tests := []struct {
		name      string
		state     storage.UserState
		wantState storage.UserState
	}{
		{"active becomes password_set", storage.StateActive, storage.StatePasswordSet},
		{"disabled stays disabled", storage.StateDisabled, storage.StateDisabled},
	}
	must(t, s.CreateClient(ctx, newClient("rp")))
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := newUser(fmt.Sprintf("u%d", i), fmt.Sprintf("19860926201505100%d", i))
			before.State = tc.state
			before.TOTPLocked = true
			before.FailedTOTP = 100
			must(t, s.CreateUser(ctx, before))
			sid := "sess-" + before.ID
			must(t, s.CreateSession(ctx, newSession(sid, before.ID)))
			at := newAccessToken("at-"+before.ID, "rp")
			at.UserID, at.SessionID = before.ID, ""
			must(t, s.CreateAccessToken(ctx, at))
			now := t0.Add(time.Minute)
			must(t, s.ResetTOTP(ctx, before.ID, now))

			want := *before
			want.TOTPSecret = nil
			want.TOTPLastStep = 0
			want.TOTPLocked = false
			want.FailedTOTP = 0
			want.State = tc.wantState
			want.UpdatedAt = now
			got := getUser(t, s, before.ID)
			if diff := cmp.Diff(&want, got, cmpOpts...); diff != "" {
				t.Errorf("UserByID after ResetTOTP mismatch (-want +got):\n%s", diff)
			}
			if got.HasAuthenticator() {
				t.Errorf("after ResetTOTP HasAuthenticator() = true, want false")
			}
			if _, err := s.SessionByTokenHash(ctx, "cookie-hash-"+sid, time.Hour, now); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("session after ResetTOTP: %v, want ErrNotFound", err)
			}
			tok, err := s.AccessTokenByID(ctx, at.ID)
			must(t, err)
			if tok.RevokedAt.IsZero() {
				t.Errorf("access token survived ResetTOTP")
			}
			// The next login enrols afresh.
			wantErr(t, "BindTOTP after ResetTOTP", s.BindTOTP(ctx, before.ID, []byte("new"), 5, now), nil)
		})
	}
	wantErr(t, "ResetTOTP(nobody)", s.ResetTOTP(ctx, "nobody", t0), storage.ErrNotFound)
}

// testReplaceTOTP: a change of authenticator is one swap keyed on the
// current seed (A4): it never leaves the account without a seed, and a
// stale or forged current seed changes nothing.
func testReplaceTOTP(t *testing.T, s storage.Store) {
	ctx := t.Context()
	before := newUser("u1", "198609262015051001")
	before.FailedTOTP = 2
	must(t, s.CreateUser(ctx, before))
	now := t0.Add(time.Minute)

	wantErr(t, "ReplaceTOTP(wrong current)", s.ReplaceTOTP(ctx, "u1", []byte("not-the-seed"), []byte("next"), 9, now), storage.ErrConflict)
	if diff := cmp.Diff(before, getUser(t, s, "u1"), cmpOpts...); diff != "" {
		t.Errorf("UserByID after refused ReplaceTOTP changed (-want +got):\n%s", diff)
	}

	must(t, s.ReplaceTOTP(ctx, "u1", before.TOTPSecret, []byte("next"), 58000100, now))
	want := *before
	want.TOTPSecret = []byte("next")
	want.TOTPLastStep = 58000100
	want.FailedTOTP = 0
	want.UpdatedAt = now
	if diff := cmp.Diff(&want, getUser(t, s, "u1"), cmpOpts...); diff != "" {
		t.Errorf("UserByID after ReplaceTOTP mismatch (-want +got):\n%s", diff)
	}
	// The new seed's confirmation step is consumed; the old seed is gone.
	wantErr(t, "AcceptTOTPStep(confirmation step)", s.AcceptTOTPStep(ctx, "u1", 58000100, now), storage.ErrConflict)
	wantErr(t, "ReplaceTOTP(old seed again)", s.ReplaceTOTP(ctx, "u1", before.TOTPSecret, []byte("other"), 58000200, now), storage.ErrConflict)

	bare := newBareUser("u2", "198609262015051002")
	must(t, s.CreateUser(ctx, bare))
	wantErr(t, "ReplaceTOTP(no seed bound)", s.ReplaceTOTP(ctx, "u2", []byte("x"), []byte("next"), 1, now), storage.ErrConflict)
	if getUser(t, s, "u2").HasAuthenticator() {
		t.Errorf("ReplaceTOTP bound a seed to an account that had none")
	}
	wantErr(t, "ReplaceTOTP(nobody)", s.ReplaceTOTP(ctx, "nobody", []byte("x"), []byte("y"), 1, now), storage.ErrNotFound)
	if err := s.ReplaceTOTP(ctx, "u1", []byte("next"), nil, 1, now); err == nil {
		t.Errorf("ReplaceTOTP with an empty new seed = nil, want an error")
	}
}

// testReplaceTOTPRace: two browsers confirming a change from the same seed
// at once (G3): one swap wins, the other is refused.
func testReplaceTOTPRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := newUser("u1", "198609262015051001")
	must(t, s.CreateUser(ctx, u))
	errs := race(8, func(i int) error {
		return s.ReplaceTOTP(ctx, "u1", u.TOTPSecret, []byte(fmt.Sprintf("next-%d", i)), int64(58000000+i), t0)
	})
	if wins, losses := tally(t, "ReplaceTOTP", errs, storage.ErrConflict); wins != 1 || losses != len(errs)-1 {
		t.Errorf("concurrent ReplaceTOTP: %d wins, %d conflicts; want 1 and %d", wins, losses, len(errs)-1)
	}
}

func testUnlock(t *testing.T, s storage.Store) {
	ctx := t.Context()
	before := newUser("u1", "198609262015051001")
	before.FailedPasswords = 100
	before.FailedTOTP = 100
	before.LockedUntil = t0.Add(15 * time.Minute)
	before.PasswordLocked = true
	before.TOTPLocked = true
	must(t, s.CreateUser(ctx, before))
	now := t0.Add(time.Minute)
	must(t, s.Unlock(ctx, "u1", now))

	want := *before
	want.FailedPasswords, want.FailedTOTP = 0, 0
	want.LockedUntil = time.Time{}
	want.PasswordLocked, want.TOTPLocked = false, false
	want.UpdatedAt = now
	if diff := cmp.Diff(&want, getUser(t, s, "u1"), cmpOpts...); diff != "" {
		t.Errorf("UserByID after Unlock mismatch (-want +got):\n%s", diff)
	}
	wantErr(t, "Unlock(nobody)", s.Unlock(ctx, "nobody", now), storage.ErrNotFound)
}

// testUserUnknownID checks that no user update creates a row.
func testUserUnknownID(t *testing.T, s storage.Store) {
	ctx := t.Context()
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"SetState", func(ctx context.Context) error { return s.SetState(ctx, "ghost", storage.StateActive, t0) }},
		{"SetPassword", func(ctx context.Context) error { return s.SetPassword(ctx, "ghost", "$h", t0) }},
		{"RecordLogin", func(ctx context.Context) error { return s.RecordLogin(ctx, "ghost", t0) }},
		{"AcceptTOTPStep", func(ctx context.Context) error { return s.AcceptTOTPStep(ctx, "ghost", 9, t0) }},
		{"ResetTOTP", func(ctx context.Context) error { return s.ResetTOTP(ctx, "ghost", t0) }},
		{"Unlock", func(ctx context.Context) error { return s.Unlock(ctx, "ghost", t0) }},
	}
	for _, c := range calls {
		wantErr(t, c.name+"(ghost)", c.call(ctx), storage.ErrNotFound)
	}
	_, err := s.UserByID(ctx, "ghost")
	wantErr(t, "UserByID(ghost) after updates", err, storage.ErrNotFound)
}
