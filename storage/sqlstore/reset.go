package sqlstore

import (
	"context"
	"errors"
	"hash/fnv"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/asnidp/asnidp/storage"
)

type resetRow struct {
	ID             string `db:"id"`
	TokenHash      string `db:"token_hash"`
	AuthRequestID  string `db:"auth_request_id"`
	NIP            string `db:"nip"`
	UserID         string `db:"user_id"`
	CodeHash       string `db:"code_hash"`
	CodeIssuedAt   int64  `db:"code_issued_at"`
	CodeExpiresAt  int64  `db:"code_expires_at"`
	CodeAttempts   int    `db:"code_attempts"`
	CodeVerifiedAt int64  `db:"code_verified_at"`
	CompletedAt    int64  `db:"completed_at"`
	CreatedAt      int64  `db:"created_at"`
	ExpiresAt      int64  `db:"expires_at"`
}

const resetColumns = `id, token_hash, auth_request_id, nip, user_id, code_hash, code_issued_at,
	code_expires_at, code_attempts, code_verified_at, completed_at, created_at, expires_at`

func (r *resetRow) request() *storage.ResetRequest {
	return &storage.ResetRequest{
		ID:             r.ID,
		TokenHash:      r.TokenHash,
		AuthRequestID:  r.AuthRequestID,
		NIP:            r.NIP,
		UserID:         r.UserID,
		CodeHash:       r.CodeHash,
		CodeIssuedAt:   fromMicros(r.CodeIssuedAt),
		CodeExpiresAt:  fromMicros(r.CodeExpiresAt),
		CodeAttempts:   r.CodeAttempts,
		CodeVerifiedAt: fromMicros(r.CodeVerifiedAt),
		CompletedAt:    fromMicros(r.CompletedAt),
		CreatedAt:      fromMicros(r.CreatedAt),
		ExpiresAt:      fromMicros(r.ExpiresAt),
	}
}

// CreateResetRequest inserts r; a taken ID or token hash is
// ErrAlreadyExists.
func (s *Store) CreateResetRequest(ctx context.Context, r *storage.ResetRequest) (err error) {
	defer wrap(&err, "CreateResetRequest")
	if r.ID == "" || r.TokenHash == "" || r.NIP == "" {
		return errors.New("reset request without id, token hash or NIP")
	}
	_, err = exec(ctx, s.db, `INSERT INTO reset_requests (`+resetColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.TokenHash, r.AuthRequestID, r.NIP, r.UserID, r.CodeHash, micros(r.CodeIssuedAt),
		micros(r.CodeExpiresAt), r.CodeAttempts, micros(r.CodeVerifiedAt), micros(r.CompletedAt),
		micros(r.CreatedAt), micros(r.ExpiresAt))
	return err
}

// ResetRequestByTokenHash returns a request that has not expired.
func (s *Store) ResetRequestByTokenHash(ctx context.Context, tokenHash string, now time.Time) (_ *storage.ResetRequest, err error) {
	defer wrap(&err, "ResetRequestByTokenHash")
	var r resetRow
	if err := get(ctx, s.db, &r, `SELECT `+resetColumns+` FROM reset_requests
		WHERE token_hash = ? AND expires_at > ?`, tokenHash, micros(now)); err != nil {
		return nil, err
	}
	return r.request(), nil
}

// resetLockID is the advisory lock that serialises the sends of one NIP
// on PostgreSQL.
func resetLockID(nip string) int64 {
	h := fnv.New64a()
	h.Write([]byte("asnidp reset send " + nip))
	return int64(h.Sum64())
}

// IssueResetCode checks the NIP's send limits against its recorded sends
// and, within them, records this send and moves the code to this request.
func (s *Store) IssueResetCode(ctx context.Context, id, codeHash string, expiresAt time.Time, limits []storage.Limit, now time.Time) (retryAt time.Time, err error) {
	defer wrap(&err, "IssueResetCode")
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		var nip string
		if err := get(ctx, tx, &nip, `SELECT nip FROM reset_requests WHERE id = ?`, id); err != nil {
			return err
		}
		if err := s.lockTx(ctx, tx, resetLockID(nip)); err != nil {
			return err
		}
		var longest time.Duration
		for _, l := range limits {
			longest = max(longest, l.Window)
		}
		var sends []int64
		if err := all(ctx, tx, &sends, `SELECT sent_at FROM reset_sends WHERE nip = ? AND sent_at > ?
			ORDER BY sent_at`, nip, micros(now.Add(-longest))); err != nil {
			return err
		}
		retryAt = nextSend(sends, limits, now)
		if !retryAt.IsZero() {
			return storage.ErrConflict
		}
		if _, err := exec(ctx, tx, `INSERT INTO reset_sends (nip, request_id, sent_at) VALUES (?, ?, ?)`,
			nip, id, micros(now)); err != nil {
			return err
		}
		// Only a real code replaces the NIP's other codes; the statement
		// runs either way so both cases cost the same.
		if _, err := exec(ctx, tx, `UPDATE reset_requests SET code_hash = '', code_expires_at = 0,
			code_verified_at = 0 WHERE nip = ? AND id <> ? AND completed_at = 0 AND ? <> ''`,
			nip, id, codeHash); err != nil {
			return err
		}
		_, err := exec(ctx, tx, `UPDATE reset_requests SET code_hash = ?, code_issued_at = ?,
			code_expires_at = ?, code_attempts = 0, code_verified_at = 0 WHERE id = ?`,
			codeHash, micros(now), micros(expiresAt), id)
		return err
	})
	return retryAt, err
}

