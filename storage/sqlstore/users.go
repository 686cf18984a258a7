package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/asnidp/asnidp/storage"
)

type userRow struct {
	ID              string `db:"id"`
	NIP             string `db:"nip"`
	Name            string `db:"name"`
	Email           string `db:"email"`
	EmailVerified   bool   `db:"email_verified"`
	Instansi        string `db:"instansi"`
	UnitKerja       string `db:"unit_kerja"`
	Jabatan         string `db:"jabatan"`
	JenisPegawai    string `db:"jenis_pegawai"`
	State           string `db:"state"`
	PasswordHash    string `db:"password_hash"`
	TOTPSecret      []byte `db:"totp_secret"`
	TOTPLastStep    int64  `db:"totp_last_step"`
	FailedPasswords int    `db:"failed_passwords"`
	FailedTOTP      int    `db:"failed_totp"`
	LockedUntil     int64  `db:"locked_until"`
	PasswordLocked  bool   `db:"password_locked"`
	TOTPLocked      bool   `db:"totp_locked"`
	LastLoginAt     int64  `db:"last_login_at"`
	ActivatedAt     int64  `db:"activated_at"`
	RecoverySkipped int64  `db:"recovery_skipped_at"`
	CreatedAt       int64  `db:"created_at"`
	UpdatedAt       int64  `db:"updated_at"`
}

const userColumns = `id, nip, name, email, email_verified, instansi, unit_kerja, jabatan,
	jenis_pegawai, state, password_hash, totp_secret, totp_last_step, failed_passwords,
	failed_totp, locked_until, password_locked, totp_locked, last_login_at, activated_at,
	recovery_skipped_at, created_at, updated_at`

