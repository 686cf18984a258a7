package storagetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/asnidp/asnidp/storage"
)

// getAuthRequest reads a live request back, stopping the test when it
// cannot.
func getAuthRequest(t *testing.T, s storage.Store, id string) *storage.AuthRequest {
	t.Helper()
	ar, err := s.AuthRequestByID(t.Context(), id, t0)
	if err != nil {
		t.Fatalf("AuthRequestByID(%q) = %v, want a request", id, err)
	}
	return ar
}

// withRequest makes a client "rp" and the request ar1 on it.
func withRequest(t *testing.T, s storage.Store) *storage.AuthRequest {
	t.Helper()
	must(t, s.CreateClient(t.Context(), newClient("rp")))
	ar := newAuthRequest("ar1", "rp")
	must(t, s.CreateAuthRequest(t.Context(), ar))
	return ar
}

func testAuthRequestCreateAndGet(t *testing.T, s storage.Store) {
	ctx := t.Context()
	want := withRequest(t, s)
	minimal := &storage.AuthRequest{ID: "ar2", ClientID: "rp", MaxAge: 300, ExpiresAt: t0.Add(time.Minute)}
	must(t, s.CreateAuthRequest(ctx, minimal))

	tests := []struct {
		name    string
		id      string
		now     time.Time
		want    *storage.AuthRequest
		wantErr error
	}{
		{"live", "ar1", t0, want, nil},
		{"just before expiry", "ar1", want.ExpiresAt.Add(-time.Microsecond), want, nil},
		{"minimal", "ar2", t0, minimal, nil},
		{"at expiry", "ar1", want.ExpiresAt, nil, storage.ErrNotFound},
		{"after expiry", "ar1", want.ExpiresAt.Add(time.Hour), nil, storage.ErrNotFound},
		{"unknown", "nope", t0, nil, storage.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.AuthRequestByID(ctx, tc.id, tc.now)
			wantErr(t, fmt.Sprintf("AuthRequestByID(%q, %v)", tc.id, tc.now), err, tc.wantErr)
			if diff := cmp.Diff(tc.want, got, cmpOpts...); diff != "" {
				t.Errorf("AuthRequestByID(%q) mismatch (-want +got):\n%s", tc.id, diff)
			}
		})
	}

	wantErr(t, "CreateAuthRequest(ar1) again", s.CreateAuthRequest(ctx, newAuthRequest("ar1", "rp")), storage.ErrAlreadyExists)
	wantErr(t, "CreateAuthRequest for an unknown client",
		s.CreateAuthRequest(ctx, newAuthRequest("ar3", "ghost")), storage.ErrNotFound)
	// A request whose expiry was never set is not live.
	must(t, s.CreateAuthRequest(ctx, &storage.AuthRequest{ID: "ar4", ClientID: "rp"}))
	_, err := s.AuthRequestByID(ctx, "ar4", t0)
	wantErr(t, "AuthRequestByID of a request without ExpiresAt", err, storage.ErrNotFound)
}

// A1: the factors are recorded one by one, the second only after the
// first.
func testAuthRequestFactors(t *testing.T, s storage.Store) {
	ctx := t.Context()
	want := withRequest(t, s)

	// No second factor without a first.
	wantErr(t, "SetAuthRequestOTP before the password", s.SetAuthRequestOTP(ctx, "ar1", t0), storage.ErrConflict)
	if diff := cmp.Diff(want, getAuthRequest(t, s, "ar1"), cmpOpts...); diff != "" {
		t.Errorf("refused SetAuthRequestOTP changed the request (-want +got):\n%s", diff)
	}

	pwdAt, otpAt, authTime := t0.Add(time.Second), t0.Add(2*time.Second), t0.Add(3*time.Second)
	must(t, s.SetAuthRequestUser(ctx, "ar1", "user-1", pwdAt))
	want.UserID, want.PasswordAt = "user-1", pwdAt
	if diff := cmp.Diff(want, getAuthRequest(t, s, "ar1"), cmpOpts...); diff != "" {
		t.Errorf("after SetAuthRequestUser (-want +got):\n%s", diff)
	}

	must(t, s.SetAuthRequestOTP(ctx, "ar1", otpAt))
	want.OTPAt = otpAt
	if diff := cmp.Diff(want, getAuthRequest(t, s, "ar1"), cmpOpts...); diff != "" {
		t.Errorf("after SetAuthRequestOTP (-want +got):\n%s", diff)
	}

	must(t, s.CompleteAuthRequest(ctx, "ar1", "sess-1", authTime))
	want.SessionID, want.AuthTime = "sess-1", authTime
	if diff := cmp.Diff(want, getAuthRequest(t, s, "ar1"), cmpOpts...); diff != "" {
		t.Errorf("after CompleteAuthRequest (-want +got):\n%s", diff)
	}
}

