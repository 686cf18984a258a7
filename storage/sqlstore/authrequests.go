package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/asnidp/asnidp/storage"
)

type authRequestRow struct {
	ID                  string         `db:"id"`
	BrowserHash         string         `db:"browser_hash"`
	ClientID            string         `db:"client_id"`
	RedirectURI         string         `db:"redirect_uri"`
	State               string         `db:"state"`
	Nonce               string         `db:"nonce"`
	Scopes              string         `db:"scopes"`
	ResponseType        string         `db:"response_type"`
	ResponseMode        string         `db:"response_mode"`
	CodeChallenge       string         `db:"code_challenge"`
	CodeChallengeMethod string         `db:"code_challenge_method"`
	Prompt              string         `db:"prompt"`
	MaxAge              int64          `db:"max_age"`
	UILocales           string         `db:"ui_locales"`
	LoginHint           string         `db:"login_hint"`
	HintUserID          string         `db:"hint_user_id"`
	ACR                 string         `db:"acr"`
	UserID              string         `db:"user_id"`
	PasswordAt          int64          `db:"password_at"`
	OTPAt               int64          `db:"otp_at"`
	RecoveryAt          int64          `db:"recovery_at"`
	AuthTime            int64          `db:"auth_time"`
	SessionID           string         `db:"session_id"`
	EnrolSecret         []byte         `db:"enrol_secret"`
	EnrolStartedAt      int64          `db:"enrol_started_at"`
	CodeHash            sql.NullString `db:"code_hash"`
	CodeExpiresAt       int64          `db:"code_expires_at"`
	CodeUsedAt          int64          `db:"code_used_at"`
	CodeReusedAt        int64          `db:"code_reused_at"`
	CreatedAt           int64          `db:"created_at"`
	ExpiresAt           int64          `db:"expires_at"`
}

const authRequestColumns = `id, browser_hash, client_id, redirect_uri, state, nonce, scopes,
	response_type, response_mode, code_challenge, code_challenge_method, prompt, max_age,
	ui_locales, login_hint, hint_user_id, acr, user_id, password_at, otp_at, recovery_at, auth_time, session_id,
	enrol_secret, enrol_started_at, code_hash, code_expires_at, code_used_at, code_reused_at, created_at, expires_at`

func (r *authRequestRow) authRequest() (*storage.AuthRequest, error) {
	var l lists
	ar := &storage.AuthRequest{
		ID:                  r.ID,
		BrowserHash:         r.BrowserHash,
		ClientID:            r.ClientID,
		RedirectURI:         r.RedirectURI,
		State:               r.State,
		Nonce:               r.Nonce,
		Scopes:              l.parse(r.Scopes),
		ResponseType:        r.ResponseType,
		ResponseMode:        r.ResponseMode,
		CodeChallenge:       r.CodeChallenge,
		CodeChallengeMethod: r.CodeChallengeMethod,
		Prompt:              l.parse(r.Prompt),
		MaxAge:              r.MaxAge,
		UILocales:           l.parse(r.UILocales),
		LoginHint:           r.LoginHint,
		HintUserID:          r.HintUserID,
		ACR:                 r.ACR,
		UserID:              r.UserID,
		PasswordAt:          fromMicros(r.PasswordAt),
		OTPAt:               fromMicros(r.OTPAt),
		RecoveryAt:          fromMicros(r.RecoveryAt),
		AuthTime:            fromMicros(r.AuthTime),
		SessionID:           r.SessionID,
		EnrolSecret:         nilIfEmpty(r.EnrolSecret),
		EnrolStartedAt:      fromMicros(r.EnrolStartedAt),
		CodeHash:            r.CodeHash.String,
		CodeExpiresAt:       fromMicros(r.CodeExpiresAt),
		CodeUsedAt:          fromMicros(r.CodeUsedAt),
		CodeReusedAt:        fromMicros(r.CodeReusedAt),
		CreatedAt:           fromMicros(r.CreatedAt),
		ExpiresAt:           fromMicros(r.ExpiresAt),
	}
	return ar, l.err
}