func (r *userRow) user() *storage.User {
	return &storage.User{
		ID:                r.ID,
		NIP:               r.NIP,
		Name:              r.Name,
		Email:             r.Email,
		EmailVerified:     r.EmailVerified,
		Instansi:          r.Instansi,
		UnitKerja:         r.UnitKerja,
		Jabatan:           r.Jabatan,
		JenisPegawai:      r.JenisPegawai,
		State:             storage.UserState(r.State),
		PasswordHash:      r.PasswordHash,
		TOTPSecret:        nilIfEmpty(r.TOTPSecret),
		TOTPLastStep:      r.TOTPLastStep,
		FailedPasswords:   r.FailedPasswords,
		FailedTOTP:        r.FailedTOTP,
		LockedUntil:       fromMicros(r.LockedUntil),
		PasswordLocked:    r.PasswordLocked,
		TOTPLocked:        r.TOTPLocked,
		LastLoginAt:       fromMicros(r.LastLoginAt),
		ActivatedAt:       fromMicros(r.ActivatedAt),
		RecoverySkippedAt: fromMicros(r.RecoverySkipped),
		CreatedAt:         fromMicros(r.CreatedAt),
		UpdatedAt:         fromMicros(r.UpdatedAt),
	}
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func validState(s storage.UserState) error {
	switch s {
	case storage.StateProvisioned, storage.StatePasswordSet, storage.StateActive, storage.StateDisabled:
		return nil
	}
	return fmt.Errorf("invalid user state %q", s)
}

// CreateUser inserts u; a taken ID or NIP is ErrAlreadyExists.
func (s *Store) CreateUser(ctx context.Context, u *storage.User) (err error) {
	defer wrap(&err, "CreateUser")
	if err := validState(u.State); err != nil {
		return err
	}
	_, err = exec(ctx, s.db, `INSERT INTO users (`+userColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.NIP, u.Name, u.Email, boolInt(u.EmailVerified), u.Instansi, u.UnitKerja,
		u.Jabatan, u.JenisPegawai, string(u.State), u.PasswordHash, nilIfEmpty(u.TOTPSecret),
		u.TOTPLastStep, u.FailedPasswords, u.FailedTOTP, micros(u.LockedUntil),
		boolInt(u.PasswordLocked), boolInt(u.TOTPLocked), micros(u.LastLoginAt),
		micros(u.ActivatedAt), micros(u.RecoverySkippedAt), micros(u.CreatedAt), micros(u.UpdatedAt))
	return err
}

// UserByID returns ErrNotFound when there is no such user.
func (s *Store) UserByID(ctx context.Context, id string) (_ *storage.User, err error) {
	defer wrap(&err, "UserByID")
	var r userRow
	if err := get(ctx, s.db, &r, `SELECT `+userColumns+` FROM users WHERE id = ?`, id); err != nil {
		return nil, err
	}
	return r.user(), nil
}

// UserByNIP returns ErrNotFound when there is no such user.
func (s *Store) UserByNIP(ctx context.Context, nip string) (_ *storage.User, err error) {
	defer wrap(&err, "UserByNIP")
	var r userRow
	if err := get(ctx, s.db, &r, `SELECT `+userColumns+` FROM users WHERE nip = ?`, nip); err != nil {
		return nil, err
	}
	return r.user(), nil
}

// updateUser runs an UPDATE of one user and reports ErrNotFound when it
// changed no row.
func (s *Store) updateUser(ctx context.Context, query string, args ...any) error {
	n, err := exec(ctx, s.db, query, args...)
	if err != nil {
		return err
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// UpdateProfile overwrites the personnel fields of the user with u.ID.
func (s *Store) UpdateProfile(ctx context.Context, u *storage.User, now time.Time) (err error) {
	defer wrap(&err, "UpdateProfile")
	return s.updateUser(ctx, `UPDATE users SET name = ?, email = ?, instansi = ?, unit_kerja = ?,
		jabatan = ?, jenis_pegawai = ?, updated_at = ? WHERE id = ?`,
		u.Name, u.Email, u.Instansi, u.UnitKerja, u.Jabatan, u.JenisPegawai, micros(now), u.ID)
}

// SetState changes the account state.
func (s *Store) SetState(ctx context.Context, userID string, state storage.UserState, now time.Time) (err error) {
	defer wrap(&err, "SetState")
	if err := validState(state); err != nil {
		return err
	}
	return s.updateUser(ctx, `UPDATE users SET state = ?, updated_at = ? WHERE id = ?`,
		string(state), micros(now), userID)
}

// SetPassword stores a new hash, moves a provisioned account to
// password_set and clears the password failures, delay and lock.
func (s *Store) SetPassword(ctx context.Context, userID, passwordHash string, now time.Time) (err error) {
	defer wrap(&err, "SetPassword")
	if passwordHash == "" {
		return errors.New("empty password hash")
	}
	return s.updateUser(ctx, `UPDATE users SET password_hash = ?,
		state = CASE WHEN state = 'provisioned' THEN 'password_set' ELSE state END,
		failed_passwords = 0, locked_until = 0, password_locked = 0, updated_at = ?
		WHERE id = ?`, passwordHash, micros(now), userID)
}

// ChangePassword stores the new hash with a conditional UPDATE on the
// hash the change was verified against, so of two concurrent changes (or
// a change racing a reset) one wins and the other is ErrConflict, then
// ends the other sessions and the pending logins in the same transaction.
func (s *Store) ChangePassword(ctx context.Context, c storage.PasswordChange, now time.Time) (_ []string, err error) {
	defer wrap(&err, "ChangePassword")
	defer s.logoutsQueued(&err)
	if c.NewHash == "" || c.CurrentHash == "" {
		return nil, errors.New("password change without current or new hash")
	}
	var ended []string
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		n, err := exec(ctx, tx, `UPDATE users SET password_hash = ?,
			failed_passwords = 0, locked_until = 0, password_locked = 0, updated_at = ?
			WHERE id = ? AND password_hash = ?`, c.NewHash, micros(now), c.UserID, c.CurrentHash)
		if err != nil {
			return err
		}
		if n == 0 {
			return notFoundOr(ctx, tx, "users", c.UserID, storage.ErrConflict)
		}
		if ended, err = endOtherSessionsTx(ctx, tx, c.UserID, c.KeepSessionID, now); err != nil {
			return err
		}
		// A login that got past the old password must start again; one
		// that issued a code keeps its record (its tokens are revoked
		// above unless they belong to the kept session).
		_, err = exec(ctx, tx, `UPDATE auth_requests SET user_id = '', password_at = 0, otp_at = 0, recovery_at = 0,
			enrol_secret = NULL, enrol_started_at = 0, session_id = '', auth_time = 0
			WHERE user_id = ? AND code_hash IS NULL`, c.UserID)
		return err
	})
	return ended, err
}

// RecordPasswordFailure adds one failure in a single UPDATE ... RETURNING,
// so concurrent calls each count and each sees its own new total.
func (s *Store) RecordPasswordFailure(ctx context.Context, userID string, lockedUntil time.Time, lock bool, now time.Time) (_ int, err error) {
	defer wrap(&err, "RecordPasswordFailure")
	var n int
	// The CASTs give PostgreSQL the parameter types (a bare ? compared with
	// 0 would be inferred as a 32-bit integer).
	err = queryRow(ctx, s.db, `UPDATE users SET failed_passwords = failed_passwords + 1,
		locked_until = CASE WHEN CAST(? AS BIGINT) = 0 THEN locked_until ELSE CAST(? AS BIGINT) END,
		password_locked = CASE WHEN CAST(? AS INTEGER) = 1 THEN 1 ELSE password_locked END,
		updated_at = ?
		WHERE id = ? RETURNING failed_passwords`,
		micros(lockedUntil), micros(lockedUntil), boolInt(lock), micros(now), userID).Scan(&n)
	return n, err
}

// ReleasePasswordFailure undoes the failure counted as count when nothing
// counted since and the password is not locked.
func (s *Store) ReleasePasswordFailure(ctx context.Context, userID string, count int, lockedUntil time.Time, now time.Time) (_ bool, err error) {
	defer wrap(&err, "ReleasePasswordFailure")
	n, err := exec(ctx, s.db, `UPDATE users SET failed_passwords = failed_passwords - 1, locked_until = ?, updated_at = ?
		WHERE id = ? AND failed_passwords = ? AND password_locked = 0`, micros(lockedUntil), micros(now), userID, count)
	if err != nil || n == 1 {
		return n == 1, err
	}
	if _, err := s.UserByID(ctx, userID); err != nil {
		return false, err
	}
	return false, nil
}

// RecordLogin clears the password failures and delay and stamps the login.
func (s *Store) RecordLogin(ctx context.Context, userID string, now time.Time) (err error) {
	defer wrap(&err, "RecordLogin")
	return s.updateUser(ctx, `UPDATE users SET failed_passwords = 0, locked_until = 0,
		last_login_at = ?, updated_at = ? WHERE id = ?`, micros(now), micros(now), userID)
}

// BindTOTP stores a sealed seed when none is bound (ErrConflict otherwise)
// and moves the account to active. A disabled account stays disabled: only
// an operator's SetState ends that. The first binding dates the
// activation; a binding after a reset keeps that date.
func (s *Store) BindTOTP(ctx context.Context, userID string, sealedSecret []byte, step int64, now time.Time) (err error) {
	defer wrap(&err, "BindTOTP")
	if len(sealedSecret) == 0 {
		return errors.New("empty TOTP secret")
	}
	n, err := exec(ctx, s.db, `UPDATE users SET totp_secret = ?, totp_last_step = ?, failed_totp = 0,
		state = CASE WHEN state = 'disabled' THEN state ELSE 'active' END,
		activated_at = CASE WHEN activated_at = 0 THEN CAST(? AS BIGINT) ELSE activated_at END, updated_at = ?
		WHERE id = ? AND totp_secret IS NULL`, sealedSecret, step, micros(now), micros(now), userID)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFoundOr(ctx, s.db, "users", userID, storage.ErrConflict)
	}
	return nil
}

