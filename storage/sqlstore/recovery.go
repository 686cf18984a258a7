package sqlstore

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/asnidp/asnidp/storage"
)

// SetRecoveryCodes replaces the user's codes in one transaction.
func (s *Store) SetRecoveryCodes(ctx context.Context, userID string, hashes []string, now time.Time) (err error) {
	defer wrap(&err, "SetRecoveryCodes")
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		return setRecoveryCodesTx(ctx, tx, userID, hashes, now)
	})
}

func setRecoveryCodesTx(ctx context.Context, tx *sqlx.Tx, userID string, hashes []string, now time.Time) error {
	if _, err := exec(ctx, tx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
		return err
	}
	if len(hashes) == 0 {
		return nil
	}
	args := make([]any, 0, 3*len(hashes))
	for _, h := range hashes {
		args = append(args, userID, h, micros(now))
	}
	_, err := exec(ctx, tx, `INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES `+
		placeholders(len(hashes), 3), args...)
	return err
}

// UseRecoveryCode burns one code with a conditional UPDATE: of concurrent
// calls only the one that finds used_at still 0 changes a row.
func (s *Store) UseRecoveryCode(ctx context.Context, userID, hash string, now time.Time) (err error) {
	defer wrap(&err, "UseRecoveryCode")
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		n, err := exec(ctx, tx, `UPDATE recovery_codes SET used_at = ?
			WHERE user_id = ? AND code_hash = ? AND used_at = 0`, micros(now), userID, hash)
		if err != nil {
			return err
		}
		if n == 0 {
			return storage.ErrNotFound
		}
		_, err = exec(ctx, tx, `UPDATE users SET failed_totp = 0, updated_at = ? WHERE id = ?`, micros(now), userID)
		return err
	})
}

// RecoveryCodesLeft counts the unused codes.
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID string) (_ int, err error) {
	defer wrap(&err, "RecoveryCodesLeft")
	var n int
	err = get(ctx, s.db, &n, `SELECT COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_at = 0`, userID)
	return n, err
}

// SkipRecoveryCodes records the put-off and drops the codes shown.
func (s *Store) SkipRecoveryCodes(ctx context.Context, userID string, now time.Time) (err error) {
	defer wrap(&err, "SkipRecoveryCodes")
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		n, err := exec(ctx, tx, `UPDATE users SET recovery_skipped_at = ?, updated_at = ? WHERE id = ?`,
			micros(now), micros(now), userID)
		if err != nil {
			return err
		}
		if n == 0 {
			return storage.ErrNotFound
		}
		return setRecoveryCodesTx(ctx, tx, userID, nil, now)
	})
}
