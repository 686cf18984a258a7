package storagetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/asnidp/asnidp/storage"
)

// resetLimits are the default send limits of docs/security.md.
var resetLimits = []storage.Limit{{Max: 1, Window: time.Minute}, {Max: 5, Window: time.Hour}, {Max: 10, Window: 24 * time.Hour}}

func newResetRequest(id, nip, userID string) *storage.ResetRequest {
	return &storage.ResetRequest{
		ID:            id,
		TokenHash:     "token-hash-" + id,
		AuthRequestID: "ar-" + id,
		NIP:           nip,
		UserID:        userID,
		CreatedAt:     t0,
		ExpiresAt:     t0.Add(30 * time.Minute),
	}
}

func getReset(t *testing.T, s storage.Store, id string, now time.Time) *storage.ResetRequest {
	t.Helper()
	r, err := s.ResetRequestByTokenHash(t.Context(), "token-hash-"+id, now)
	if err != nil {
		t.Fatalf("ResetRequestByTokenHash(%s) = %v, want a request", id, err)
	}
	return r
}

func testResetCreateAndGet(t *testing.T, s storage.Store) {
	ctx := t.Context()
	want := newResetRequest("r1", "198609262015051001", "u1")
	want.CodeHash = "code-hash"
	want.CodeIssuedAt = t0
	want.CodeExpiresAt = t0.Add(10 * time.Minute)
	want.CodeAttempts = 2
	want.CodeVerifiedAt = t0.Add(time.Minute)
	want.CompletedAt = t0.Add(2 * time.Minute)
	must(t, s.CreateResetRequest(ctx, want))
	if diff := cmp.Diff(want, getReset(t, s, "r1", t0), cmpOpts...); diff != "" {
		t.Errorf("ResetRequestByTokenHash mismatch (-want +got):\n%s", diff)
	}
	unknown := newResetRequest("r2", "199001012022032002", "")
	must(t, s.CreateResetRequest(ctx, unknown))
	if got := getReset(t, s, "r2", t0); got.UserID != "" {
		t.Errorf("request for an unknown NIP has UserID %q, want empty", got.UserID)
	}

	dup := newResetRequest("r1", "199001012022032002", "")
	dup.TokenHash = "other"
	wantErr(t, "CreateResetRequest(same ID)", s.CreateResetRequest(ctx, dup), storage.ErrAlreadyExists)
	dup = newResetRequest("r3", "199001012022032002", "")
	dup.TokenHash = want.TokenHash
	wantErr(t, "CreateResetRequest(same token hash)", s.CreateResetRequest(ctx, dup), storage.ErrAlreadyExists)

	_, err := s.ResetRequestByTokenHash(ctx, want.TokenHash, want.ExpiresAt)
	wantErr(t, "ResetRequestByTokenHash at ExpiresAt", err, storage.ErrNotFound)
	_, err = s.ResetRequestByTokenHash(ctx, "nope", t0)
	wantErr(t, "ResetRequestByTokenHash(unknown)", err, storage.ErrNotFound)
}

// issue calls IssueResetCode with the default limits.
func issue(t *testing.T, s storage.Store, id, code string, now time.Time) (time.Time, error) {
	t.Helper()
	return s.IssueResetCode(t.Context(), id, code, now.Add(10*time.Minute), resetLimits, now)
}

