package mfa

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/asnidp/asnidp/internal/throttle"
	"github.com/asnidp/asnidp/storage"
)

// Recovery codes stand in for the authenticator app once each, for an
// employee whose phone is lost, broken or out of reach (A10, A11):
//
//   - a set of RecoveryCodes codes is shown once, after the first code of a
//     new authenticator, and stored only as keyed hashes bound to the
//     account;
//   - a code is checked under the same budgets as a TOTP code (the
//     pending login's and the account's consecutive failures, B2) and
//     burned by one conditional update, so it wins once under any race;
//   - a new set replaces the old one in one transaction.
//
// Codes are digits only, so a phone's number pad types them: 12 digits
// (40 bits) keep the chance of guessing one of ten live codes within the
// account's lock below one in a billion.
const (
	RecoveryCodes      = 10
	recoveryCodeDigits = 12
)

// NewRecoveryCodes makes a fresh set for u, replacing (voiding) every
// code u had, and returns the codes for showing once, in groups of four
// digits.
func (a *Authenticators) NewRecoveryCodes(ctx context.Context, u *storage.User) ([]string, error) {
	codes := make([]string, 0, RecoveryCodes)
	hashes := make([]string, 0, RecoveryCodes)
	seen := map[string]bool{}
	for len(codes) < RecoveryCodes {
		code, err := a.recoveryCode()
		if err != nil {
			return nil, err
		}
		if seen[code] {
			continue
		}
		seen[code] = true
		codes = append(codes, groupDigits(code))
		hashes = append(hashes, a.recoveryHash(u.ID, code))
	}
	if err := a.store.SetRecoveryCodes(ctx, u.ID, hashes, a.opts.Now()); err != nil {
		return nil, fmt.Errorf("store recovery codes: %w", err)
	}
	return codes, nil
}

// RecoveryCodesLeft counts u's unused codes.
func (a *Authenticators) RecoveryCodesLeft(ctx context.Context, u *storage.User) (int, error) {
	n, err := a.store.RecoveryCodesLeft(ctx, u.ID)
	if err != nil {
		return 0, fmt.Errorf("count recovery codes: %w", err)
	}
	return n, nil
}

// VerifyRecovery checks code as u's second factor in place of the app,
// counted as Verify counts a TOTP code. A valid code is burned: of any
// number of simultaneous submissions one is Valid. A locked authenticator
// refuses recovery codes too; an operator or an email reset releases it.
func (a *Authenticators) VerifyRecovery(ctx context.Context, u *storage.User, key throttle.Key, window time.Duration, code string) (Check, error) {
	if u.TOTPLocked || !u.HasAuthenticator() {
		return Check{Result: Locked}, nil
	}
	now := a.opts.Now()
	c, err := a.count(ctx, u, key, window, now)
	if err != nil || c.Result == OverBudget {
		return c, err
	}
	digits, ok := recoveryDigits(code)
	if !ok {
		return a.failed(c), nil
	}
	err = a.store.UseRecoveryCode(ctx, u.ID, a.recoveryHash(u.ID, digits), now)
	switch {
	case err == nil:
		c.Result, c.Failures = Valid, 0
		return c, nil
	case errors.Is(err, storage.ErrNotFound):
		return a.failed(c), nil
	default:
		return Check{}, fmt.Errorf("use recovery code: %w", err)
	}
}

// recoveryCode draws one code of recoveryCodeDigits uniform digits.
func (a *Authenticators) recoveryCode() (string, error) {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(recoveryCodeDigits), nil)
	n, err := rand.Int(a.opts.Rand, limit)
	if err != nil {
		return "", fmt.Errorf("make recovery code: %w", err)
	}
	return fmt.Sprintf("%0*d", recoveryCodeDigits, n), nil
}

// recoveryHash binds a code to its account, so equal codes of two
// accounts differ in storage and a hash copied to another account opens
// nothing.
func (a *Authenticators) recoveryHash(userID, digits string) string {
	return a.opts.Hash.Hash("recovery_codes:" + userID + ":" + digits)
}

// recoveryDigits reads a typed code: the digits, with the spaces and
// dashes people type between groups left out.
func recoveryDigits(typed string) (string, bool) {
	if len(typed) > 4*recoveryCodeDigits {
		return "", false
	}
	var b strings.Builder
	for _, r := range typed {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-':
		default:
			return "", false
		}
	}
	return b.String(), b.Len() == recoveryCodeDigits
}

// groupDigits writes a code as "4821 9930 1174".
func groupDigits(code string) string {
	var parts []string
	for i := 0; i < len(code); i += 4 {
		parts = append(parts, code[i:min(i+4, len(code))])
	}
	return strings.Join(parts, " ")
}
