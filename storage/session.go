package storage

import (
	"context"
	"time"
)

// Session is a server-side SSO session. The browser holds only a random
// value whose hash is TokenHash; ID is the public sid put into ID tokens.
type Session struct {
	ID        string
	TokenHash string
	UserID    string
	AuthTime  time.Time
	AMR       []string
	CreatedAt time.Time
	// LastSeenAt drives the idle timeout; ExpiresAt is the absolute end.
	LastSeenAt time.Time
	ExpiresAt  time.Time
	RevokedAt  time.Time
	// UserAgent and IP are the browser's User-Agent header and client IP
	// when the session started, shown to the employee on the account page
	// (empty for sessions older than these fields).
	UserAgent string
	IP        string
}

// LiveSession is a live SSO session with the clients signed in through it.
type LiveSession struct {
	Session
	// Clients were issued a code or a token in the session, ordered by
	// name, then ID.
	Clients []SessionClient
}

// SessionClient names a client; Name is its display name, possibly
// empty.
type SessionClient struct {
	ID   string
	Name string
}

// SessionStore persists SSO sessions.
type SessionStore interface {
	CreateSession(ctx context.Context, s *Session) error
	// SessionByTokenHash returns a live session: not revoked, not past
	// ExpiresAt, and seen within idle of now. Otherwise ErrNotFound.
	SessionByTokenHash(ctx context.Context, tokenHash string, idle time.Duration, now time.Time) (*Session, error)
	// SessionByID returns the session whatever its liveness.
	SessionByID(ctx context.Context, id string) (*Session, error)
	// TouchSession extends the idle timer (never the absolute expiry).
	TouchSession(ctx context.Context, id string, now time.Time) error
	// RotateSessionToken replaces the cookie hash (after each factor).
	RotateSessionToken(ctx context.Context, id, newTokenHash string, now time.Time) error
	RevokeSession(ctx context.Context, id string, now time.Time) error
	// RevokeUserSessions ends every session of a user.
	RevokeUserSessions(ctx context.Context, userID string, now time.Time) error
	// LiveSessions returns the user's live sessions, live as
	// SessionByTokenHash judges it, most recently seen first, each with the
	// clients that were issued a code, an access token or a refresh token
	// in it. A user without any has none (no error).
	LiveSessions(ctx context.Context, userID string, idle time.Duration, now time.Time) ([]*LiveSession, error)
}