// B7: sends of one NIP are limited per minute, hour and day, whichever
// request asks; other NIPs are not affected; a new code voids the old.
func testIssueResetCodeLimits(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const nip = "198609262015051001"
	for _, id := range []string{"a", "b"} {
		must(t, s.CreateResetRequest(ctx, newResetRequest(id, nip, "u1")))
	}
	other := newResetRequest("other", "199001012022032002", "")
	must(t, s.CreateResetRequest(ctx, other))

	if _, err := issue(t, s, "a", "code-a1", t0); err != nil {
		t.Fatalf("first IssueResetCode = %v", err)
	}
	a := getReset(t, s, "a", t0)
	if a.CodeHash != "code-a1" || !a.CodeIssuedAt.Equal(t0) || !a.CodeExpiresAt.Equal(t0.Add(10*time.Minute)) || a.CodeAttempts != 0 {
		t.Errorf("after IssueResetCode: code %q issued %v expires %v attempts %d", a.CodeHash, a.CodeIssuedAt, a.CodeExpiresAt, a.CodeAttempts)
	}

	retry, err := issue(t, s, "b", "code-b1", t0.Add(30*time.Second))
	wantErr(t, "IssueResetCode 30 s later from another request", err, storage.ErrConflict)
	if !retry.Equal(t0.Add(time.Minute)) {
		t.Errorf("retry at %v, want %v", retry, t0.Add(time.Minute))
	}
	if got := getReset(t, s, "a", t0); got.CodeHash != "code-a1" {
		t.Errorf("a refused send changed the code of a: %q", got.CodeHash)
	}
	if _, err := issue(t, s, "other", "", t0.Add(30*time.Second)); err != nil {
		t.Errorf("IssueResetCode for another NIP = %v, want nil", err)
	}
	// A codeless send (the email did not match) counts, but leaves a's
	// code alone.
	third := newResetRequest("c", nip, "")
	must(t, s.CreateResetRequest(ctx, third))
	if _, err := issue(t, s, "c", "", t0.Add(40*time.Second)); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("codeless send 40 s after a code = %v, want ErrConflict (it counts)", err)
	}

	if _, err := issue(t, s, "c", "", t0.Add(time.Minute)); err != nil {
		t.Fatalf("codeless send a minute later = %v", err)
	}
	if got := getReset(t, s, "a", t0); got.CodeHash != "code-a1" {
		t.Errorf("a codeless send voided a's code (now %q)", got.CodeHash)
	}
	if got := getReset(t, s, "c", t0); got.CodeHash != "" || got.CodeIssuedAt.IsZero() || got.CodeExpiresAt.IsZero() {
		t.Errorf("codeless request: code %q issued %v expires %v; want no code but the step recorded", got.CodeHash, got.CodeIssuedAt, got.CodeExpiresAt)
	}
	if _, err := issue(t, s, "b", "code-b1", t0.Add(2*time.Minute)); err != nil {
		t.Fatalf("IssueResetCode two minutes later = %v", err)
	}
	if got := getReset(t, s, "a", t0); got.CodeHash != "" || !got.CodeExpiresAt.IsZero() {
		t.Errorf("the new code of b left a's code %q (expires %v), want it voided", got.CodeHash, got.CodeExpiresAt)
	}
	// Two more sends, a minute apart, fill the hour (5); the sixth waits
	// until the first is an hour old.
	for i := 3; i <= 4; i++ {
		if _, err := issue(t, s, "b", fmt.Sprintf("code-b%d", i), t0.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatalf("send %d = %v", i+1, err)
		}
	}
	retry, err = issue(t, s, "b", "code-b6", t0.Add(10*time.Minute))
	wantErr(t, "sixth send within the hour", err, storage.ErrConflict)
	if !retry.Equal(t0.Add(time.Hour)) {
		t.Errorf("sixth send retry at %v, want %v", retry, t0.Add(time.Hour))
	}
	// Hours later five more fit, then the day (10) is full until the
	// first send is a day old.
	later := t0.Add(3 * time.Hour)
	for i := range 5 {
		if _, err := issue(t, s, "b", "code-c", later.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatalf("send %d of the second hour = %v", i+1, err)
		}
	}
	retry, err = issue(t, s, "b", "code-d", t0.Add(8*time.Hour))
	wantErr(t, "eleventh send within the day", err, storage.ErrConflict)
	if !retry.Equal(t0.Add(24 * time.Hour)) {
		t.Errorf("eleventh send retry at %v, want %v", retry, t0.Add(24*time.Hour))
	}

	_, err = issue(t, s, "nobody", "x", t0)
	wantErr(t, "IssueResetCode(unknown request)", err, storage.ErrNotFound)
}

// B7, I4: twenty simultaneous sends for one NIP, each from its own
// request: exactly one passes the per-minute limit.
func testIssueResetCodeRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const n = 20
	for i := range n {
		must(t, s.CreateResetRequest(ctx, newResetRequest(fmt.Sprint("r", i), "198609262015051001", "u1")))
	}
	errs := race(n, func(i int) error {
		_, err := issue(t, s, fmt.Sprint("r", i), fmt.Sprint("code-", i), t0)
		return err
	})
	if wins, _ := tally(t, "IssueResetCode", errs, storage.ErrConflict); wins != 1 {
		t.Errorf("%d of %d simultaneous sends passed, want exactly 1", wins, n)
	}
	live := 0
	for i := range n {
		if getReset(t, s, fmt.Sprint("r", i), t0).CodeHash != "" {
			live++
		}
	}
	if live != 1 {
		t.Errorf("%d requests hold a code, want exactly 1", live)
	}
}

