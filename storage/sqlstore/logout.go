package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/asnidp/asnidp/storage"
)

var _ storage.LogoutStore = (*Store)(nil)

// OnLogoutQueued registers f to be called after each successful
// EndSession, EndUserSessions, DisableUser and ResetTOTP of this Store, that is after
// each commit that may have queued back-channel logout notices, so that a
// sender in the same process can deliver them at once instead of at its
// next look at the queue. f runs on the caller's goroutine and must not
// block. Nothing crosses processes here: notices queued by another
// process are found by polling the queue. A nil f removes the callback.
func (s *Store) OnLogoutQueued(f func()) {
	if f == nil {
		s.logoutQueued.Store(nil)
		return
	}
	s.logoutQueued.Store(&f)
}

// logoutsQueued runs the OnLogoutQueued callback unless *err is set; it
// is deferred by the methods that queue notices.
func (s *Store) logoutsQueued(err *error) {
	if *err != nil {
		return
	}
	if f := s.logoutQueued.Load(); f != nil {
		(*f)()
	}
}

// EndSession revokes a session, its tokens and queues its back-channel
// logout notices, all in one transaction.
func (s *Store) EndSession(ctx context.Context, id string, now time.Time) (err error) {
	defer wrap(&err, "EndSession")
	defer s.logoutsQueued(&err)
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		var userID string
		err := queryRow(ctx, tx, `UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at = 0 RETURNING user_id`,
			micros(now), id).Scan(&userID)
		if errors.Is(err, sql.ErrNoRows) {
			return notFoundOr(ctx, tx, "sessions", id, nil) // already ended: nothing more to do
		}
		if err != nil {
			return err
		}
		return endSessionTx(ctx, tx, id, userID, now)
	})
}

// EndUserSessions ends every live session of a user and revokes the
// user's remaining tokens.
func (s *Store) EndUserSessions(ctx context.Context, userID string, now time.Time) (err error) {
	defer wrap(&err, "EndUserSessions")
	defer s.logoutsQueued(&err)
	if userID == "" {
		return nil
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error { return endUserSessionsTx(ctx, tx, userID, now) })
}

// EndOtherSessions ends every live session of a user but keep, with
// their notices, and every token of the user not issued in keep.
func (s *Store) EndOtherSessions(ctx context.Context, userID, keep string, now time.Time) (_ []string, err error) {
	defer wrap(&err, "EndOtherSessions")
	defer s.logoutsQueued(&err)
	var ended []string
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		ended, err = endOtherSessionsTx(ctx, tx, userID, keep, now)
		return err
	})
	return ended, err
}