// A1: factors verified for one user do not carry over to another.
func testAuthRequestChangeOfUser(t *testing.T, s storage.Store) {
	ctx := t.Context()
	withRequest(t, s)
	must(t, s.SetAuthRequestUser(ctx, "ar1", "alice", t0))
	must(t, s.SetAuthRequestEnrolment(ctx, "ar1", []byte("seed-for-alice"), t0))
	must(t, s.SetAuthRequestOTP(ctx, "ar1", t0.Add(time.Second)))
	must(t, s.SetAuthRequestRecovery(ctx, "ar1", t0.Add(time.Second)))

	// The same user again keeps what was verified.
	must(t, s.SetAuthRequestUser(ctx, "ar1", "alice", t0.Add(2*time.Second)))
	got := getAuthRequest(t, s, "ar1")
	if got.OTPAt.IsZero() || got.RecoveryAt.IsZero() || len(got.EnrolSecret) == 0 {
		t.Errorf("same user again: OTPAt %v, RecoveryAt %v, EnrolSecret %q; want all kept", got.OTPAt, got.RecoveryAt, got.EnrolSecret)
	}

	// Another user does not inherit alice's second factor or seed.
	must(t, s.SetAuthRequestUser(ctx, "ar1", "bob", t0.Add(3*time.Second)))
	got = getAuthRequest(t, s, "ar1")
	if got.UserID != "bob" || !got.PasswordAt.Equal(t0.Add(3*time.Second)) {
		t.Errorf("after SetAuthRequestUser(bob): UserID %q, PasswordAt %v; want bob, %v",
			got.UserID, got.PasswordAt, t0.Add(3*time.Second))
	}
	if !got.OTPAt.IsZero() || !got.RecoveryAt.IsZero() || got.EnrolSecret != nil || !got.EnrolStartedAt.IsZero() {
		t.Errorf("after SetAuthRequestUser(bob): OTPAt %v, RecoveryAt %v, EnrolSecret %q, EnrolStartedAt %v; want all cleared",
			got.OTPAt, got.RecoveryAt, got.EnrolSecret, got.EnrolStartedAt)
	}
}

// A5: the browser binding follows the rotated cookie.
func testRebindAuthRequest(t *testing.T, s storage.Store) {
	ctx := t.Context()
	want := withRequest(t, s)
	must(t, s.RebindAuthRequest(ctx, "ar1", "rotated-browser-hash"))
	want.BrowserHash = "rotated-browser-hash"
	if diff := cmp.Diff(want, getAuthRequest(t, s, "ar1"), cmpOpts...); diff != "" {
		t.Errorf("after RebindAuthRequest (-want +got):\n%s", diff)
	}
	if err := s.RebindAuthRequest(ctx, "ar1", ""); err == nil {
		t.Errorf(`RebindAuthRequest(ar1, "") = nil, want an error`)
	}
}