// H5: a code whose mail could not be delivered is voided and its send no
// longer counts; releasing a code that was since replaced changes nothing.
func testReleaseResetCode(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateResetRequest(ctx, newResetRequest("r1", "198609262015051001", "u1")))
	if _, err := issue(t, s, "r1", "code-1", t0); err != nil {
		t.Fatal(err)
	}
	must(t, s.ReleaseResetCode(ctx, "r1", "code-1"))
	if got := getReset(t, s, "r1", t0); got.CodeHash != "" || !got.CodeExpiresAt.IsZero() {
		t.Errorf("released code still live: %q until %v", got.CodeHash, got.CodeExpiresAt)
	}
	if _, err := issue(t, s, "r1", "code-2", t0.Add(time.Second)); err != nil {
		t.Errorf("send right after a released one = %v, want nil (the failed send must not count)", err)
	}
	must(t, s.ReleaseResetCode(ctx, "r1", "code-1"))
	if got := getReset(t, s, "r1", t0); got.CodeHash != "code-2" {
		t.Errorf("releasing a replaced code voided the new one: %q", got.CodeHash)
	}
	_, err := issue(t, s, "r1", "code-3", t0.Add(2*time.Second))
	wantErr(t, "send after a release of a replaced code", err, storage.ErrConflict)
}

// B6, C3: wrong codes count and after the budget the code is void; the
// right code works once; an expired code, a voided code and a request
// without a code (unknown NIP) never verify, but count the same way.
func testCheckResetCode(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const max = 5
	must(t, s.CreateResetRequest(ctx, newResetRequest("r1", "198609262015051001", "u1")))
	if _, err := issue(t, s, "r1", "right", t0); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Minute)
	for i := 1; i <= max; i++ {
		n, err := s.CheckResetCode(ctx, "r1", "wrong", max, now)
		wantErr(t, fmt.Sprintf("wrong code %d", i), err, storage.ErrConflict)
		if n != i {
			t.Errorf("wrong code %d: attempts = %d, want %d", i, n, i)
		}
	}
	_, err := s.CheckResetCode(ctx, "r1", "right", max, now)
	wantErr(t, "right code after 5 wrong ones", err, storage.ErrNotFound)

	// A new code starts afresh.
	if _, err := issue(t, s, "r1", "right2", t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckResetCode(ctx, "r1", "wrong", max, now); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("wrong code on a new code = %v, want ErrConflict", err)
	}
	if _, err := s.CheckResetCode(ctx, "r1", "right2", max, now); err != nil {
		t.Errorf("right code = %v, want nil", err)
	}
	if got := getReset(t, s, "r1", now); !got.CodeVerifiedAt.Equal(now) {
		t.Errorf("CodeVerifiedAt = %v, want %v", got.CodeVerifiedAt, now)
	}
	_, err = s.CheckResetCode(ctx, "r1", "right2", max, now)
	wantErr(t, "right code again", err, storage.ErrNotFound)

	// Expiry is exclusive: at CodeExpiresAt the code is gone.
	must(t, s.CreateResetRequest(ctx, newResetRequest("r2", "199001012022032002", "u2")))
	if _, err := issue(t, s, "r2", "right", t0); err != nil {
		t.Fatal(err)
	}
	_, err = s.CheckResetCode(ctx, "r2", "right", max, t0.Add(10*time.Minute))
	wantErr(t, "right code at expiry", err, storage.ErrNotFound)

	// An unknown NIP gets a code record without a code: attempts count,
	// nothing matches, not even an empty code.
	must(t, s.CreateResetRequest(ctx, newResetRequest("r3", "199101012022031003", "")))
	if _, err := issue(t, s, "r3", "", t0); err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"", "anything"} {
		n, err := s.CheckResetCode(ctx, "r3", code, max, now)
		wantErr(t, fmt.Sprintf("code %q without a code", code), err, storage.ErrConflict)
		if n == 0 {
			t.Errorf("code %q without a code: attempts not counted", code)
		}
	}

	// Before step 2 there is no code at all.
	must(t, s.CreateResetRequest(ctx, newResetRequest("r4", "199201012022031004", "u4")))
	_, err = s.CheckResetCode(ctx, "r4", "", max, now)
	wantErr(t, "check before any code", err, storage.ErrNotFound)
	_, err = s.CheckResetCode(ctx, "nobody", "x", max, now)
	wantErr(t, "check on an unknown request", err, storage.ErrNotFound)
}