// nextSend returns when the next send is allowed given the earlier sends
// (unix microseconds, ascending), or the zero time when one is allowed now.
// A limit of Max sends per Window is reached when Max sends lie within the
// window; it frees up when the oldest of the last Max leaves it.
func nextSend(sends []int64, limits []storage.Limit, now time.Time) time.Time {
	var retry time.Time
	for _, l := range limits {
		if l.Max <= 0 || l.Window <= 0 {
			continue
		}
		from := micros(now.Add(-l.Window))
		i, _ := slices.BinarySearch(sends, from+1)
		inWindow := sends[i:]
		if len(inWindow) < l.Max {
			continue
		}
		oldest := inWindow[len(inWindow)-l.Max]
		if at := fromMicros(oldest).Add(l.Window); at.After(retry) {
			retry = at
		}
	}
	return retry
}

// ReleaseResetCode voids the request's code if it is still codeHash and
// deletes the send that issued it.
func (s *Store) ReleaseResetCode(ctx context.Context, id, codeHash string) (err error) {
	defer wrap(&err, "ReleaseResetCode")
	if codeHash == "" {
		return nil
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		var issued int64
		err := get(ctx, tx, &issued, `SELECT code_issued_at FROM reset_requests WHERE id = ? AND code_hash = ?`, id, codeHash)
		if err != nil {
			if errors.Is(translate(err), storage.ErrNotFound) {
				return nil // a newer code replaced it; that send stands
			}
			return err
		}
		if _, err := exec(ctx, tx, `DELETE FROM reset_sends WHERE request_id = ? AND sent_at = ?`, id, issued); err != nil {
			return err
		}
		_, err = exec(ctx, tx, `UPDATE reset_requests SET code_hash = '', code_expires_at = 0
			WHERE id = ? AND code_hash = ?`, id, codeHash)
		return err
	})
}

// CheckResetCode counts the attempt and verifies the code in one
// conditional UPDATE: once a code is verified, used up, voided or expired
// the condition no longer holds, so a blocked concurrent call changes
// nothing.
func (s *Store) CheckResetCode(ctx context.Context, id, codeHash string, maxAttempts int, now time.Time) (_ int, err error) {
	defer wrap(&err, "CheckResetCode")
	var attempts int
	var verified int64
	err = queryRow(ctx, s.db, `UPDATE reset_requests SET code_attempts = code_attempts + 1,
		code_verified_at = CASE WHEN code_hash <> '' AND code_hash = ? THEN CAST(? AS BIGINT) ELSE 0 END
		WHERE id = ? AND code_verified_at = 0 AND completed_at = 0 AND code_expires_at > ?
			AND code_attempts < ?
		RETURNING code_attempts, code_verified_at`,
		codeHash, micros(now), id, micros(now), maxAttempts).Scan(&attempts, &verified)
	if err != nil {
		return 0, err
	}
	if verified == 0 {
		return attempts, storage.ErrConflict
	}
	return attempts, nil
}