func testClearAuthRequestUser(t *testing.T, s storage.Store) {
	ctx := t.Context()
	want := withRequest(t, s)
	must(t, s.SetAuthRequestUser(ctx, "ar1", "user-1", t0))
	must(t, s.SetAuthRequestEnrolment(ctx, "ar1", []byte("seed"), t0))
	must(t, s.SetAuthRequestOTP(ctx, "ar1", t0))
	must(t, s.SetAuthRequestRecovery(ctx, "ar1", t0))
	must(t, s.CompleteAuthRequest(ctx, "ar1", "sess-1", t0))

	must(t, s.ClearAuthRequestUser(ctx, "ar1"))
	// Back to the request as /authorize created it.
	if diff := cmp.Diff(want, getAuthRequest(t, s, "ar1"), cmpOpts...); diff != "" {
		t.Errorf("after ClearAuthRequestUser (-want +got):\n%s", diff)
	}
	wantErr(t, "SetAuthRequestOTP after ClearAuthRequestUser", s.SetAuthRequestOTP(ctx, "ar1", t0), storage.ErrConflict)
	wantErr(t, "SetAuthRequestRecovery after ClearAuthRequestUser", s.SetAuthRequestRecovery(ctx, "ar1", t0), storage.ErrConflict)
}

func testAuthRequestEnrolment(t *testing.T, s storage.Store) {
	ctx := t.Context()
	want := withRequest(t, s)
	seed := []byte{0, 1, 2, 0xff, 's', 'e', 'e', 'd'}
	wantErr(t, "SetAuthRequestEnrolment before the password",
		s.SetAuthRequestEnrolment(ctx, "ar1", seed, t0), storage.ErrConflict)

	must(t, s.SetAuthRequestUser(ctx, "ar1", "user-1", t0))
	must(t, s.SetAuthRequestEnrolment(ctx, "ar1", seed, t0.Add(time.Second)))
	want.UserID, want.PasswordAt = "user-1", t0
	want.EnrolSecret, want.EnrolStartedAt = seed, t0.Add(time.Second)
	if diff := cmp.Diff(want, getAuthRequest(t, s, "ar1"), cmpOpts...); diff != "" {
		t.Errorf("after SetAuthRequestEnrolment (-want +got):\n%s", diff)
	}
	// A new offer replaces the old one and restarts the timer.
	must(t, s.SetAuthRequestEnrolment(ctx, "ar1", []byte("seed-2"), t0.Add(time.Minute)))
	got := getAuthRequest(t, s, "ar1")
	if string(got.EnrolSecret) != "seed-2" || !got.EnrolStartedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("second SetAuthRequestEnrolment: EnrolSecret %q, EnrolStartedAt %v; want %q, %v",
			got.EnrolSecret, got.EnrolStartedAt, "seed-2", t0.Add(time.Minute))
	}
	if err := s.SetAuthRequestEnrolment(ctx, "ar1", nil, t0); err == nil {
		t.Errorf("SetAuthRequestEnrolment with an empty seed = nil, want an error")
	}
}

func testAuthRequestUnknownID(t *testing.T, s storage.Store) {
	ctx := t.Context()
	withRequest(t, s)
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"SetAuthRequestUser", func(ctx context.Context) error { return s.SetAuthRequestUser(ctx, "ghost", "u", t0) }},
		{"RebindAuthRequest", func(ctx context.Context) error { return s.RebindAuthRequest(ctx, "ghost", "b") }},
		{"ClearAuthRequestUser", func(ctx context.Context) error { return s.ClearAuthRequestUser(ctx, "ghost") }},
		{"SetAuthRequestEnrolment", func(ctx context.Context) error {
			return s.SetAuthRequestEnrolment(ctx, "ghost", []byte("s"), t0)
		}},
		{"SetAuthRequestOTP", func(ctx context.Context) error { return s.SetAuthRequestOTP(ctx, "ghost", t0) }},
		{"CompleteAuthRequest", func(ctx context.Context) error { return s.CompleteAuthRequest(ctx, "ghost", "s", t0) }},
		{"SaveAuthCode", func(ctx context.Context) error { return s.SaveAuthCode(ctx, "ghost", "h", t0) }},
		{"DeleteAuthRequest", func(ctx context.Context) error { return s.DeleteAuthRequest(ctx, "ghost") }},
	}
	for _, c := range calls {
		wantErr(t, c.name+"(ghost)", c.call(ctx), storage.ErrNotFound)
	}
}

