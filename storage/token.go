package storage

import (
	"context"
	"time"
)

// AccessToken records an issued access token so it can be introspected and
// revoked. The token string itself is never stored.
type AccessToken struct {
	ID       string
	ClientID string
	// UserID is the subject; for client_credentials it is the client ID.
	UserID   string
	Scopes   []string
	Audience []string
	// GrantID groups everything one code redemption issued (the auth
	// request ID), so a second redemption can revoke it all.
	GrantID        string
	RefreshTokenID string
	SessionID      string
	AuthTime       time.Time
	AMR            []string
	CreatedAt      time.Time
	ExpiresAt      time.Time
	RevokedAt      time.Time
}

// RefreshToken is one link of a rotation family; only its hash is stored.
type RefreshToken struct {
	ID        string
	TokenHash string
	// FamilyID is shared by every token rotated from one original grant.
	FamilyID  string
	GrantID   string
	ClientID  string
	UserID    string
	Scopes    []string
	Audience  []string
	SessionID string
	AuthTime  time.Time
	AMR       []string
	CreatedAt time.Time
	ExpiresAt time.Time
	// UsedAt is set when the token was rotated; presenting it again is
	// reuse and revokes the family.
	UsedAt    time.Time
	RevokedAt time.Time
}

// Issue is everything one token response stores. IssueTokens writes it in
// one transaction, so the redemption of the code or the rotation of the
// refresh token it answers, the new tokens and their audit row are
// committed together or not at all.
type Issue struct {
	// CodeHash, when set, is the authorization code this response redeems:
	// it is marked used by one conditional UPDATE that only an unused,
	// unexpired code passes. A code that does not pass is ErrConflict and
	// nothing is written; RedeemAuthCode then tells a reuse (and marks it)
	// from an expired or unknown code.
	CodeHash string
	// RotateHash, when set, is the refresh token this response rotates into
	// Refresh, exactly as RotateRefreshToken does (Refresh.FamilyID is set
	// to the old token's family): a used or revoked old token revokes its
	// family, which is committed, and is ErrConflict; an expired or unknown
	// one is ErrNotFound. In both cases no token is written.
	RotateHash string
	// Refresh is the new refresh token, if the response carries one.
	Refresh *RefreshToken
	// Access is the new access token; required.
	Access *AccessToken
	// Audit is the event recording the issue, if any.
	Audit *AuditEvent
}

// TokenStore persists access and refresh token records.
type TokenStore interface {
	// IssueTokens stores iss in one transaction (see Issue). At most one of
	// CodeHash and RotateHash may be set, and RotateHash needs Refresh.
	IssueTokens(ctx context.Context, iss *Issue, now time.Time) error

	CreateAccessToken(ctx context.Context, t *AccessToken) error
	// AccessTokenByID returns the record, revoked or expired ones included
	// (callers decide); ErrNotFound when unknown.
	AccessTokenByID(ctx context.Context, id string) (*AccessToken, error)
	RevokeAccessToken(ctx context.Context, id string, now time.Time) error

	// CreateRefreshToken inserts a fresh token (a new family or a rotation
	// result written by RotateRefreshToken).
	CreateRefreshToken(ctx context.Context, t *RefreshToken) error
	// RefreshTokenByHash returns ErrNotFound when unknown.
	RefreshTokenByHash(ctx context.Context, tokenHash string) (*RefreshToken, error)
	// RotateRefreshToken, in one transaction, marks the token with oldHash
	// used and inserts next (same family). If the old token was already
	// used or revoked, the whole family is revoked (its access tokens too)
	// and the result is ErrConflict. Expired or unknown: ErrNotFound. Of
	// two concurrent rotations of one token exactly one succeeds.
	RotateRefreshToken(ctx context.Context, oldHash string, next *RefreshToken, now time.Time) error
	// RevokeRefreshFamily revokes every refresh token of the family and the
	// access tokens issued with them.
	RevokeRefreshFamily(ctx context.Context, familyID string, now time.Time) error
	// RevokeGrant revokes every access and refresh token of one grant.
	RevokeGrant(ctx context.Context, grantID string, now time.Time) error
	// RevokeUserTokens revokes every access and refresh token of a user.
	RevokeUserTokens(ctx context.Context, userID string, now time.Time) error
	// RevokeSessionTokens revokes every token issued within an SSO session,
	// offline_access refresh tokens included (an explicit logout).
	RevokeSessionTokens(ctx context.Context, sessionID string, now time.Time) error
}
