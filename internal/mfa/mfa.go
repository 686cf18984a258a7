// Package mfa owns the second factor: it offers a new authenticator (seed
// and QR code), checks codes with the replay-proof step and the
// brute-force budget, and binds, replaces and resets the seed. Pages call
// it with the user and the code typed; only this package knows how a seed
// is sealed and where it is stored.
//
// Every check is counted before it is evaluated: of any number of
// simultaneous submissions only the budget is ever looked at (B3), and a
// counter that cannot be written refuses instead of granting a free try
// (H3). A code is accepted at most once per account, each accepted step
// strictly above the last (A8, A9, G2), decided by a compare-and-set in
// the database.
package mfa

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"html/template"
	"io"
	"time"

	"github.com/asnidp/asnidp/internal/seal"
	"github.com/asnidp/asnidp/internal/secret"
	"github.com/asnidp/asnidp/internal/throttle"
	"github.com/asnidp/asnidp/internal/totp"
	"github.com/asnidp/asnidp/storage"
)

// Budget is how many codes one pending login, or one change of
// authenticator, may try before it ends.
const Budget = 5

// Store is the storage the second factor needs.
type Store interface {
	IncrementCounter(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
	RecordTOTPFailure(ctx context.Context, userID string, lock bool, now time.Time) (int, error)
	AcceptTOTPStep(ctx context.Context, userID string, step int64, now time.Time) error
	BindTOTP(ctx context.Context, userID string, sealedSecret []byte, step int64, now time.Time) error
	ReplaceTOTP(ctx context.Context, userID string, current, next []byte, step int64, now time.Time) error
	SetRecoveryCodes(ctx context.Context, userID string, hashes []string, now time.Time) error
	UseRecoveryCode(ctx context.Context, userID, hash string, now time.Time) error
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)
}

// Options configure the second factor.
type Options struct {
	// IssuerName is what authenticator apps show for the account.
	IssuerName string
	// LockAfter consecutive wrong codes of an account lock its
	// authenticator until an operator or an email reset releases it.
	LockAfter int
	// OfferTTL is how long an offered seed may be confirmed.
	OfferTTL time.Duration
	Sealer   *seal.Sealer
	// Hash keys the stored hashes of recovery codes.
	Hash *secret.MAC
	// Rand makes seeds and recovery codes; nil is crypto/rand.
	Rand io.Reader
	Now  func() time.Time
}

// Authenticators checks and changes the accounts' authenticators.
type Authenticators struct {
	opts  Options
	store Store
}

// New returns the second factor over store.
func New(opts Options, store Store) *Authenticators {
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Authenticators{opts: opts, store: store}
}

// Result is what a code check came to.
type Result int

const (
	// Wrong: the code matches no acceptable step.
	Wrong Result = iota
	// Valid: the code was accepted and its step consumed.
	Valid
	// Replayed: the code matches only steps already used.
	Replayed
	// OverBudget: the attempt was beyond the budget of the pending login
	// or of the account, and was not evaluated.
	OverBudget
	// Locked: the authenticator is locked (or none is bound); nothing was
	// counted or evaluated.
	Locked
)

// Check is the outcome of one code.
type Check struct {
	Result Result
	// Attempt is this attempt's number within its budget key.
	Attempt int
	// Failures is the account's consecutive wrong codes, this one
	// included (0 for an enrolment confirmation, which counts none).
	Failures int
	// Locked reports that this attempt reached the account's cap: the
	// authenticator is now locked.
	Locked bool
	// Exhausted reports that the attempt used up the budget (or a
	// multiple of it on the account): the caller ends the pending step.
	Exhausted bool
	// Step is the accepted time step of a valid confirmation code.
	Step int64
}

