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
}