// CompleteReset sets the new password and ends everything the old one
// opened, in one transaction.
func (s *Store) CompleteReset(ctx context.Context, c storage.ResetCompletion, now time.Time) (err error) {
	defer wrap(&err, "CompleteReset")
	if c.PasswordHash == "" || c.UserID == "" {
		return errors.New("reset completion without password hash or user")
	}
	us := micros(now)
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		n, err := exec(ctx, tx, `UPDATE reset_requests SET completed_at = ?, code_hash = '', code_expires_at = 0
			WHERE id = ? AND user_id = ? AND code_verified_at <> 0 AND completed_at = 0`,
			us, c.RequestID, c.UserID)
		if err != nil {
			return err
		}
		if n == 0 {
			return notFoundOr(ctx, tx, "reset_requests", c.RequestID, storage.ErrConflict)
		}
		n, err = exec(ctx, tx, `UPDATE users SET password_hash = ?,
			state = CASE WHEN state = 'provisioned' THEN 'password_set' ELSE state END,
			email_verified = 1, failed_passwords = 0, locked_until = 0, password_locked = 0,
			failed_totp = 0, totp_locked = 0, updated_at = ? WHERE id = ?`, c.PasswordHash, us, c.UserID)
		if err != nil {
			return err
		}
		if n == 0 {
			return storage.ErrNotFound
		}
		stmts := []struct {
			query string
			args  []any
		}{
			{`UPDATE reset_requests SET code_hash = '', code_expires_at = 0, code_verified_at = 0
				WHERE user_id = ? AND id <> ? AND completed_at = 0`, []any{c.UserID, c.RequestID}},
			{`UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at = 0`, []any{us, c.UserID}},
			{`UPDATE access_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at = 0`, []any{us, c.UserID}},
			{`UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at = 0`, []any{us, c.UserID}},
			// A login that got past the old password must start again; a
			// request that already issued a code keeps its record (its
			// tokens are revoked above).
			{`UPDATE auth_requests SET user_id = '', password_at = 0, otp_at = 0, enrol_secret = NULL,
				enrol_started_at = 0, session_id = '', auth_time = 0
				WHERE user_id = ? AND code_hash IS NULL`, []any{c.UserID}},
		}
		for _, st := range stmts {
			if _, err := exec(ctx, tx, st.query, st.args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// PruneResets deletes expired reset requests and captchas, used captchas,
// and sends older than a day (the longest send limit window).
func (s *Store) PruneResets(ctx context.Context, now time.Time) (_ int64, err error) {
	defer wrap(&err, "PruneResets")
	us := micros(now)
	return deleteEach(ctx, s, []deletion{
		{`DELETE FROM reset_requests WHERE expires_at <= ?`, []any{us}},
		{`DELETE FROM reset_sends WHERE sent_at <= ?`, []any{micros(now.Add(-24 * time.Hour))}},
		{`DELETE FROM captchas WHERE expires_at <= ? OR used_at <> 0`, []any{us}},
	})
}

type captchaRow struct {
	ID          string `db:"id"`
	Action      string `db:"action"`
	BindingHash string `db:"binding_hash"`
	Answer      string `db:"answer"`
	CreatedAt   int64  `db:"created_at"`
	ExpiresAt   int64  `db:"expires_at"`
}

const captchaColumns = `id, action, binding_hash, answer, created_at, expires_at`

func (r *captchaRow) captcha() *storage.Captcha {
	return &storage.Captcha{
		ID:          r.ID,
		Action:      r.Action,
		BindingHash: r.BindingHash,
		Answer:      r.Answer,
		CreatedAt:   fromMicros(r.CreatedAt),
		ExpiresAt:   fromMicros(r.ExpiresAt),
	}
}

// CreateCaptcha inserts c; a taken ID is ErrAlreadyExists.
func (s *Store) CreateCaptcha(ctx context.Context, c *storage.Captcha) (err error) {
	defer wrap(&err, "CreateCaptcha")
	if c.ID == "" || c.Answer == "" {
		return errors.New("captcha without id or answer")
	}
	_, err = exec(ctx, s.db, `INSERT INTO captchas (`+captchaColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		c.ID, c.Action, c.BindingHash, c.Answer, micros(c.CreatedAt), micros(c.ExpiresAt))
	return err
}

// CaptchaByID returns an unused, unexpired captcha.
func (s *Store) CaptchaByID(ctx context.Context, id string, now time.Time) (_ *storage.Captcha, err error) {
	defer wrap(&err, "CaptchaByID")
	var r captchaRow
	if err := get(ctx, s.db, &r, `SELECT `+captchaColumns+` FROM captchas
		WHERE id = ? AND used_at = 0 AND expires_at > ?`, id, micros(now)); err != nil {
		return nil, err
	}
	return r.captcha(), nil
}

// UseCaptcha marks the captcha used in one conditional UPDATE ...
// RETURNING, so exactly one of concurrent calls gets it.
func (s *Store) UseCaptcha(ctx context.Context, id string, now time.Time) (_ *storage.Captcha, err error) {
	defer wrap(&err, "UseCaptcha")
	var r captchaRow
	err = queryRow(ctx, s.db, `UPDATE captchas SET used_at = ?
		WHERE id = ? AND used_at = 0 AND expires_at > ?
		RETURNING `+captchaColumns, micros(now), id, micros(now)).StructScan(&r)
	if err != nil {
		return nil, err
	}
	return r.captcha(), nil
}