// AcceptTOTPStep is a compare-and-set: the row changes only when step is
// above the stored one, and the database serialises concurrent updates of
// the row, so of several calls with one step exactly one succeeds.
func (s *Store) AcceptTOTPStep(ctx context.Context, userID string, step int64, now time.Time) (err error) {
	defer wrap(&err, "AcceptTOTPStep")
	n, err := exec(ctx, s.db, `UPDATE users SET totp_last_step = ?, failed_totp = 0, updated_at = ?
		WHERE id = ? AND totp_last_step < ?`, step, micros(now), userID, step)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFoundOr(ctx, s.db, "users", userID, storage.ErrConflict)
	}
	return nil
}

// RecordTOTPFailure adds one TOTP failure atomically and returns the count.
func (s *Store) RecordTOTPFailure(ctx context.Context, userID string, lock bool, now time.Time) (_ int, err error) {
	defer wrap(&err, "RecordTOTPFailure")
	var n int
	err = queryRow(ctx, s.db, `UPDATE users SET failed_totp = failed_totp + 1,
		totp_locked = CASE WHEN CAST(? AS INTEGER) = 1 THEN 1 ELSE totp_locked END,
		updated_at = ?
		WHERE id = ? RETURNING failed_totp`, boolInt(lock), micros(now), userID).Scan(&n)
	return n, err
}

// ReplaceTOTP is one conditional UPDATE keyed on the bound seed, so the
// swap either happens whole or not at all, and of two concurrent swaps
// from the same seed exactly one wins.
func (s *Store) ReplaceTOTP(ctx context.Context, userID string, current, next []byte, step int64, now time.Time) (err error) {
	defer wrap(&err, "ReplaceTOTP")
	if len(current) == 0 || len(next) == 0 {
		return errors.New("empty TOTP secret")
	}
	n, err := exec(ctx, s.db, `UPDATE users SET totp_secret = ?, totp_last_step = ?, failed_totp = 0, updated_at = ?
		WHERE id = ? AND totp_secret = ?`, next, step, micros(now), userID, current)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFoundOr(ctx, s.db, "users", userID, storage.ErrConflict)
	}
	return nil
}

// ResetTOTP unbinds the seed and ends everything the user holds in one
// transaction.
func (s *Store) ResetTOTP(ctx context.Context, userID string, now time.Time) (err error) {
	defer wrap(&err, "ResetTOTP")
	defer s.logoutsQueued(&err)
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		n, err := exec(ctx, tx, `UPDATE users SET totp_secret = NULL, totp_last_step = 0,
			totp_locked = 0, failed_totp = 0,
			state = CASE WHEN state = 'active' THEN 'password_set' ELSE state END, updated_at = ?
			WHERE id = ?`, micros(now), userID)
		if err != nil {
			return err
		}
		if n == 0 {
			return storage.ErrNotFound
		}
		if err := setRecoveryCodesTx(ctx, tx, userID, nil, now); err != nil {
			return err
		}
		return endUserSessionsTx(ctx, tx, userID, now)
	})
}

// Unlock clears every failure counter, delay and lock.
func (s *Store) Unlock(ctx context.Context, userID string, now time.Time) (err error) {
	defer wrap(&err, "Unlock")
	return s.updateUser(ctx, `UPDATE users SET failed_passwords = 0, failed_totp = 0,
		locked_until = 0, password_locked = 0, totp_locked = 0, updated_at = ? WHERE id = ?`,
		micros(now), userID)
}