// C3, G3, I4: twenty simultaneous submissions of the right code: exactly
// one verifies it.
func testCheckResetCodeRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateResetRequest(ctx, newResetRequest("r1", "198609262015051001", "u1")))
	if _, err := issue(t, s, "r1", "right", t0); err != nil {
		t.Fatal(err)
	}
	const n = 20
	errs := race(n, func(int) error {
		_, err := s.CheckResetCode(ctx, "r1", "right", 5, t0.Add(time.Minute))
		return err
	})
	if wins, _ := tally(t, "CheckResetCode", errs, storage.ErrNotFound); wins != 1 {
		t.Errorf("%d of %d simultaneous right codes verified, want exactly 1", wins, n)
	}
}

// C7, C8, H1, A6: completing a reset sets the password and revokes what
// the old one opened, all at once, and leaves the authenticator alone.
func testCompleteReset(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := newUser("u1", "198609262015051001")
	u.PasswordLocked, u.TOTPLocked, u.FailedPasswords, u.FailedTOTP = true, true, 100, 100
	u.LockedUntil = t0.Add(time.Hour)
	u.EmailVerified = false
	must(t, s.CreateUser(ctx, u))
	other := newUser("u2", "199001012022032002")
	must(t, s.CreateUser(ctx, other))
	must(t, s.CreateClient(ctx, newClient("rp")))
	for _, sess := range []*storage.Session{newSession("s1", "u1"), newSession("s2", "u1"), newSession("s3", "u2")} {
		must(t, s.CreateSession(ctx, sess))
	}
	at1, at2 := newAccessToken("at1", "rp"), newAccessToken("at2", "rp")
	at1.UserID, at2.UserID = "u1", "u2"
	rt1, rt2 := newRefreshToken("rt1", "rp", "f1"), newRefreshToken("rt2", "rp", "f2")
	rt1.UserID, rt2.UserID = "u1", "u2"
	must(t, s.CreateAccessToken(ctx, at1))
	must(t, s.CreateAccessToken(ctx, at2))
	must(t, s.CreateRefreshToken(ctx, rt1))
	must(t, s.CreateRefreshToken(ctx, rt2))
	pending := newAuthRequest("ar-pending", "rp")
	must(t, s.CreateAuthRequest(ctx, pending))
	must(t, s.SetAuthRequestUser(ctx, "ar-pending", "u1", t0))

	must(t, s.CreateResetRequest(ctx, newResetRequest("r1", u.NIP, "u1")))
	must(t, s.CreateResetRequest(ctx, newResetRequest("r2", u.NIP, "u1")))
	if _, err := issue(t, s, "r2", "code-r2", t0); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(2 * time.Minute)
	if _, err := issue(t, s, "r1", "code-r1", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	c := storage.ResetCompletion{RequestID: "r1", UserID: "u1", PasswordHash: "$argon2id$new"}
	wantErr(t, "CompleteReset before the code is verified", s.CompleteReset(ctx, c, now), storage.ErrConflict)
	if _, err := s.CheckResetCode(ctx, "r1", "code-r1", 5, now); err != nil {
		t.Fatalf("CheckResetCode = %v", err)
	}
	wrongUser := c
	wrongUser.UserID = "u2"
	wantErr(t, "CompleteReset for another user", s.CompleteReset(ctx, wrongUser, now), storage.ErrConflict)

	must(t, s.CompleteReset(ctx, c, now))

	want := *u
	want.PasswordHash = "$argon2id$new"
	want.EmailVerified = true
	want.PasswordLocked, want.TOTPLocked, want.FailedPasswords, want.FailedTOTP = false, false, 0, 0
	want.LockedUntil = time.Time{}
	want.UpdatedAt = now
	if diff := cmp.Diff(&want, getUser(t, s, "u1"), cmpOpts...); diff != "" {
		t.Errorf("user after CompleteReset mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(other, getUser(t, s, "u2"), cmpOpts...); diff != "" {
		t.Errorf("another user changed (-want +got):\n%s", diff)
	}
	for id, want := range map[string]bool{"s1": true, "s2": true, "s3": false} {
		sess, err := s.SessionByID(ctx, id)
		if err != nil {
			t.Fatalf("SessionByID(%s) = %v", id, err)
		}
		if got := !sess.RevokedAt.IsZero(); got != want {
			t.Errorf("session %s revoked = %v, want %v", id, got, want)
		}
	}
	checkRevoked(t, s, "after CompleteReset", map[string]bool{"at1": true, "at2": false}, map[string]bool{"hash-rt1": true, "hash-rt2": false})
	ar, err := s.AuthRequestByID(ctx, "ar-pending", now)
	if err != nil {
		t.Fatalf("AuthRequestByID = %v", err)
	}
	if ar.UserID != "" || !ar.PasswordAt.IsZero() {
		t.Errorf("pending login kept its password factor (user %q at %v), want it cleared", ar.UserID, ar.PasswordAt)
	}
	if r := getReset(t, s, "r1", now); !r.CompletedAt.Equal(now) || r.CodeHash != "" {
		t.Errorf("completed request: completed %v code %q", r.CompletedAt, r.CodeHash)
	}
	wantErr(t, "CompleteReset again", s.CompleteReset(ctx, c, now), storage.ErrConflict)
	_, err = s.CheckResetCode(ctx, "r1", "code-r1", 5, now)
	wantErr(t, "the used code again", err, storage.ErrNotFound)

	// The provisioned account of another NIP becomes password_set.
	bare := newBareUser("u3", "199101012022031003")
	must(t, s.CreateUser(ctx, bare))
	must(t, s.CreateResetRequest(ctx, newResetRequest("r3", bare.NIP, "u3")))
	if _, err := issue(t, s, "r3", "code-r3", now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckResetCode(ctx, "r3", "code-r3", 5, now); err != nil {
		t.Fatal(err)
	}
	must(t, s.CompleteReset(ctx, storage.ResetCompletion{RequestID: "r3", UserID: "u3", PasswordHash: "$argon2id$x"}, now))
	if got := getUser(t, s, "u3"); got.State != storage.StatePasswordSet || got.HasAuthenticator() {
		t.Errorf("activated account: state %s, authenticator %v; want password_set without one", got.State, got.HasAuthenticator())
	}
	wantErr(t, "CompleteReset(unknown request)", s.CompleteReset(ctx, storage.ResetCompletion{RequestID: "nobody", UserID: "u1", PasswordHash: "x"}, now), storage.ErrNotFound)
}

// C8: a code sent before the account was activated in another browser is
// void afterwards.
func testCompleteResetVoidsOtherCodes(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := newBareUser("u1", "198609262015051001")
	must(t, s.CreateUser(ctx, u))
	must(t, s.CreateResetRequest(ctx, newResetRequest("r1", u.NIP, "u1")))
	must(t, s.CreateResetRequest(ctx, newResetRequest("r2", u.NIP, "u1")))
	if _, err := issue(t, s, "r1", "code-1", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckResetCode(ctx, "r1", "code-1", 5, t0); err != nil {
		t.Fatal(err)
	}
	// A second browser of the same employee asks for and verifies a code.
	now := t0.Add(2 * time.Minute)
	if _, err := issue(t, s, "r2", "code-2", now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckResetCode(ctx, "r2", "code-2", 5, now); err != nil {
		t.Fatal(err)
	}
	// r2's code voided r1's verification: r1 can no longer complete.
	wantErr(t, "CompleteReset of a flow whose code a newer one voided",
		s.CompleteReset(ctx, storage.ResetCompletion{RequestID: "r1", UserID: "u1", PasswordHash: "h1"}, now), storage.ErrConflict)
	must(t, s.CompleteReset(ctx, storage.ResetCompletion{RequestID: "r2", UserID: "u1", PasswordHash: "h2"}, now))
	if got := getUser(t, s, "u1"); got.PasswordHash != "h2" {
		t.Errorf("password hash %q, want h2", got.PasswordHash)
	}
}

// G6: expired requests and captchas, used captchas and day-old sends go.
func testPruneResets(t *testing.T, s storage.Store) {
	ctx := t.Context()
	old := newResetRequest("old", "198609262015051001", "")
	old.ExpiresAt = t0.Add(time.Minute)
	must(t, s.CreateResetRequest(ctx, old))
	must(t, s.CreateResetRequest(ctx, newResetRequest("live", "199001012022032002", "")))
	if _, err := issue(t, s, "live", "", t0); err != nil {
		t.Fatal(err)
	}
	must(t, s.CreateCaptcha(ctx, newCaptcha("expired", t0.Add(time.Minute))))
	must(t, s.CreateCaptcha(ctx, newCaptcha("used", t0.Add(time.Hour))))
	must(t, s.CreateCaptcha(ctx, newCaptcha("live", t0.Add(time.Hour))))
	if _, err := s.UseCaptcha(ctx, "used", t0); err != nil {
		t.Fatal(err)
	}

	n, err := s.PruneResets(ctx, t0.Add(2*time.Minute))
	if err != nil || n != 3 {
		t.Errorf("PruneResets = %d, %v; want 3 rows (old request, expired and used captcha)", n, err)
	}
	if _, err := s.ResetRequestByTokenHash(ctx, "token-hash-live", t0); err != nil {
		t.Errorf("live request pruned: %v", err)
	}
	if _, err := s.CaptchaByID(ctx, "live", t0); err != nil {
		t.Errorf("live captcha pruned: %v", err)
	}
	// A day later the send goes too, and the request with it.
	n, err = s.PruneResets(ctx, t0.Add(25*time.Hour))
	if err != nil || n != 3 {
		t.Errorf("PruneResets a day later = %d, %v; want 3 rows (request, send, captcha)", n, err)
	}
}

func newCaptcha(id string, expires time.Time) *storage.Captcha {
	return &storage.Captcha{ID: id, Action: "reset", BindingHash: "binding-" + id, Answer: "482913",
		CreatedAt: t0, ExpiresAt: expires}
}

// C2: a captcha is read while live and used once; expired or used it is
// gone.
func testCaptcha(t *testing.T, s storage.Store) {
	ctx := t.Context()
	want := newCaptcha("c1", t0.Add(5*time.Minute))
	must(t, s.CreateCaptcha(ctx, want))
	wantErr(t, "CreateCaptcha(same ID)", s.CreateCaptcha(ctx, newCaptcha("c1", t0.Add(time.Hour))), storage.ErrAlreadyExists)
	got, err := s.CaptchaByID(ctx, "c1", t0)
	if err != nil {
		t.Fatalf("CaptchaByID = %v", err)
	}
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("CaptchaByID mismatch (-want +got):\n%s", diff)
	}
	_, err = s.CaptchaByID(ctx, "c1", want.ExpiresAt)
	wantErr(t, "CaptchaByID at expiry", err, storage.ErrNotFound)
	_, err = s.UseCaptcha(ctx, "c1", want.ExpiresAt)
	wantErr(t, "UseCaptcha at expiry", err, storage.ErrNotFound)

	used, err := s.UseCaptcha(ctx, "c1", t0)
	if err != nil {
		t.Fatalf("UseCaptcha = %v", err)
	}
	if diff := cmp.Diff(want, used, cmpOpts...); diff != "" {
		t.Errorf("UseCaptcha mismatch (-want +got):\n%s", diff)
	}
	_, err = s.UseCaptcha(ctx, "c1", t0)
	wantErr(t, "UseCaptcha again", err, storage.ErrNotFound)
	_, err = s.CaptchaByID(ctx, "c1", t0)
	wantErr(t, "CaptchaByID after use", err, storage.ErrNotFound)
	_, err = s.UseCaptcha(ctx, "nope", t0)
	wantErr(t, "UseCaptcha(unknown)", err, storage.ErrNotFound)
}

// C2, I4: one captcha submitted twenty times at once is used once.
func testUseCaptchaRace(t *testing.T, s storage.Store) {
	must(t, s.CreateCaptcha(t.Context(), newCaptcha("c1", t0.Add(5*time.Minute))))
	const n = 20
	errs := race(n, func(int) error {
		_, err := s.UseCaptcha(t.Context(), "c1", t0)
		return err
	})
	if wins, _ := tally(t, "UseCaptcha", errs, storage.ErrNotFound); wins != 1 {
		t.Errorf("%d of %d simultaneous uses succeeded, want exactly 1", wins, n)
	}
}
