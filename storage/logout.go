package storage

import (
	"context"
	"time"
)

// LogoutDelivery is an OpenID Connect Back-Channel Logout notice owed to
// one client for one ended SSO session. It is queued in the same
// transaction that ends the session, so no ended session is forgotten, and
// retried until delivered or given up.
type LogoutDelivery struct {
	ID        string
	ClientID  string
	URI       string
	SessionID string
	UserID    string
	Attempts  int
	// NextAttemptAt is when the delivery is due (or, while a process holds
	// it, when that process's lease runs out).
	NextAttemptAt time.Time
	CreatedAt     time.Time
}

// LogoutStore ends sessions and keeps the back-channel logout queue.
type LogoutStore interface {
	// EndSession revokes the session and every token issued in it and, in
	// the same transaction, queues a delivery for each client with a
	// back-channel logout URI that was issued a code in it. Ending a
	// session that is already ended does nothing; an unknown one is
	// ErrNotFound.
	EndSession(ctx context.Context, id string, now time.Time) error
	// EndUserSessions does EndSession for every live session of a user
	// (disabled account, new password, authenticator reset) and revokes
	// the user's remaining tokens.
	EndUserSessions(ctx context.Context, userID string, now time.Time) error
	// EndOtherSessions, in one transaction, does EndSession for every live
	// session of the user except keep and revokes every token of the user
	// not issued in keep ("sign out everywhere else"). It returns the IDs
	// of the sessions it ended, and counts as activity of keep (as
	// TouchSession). When keep is not a live (unrevoked, unexpired)
	// session of the user the result is ErrConflict and nothing changes.
	EndOtherSessions(ctx context.Context, userID, keep string, now time.Time) ([]string, error)
	// ClaimLogoutDeliveries returns up to limit deliveries due at now and
	// moves each one's NextAttemptAt to now+lease, so that other processes
	// skip it meanwhile. Two concurrent claims never return the same one.
	ClaimLogoutDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*LogoutDelivery, error)
	// FinishLogoutDelivery removes a delivery that reached its client or
	// that is given up.
	FinishLogoutDelivery(ctx context.Context, id string) error
	// RetryLogoutDelivery counts a failed attempt and makes the delivery
	// due again at next.
	RetryLogoutDelivery(ctx context.Context, id string, next time.Time) error
}
