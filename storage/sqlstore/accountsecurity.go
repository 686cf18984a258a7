package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/asnidp/asnidp/storage"
)

// CreateAlertToken stores a "Bukan saya" link.
func (s *Store) CreateAlertToken(ctx context.Context, t *storage.AlertToken) (err error) {
	defer wrap(&err, "CreateAlertToken")
	if t.TokenHash == "" || t.UserID == "" {
		return errors.New("alert token without hash or user")
	}
	_, err = exec(ctx, s.db, `INSERT INTO alert_tokens (token_hash, user_id, purpose, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?)`, t.TokenHash, t.UserID, t.Purpose, micros(t.CreatedAt), micros(t.ExpiresAt))
	return err
}

// UseAlertToken burns the token with a conditional UPDATE and ends the
// account's sessions in the same transaction.
func (s *Store) UseAlertToken(ctx context.Context, tokenHash string, now time.Time) (_ string, err error) {
	defer wrap(&err, "UseAlertToken")
	defer s.logoutsQueued(&err)
	var userID string
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		var ids []string
		if err := all(ctx, tx, &ids, `UPDATE alert_tokens SET used_at = ?
			WHERE token_hash = ? AND used_at = 0 AND expires_at > ? RETURNING user_id`,
			micros(now), tokenHash, micros(now)); err != nil {
			return err
		}
		if len(ids) == 0 {
			return storage.ErrNotFound
		}
		userID = ids[0]
		if _, err := exec(ctx, tx, `UPDATE mfa_self_resets SET cancelled_at = ?
			WHERE user_id = ? AND cancelled_at = 0 AND completed_at = 0`, micros(now), userID); err != nil {
			return err
		}
		return endUserSessionsTx(ctx, tx, userID, now)
	})
	return userID, err
}

// RecordDevice upserts the device and reports what the account knew.
func (s *Store) RecordDevice(ctx context.Context, userID, deviceHash string, now time.Time) (isNew, hadOthers bool, err error) {
	defer wrap(&err, "RecordDevice")
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		var others int
		if err := get(ctx, tx, &others, `SELECT COUNT(*) FROM known_devices WHERE user_id = ? AND device_hash <> ?`,
			userID, deviceHash); err != nil {
			return err
		}
		hadOthers = others > 0
		n, err := exec(ctx, tx, `UPDATE known_devices SET last_seen = ? WHERE user_id = ? AND device_hash = ?`,
			micros(now), userID, deviceHash)
		if err != nil || n > 0 {
			return err
		}
		isNew = true
		// Two first sign-ins of one browser at once: the second finds the
		// row the first inserted and is not new.
		n, err = exec(ctx, tx, `INSERT INTO known_devices (user_id, device_hash, first_seen, last_seen)
			VALUES (?, ?, ?, ?) ON CONFLICT (user_id, device_hash) DO NOTHING`,
			userID, deviceHash, micros(now), micros(now))
		isNew = err == nil && n == 1
		return err
	})
	return isNew, hadOthers, err
}

type selfResetRow struct {
	ID            string `db:"id"`
	UserID        string `db:"user_id"`
	CodeHash      string `db:"code_hash"`
	CodeExpiresAt int64  `db:"code_expires_at"`
	CodeAttempts  int    `db:"code_attempts"`
	EligibleAt    int64  `db:"eligible_at"`
	CancelledAt   int64  `db:"cancelled_at"`
	CompletedAt   int64  `db:"completed_at"`
	CreatedAt     int64  `db:"created_at"`
}

const selfResetColumns = `id, user_id, code_hash, code_expires_at, code_attempts, eligible_at,
	cancelled_at, completed_at, created_at`

