package storage

import (
	"context"
	"time"
)

// AuthRequest is an OIDC authorization request in flight, from /authorize
// to the code redemption. The login pages record each verified factor on
// it; the OP treats it as done only when every required factor is there.
type AuthRequest struct {
	ID string
	// BrowserHash binds the request to the browser that started it: the
	// hash of a random value held in that browser's cookie.
	BrowserHash         string
	ClientID            string
	RedirectURI         string
	State               string
	Nonce               string
	Scopes              []string
	ResponseType        string
	ResponseMode        string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              []string
	// MaxAge is the max_age in seconds, or -1 when none was sent.
	MaxAge    int64
	UILocales []string
	LoginHint string
	// HintUserID is the subject of a valid id_token_hint.
	HintUserID string
	// ACR is the authentication context class the provider chose among
	// the request's acr_values; empty means its default level.
	ACR string

	// UserID is set once the password (first factor) is verified.
	UserID string
	// PasswordAt and OTPAt are when each factor was verified in this
	// request (zero until then); AuthTime is the authentication time the
	// ID token reports (may come from an SSO session).
	PasswordAt time.Time
	OTPAt      time.Time
	// RecoveryAt is when a recovery code stood in for the authenticator;
	// such a request completes only once a new authenticator is bound
	// (OTPAt is then set too).
	RecoveryAt time.Time
	AuthTime   time.Time
	// SessionID is the SSO session (sid) the request was completed with.
	SessionID string
	// EnrolSecret is the sealed authenticator seed offered on the
	// enrolment page, bound to the account only once a code proves it;
	// EnrolStartedAt starts the enrolment timer.
	EnrolSecret    []byte
	EnrolStartedAt time.Time

	// CodeHash is the hash of the issued authorization code.
	CodeHash      string
	CodeExpiresAt time.Time
	CodeUsedAt    time.Time
	// CodeReusedAt is set when the code was presented after it was used.
	CodeReusedAt time.Time

	CreatedAt time.Time
	ExpiresAt time.Time
}

// AuthRequestStore persists authorization requests and their codes.
type AuthRequestStore interface {
	CreateAuthRequest(ctx context.Context, ar *AuthRequest) error
	// AuthRequestByID returns ErrNotFound for an unknown or expired
	// (ExpiresAt <= now) request.
	AuthRequestByID(ctx context.Context, id string, now time.Time) (*AuthRequest, error)
	// SetAuthRequestUser records a verified password for userID.
	SetAuthRequestUser(ctx context.Context, id, userID string, at time.Time) error
	// RebindAuthRequest replaces the browser binding (the login rotates the
	// browser's cookie after each factor, so a value planted or seen
	// before the login completes nothing).
	RebindAuthRequest(ctx context.Context, id, browserHash string) error
	// ClearAuthRequestUser forgets the verified factors and any pending
	// enrolment: the login starts again at the password.
	ClearAuthRequestUser(ctx context.Context, id string) error
	// SetAuthRequestEnrolment stores the sealed seed offered for enrolment
	// and when it was offered.
	SetAuthRequestEnrolment(ctx context.Context, id string, sealedSecret []byte, at time.Time) error
	// SetAuthRequestOTP records a verified second factor.
	SetAuthRequestOTP(ctx context.Context, id string, at time.Time) error
	// SetAuthRequestRecovery records an accepted recovery code.
	SetAuthRequestRecovery(ctx context.Context, id string, at time.Time) error
	// CompleteAuthRequest records the SSO session and authentication time
	// the request completes with.
	CompleteAuthRequest(ctx context.Context, id, sessionID string, authTime time.Time) error
	// SaveAuthCode attaches the hash of a freshly issued code. A request
	// gets at most one code: a second call is ErrConflict.
	SaveAuthCode(ctx context.Context, id, codeHash string, expiresAt time.Time) error
	// RedeemAuthCode atomically marks the code used and returns its
	// request. Unknown or expired codes are ErrNotFound; a code already
	// used is ErrConflict, marks CodeReusedAt, and the request is still
	// returned (non-nil), so the caller can revoke what the first
	// redemption issued. Of two concurrent calls exactly one succeeds.
	RedeemAuthCode(ctx context.Context, codeHash string, now time.Time) (*AuthRequest, error)
	// AuthRequestByCode returns the request a code was issued for without
	// consuming it (ErrNotFound when unknown).
	AuthRequestByCode(ctx context.Context, codeHash string) (*AuthRequest, error)
	// DeleteAuthRequest removes a request that has not issued a code.
	DeleteAuthRequest(ctx context.Context, id string) error
}