func testSaveAuthCode(t *testing.T, s storage.Store) {
	ctx := t.Context()
	want := withRequest(t, s)
	must(t, s.CreateAuthRequest(ctx, newAuthRequest("ar2", "rp")))

	_, err := s.AuthRequestByCode(ctx, "code-hash-1")
	wantErr(t, "AuthRequestByCode before SaveAuthCode", err, storage.ErrNotFound)

	exp := t0.Add(60 * time.Second)
	must(t, s.SaveAuthCode(ctx, "ar1", "code-hash-1", exp))
	want.CodeHash, want.CodeExpiresAt = "code-hash-1", exp

	// Reading by code does not consume it.
	for range 2 {
		got, err := s.AuthRequestByCode(ctx, "code-hash-1")
		if err != nil {
			t.Fatalf("AuthRequestByCode(code-hash-1) = %v", err)
		}
		if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
			t.Errorf("AuthRequestByCode(code-hash-1) mismatch (-want +got):\n%s", diff)
		}
	}

	wantErr(t, "second SaveAuthCode(ar1)", s.SaveAuthCode(ctx, "ar1", "code-hash-2", exp), storage.ErrConflict)
	wantErr(t, "SaveAuthCode(ar2) with ar1's hash", s.SaveAuthCode(ctx, "ar2", "code-hash-1", exp), storage.ErrAlreadyExists)
	if got := getAuthRequest(t, s, "ar1"); got.CodeHash != "code-hash-1" {
		t.Errorf("after refused SaveAuthCode CodeHash = %q, want code-hash-1", got.CodeHash)
	}
	_, err = s.AuthRequestByCode(ctx, "code-hash-2")
	wantErr(t, "AuthRequestByCode(code-hash-2)", err, storage.ErrNotFound)
}

// D7: a code is redeemed once; a second redemption is refused but hands
// back the request so its tokens can be revoked; an expired code is
// refused.
// withTwoCodes makes client "rp" with requests ar1 and ar2 holding codes
// code-1 and code-2, both expiring at the returned time (t0 + 60 s).
func withTwoCodes(t *testing.T, s storage.Store) time.Time {
	t.Helper()
	ctx := t.Context()
	withRequest(t, s)
	must(t, s.CreateAuthRequest(ctx, newAuthRequest("ar2", "rp")))
	exp := t0.Add(60 * time.Second)
	must(t, s.SaveAuthCode(ctx, "ar1", "code-1", exp))
	must(t, s.SaveAuthCode(ctx, "ar2", "code-2", exp))
	return exp
}