// StartSelfReset stores r and cancels the user's other unfinished ones.
func (s *Store) StartSelfReset(ctx context.Context, r *storage.SelfReset) (err error) {
	defer wrap(&err, "StartSelfReset")
	if r.ID == "" || r.UserID == "" || r.CodeHash == "" {
		return errors.New("self-reset without ID, user or code")
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := exec(ctx, tx, `UPDATE mfa_self_resets SET cancelled_at = ?
			WHERE user_id = ? AND cancelled_at = 0 AND completed_at = 0`, micros(r.CreatedAt), r.UserID); err != nil {
			return err
		}
		_, err := exec(ctx, tx, `INSERT INTO mfa_self_resets (`+selfResetColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.UserID, r.CodeHash, micros(r.CodeExpiresAt), r.CodeAttempts, micros(r.EligibleAt),
			micros(r.CancelledAt), micros(r.CompletedAt), micros(r.CreatedAt))
		return err
	})
}

// ActiveSelfReset returns the user's unfinished self-reset.
func (s *Store) ActiveSelfReset(ctx context.Context, userID string) (_ *storage.SelfReset, err error) {
	defer wrap(&err, "ActiveSelfReset")
	var r selfResetRow
	if err := get(ctx, s.db, &r, `SELECT `+selfResetColumns+` FROM mfa_self_resets
		WHERE user_id = ? AND cancelled_at = 0 AND completed_at = 0 ORDER BY created_at DESC LIMIT 1`, userID); err != nil {
		return nil, err
	}
	return &storage.SelfReset{
		ID: r.ID, UserID: r.UserID, CodeHash: r.CodeHash, CodeExpiresAt: fromMicros(r.CodeExpiresAt),
		CodeAttempts: r.CodeAttempts, EligibleAt: fromMicros(r.EligibleAt), CancelledAt: fromMicros(r.CancelledAt),
		CompletedAt: fromMicros(r.CompletedAt), CreatedAt: fromMicros(r.CreatedAt),
	}, nil
}

// ConfirmSelfReset counts the attempt, then compares, in one transaction.
func (s *Store) ConfirmSelfReset(ctx context.Context, id, codeHash string, maxAttempts int, eligibleAt, now time.Time) (err error) {
	defer wrap(&err, "ConfirmSelfReset")
	wrong := false
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		// The attempt is counted before the code is looked at, so of
		// simultaneous guesses only maxAttempts are ever compared.
		var hashes []string
		if err := all(ctx, tx, &hashes, `UPDATE mfa_self_resets SET code_attempts = code_attempts + 1
			WHERE id = ? AND eligible_at = 0 AND cancelled_at = 0 AND completed_at = 0
			AND code_hash <> '' AND code_expires_at > ? AND code_attempts < ? RETURNING code_hash`,
			id, micros(now), maxAttempts); err != nil {
			return err
		}
		if len(hashes) == 0 {
			return storage.ErrNotFound
		}
		if hashes[0] != codeHash {
			wrong = true // committed: the attempt stays counted
			return nil
		}
		_, err := exec(ctx, tx, `UPDATE mfa_self_resets SET eligible_at = ?, code_hash = '' WHERE id = ?`,
			micros(eligibleAt), id)
		return err
	})
	if err == nil && wrong {
		err = storage.ErrConflict
	}
	return err
}

// CancelSelfResets cancels the user's unfinished self-resets.
func (s *Store) CancelSelfResets(ctx context.Context, userID string, now time.Time) (err error) {
	defer wrap(&err, "CancelSelfResets")
	_, err = exec(ctx, s.db, `UPDATE mfa_self_resets SET cancelled_at = ?
		WHERE user_id = ? AND cancelled_at = 0 AND completed_at = 0`, micros(now), userID)
	return err
}

// CompleteSelfReset finishes a due self-reset and voids the recovery codes.
func (s *Store) CompleteSelfReset(ctx context.Context, id string, now time.Time) (err error) {
	defer wrap(&err, "CompleteSelfReset")
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		var users []string
		if err := all(ctx, tx, &users, `UPDATE mfa_self_resets SET completed_at = ?
			WHERE id = ? AND eligible_at <> 0 AND eligible_at <= ? AND cancelled_at = 0 AND completed_at = 0
			RETURNING user_id`, micros(now), id, micros(now)); err != nil {
			return err
		}
		if len(users) == 0 {
			return storage.ErrNotFound
		}
		return setRecoveryCodesTx(ctx, tx, users[0], nil, now)
	})
}