// CreateAuthRequest inserts ar; a taken ID is ErrAlreadyExists and an
// unknown client ErrNotFound.
func (s *Store) CreateAuthRequest(ctx context.Context, ar *storage.AuthRequest) (err error) {
	defer wrap(&err, "CreateAuthRequest")
	codeHash := sql.NullString{String: ar.CodeHash, Valid: ar.CodeHash != ""}
	_, err = exec(ctx, s.db, `INSERT INTO auth_requests (`+authRequestColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ar.ID, ar.BrowserHash, ar.ClientID, ar.RedirectURI, ar.State, ar.Nonce,
		jsonList(ar.Scopes), ar.ResponseType, ar.ResponseMode, ar.CodeChallenge,
		ar.CodeChallengeMethod, jsonList(ar.Prompt), ar.MaxAge, jsonList(ar.UILocales),
		ar.LoginHint, ar.HintUserID, ar.ACR, ar.UserID, micros(ar.PasswordAt), micros(ar.OTPAt),
		micros(ar.RecoveryAt), micros(ar.AuthTime), ar.SessionID, nilIfEmpty(ar.EnrolSecret), micros(ar.EnrolStartedAt), codeHash, micros(ar.CodeExpiresAt),
		micros(ar.CodeUsedAt), micros(ar.CodeReusedAt), micros(ar.CreatedAt), micros(ar.ExpiresAt))
	return err
}

// AuthRequestByID returns ErrNotFound for an unknown or expired request.
func (s *Store) AuthRequestByID(ctx context.Context, id string, now time.Time) (_ *storage.AuthRequest, err error) {
	defer wrap(&err, "AuthRequestByID")
	var r authRequestRow
	if err := get(ctx, s.db, &r, `SELECT `+authRequestColumns+` FROM auth_requests
		WHERE id = ? AND expires_at > ?`, id, micros(now)); err != nil {
		return nil, err
	}
	return r.authRequest()
}

