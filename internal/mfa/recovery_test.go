package mfa_test

import (
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asnidp/asnidp/internal/mfa"
	"github.com/asnidp/asnidp/internal/throttle"
)

func (f *fixture) newCodes() []string {
	f.t.Helper()
	codes, err := f.auth.NewRecoveryCodes(f.t.Context(), f.user)
	if err != nil {
		f.t.Fatalf("NewRecoveryCodes: %v", err)
	}
	return codes
}

func (f *fixture) recover(key throttle.Key, code string) mfa.Check {
	f.t.Helper()
	c, err := f.auth.VerifyRecovery(f.t.Context(), f.user, key, 5*time.Minute, code)
	if err != nil {
		f.t.Fatalf("VerifyRecovery: %v", err)
	}
	f.reload()
	return c
}

func (f *fixture) left() int {
	f.t.Helper()
	n, err := f.auth.RecoveryCodesLeft(f.t.Context(), f.user)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// A10: ten distinct codes of twelve digits in groups of four; each one
// works once, typed with or without its spaces; a new set voids the old.
func TestRecovery_A10_CodesWorkOnce(t *testing.T) {
	f := newFixture(t)
	codes := f.newCodes()
	shape := regexp.MustCompile(`^[0-9]{4} [0-9]{4} [0-9]{4}$`)
	seen := map[string]bool{}
	for _, c := range codes {
		if !shape.MatchString(c) || seen[c] {
			t.Errorf("code %q: want 12 digits in groups of four, each code once", c)
		}
		seen[c] = true
	}
	if len(codes) != mfa.RecoveryCodes || f.left() != mfa.RecoveryCodes {
		t.Fatalf("%d codes shown, %d stored; want %d", len(codes), f.left(), mfa.RecoveryCodes)
	}
	for i, typed := range []string{codes[0], strings.ReplaceAll(codes[1], " ", ""), strings.ReplaceAll(codes[2], " ", "-")} {
		if c := f.recover(throttle.CodeAttempts("ar"+string(rune('a'+i))), typed); c.Result != mfa.Valid {
			t.Errorf("code %q = %v, want Valid", typed, c.Result)
		}
	}
	if c := f.recover(throttle.CodeAttempts("ar-again"), codes[0]); c.Result != mfa.Wrong {
		t.Errorf("a used code again = %v, want Wrong", c.Result)
	}
	if f.left() != mfa.RecoveryCodes-3 {
		t.Errorf("%d codes left, want %d", f.left(), mfa.RecoveryCodes-3)
	}
	fresh := f.newCodes()
	if c := f.recover(throttle.CodeAttempts("ar-old"), codes[5]); c.Result != mfa.Wrong {
		t.Errorf("a code of the replaced set = %v, want Wrong", c.Result)
	}
	if c := f.recover(throttle.CodeAttempts("ar-new"), fresh[5]); c.Result != mfa.Valid {
		t.Errorf("a code of the new set = %v, want Valid", c.Result)
	}
	// A recovery code is no TOTP code, nor the other way round.
	if c := f.verify(throttle.CodeAttempts("ar-totp"), strings.ReplaceAll(fresh[6], " ", "")); c.Result != mfa.Wrong {
		t.Errorf("a recovery code as a TOTP code = %v, want Wrong", c.Result)
	}
	if c := f.recover(throttle.CodeAttempts("ar-rec"), f.code(f.seed)); c.Result != mfa.Wrong {
		t.Errorf("a TOTP code as a recovery code = %v, want Wrong", c.Result)
	}
}

// B2: recovery codes and TOTP codes share the pending login's budget and
// the account's lock; a locked authenticator takes no recovery code.
func TestRecovery_B2_SharedBudget(t *testing.T) {
	f := newFixture(t)
	codes := f.newCodes()
	key := throttle.CodeAttempts("ar1")
	for range 3 {
		f.verify(key, "000000")
	}
	f.recover(key, "0000 0000 0000")
	if c := f.recover(key, "1111 1111 1111"); c.Result != mfa.Wrong || !c.Exhausted {
		t.Errorf("fifth wrong code of the login = %+v, want Wrong and Exhausted", c)
	}
	if c := f.recover(key, codes[0]); c.Result != mfa.OverBudget {
		t.Errorf("a right recovery code beyond the login's budget = %v, want OverBudget", c.Result)
	}
	for i := 0; !f.user.TOTPLocked && i < lockAfter; i++ {
		f.recover(throttle.CodeAttempts("ar-more"+string(rune('a'+i/mfa.Budget))), "1234 5678 9012")
	}
	if !f.user.TOTPLocked {
		t.Fatalf("wrong recovery codes did not lock the authenticator (failures %d)", f.user.FailedTOTP)
	}
	if c := f.recover(throttle.CodeAttempts("ar-locked"), codes[1]); c.Result != mfa.Locked {
		t.Errorf("a right recovery code on a locked authenticator = %v, want Locked", c.Result)
	}
	if f.left() != mfa.RecoveryCodes {
		t.Errorf("a code was burned by refused attempts: %d left", f.left())
	}
}

// A10, G2: one code from many logins at once wins exactly once.
func TestRecovery_A10_G2_Race(t *testing.T) {
	f := newFixture(t)
	code := f.newCodes()[0]
	u := *f.user
	results := make([]mfa.Result, 8)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			c, err := f.auth.VerifyRecovery(t.Context(), &u, throttle.CodeAttempts("ar"+string(rune('a'+i))), time.Minute, code)
			if err != nil {
				t.Errorf("VerifyRecovery %d: %v", i, err)
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
		t.Errorf("%d of %d simultaneous uses of one recovery code were accepted, want 1: %v", valid, len(results), results)
	}
}
