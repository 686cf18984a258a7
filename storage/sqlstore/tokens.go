package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/asnidp/asnidp/storage"
)

type accessTokenRow struct {
	ID             string `db:"id"`
	ClientID       string `db:"client_id"`
	UserID         string `db:"user_id"`
	Scopes         string `db:"scopes"`
	Audience       string `db:"audience"`
	GrantID        string `db:"grant_id"`
	RefreshTokenID string `db:"refresh_token_id"`
	SessionID      string `db:"session_id"`
	AuthTime       int64  `db:"auth_time"`
	AMR            string `db:"amr"`
	CreatedAt      int64  `db:"created_at"`
	ExpiresAt      int64  `db:"expires_at"`
	RevokedAt      int64  `db:"revoked_at"`
}

const accessTokenColumns = `id, client_id, user_id, scopes, audience, grant_id, refresh_token_id,
	session_id, auth_time, amr, created_at, expires_at, revoked_at`

func (r *accessTokenRow) accessToken() (*storage.AccessToken, error) {
	var l lists
	t := &storage.AccessToken{
		ID:             r.ID,
		ClientID:       r.ClientID,
		UserID:         r.UserID,
		Scopes:         l.parse(r.Scopes),
		Audience:       l.parse(r.Audience),
		GrantID:        r.GrantID,
		RefreshTokenID: r.RefreshTokenID,
		SessionID:      r.SessionID,
		AuthTime:       fromMicros(r.AuthTime),
		AMR:            l.parse(r.AMR),
		CreatedAt:      fromMicros(r.CreatedAt),
		ExpiresAt:      fromMicros(r.ExpiresAt),
		RevokedAt:      fromMicros(r.RevokedAt),
	}
	return t, l.err
}

type refreshTokenRow struct {
	ID        string `db:"id"`
	TokenHash string `db:"token_hash"`
	FamilyID  string `db:"family_id"`
	GrantID   string `db:"grant_id"`
	ClientID  string `db:"client_id"`
	UserID    string `db:"user_id"`
	Scopes    string `db:"scopes"`
	Audience  string `db:"audience"`
	SessionID string `db:"session_id"`
	AuthTime  int64  `db:"auth_time"`
	AMR       string `db:"amr"`
	CreatedAt int64  `db:"created_at"`
	ExpiresAt int64  `db:"expires_at"`
	UsedAt    int64  `db:"used_at"`
	RevokedAt int64  `db:"revoked_at"`
}

const refreshTokenColumns = `id, token_hash, family_id, grant_id, client_id, user_id, scopes,
	audience, session_id, auth_time, amr, created_at, expires_at, used_at, revoked_at`

func (r *refreshTokenRow) refreshToken() (*storage.RefreshToken, error) {
	var l lists
	t := &storage.RefreshToken{
		ID:        r.ID,
		TokenHash: r.TokenHash,
		FamilyID:  r.FamilyID,
		GrantID:   r.GrantID,
		ClientID:  r.ClientID,
		UserID:    r.UserID,
		Scopes:    l.parse(r.Scopes),
		Audience:  l.parse(r.Audience),
		SessionID: r.SessionID,
		AuthTime:  fromMicros(r.AuthTime),
		AMR:       l.parse(r.AMR),
		CreatedAt: fromMicros(r.CreatedAt),
		ExpiresAt: fromMicros(r.ExpiresAt),
		UsedAt:    fromMicros(r.UsedAt),
		RevokedAt: fromMicros(r.RevokedAt),
	}
	return t, l.err
}

// CreateAccessToken inserts t; a taken ID is ErrAlreadyExists, an unknown
// client ErrNotFound.
func (s *Store) CreateAccessToken(ctx context.Context, t *storage.AccessToken) (err error) {
	defer wrap(&err, "CreateAccessToken")
	return insertAccessToken(ctx, s.db, t)
}

func insertAccessToken(ctx context.Context, e sqlx.ExtContext, t *storage.AccessToken) error {
	_, err := exec(ctx, e, `INSERT INTO access_tokens (`+accessTokenColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.ClientID, t.UserID, jsonList(t.Scopes), jsonList(t.Audience), t.GrantID,
		t.RefreshTokenID, t.SessionID, micros(t.AuthTime), jsonList(t.AMR),
		micros(t.CreatedAt), micros(t.ExpiresAt), micros(t.RevokedAt))
	return err
}

// AccessTokenByID returns the record whatever its state.
func (s *Store) AccessTokenByID(ctx context.Context, id string) (_ *storage.AccessToken, err error) {
	defer wrap(&err, "AccessTokenByID")
	var r accessTokenRow
	if err := get(ctx, s.db, &r, `SELECT `+accessTokenColumns+` FROM access_tokens WHERE id = ?`, id); err != nil {
		return nil, err
	}
	return r.accessToken()
}