func testRedeemAuthCode(t *testing.T, s storage.Store) {
	ctx := t.Context()
	exp := withTwoCodes(t, s)

	redeemAt := t0.Add(10 * time.Second)
	steps := []struct {
		name       string
		hash       string
		now        time.Time
		wantID     string // "" = no request returned
		wantErr    error
		wantUsedAt time.Time
	}{
		{"unknown", "code-x", redeemAt, "", storage.ErrNotFound, time.Time{}},
		{"empty", "", redeemAt, "", storage.ErrNotFound, time.Time{}},
		{"expired at 60 s", "code-2", exp, "", storage.ErrNotFound, time.Time{}},
		{"first redemption", "code-1", redeemAt, "ar1", nil, redeemAt},
		{"second redemption", "code-1", redeemAt.Add(time.Second), "ar1", storage.ErrConflict, redeemAt},
		{"replay after expiry", "code-1", exp.Add(time.Hour), "ar1", storage.ErrConflict, redeemAt},
		{"expired stays expired", "code-2", exp.Add(time.Hour), "", storage.ErrNotFound, time.Time{}},
	}
	for _, st := range steps {
		got, err := s.RedeemAuthCode(ctx, st.hash, st.now)
		wantErr(t, fmt.Sprintf("%s: RedeemAuthCode(%q)", st.name, st.hash), err, st.wantErr)
		switch {
		case st.wantID == "" && got != nil:
			t.Errorf("%s: RedeemAuthCode returned request %q, want none", st.name, got.ID)
		case st.wantID != "" && got == nil:
			t.Errorf("%s: RedeemAuthCode returned no request, want %q", st.name, st.wantID)
		case st.wantID != "" && (got.ID != st.wantID || !got.CodeUsedAt.Equal(st.wantUsedAt)):
			t.Errorf("%s: RedeemAuthCode returned %q used at %v, want %q used at %v",
				st.name, got.ID, got.CodeUsedAt, st.wantID, st.wantUsedAt)
		}
	}
	// The returned request is the whole record.
	want := newAuthRequest("ar1", "rp")
	want.CodeHash, want.CodeExpiresAt, want.CodeUsedAt = "code-1", exp, redeemAt
	want.CodeReusedAt = redeemAt // marked by this call: a used code presented again
	got, err := s.RedeemAuthCode(ctx, "code-1", redeemAt)
	wantErr(t, "RedeemAuthCode(code-1) again", err, storage.ErrConflict)
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("RedeemAuthCode(code-1) request mismatch (-want +got):\n%s", diff)
	}
	if got := getAuthRequest(t, s, "ar2"); !got.CodeUsedAt.IsZero() || !got.CodeReusedAt.IsZero() {
		t.Errorf("expired code-2 was marked used at %v, reused at %v", got.CodeUsedAt, got.CodeReusedAt)
	}
	if got, err := s.AuthRequestByCode(ctx, "code-1"); err != nil || got.CodeReusedAt.IsZero() {
		t.Errorf("AuthRequestByCode(code-1) after a replay = %v (reused at %v), want CodeReusedAt set", err, got)
	}
}

// G3, I4: of many simultaneous redemptions of one code exactly one wins;
// every loser gets ErrConflict with the request.
func testRedeemAuthCodeRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	withRequest(t, s)
	must(t, s.SaveAuthCode(ctx, "ar1", "code-1", t0.Add(time.Minute)))
	const n = 20
	got := make([]*storage.AuthRequest, n)
	errs := race(n, func(i int) error {
		var err error
		got[i], err = s.RedeemAuthCode(ctx, "code-1", t0)
		return err
	})
	if wins, losses := tally(t, "RedeemAuthCode", errs, storage.ErrConflict); wins != 1 || losses != n-1 {
		t.Errorf("%d concurrent RedeemAuthCode: %d succeeded, %d ErrConflict; want 1, %d", n, wins, losses, n-1)
	}
	// The winner and every loser get the request back.
	for i, ar := range got {
		if ar == nil || ar.ID != "ar1" {
			t.Errorf("RedeemAuthCode (goroutine %d) returned %+v, want request ar1", i, ar)
		}
	}
}

func testDeleteAuthRequest(t *testing.T, s storage.Store) {
	ctx := t.Context()
	withRequest(t, s)
	must(t, s.CreateAuthRequest(ctx, newAuthRequest("ar2", "rp")))
	must(t, s.SaveAuthCode(ctx, "ar2", "code-2", t0.Add(time.Minute)))

	wantErr(t, "DeleteAuthRequest(ar1)", s.DeleteAuthRequest(ctx, "ar1"), nil)
	_, err := s.AuthRequestByID(ctx, "ar1", t0)
	wantErr(t, "AuthRequestByID(ar1) after delete", err, storage.ErrNotFound)
	wantErr(t, "DeleteAuthRequest(ar1) again", s.DeleteAuthRequest(ctx, "ar1"), storage.ErrNotFound)

	// A request that issued a code stays, so a replayed code is recognised.
	wantErr(t, "DeleteAuthRequest(ar2) with a code", s.DeleteAuthRequest(ctx, "ar2"), storage.ErrConflict)
	if _, err := s.AuthRequestByCode(ctx, "code-2"); err != nil {
		t.Errorf("AuthRequestByCode(code-2) after refused delete = %v, want the request", err)
	}
}
