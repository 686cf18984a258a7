package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/asnidp/asnidp/storage"
)

type sessionRow struct {
	ID         string `db:"id"`
	TokenHash  string `db:"token_hash"`
	UserID     string `db:"user_id"`
	AuthTime   int64  `db:"auth_time"`
	AMR        string `db:"amr"`
	CreatedAt  int64  `db:"created_at"`
	LastSeenAt int64  `db:"last_seen_at"`
	ExpiresAt  int64  `db:"expires_at"`
	RevokedAt  int64  `db:"revoked_at"`
	UserAgent  string `db:"user_agent"`
	IP         string `db:"ip"`
}

const sessionColumns = `id, token_hash, user_id, auth_time, amr, created_at, last_seen_at,
	expires_at, revoked_at, user_agent, ip`

func (r *sessionRow) session() (*storage.Session, error) {
	var l lists
	s := &storage.Session{
		ID:         r.ID,
		TokenHash:  r.TokenHash,
		UserID:     r.UserID,
		AuthTime:   fromMicros(r.AuthTime),
		AMR:        l.parse(r.AMR),
		CreatedAt:  fromMicros(r.CreatedAt),
		LastSeenAt: fromMicros(r.LastSeenAt),
		ExpiresAt:  fromMicros(r.ExpiresAt),
		RevokedAt:  fromMicros(r.RevokedAt),
		UserAgent:  r.UserAgent,
		IP:         r.IP,
	}
	return s, l.err
}

// CreateSession inserts sess; a taken ID or token hash is ErrAlreadyExists.
// A zero LastSeenAt starts the idle timer at CreatedAt.
func (s *Store) CreateSession(ctx context.Context, sess *storage.Session) (err error) {
	defer wrap(&err, "CreateSession")
	if sess.TokenHash == "" {
		return errors.New("session without token hash")
	}
	lastSeen := sess.LastSeenAt
	if lastSeen.IsZero() {
		lastSeen = sess.CreatedAt
	}
	_, err = exec(ctx, s.db, `INSERT INTO sessions (`+sessionColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		sess.ID, sess.TokenHash, sess.UserID, micros(sess.AuthTime), jsonList(sess.AMR),
		micros(sess.CreatedAt), micros(lastSeen), micros(sess.ExpiresAt), micros(sess.RevokedAt),
		sess.UserAgent, sess.IP)
	return err
}

// SessionByTokenHash returns a live session: not revoked, before
// ExpiresAt, and last seen less than idle before now (so an idle of zero
// or less finds nothing).
func (s *Store) SessionByTokenHash(ctx context.Context, tokenHash string, idle time.Duration, now time.Time) (_ *storage.Session, err error) {
	defer wrap(&err, "SessionByTokenHash")
	var r sessionRow
	if err := get(ctx, s.db, &r, `SELECT `+sessionColumns+` FROM sessions
		WHERE token_hash = ? AND revoked_at = 0 AND expires_at > ? AND last_seen_at > ?`,
		tokenHash, micros(now), micros(now.Add(-idle))); err != nil {
		return nil, err
	}
	return r.session()
}

// SessionByID returns the session whatever its liveness.
func (s *Store) SessionByID(ctx context.Context, id string) (_ *storage.Session, err error) {
	defer wrap(&err, "SessionByID")
	var r sessionRow
	if err := get(ctx, s.db, &r, `SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id); err != nil {
		return nil, err
	}
	return r.session()
}

// TouchSession moves the idle timer to now; it never moves it back.
func (s *Store) TouchSession(ctx context.Context, id string, now time.Time) (err error) {
	defer wrap(&err, "TouchSession")
	n, err := exec(ctx, s.db, `UPDATE sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?`,
		micros(now), id, micros(now))
	if err != nil {
		return err
	}
	if n == 0 {
		return notFoundOr(ctx, s.db, "sessions", id, nil)
	}
	return nil
}

// RotateSessionToken replaces the cookie hash and counts as activity. A
// revoked session cannot be rotated back to life (ErrConflict); a hash
// already in use is ErrAlreadyExists.
func (s *Store) RotateSessionToken(ctx context.Context, id, newTokenHash string, now time.Time) (err error) {
	defer wrap(&err, "RotateSessionToken")
	if newTokenHash == "" {
		return errors.New("empty token hash")
	}
	n, err := exec(ctx, s.db, `UPDATE sessions SET token_hash = ?,
		last_seen_at = CASE WHEN last_seen_at < ? THEN ? ELSE last_seen_at END
		WHERE id = ? AND revoked_at = 0`, newTokenHash, micros(now), micros(now), id)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFoundOr(ctx, s.db, "sessions", id, storage.ErrConflict)
	}
	return nil
}

// RevokeSession ends a session; revoking it again keeps the first time.
// ErrNotFound when unknown.
func (s *Store) RevokeSession(ctx context.Context, id string, now time.Time) (err error) {
	defer wrap(&err, "RevokeSession")
	n, err := exec(ctx, s.db, `UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at = 0`,
		micros(now), id)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFoundOr(ctx, s.db, "sessions", id, nil)
	}
	return nil
}

// RevokeUserSessions ends every session of a user.
func (s *Store) RevokeUserSessions(ctx context.Context, userID string, now time.Time) (err error) {
	defer wrap(&err, "RevokeUserSessions")
	if userID == "" {
		return nil
	}
	_, err = exec(ctx, s.db, `UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at = 0`,
		micros(now), userID)
	return err
}

// LiveSessions lists the user's live sessions and, in a second query, the
// clients signed in through each: those issued a code (an auth request
// completed in the session keeps its row for a day after the code's use,
// longer than a session lives) or a token in it.
func (s *Store) LiveSessions(ctx context.Context, userID string, idle time.Duration, now time.Time) (_ []*storage.LiveSession, err error) {
	defer wrap(&err, "LiveSessions")
	var rows []sessionRow
	if err := all(ctx, s.db, &rows, `SELECT `+sessionColumns+` FROM sessions
		WHERE user_id = ? AND revoked_at = 0 AND expires_at > ? AND last_seen_at > ?
		ORDER BY last_seen_at DESC, id`, userID, micros(now), micros(now.Add(-idle))); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	out := make([]*storage.LiveSession, 0, len(rows))
	byID := make(map[string]*storage.LiveSession, len(rows))
	for i := range rows {
		sess, err := rows[i].session()
		if err != nil {
			return nil, err
		}
		ls := &storage.LiveSession{Session: *sess}
		out = append(out, ls)
		byID[sess.ID] = ls
	}
	var clients []struct {
		SessionID string `db:"session_id"`
		ID        string `db:"id"`
		Name      string `db:"name"`
	}
	if err := all(ctx, s.db, &clients, `SELECT DISTINCT x.session_id, c.id, c.name FROM (
			SELECT session_id, client_id FROM auth_requests WHERE code_hash IS NOT NULL
				AND session_id IN (SELECT id FROM sessions WHERE user_id = ?)
			UNION SELECT session_id, client_id FROM access_tokens
				WHERE session_id IN (SELECT id FROM sessions WHERE user_id = ?)
			UNION SELECT session_id, client_id FROM refresh_tokens
				WHERE session_id IN (SELECT id FROM sessions WHERE user_id = ?)
		) x JOIN clients c ON c.id = x.client_id
		ORDER BY c.name, c.id`, userID, userID, userID); err != nil {
		return nil, err
	}
	for _, c := range clients {
		if ls, ok := byID[c.SessionID]; ok {
			ls.Clients = append(ls.Clients, storage.SessionClient{ID: c.ID, Name: c.Name})
		}
	}
	return out, nil
}
