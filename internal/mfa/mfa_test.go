package mfa_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asnidp/asnidp/internal/mfa"
	"github.com/asnidp/asnidp/internal/optest"
	"github.com/asnidp/asnidp/internal/seal"
	"github.com/asnidp/asnidp/internal/secret"
	"github.com/asnidp/asnidp/internal/throttle"
	"github.com/asnidp/asnidp/storage"
	"github.com/asnidp/asnidp/storage/sqlstore"
	"github.com/asnidp/asnidp/storage/sqlstore/sqlstoretest"
)

// fixture is an account with a bound authenticator on a real store, and
// a clock the test moves.
type fixture struct {
	t     *testing.T
	store *sqlstore.Store
	auth  *mfa.Authenticators
	now   time.Time
	seed  []byte
	user  *storage.User
}

const lockAfter = 7

func newFixture(t *testing.T) *fixture {
	t.Helper()
	sealer, err := seal.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, store: sqlstoretest.New(t), now: time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)}
	f.auth = mfa.New(mfa.Options{IssuerName: "ASN Digital", LockAfter: lockAfter, OfferTTL: 10 * time.Minute,
		Sealer: sealer, Hash: secret.NewMAC([32]byte{1}), Now: func() time.Time { return f.now }}, f.store)
	ctx := t.Context()
	u := &storage.User{ID: "u1", NIP: "198609262015051001", Name: "Siti", State: storage.StatePasswordSet,
		PasswordHash: "$argon2id$x", CreatedAt: f.now, UpdatedAt: f.now}
	if err := f.store.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if f.seed, err = f.auth.NewSeed(); err != nil {
		t.Fatal(err)
	}
	if err := f.auth.Bind(ctx, u, f.seed, f.step()-1); err != nil {
		t.Fatalf("Bind: %v", err)
	}
	f.reload()
	return f
}

func (f *fixture) step() int64 { return f.now.Unix() / 30 }

// code is the current code of seed, computed independently of the
// package under test.
func (f *fixture) code(seed []byte) string { return optest.TOTP(seed, f.step()) }

func (f *fixture) reload() {
	f.t.Helper()
	u, err := f.store.UserByID(f.t.Context(), "u1")
	if err != nil {
		f.t.Fatal(err)
	}
	f.user = u
}

func (f *fixture) verify(key throttle.Key, code string) mfa.Check {
	f.t.Helper()
	c, err := f.auth.Verify(f.t.Context(), f.user, key, 5*time.Minute, code)
	if err != nil {
		f.t.Fatalf("Verify: %v", err)
	}
	f.reload()
	return c
}

// A8: a code is accepted once; the same code again is a replay.
func TestVerify_A8_CodeOnce(t *testing.T) {
	f := newFixture(t)
	code := f.code(f.seed)
	if c := f.verify(throttle.CodeAttempts("ar1"), code); c.Result != mfa.Valid {
		t.Fatalf("first use of a fresh code = %v, want Valid", c.Result)
	}
	if f.user.TOTPLastStep != f.step() || f.user.FailedTOTP != 0 {
		t.Errorf("after a valid code: last step %d, failures %d; want %d, 0", f.user.TOTPLastStep, f.user.FailedTOTP, f.step())
	}
	if c := f.verify(throttle.CodeAttempts("ar2"), code); c.Result != mfa.Replayed {
		t.Errorf("same code in another login = %v, want Replayed", c.Result)
	}
}

// B2, B3: a pending login gets Budget codes; the last one ends it, and
// any further attempt, right code or not, is not even evaluated.
func TestVerify_B2_Budget(t *testing.T) {
	f := newFixture(t)
	key := throttle.CodeAttempts("ar1")
	for i := 1; i <= mfa.Budget; i++ {
		c := f.verify(key, "000000")
		if c.Result != mfa.Wrong || c.Attempt != i || c.Exhausted != (i == mfa.Budget) {
			t.Errorf("wrong code %d = %+v, want Wrong, attempt %d, exhausted %v", i, c, i, i == mfa.Budget)
		}
	}
	if c := f.verify(key, f.code(f.seed)); c.Result != mfa.OverBudget {
		t.Errorf("right code after the budget = %v, want OverBudget", c.Result)
	}
	if f.user.TOTPLastStep == f.step() {
		t.Error("a code beyond the budget was accepted")
	}
}

// B2: consecutive wrong codes across pending logins lock the
// authenticator at the cap; a locked one checks nothing, not even a right
// code, and counts nothing.
func TestVerify_B2_AccountLock(t *testing.T) {
	f := newFixture(t)
	var last mfa.Check
	for i := range lockAfter {
		last = f.verify(throttle.CodeAttempts("ar"+string(rune('a'+i/mfa.Budget))), "000000")
	}
	if !last.Locked || !last.Exhausted || last.Failures != lockAfter || !f.user.TOTPLocked {
		t.Fatalf("wrong code %d = %+v, account locked %v; want Locked at %d failures", lockAfter, last, f.user.TOTPLocked, lockAfter)
	}
	if c := f.verify(throttle.CodeAttempts("fresh"), f.code(f.seed)); c.Result != mfa.Locked {
		t.Errorf("right code on a locked authenticator = %v, want Locked", c.Result)
	}
	if f.user.FailedTOTP != lockAfter {
		t.Errorf("a locked authenticator counted: failures %d, want %d", f.user.FailedTOTP, lockAfter)
	}
}