// Verify checks code against u's bound authenticator. The attempt is
// counted under key, which lives for window, and on the account's
// consecutive failures before the code is looked at; a valid code's step
// is consumed atomically, so the same code wins once across browsers and
// processes.
func (a *Authenticators) Verify(ctx context.Context, u *storage.User, key throttle.Key, window time.Duration, code string) (Check, error) {
	if u.TOTPLocked || !u.HasAuthenticator() {
		return Check{Result: Locked}, nil
	}
	now := a.opts.Now()
	c, err := a.count(ctx, u, key, window, now)
	if err != nil || c.Result == OverBudget {
		return c, err
	}
	seed, err := a.opts.Sealer.Open(u.TOTPSecret, seedAAD(u.ID))
	if err != nil {
		return Check{}, fmt.Errorf("open totp seed: %w", err)
	}
	step, r := totp.Verify(seed, code, now, u.TOTPLastStep)
	switch r {
	case totp.Valid:
		err := a.store.AcceptTOTPStep(ctx, u.ID, step, now)
		if err == nil {
			c.Result, c.Failures = Valid, 0
			return c, nil
		}
		if !errors.Is(err, storage.ErrConflict) {
			return Check{}, fmt.Errorf("accept totp step: %w", err)
		}
		c.Result = Replayed // another submission of this code won the race (G2)
	case totp.Replayed:
		c.Result = Replayed
	default:
		c.Result = Wrong
	}
	return a.failed(c), nil
}

// count records one attempt under key and on the account's consecutive
// failures, before anything is evaluated (B3, H3). An attempt beyond
// either budget comes back OverBudget.
func (a *Authenticators) count(ctx context.Context, u *storage.User, key throttle.Key, window time.Duration, now time.Time) (Check, error) {
	attempt, err := a.store.IncrementCounter(ctx, string(key), window, now)
	if err != nil {
		return Check{}, fmt.Errorf("count code attempt: %w", err)
	}
	failures, err := a.store.RecordTOTPFailure(ctx, u.ID, u.FailedTOTP+1 >= a.opts.LockAfter, now)
	if err != nil {
		return Check{}, fmt.Errorf("count code failure: %w", err)
	}
	c := Check{Attempt: attempt, Failures: failures}
	if attempt > Budget || failures > a.opts.LockAfter {
		c.Result, c.Exhausted, c.Locked = OverBudget, true, failures >= a.opts.LockAfter
	}
	return c, nil
}

// failed completes the check of a counted attempt that was not accepted.
func (a *Authenticators) failed(c Check) Check {
	c.Locked = c.Failures >= a.opts.LockAfter
	c.Exhausted = c.Attempt >= Budget || c.Failures%Budget == 0 || c.Locked
	return c
}

// Confirm checks a code of a seed being enrolled, counted under key
// within window. A wrong confirmation does not count against the account:
// the seed is not bound yet and proves nothing about the bound one.
func (a *Authenticators) Confirm(ctx context.Context, seed []byte, key throttle.Key, window time.Duration, code string) (Check, error) {
	attempt, err := a.store.IncrementCounter(ctx, string(key), window, a.opts.Now())
	if err != nil {
		return Check{}, fmt.Errorf("count confirmation attempt: %w", err)
	}
	c := Check{Attempt: attempt}
	if attempt > Budget {
		c.Result, c.Exhausted = OverBudget, true
		return c, nil
	}
	step, r := totp.Verify(seed, code, a.opts.Now(), 0)
	if r == totp.Valid {
		c.Result, c.Step = Valid, step
		return c, nil
	}
	c.Exhausted = attempt >= Budget
	return c, nil
}

// Bind seals seed for u and binds it with the confirmation's step, which
// is thereby consumed. A seed bound meanwhile is storage.ErrConflict: a
// bound authenticator is never replaced by an enrolment (A4).
func (a *Authenticators) Bind(ctx context.Context, u *storage.User, seed []byte, step int64) error {
	sealed, err := a.opts.Sealer.Seal(seed, seedAAD(u.ID))
	if err != nil {
		return fmt.Errorf("seal totp seed: %w", err)
	}
	return a.store.BindTOTP(ctx, u.ID, sealed, step, a.opts.Now())
}

