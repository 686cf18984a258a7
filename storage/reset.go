package storage

import (
	"context"
	"time"
)

// ResetRequest is one browser's way through the password reset (account
// activation): NIP and captcha, the registered email, the emailed code,
// the new password. The browser holds only a random value whose hash is
// TokenHash.
//
// A request exists for every NIP typed, known or not, so the steps do the
// same work and answer the same whatever the NIP: UserID is empty when the
// NIP is unknown, and a request whose email did not match gets a code
// record with an empty CodeHash, which no code ever matches.
type ResetRequest struct {
	ID        string
	TokenHash string
	// AuthRequestID is the pending authorization request the employee came
	// from, continued after the reset ("" when none).
	AuthRequestID string
	NIP           string
	UserID        string

	// CodeHash is the keyed hash of the emailed code; empty when no code
	// was mailed or the code was voided.
	CodeHash string
	// CodeIssuedAt is when step 2 last ran for this request (zero before).
	CodeIssuedAt   time.Time
	CodeExpiresAt  time.Time
	CodeAttempts   int
	CodeVerifiedAt time.Time
	CompletedAt    time.Time

	CreatedAt time.Time
	ExpiresAt time.Time
}

// Limit is "at most Max events within any Window".
type Limit struct {
	Max    int
	Window time.Duration
}

// ResetCompletion is what completing a reset writes.
type ResetCompletion struct {
	RequestID    string
	UserID       string
	PasswordHash string
}

// ResetStore persists reset requests. Every method that two browsers or
// two processes may race on is decided by the database.
type ResetStore interface {
	// CreateResetRequest inserts r; a taken ID or token hash is
	// ErrAlreadyExists.
	CreateResetRequest(ctx context.Context, r *ResetRequest) error
	// ResetRequestByTokenHash returns the request, completed ones
	// included; ErrNotFound when unknown or expired (ExpiresAt <= now).
	ResetRequestByTokenHash(ctx context.Context, tokenHash string, now time.Time) (*ResetRequest, error)

	// IssueResetCode records one send for the request's NIP and gives the
	// request the code codeHash (empty: nothing is mailed, but the request
	// moves on all the same) valid until expiresAt, with no attempts used.
	// A non-empty codeHash voids every other code of the NIP (an empty one
	// voids nothing, so typing a wrong email cannot cancel the owner's
	// code). It is one transaction,
	// serialised per NIP across processes. When a further send would
	// exceed any of limits (counting earlier sends of the NIP, whatever
	// request made them), nothing is written and the result is
	// ErrConflict with the time the next send is allowed.
	IssueResetCode(ctx context.Context, id, codeHash string, expiresAt time.Time, limits []Limit, now time.Time) (time.Time, error)
	// ReleaseResetCode undoes an IssueResetCode whose mail could not be
	// delivered: the code is voided (if it is still codeHash) and its send
	// no longer counts against the NIP's limits.
	ReleaseResetCode(ctx context.Context, id, codeHash string) error
	// CheckResetCode counts one attempt against the request's live code
	// and, when codeHash is that code, marks it verified. A code is live
	// when it is unexpired, not yet verified, and has had fewer than
	// maxAttempts attempts. The result is nil when the code was verified,
	// ErrConflict with the attempts counted so far when it was wrong, and
	// ErrNotFound when there is no live code. Of concurrent calls with the
	// right code exactly one succeeds.
	CheckResetCode(ctx context.Context, id, codeHash string, maxAttempts int, now time.Time) (int, error)
	// CompleteReset, in one transaction, marks the request completed (it
	// must have a verified code, belong to c.UserID and not be completed
	// yet, otherwise ErrConflict and nothing changes), sets the password
	// (a provisioned account becomes password_set), marks the email
	// verified, clears the password failures, delay and lock and the
	// authenticator lock and failures (never the authenticator itself),
	// voids every other reset code of the user, revokes every session and
	// every access and refresh token of the user, and forgets factors
	// verified on the user's pending authorization requests.
	CompleteReset(ctx context.Context, c ResetCompletion, now time.Time) error

	// PruneResets deletes reset requests and captchas that expired before
	// now and sends older than a day, and returns how many rows it removed.
	PruneResets(ctx context.Context, now time.Time) (int64, error)
}

// Captcha is one challenge: the digits an image and a sound show, for one
// action (such as "reset" or "login") in one browser. Answer is kept as it
// is: every process must be able to draw it, and it guards nothing once
// used or expired.
type Captcha struct {
	ID     string
	Action string
	// BindingHash is the hash of a value only the browser that was shown
	// the captcha holds.
	BindingHash string
	Answer      string
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// CaptchaStore persists captchas, so any process can check one another
// process showed.
type CaptchaStore interface {
	// CreateCaptcha inserts c; a taken ID is ErrAlreadyExists.
	CreateCaptcha(ctx context.Context, c *Captcha) error
	// CaptchaByID returns an unused, unexpired captcha (for drawing it);
	// ErrNotFound otherwise.
	CaptchaByID(ctx context.Context, id string, now time.Time) (*Captcha, error)
	// UseCaptcha marks an unused, unexpired captcha used and returns it, so
	// each captcha is checked once whatever the answer; ErrNotFound when
	// it is unknown, used or expired. Of concurrent calls exactly one
	// succeeds.
	UseCaptcha(ctx context.Context, id string, now time.Time) (*Captcha, error)
}