// G2: the same valid code from many logins at once wins exactly once.
func TestVerify_G2_Race(t *testing.T) {
	f := newFixture(t)
	code := f.code(f.seed)
	u := *f.user
	results := make([]mfa.Result, 10)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			c, err := f.auth.Verify(t.Context(), &u, throttle.CodeAttempts("ar"+string(rune('a'+i))), time.Minute, code)
			if err != nil {
				t.Errorf("Verify %d: %v", i, err)
			}
			results[i] = c.Result
		})
	}
	wg.Wait()
	valid := 0
	for _, r := range results {
		if r == mfa.Valid {
			valid++
		}
	}
	if valid != 1 {
		t.Errorf("%d of %d simultaneous submissions of one code were accepted, want 1: %v", valid, len(results), results)
	}
}

// A3: a confirmation code proves the new seed only; wrong ones do not
// count against the account, and the budget applies.
func TestConfirm_A3(t *testing.T) {
	f := newFixture(t)
	next, err := f.auth.NewSeed()
	if err != nil {
		t.Fatal(err)
	}
	key := throttle.EnrolAttempts("ar1")
	c, err := f.auth.Confirm(t.Context(), next, key, time.Minute, f.code(f.seed))
	if err != nil || c.Result != mfa.Wrong {
		t.Fatalf("the bound seed's code as confirmation = %+v, %v; want Wrong", c, err)
	}
	f.reload()
	if f.user.FailedTOTP != 0 {
		t.Errorf("a wrong confirmation counted against the account: %d", f.user.FailedTOTP)
	}
	c, err = f.auth.Confirm(t.Context(), next, key, time.Minute, f.code(next))
	if err != nil || c.Result != mfa.Valid || c.Step != f.step() {
		t.Errorf("the new seed's code = %+v, %v; want Valid at step %d", c, err, f.step())
	}
	for range mfa.Budget {
		c, _ = f.auth.Confirm(t.Context(), next, key, time.Minute, f.code(next))
	}
	if c.Result != mfa.OverBudget {
		t.Errorf("confirmation beyond the budget = %v, want OverBudget", c.Result)
	}
}

// A4: a replacement swaps the seed whole, and one based on a seed that
// changed meanwhile (reset, another browser) changes nothing.
func TestReplace_A4(t *testing.T) {
	f := newFixture(t)
	stale := *f.user
	next, _ := f.auth.NewSeed()
	f.now = f.now.Add(time.Minute)
	if err := f.auth.Replace(t.Context(), f.user, next, f.step()); err != nil {
		t.Fatalf("Replace: %v", err)
	}
	f.reload()
	f.now = f.now.Add(30 * time.Second)
	if c := f.verify(throttle.CodeAttempts("ar1"), f.code(f.seed)); c.Result == mfa.Valid {
		t.Error("the replaced seed still signs in")
	}
	f.now = f.now.Add(30 * time.Second)
	if c := f.verify(throttle.CodeAttempts("ar2"), f.code(next)); c.Result != mfa.Valid {
		t.Errorf("the new seed = %v, want Valid", c.Result)
	}
	other, _ := f.auth.NewSeed()
	if err := f.auth.Replace(t.Context(), &stale, other, f.step()+1); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("Replace from a stale seed = %v, want ErrConflict", err)
	}
}

// The seed offered on the account page opens only for its session and
// only until it expires.
func TestOffer(t *testing.T) {
	f := newFixture(t)
	seed, _ := f.auth.NewSeed()
	v, err := f.auth.SealOffer("s1", seed)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.auth.OpenOffer("s1", v); err != nil || string(got) != string(seed) {
		t.Errorf("OpenOffer(own session) = %v, want the seed", err)
	}
	if _, err := f.auth.OpenOffer("s2", v); err == nil {
		t.Error("an offer opened for another session")
	}
	if _, err := f.auth.OpenOffer("s1", v[:len(v)-2]+"AA"); err == nil {
		t.Error("a tampered offer opened")
	}
	f.now = f.now.Add(11 * time.Minute)
	if _, err := f.auth.OpenOffer("s1", v); err == nil {
		t.Error("an expired offer opened")
	}

	sealed, err := f.auth.SealPending("ar1", seed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.auth.OpenPending("ar2", sealed); err == nil {
		t.Error("a pending seed opened for another auth request")
	}

	o, err := f.auth.Present(f.user.NIP, seed)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(o.QR), "data:image/png;base64,") || !strings.HasPrefix(string(o.KeyURL), "otpauth://totp/ASN%20Digital:"+f.user.NIP) {
		t.Errorf("Present = QR %.30q, key URL %q", o.QR, o.KeyURL)
	}
}