// Replace swaps u's bound seed, as u was loaded, for seed in one write:
// if the write fails the old authenticator stays, and a seed changed
// since u was loaded is storage.ErrConflict.
func (a *Authenticators) Replace(ctx context.Context, u *storage.User, seed []byte, step int64) error {
	sealed, err := a.opts.Sealer.Seal(seed, seedAAD(u.ID))
	if err != nil {
		return fmt.Errorf("seal totp seed: %w", err)
	}
	return a.store.ReplaceTOTP(ctx, u.ID, u.TOTPSecret, sealed, step, a.opts.Now())
}

// NewSeed makes a fresh 160-bit seed.
func (a *Authenticators) NewSeed() ([]byte, error) {
	seed, err := totp.NewSecret(a.opts.Rand)
	if err != nil {
		return nil, fmt.Errorf("make totp seed: %w", err)
	}
	return seed, nil
}

// Offer is what an enrolment page shows for a seed.
type Offer struct {
	// QR is the otpauth link as a PNG data URI.
	QR template.URL
	// KeyURL is the otpauth link itself, which opens the authenticator
	// app on a phone.
	KeyURL template.URL
	// Secret is the seed in groups of four for typing by hand.
	Secret string
}

// Present draws the offer of seed for the account nip.
func (a *Authenticators) Present(nip string, seed []byte) (Offer, error) {
	keyURL := totp.KeyURL(a.opts.IssuerName, nip, seed)
	png, err := totp.QRCodePNG(keyURL, 220)
	if err != nil {
		return Offer{}, fmt.Errorf("draw qr code: %w", err)
	}
	return Offer{
		QR:     template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)),
		KeyURL: template.URL(keyURL),
		Secret: totp.GroupedSecret(seed),
	}, nil
}

// SealPending seals a seed offered to the pending login authRequestID,
// for storing on the auth request.
func (a *Authenticators) SealPending(authRequestID string, seed []byte) ([]byte, error) {
	sealed, err := a.opts.Sealer.Seal(seed, pendingAAD(authRequestID))
	if err != nil {
		return nil, fmt.Errorf("seal enrolment seed: %w", err)
	}
	return sealed, nil
}

// OpenPending opens what SealPending sealed for authRequestID.
func (a *Authenticators) OpenPending(authRequestID string, sealed []byte) ([]byte, error) {
	seed, err := a.opts.Sealer.Open(sealed, pendingAAD(authRequestID))
	if err != nil {
		return nil, fmt.Errorf("open enrolment seed: %w", err)
	}
	return seed, nil
}

// SealOffer seals a seed offered to the session sessionID, with its
// expiry, as a value a cookie can carry.
func (a *Authenticators) SealOffer(sessionID string, seed []byte) (string, error) {
	plain := binary.BigEndian.AppendUint64(nil, uint64(a.opts.Now().Add(a.opts.OfferTTL).Unix()))
	sealed, err := a.opts.Sealer.Seal(append(plain, seed...), offerAAD(sessionID))
	if err != nil {
		return "", fmt.Errorf("seal offered seed: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// OpenOffer opens what SealOffer sealed for sessionID, if not expired.
func (a *Authenticators) OpenOffer(sessionID, value string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || value == "" {
		return nil, errors.New("no offered seed")
	}
	plain, err := a.opts.Sealer.Open(raw, offerAAD(sessionID))
	if err != nil || len(plain) != 8+totp.SecretSize {
		return nil, errors.New("offered seed does not open for this session")
	}
	if a.opts.Now().After(time.Unix(int64(binary.BigEndian.Uint64(plain[:8])), 0)) {
		return nil, errors.New("offered seed expired")
	}
	return plain[8:], nil
}

// The additional data tie each sealed seed to where it is kept, so a
// sealed value copied to another row or cookie does not open.
func seedAAD(userID string) []byte { return []byte("users.totp_secret:" + userID) }
func pendingAAD(authRequest string) []byte {
	return []byte("auth_requests.enrol_secret:" + authRequest)
}
func offerAAD(sessionID string) []byte { return []byte("account.enrol_offer:" + sessionID) }