// RevokeAccessToken revokes one access token; the first revocation time is
// kept. ErrNotFound when unknown.
func (s *Store) RevokeAccessToken(ctx context.Context, id string, now time.Time) (err error) {
	defer wrap(&err, "RevokeAccessToken")
	n, err := exec(ctx, s.db, `UPDATE access_tokens SET revoked_at = ? WHERE id = ? AND revoked_at = 0`,
		micros(now), id)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFoundOr(ctx, s.db, "access_tokens", id, nil)
	}
	return nil
}

func insertRefreshToken(ctx context.Context, e sqlx.ExtContext, t *storage.RefreshToken) error {
	_, err := exec(ctx, e, `INSERT INTO refresh_tokens (`+refreshTokenColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.TokenHash, t.FamilyID, t.GrantID, t.ClientID, t.UserID, jsonList(t.Scopes),
		jsonList(t.Audience), t.SessionID, micros(t.AuthTime), jsonList(t.AMR),
		micros(t.CreatedAt), micros(t.ExpiresAt), micros(t.UsedAt), micros(t.RevokedAt))
	return err
}

// CreateRefreshToken inserts t; a taken ID or hash is ErrAlreadyExists.
func (s *Store) CreateRefreshToken(ctx context.Context, t *storage.RefreshToken) (err error) {
	defer wrap(&err, "CreateRefreshToken")
	if t.TokenHash == "" || t.FamilyID == "" {
		return errors.New("refresh token without hash or family")
	}
	return insertRefreshToken(ctx, s.db, t)
}

// RefreshTokenByHash returns the record whatever its state; ErrNotFound
// when unknown.
func (s *Store) RefreshTokenByHash(ctx context.Context, tokenHash string) (_ *storage.RefreshToken, err error) {
	defer wrap(&err, "RefreshTokenByHash")
	var r refreshTokenRow
	if err := get(ctx, s.db, &r, `SELECT `+refreshTokenColumns+` FROM refresh_tokens
		WHERE token_hash = ?`, tokenHash); err != nil {
		return nil, err
	}
	return r.refreshToken()
}

// RotateRefreshToken marks the old token used and inserts next in one
// transaction (see rotate).
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash string, next *storage.RefreshToken, now time.Time) (err error) {
	defer wrap(&err, "RotateRefreshToken")
	if oldHash == "" || next.TokenHash == "" {
		return errors.New("refresh token without hash")
	}
	var reused bool
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		reused, err = rotate(ctx, tx, oldHash, next, now)
		return err
	})
	if err == nil && reused {
		err = storage.ErrConflict
	}
	return err
}

// rotate marks the old token used and inserts next, in tx. next.FamilyID
// is set to the old token's family. The mark is a conditional UPDATE, so
// of concurrent rotations one changes the row; on PostgreSQL the others
// wait for its commit, find the token used, and revoke the family
// including the winner's new token: a token presented twice is treated as
// stolen. That revocation is written in tx and reported as reused, so the
// caller commits it before answering ErrConflict. An expired or unknown
// old token is ErrNotFound.
func rotate(ctx context.Context, tx *sqlx.Tx, oldHash string, next *storage.RefreshToken, now time.Time) (reused bool, err error) {
	var family string
	err = queryRow(ctx, tx, `UPDATE refresh_tokens SET used_at = ?
		WHERE token_hash = ? AND used_at = 0 AND revoked_at = 0 AND expires_at > ?
		RETURNING family_id`, micros(now), oldHash, micros(now)).Scan(&family)
	if err == nil {
		next.FamilyID = family
		return false, insertRefreshToken(ctx, tx, next)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, err
	}
	var old struct {
		FamilyID  string `db:"family_id"`
		UsedAt    int64  `db:"used_at"`
		RevokedAt int64  `db:"revoked_at"`
	}
	if err := get(ctx, tx, &old, `SELECT family_id, used_at, revoked_at FROM refresh_tokens
		WHERE token_hash = ?`, oldHash); err != nil {
		return false, err
	}
	if old.UsedAt == 0 && old.RevokedAt == 0 {
		return false, storage.ErrNotFound // expired
	}
	return true, revokeFamily(ctx, tx, old.FamilyID, now)
}

// IssueTokens writes one token response in one transaction: the code's
// redemption or the refresh token's rotation, the new tokens and the audit
// row (see storage.Issue).
func (s *Store) IssueTokens(ctx context.Context, iss *storage.Issue, now time.Time) (err error) {
	defer wrap(&err, "IssueTokens")
	switch {
	case iss.Access == nil:
		return errors.New("issue without an access token")
	case iss.CodeHash != "" && iss.RotateHash != "":
		return errors.New("issue redeems a code and rotates a refresh token at once")
	case iss.RotateHash != "" && (iss.Refresh == nil || iss.Refresh.TokenHash == ""):
		return errors.New("rotation without a new refresh token")
	case iss.Refresh != nil && iss.RotateHash == "" && (iss.Refresh.TokenHash == "" || iss.Refresh.FamilyID == ""):
		return errors.New("refresh token without hash or family")
	}
	if s.writer != nil {
		return s.issueGrouped(ctx, iss, now)
	}
	var reused bool
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		reused, err = issueTx(ctx, tx, iss, now)
		return err
	})
	if err == nil && reused {
		err = storage.ErrConflict
	}
	return err
}

