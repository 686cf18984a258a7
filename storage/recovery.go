package storage

import (
	"context"
	"time"
)

// RecoveryStore keeps the recovery codes of an account, each by its keyed
// hash (the codes themselves are shown once and never stored).
type RecoveryStore interface {
	// SetRecoveryCodes replaces every code of the user, used or not, with
	// hashes, in one transaction: the old codes stop working the moment
	// the new ones exist. No hashes leaves the user without codes.
	SetRecoveryCodes(ctx context.Context, userID string, hashes []string, now time.Time) error
	// UseRecoveryCode burns the unused code with hash and clears the
	// account's consecutive TOTP failures, in one transaction. A code that
	// is unknown, used or replaced is ErrNotFound; of concurrent calls
	// with the same code exactly one succeeds.
	UseRecoveryCode(ctx context.Context, userID, hash string, now time.Time) error
	// RecoveryCodesLeft counts the user's unused codes.
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)
	// SkipRecoveryCodes records that the user put off saving codes
	// (User.RecoverySkippedAt) and removes any codes they were shown.
	SkipRecoveryCodes(ctx context.Context, userID string, now time.Time) error
}
