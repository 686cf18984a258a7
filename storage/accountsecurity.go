package storage

import (
	"context"
	"time"
)

// AlertToken is the one-time "Bukan saya" link of a security mail, by the
// keyed hash of its token (the token is only in the mail).
type AlertToken struct {
	TokenHash string
	UserID    string
	// Purpose names the mail that carried it, for the audit trail.
	Purpose   string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// SelfReset is an employee's own reset of a lost authenticator: a code
// mailed to the registered address, then a waiting period in which the
// owner can cancel it.
type SelfReset struct {
	ID            string
	UserID        string
	CodeHash      string
	CodeExpiresAt time.Time
	CodeAttempts  int
	// EligibleAt is zero until the mailed code is confirmed; from then on
	// a sign-in at or after it may bind a new authenticator.
	EligibleAt  time.Time
	CancelledAt time.Time
	CompletedAt time.Time
	CreatedAt   time.Time
}

// AccountSecurityStore keeps what protects an account around its factors.
type AccountSecurityStore interface {
	// CreateAlertToken stores a "Bukan saya" link.
	CreateAlertToken(ctx context.Context, t *AlertToken) error
	// UseAlertToken burns an unexpired, unused token and, in the same
	// transaction, ends every session of its user (as EndUserSessions) and
	// cancels the user's unfinished self-resets. It returns the user ID; an
	// unknown, used or expired token is ErrNotFound, and of concurrent uses
	// one succeeds.
	UseAlertToken(ctx context.Context, tokenHash string, now time.Time) (string, error)
	// RecordDevice notes a sign-in of userID from the browser deviceHash.
	// isNew reports that the account had not signed in from it before,
	// hadOthers that it had signed in from some other browser.
	RecordDevice(ctx context.Context, userID, deviceHash string, now time.Time) (isNew, hadOthers bool, err error)

	// StartSelfReset stores r and cancels the user's other unfinished
	// self-resets, in one transaction.
	StartSelfReset(ctx context.Context, r *SelfReset) error
	// ActiveSelfReset returns the user's unfinished (neither cancelled nor
	// completed) self-reset, or ErrNotFound.
	ActiveSelfReset(ctx context.Context, userID string) (*SelfReset, error)
	// ConfirmSelfReset checks codeHash against the unfinished, unconfirmed
	// self-reset id. Every check counts an attempt first; at most
	// maxAttempts are evaluated. A match before the code expires sets
	// EligibleAt and voids the code; a mismatch is ErrConflict, and an
	// expired, exhausted, confirmed or finished reset is ErrNotFound.
	ConfirmSelfReset(ctx context.Context, id, codeHash string, maxAttempts int, eligibleAt, now time.Time) error
	// CancelSelfResets cancels the user's unfinished self-resets.
	CancelSelfResets(ctx context.Context, userID string, now time.Time) error
	// CompleteSelfReset marks the self-reset id done and voids the user's
	// recovery codes, in one transaction, when it is confirmed, due
	// (EligibleAt <= now) and unfinished; otherwise ErrNotFound. Of
	// concurrent calls one succeeds.
	CompleteSelfReset(ctx context.Context, id string, now time.Time) error
}