// issueTx writes iss in tx. reused reports a rotation of a token used
// before: the family's revocation is written and must be committed, and
// no token was.
func issueTx(ctx context.Context, tx *sqlx.Tx, iss *storage.Issue, now time.Time) (reused bool, err error) {
	if iss.CodeHash != "" {
		n, err := exec(ctx, tx, `UPDATE auth_requests SET code_used_at = ?
			WHERE code_hash = ? AND code_used_at = 0 AND code_expires_at > ?`,
			micros(now), iss.CodeHash, micros(now))
		if err != nil {
			return false, err
		}
		if n == 0 {
			return false, storage.ErrConflict
		}
	}
	switch {
	case iss.RotateHash != "":
		if reused, err = rotate(ctx, tx, iss.RotateHash, iss.Refresh, now); err != nil || reused {
			return reused, err
		}
	case iss.Refresh != nil:
		if err := insertRefreshToken(ctx, tx, iss.Refresh); err != nil {
			return false, err
		}
	}
	if err := insertAccessToken(ctx, tx, iss.Access); err != nil {
		return false, err
	}
	if iss.Audit != nil {
		return false, insertAudit(ctx, tx, []*storage.AuditEvent{iss.Audit})
	}
	return false, nil
}

func revokeFamily(ctx context.Context, e sqlx.ExtContext, familyID string, now time.Time) error {
	if _, err := exec(ctx, e, `UPDATE refresh_tokens SET revoked_at = ?
		WHERE family_id = ? AND revoked_at = 0`, micros(now), familyID); err != nil {
		return err
	}
	_, err := exec(ctx, e, `UPDATE access_tokens SET revoked_at = ?
		WHERE revoked_at = 0 AND refresh_token_id IN (
			SELECT id FROM refresh_tokens WHERE family_id = ?)`,
		micros(now), familyID)
	return err
}

// RevokeRefreshFamily revokes every refresh token of the family and the
// access tokens issued with them.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string, now time.Time) (err error) {
	defer wrap(&err, "RevokeRefreshFamily")
	if familyID == "" {
		return nil
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		return revokeFamily(ctx, tx, familyID, now)
	})
}

// RevokeGrant revokes every access and refresh token of one grant,
// including access tokens issued with the grant's refresh tokens.
func (s *Store) RevokeGrant(ctx context.Context, grantID string, now time.Time) (err error) {
	defer wrap(&err, "RevokeGrant")
	if grantID == "" {
		return nil // tokens without a grant (client_credentials) share ""
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := exec(ctx, tx, `UPDATE access_tokens SET revoked_at = ?
			WHERE revoked_at = 0 AND (grant_id = ? OR refresh_token_id IN (
				SELECT id FROM refresh_tokens WHERE grant_id = ?))`,
			micros(now), grantID, grantID); err != nil {
			return err
		}
		_, err := exec(ctx, tx, `UPDATE refresh_tokens SET revoked_at = ?
			WHERE grant_id = ? AND revoked_at = 0`, micros(now), grantID)
		return err
	})
}

// RevokeUserTokens revokes every access and refresh token of a user.
func (s *Store) RevokeUserTokens(ctx context.Context, userID string, now time.Time) (err error) {
	defer wrap(&err, "RevokeUserTokens")
	if userID == "" {
		return nil
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := exec(ctx, tx, `UPDATE access_tokens SET revoked_at = ?
			WHERE user_id = ? AND revoked_at = 0`, micros(now), userID); err != nil {
			return err
		}
		_, err := exec(ctx, tx, `UPDATE refresh_tokens SET revoked_at = ?
			WHERE user_id = ? AND revoked_at = 0`, micros(now), userID)
		return err
	})
}

// RevokeSessionTokens revokes every token issued in an SSO session.
func (s *Store) RevokeSessionTokens(ctx context.Context, sessionID string, now time.Time) (err error) {
	defer wrap(&err, "RevokeSessionTokens")
	if sessionID == "" {
		return nil // tokens issued outside any session share ""
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := exec(ctx, tx, `UPDATE access_tokens SET revoked_at = ?
			WHERE session_id = ? AND revoked_at = 0`, micros(now), sessionID); err != nil {
			return err
		}
		_, err := exec(ctx, tx, `UPDATE refresh_tokens SET revoked_at = ?
			WHERE session_id = ? AND revoked_at = 0`, micros(now), sessionID)
		return err
	})
}