// SetAuthRequestUser records a verified password for userID. A second
// factor or an enrolment recorded for another user is cleared: it proves
// nothing about this one.
func (s *Store) SetAuthRequestUser(ctx context.Context, id, userID string, at time.Time) (err error) {
	defer wrap(&err, "SetAuthRequestUser")
	if userID == "" {
		return errors.New("empty user ID")
	}
	n, err := exec(ctx, s.db, `UPDATE auth_requests SET
		otp_at = CASE WHEN user_id = ? THEN otp_at ELSE 0 END,
		recovery_at = CASE WHEN user_id = ? THEN recovery_at ELSE 0 END,
		enrol_secret = CASE WHEN user_id = ? THEN enrol_secret ELSE NULL END,
		enrol_started_at = CASE WHEN user_id = ? THEN enrol_started_at ELSE 0 END,
		user_id = ?, password_at = ? WHERE id = ?`,
		userID, userID, userID, userID, userID, micros(at), id)
	if err != nil {
		return err
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// RebindAuthRequest replaces the browser binding.
func (s *Store) RebindAuthRequest(ctx context.Context, id, browserHash string) (err error) {
	defer wrap(&err, "RebindAuthRequest")
	if browserHash == "" {
		return errors.New("empty browser hash")
	}
	n, err := exec(ctx, s.db, `UPDATE auth_requests SET browser_hash = ? WHERE id = ?`, browserHash, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// ClearAuthRequestUser forgets the user, both factors, the pending
// enrolment and the session and authentication time they led to.
func (s *Store) ClearAuthRequestUser(ctx context.Context, id string) (err error) {
	defer wrap(&err, "ClearAuthRequestUser")
	n, err := exec(ctx, s.db, `UPDATE auth_requests SET user_id = '', password_at = 0, otp_at = 0,
		recovery_at = 0, enrol_secret = NULL, enrol_started_at = 0, session_id = '', auth_time = 0 WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// SetAuthRequestEnrolment stores the sealed seed offered for enrolment. It
// needs a verified password: on a request without a user it is
// ErrConflict.
func (s *Store) SetAuthRequestEnrolment(ctx context.Context, id string, sealedSecret []byte, at time.Time) (err error) {
	defer wrap(&err, "SetAuthRequestEnrolment")
	if len(sealedSecret) == 0 {
		return errors.New("empty enrolment secret")
	}
	n, err := exec(ctx, s.db, `UPDATE auth_requests SET enrol_secret = ?, enrol_started_at = ?
		WHERE id = ? AND user_id <> ''`, sealedSecret, micros(at), id)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFoundOr(ctx, s.db, "auth_requests", id, storage.ErrConflict)
	}
	return nil
}

// SetAuthRequestOTP records a verified second factor. It needs the first:
// on a request without a user it is ErrConflict.
func (s *Store) SetAuthRequestOTP(ctx context.Context, id string, at time.Time) (err error) {
	defer wrap(&err, "SetAuthRequestOTP")
	n, err := exec(ctx, s.db, `UPDATE auth_requests SET otp_at = ? WHERE id = ? AND user_id <> ''`,
		micros(at), id)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFoundOr(ctx, s.db, "auth_requests", id, storage.ErrConflict)
	}
	return nil
}

// SetAuthRequestRecovery records an accepted recovery code. It needs the
// first factor: on a request without a user it is ErrConflict.
func (s *Store) SetAuthRequestRecovery(ctx context.Context, id string, at time.Time) (err error) {
	defer wrap(&err, "SetAuthRequestRecovery")
	n, err := exec(ctx, s.db, `UPDATE auth_requests SET recovery_at = ? WHERE id = ? AND user_id <> ''`,
		micros(at), id)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFoundOr(ctx, s.db, "auth_requests", id, storage.ErrConflict)
	}
	return nil
}

// CompleteAuthRequest records the SSO session and authentication time.
func (s *Store) CompleteAuthRequest(ctx context.Context, id, sessionID string, authTime time.Time) (err error) {
	defer wrap(&err, "CompleteAuthRequest")
	n, err := exec(ctx, s.db, `UPDATE auth_requests SET session_id = ?, auth_time = ? WHERE id = ?`,
		sessionID, micros(authTime), id)
	if err != nil {
		return err
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// SaveAuthCode attaches a code hash to a request that has none; a second
// call is ErrConflict, a hash already used by another request
// ErrAlreadyExists.
func (s *Store) SaveAuthCode(ctx context.Context, id, codeHash string, expiresAt time.Time) (err error) {
	defer wrap(&err, "SaveAuthCode")
	if codeHash == "" {
		return errors.New("empty code hash")
	}
	n, err := exec(ctx, s.db, `UPDATE auth_requests SET code_hash = ?, code_expires_at = ?
		WHERE id = ? AND code_hash IS NULL`, codeHash, micros(expiresAt), id)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFoundOr(ctx, s.db, "auth_requests", id, storage.ErrConflict)
	}
	return nil
}

// RedeemAuthCode marks the code used in one conditional UPDATE ...
// RETURNING: only the call that finds it unused changes the row, so of
// concurrent calls exactly one succeeds. A used code, expired or not, is
// ErrConflict with its request, so the caller can revoke what the first
// redemption issued.
func (s *Store) RedeemAuthCode(ctx context.Context, codeHash string, now time.Time) (_ *storage.AuthRequest, err error) {
	defer wrap(&err, "RedeemAuthCode")
	if codeHash == "" {
		return nil, storage.ErrNotFound
	}
	var r authRequestRow
	err = queryRow(ctx, s.db, `UPDATE auth_requests SET code_used_at = ?
		WHERE code_hash = ? AND code_used_at = 0 AND code_expires_at > ?
		RETURNING `+authRequestColumns, micros(now), codeHash, micros(now)).StructScan(&r)
	if err == nil {
		return r.authRequest()
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	// Not redeemable: mark a used code as presented again (the winner of a
	// race checks that mark after issuing) and say which it was.
	err = queryRow(ctx, s.db, `UPDATE auth_requests SET code_reused_at = ?
		WHERE code_hash = ? AND code_used_at <> 0
		RETURNING `+authRequestColumns, micros(now), codeHash).StructScan(&r)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, storage.ErrNotFound // unknown, or expired unused
	}
	if err != nil {
		return nil, err
	}
	ar, err := r.authRequest()
	if err != nil {
		return nil, err
	}
	return ar, storage.ErrConflict
}

// AuthRequestByCode returns the request of a code without consuming it.
func (s *Store) AuthRequestByCode(ctx context.Context, codeHash string) (_ *storage.AuthRequest, err error) {
	defer wrap(&err, "AuthRequestByCode")
	if codeHash == "" {
		return nil, storage.ErrNotFound
	}
	var r authRequestRow
	if err := get(ctx, s.db, &r, `SELECT `+authRequestColumns+` FROM auth_requests
		WHERE code_hash = ?`, codeHash); err != nil {
		return nil, err
	}
	return r.authRequest()
}

// DeleteAuthRequest removes a request that has not issued a code; one that
// has is kept (ErrConflict) so that a replayed code is still recognised.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) (err error) {
	defer wrap(&err, "DeleteAuthRequest")
	n, err := exec(ctx, s.db, `DELETE FROM auth_requests WHERE id = ? AND code_hash IS NULL`, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFoundOr(ctx, s.db, "auth_requests", id, storage.ErrConflict)
	}
	return nil
}