// endOtherSessionsTx is EndOtherSessions within tx. It first counts the
// request as activity of keep with a conditional UPDATE, whose row count
// says whether keep is still a live session of the user and whose row
// lock holds off a concurrent end of keep until this commits: a session
// ended meanwhile (from another device, by an operator) cannot go on to
// end the others.
func endOtherSessionsTx(ctx context.Context, tx *sqlx.Tx, userID, keep string, now time.Time) ([]string, error) {
	n, err := exec(ctx, tx, `UPDATE sessions SET last_seen_at = CASE WHEN last_seen_at < ? THEN ? ELSE last_seen_at END
		WHERE id = ? AND user_id = ? AND revoked_at = 0 AND expires_at > ?`,
		micros(now), micros(now), keep, userID, micros(now))
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, storage.ErrConflict
	}
	var ids []string
	if err := all(ctx, tx, &ids, `UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND id <> ? AND revoked_at = 0 RETURNING id`,
		micros(now), userID, keep); err != nil {
		return nil, err
	}
	for _, id := range ids {
		if err := endSessionTx(ctx, tx, id, userID, now); err != nil {
			return nil, err
		}
	}
	for _, table := range []string{"access_tokens", "refresh_tokens"} {
		if _, err := exec(ctx, tx, `UPDATE `+table+` SET revoked_at = ? WHERE user_id = ? AND session_id <> ? AND revoked_at = 0`,
			micros(now), userID, keep); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// endUserSessionsTx ends every live session of a user, as endSessionTx
// ends one, and revokes the tokens the user holds outside any session.
func endUserSessionsTx(ctx context.Context, tx *sqlx.Tx, userID string, now time.Time) error {
	var ids []string
	if err := all(ctx, tx, &ids, `UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at = 0 RETURNING id`,
		micros(now), userID); err != nil {
		return err
	}
	for _, id := range ids {
		if err := endSessionTx(ctx, tx, id, userID, now); err != nil {
			return err
		}
	}
	for _, table := range []string{"access_tokens", "refresh_tokens"} {
		if _, err := exec(ctx, tx, `UPDATE `+table+` SET revoked_at = ? WHERE user_id = ? AND revoked_at = 0`,
			micros(now), userID); err != nil {
			return err
		}
	}
	return nil
}

// endSessionTx revokes the tokens of a session that was just revoked and
// queues a notice for every client with a back-channel logout URI that was
// issued a code or a refresh token in it.
func endSessionTx(ctx context.Context, tx *sqlx.Tx, id, userID string, now time.Time) error {
	for _, table := range []string{"access_tokens", "refresh_tokens"} {
		if _, err := exec(ctx, tx, `UPDATE `+table+` SET revoked_at = ? WHERE session_id = ? AND revoked_at = 0`,
			micros(now), id); err != nil {
			return err
		}
	}
	var targets []struct {
		ClientID string `db:"id"`
		URI      string `db:"backchannel_logout_uri"`
	}
	if err := all(ctx, tx, &targets, `SELECT id, backchannel_logout_uri FROM clients
		WHERE backchannel_logout_uri <> '' AND id IN (
			SELECT client_id FROM auth_requests WHERE session_id = ? AND code_hash <> ''
			UNION SELECT client_id FROM refresh_tokens WHERE session_id = ?)
		ORDER BY id`, id, id); err != nil {
		return err
	}
	for _, t := range targets {
		if _, err := exec(ctx, tx, `INSERT INTO logout_deliveries
			(id, client_id, uri, session_id, user_id, attempts, next_attempt_at, created_at)
			VALUES (?, ?, ?, ?, ?, 0, ?, ?)`,
			"ld_"+rand.Text(), t.ClientID, t.URI, id, userID, micros(now), micros(now)); err != nil {
			return err
		}
	}
	return nil
}

type logoutRow struct {
	ID            string `db:"id"`
	ClientID      string `db:"client_id"`
	URI           string `db:"uri"`
	SessionID     string `db:"session_id"`
	UserID        string `db:"user_id"`
	Attempts      int    `db:"attempts"`
	NextAttemptAt int64  `db:"next_attempt_at"`
	CreatedAt     int64  `db:"created_at"`
}

// ClaimLogoutDeliveries leases due deliveries; each lease is a
// compare-and-set on next_attempt_at, so concurrent claimers split them.
func (s *Store) ClaimLogoutDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) (_ []*storage.LogoutDelivery, err error) {
	defer wrap(&err, "ClaimLogoutDeliveries")
	var due []logoutRow
	if err := all(ctx, s.db, &due, `SELECT id, client_id, uri, session_id, user_id, attempts, next_attempt_at, created_at
		FROM logout_deliveries WHERE next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?`, micros(now), limit); err != nil {
		return nil, err
	}
	var out []*storage.LogoutDelivery
	for _, r := range due {
		n, err := exec(ctx, s.db, `UPDATE logout_deliveries SET next_attempt_at = ? WHERE id = ? AND next_attempt_at = ?`,
			micros(now.Add(lease)), r.ID, r.NextAttemptAt)
		if err != nil {
			return nil, err
		}
		if n == 1 {
			out = append(out, &storage.LogoutDelivery{
				ID: r.ID, ClientID: r.ClientID, URI: r.URI, SessionID: r.SessionID, UserID: r.UserID,
				Attempts: r.Attempts, NextAttemptAt: now.Add(lease).UTC(), CreatedAt: fromMicros(r.CreatedAt),
			})
		}
	}
	return out, nil
}

// FinishLogoutDelivery removes a delivery.
func (s *Store) FinishLogoutDelivery(ctx context.Context, id string) (err error) {
	defer wrap(&err, "FinishLogoutDelivery")
	_, err = exec(ctx, s.db, `DELETE FROM logout_deliveries WHERE id = ?`, id)
	return err
}

// RetryLogoutDelivery counts a failed attempt.
func (s *Store) RetryLogoutDelivery(ctx context.Context, id string, next time.Time) (err error) {
	defer wrap(&err, "RetryLogoutDelivery")
	n, err := exec(ctx, s.db, `UPDATE logout_deliveries SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?`,
		micros(next), id)
	if err == nil && n == 0 {
		return storage.ErrNotFound
	}
	return err
}
