package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/asnidp/asnidp/storage"
)

type parRow struct {
	URIHash   string `db:"uri_hash"`
	ClientID  string `db:"client_id"`
	Params    string `db:"params"`
	CreatedAt int64  `db:"created_at"`
	ExpiresAt int64  `db:"expires_at"`
	UsedAt    int64  `db:"used_at"`
}

const parColumns = `uri_hash, client_id, params, created_at, expires_at, used_at`

func (r *parRow) pushed() (*storage.PushedAuthRequest, error) {
	p := &storage.PushedAuthRequest{
		URIHash:   r.URIHash,
		ClientID:  r.ClientID,
		CreatedAt: fromMicros(r.CreatedAt),
		ExpiresAt: fromMicros(r.ExpiresAt),
		UsedAt:    fromMicros(r.UsedAt),
	}
	if err := json.Unmarshal([]byte(r.Params), &p.Params); err != nil {
		return nil, fmt.Errorf("decode pushed parameters: %w", err)
	}
	return p, nil
}

// CreatePushedAuthRequest stores p; the client must exist (ErrNotFound).
func (s *Store) CreatePushedAuthRequest(ctx context.Context, p *storage.PushedAuthRequest) (err error) {
	defer wrap(&err, "CreatePushedAuthRequest")
	params, err := json.Marshal(p.Params)
	if err != nil {
		return fmt.Errorf("encode pushed parameters: %w", err)
	}
	_, err = exec(ctx, s.db, `INSERT INTO pushed_auth_requests (`+parColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		p.URIHash, p.ClientID, string(params), micros(p.CreatedAt), micros(p.ExpiresAt), micros(p.UsedAt))
	return err
}

// ConsumePushedAuthRequest marks the request used in one conditional
// UPDATE ... RETURNING, whose row decides the winner of a race; only when
// it matched nothing does a second read tell a used request (ErrConflict)
// from an unknown, expired or foreign one (ErrNotFound).
func (s *Store) ConsumePushedAuthRequest(ctx context.Context, uriHash, clientID string, now time.Time) (_ *storage.PushedAuthRequest, err error) {
	defer wrap(&err, "ConsumePushedAuthRequest")
	us := micros(now)
	var r parRow
	err = queryRow(ctx, s.db, `UPDATE pushed_auth_requests SET used_at = ?
		WHERE uri_hash = ? AND client_id = ? AND used_at = 0 AND expires_at > ?
		RETURNING `+parColumns, us, uriHash, clientID, us).StructScan(&r)
	if errors.Is(err, sql.ErrNoRows) {
		var used int64
		err := get(ctx, s.db, &used, `SELECT used_at FROM pushed_auth_requests WHERE uri_hash = ? AND client_id = ?`, uriHash, clientID)
		switch {
		case err == nil && used != 0:
			return nil, storage.ErrConflict
		case err == nil || errors.Is(err, sql.ErrNoRows):
			return nil, storage.ErrNotFound
		default:
			return nil, err
		}
	}
	if err != nil {
		return nil, err
	}
	return r.pushed()
}

// UseClientAssertion inserts the jti, or takes over the row of an expired
// one, in one upsert: no row changed means a live row exists, a replay.
func (s *Store) UseClientAssertion(ctx context.Context, clientID, jti string, expiresAt, now time.Time) (err error) {
	defer wrap(&err, "UseClientAssertion")
	n, err := exec(ctx, s.db, `INSERT INTO client_assertions (client_id, jti, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (client_id, jti) DO UPDATE SET expires_at = excluded.expires_at
		WHERE client_assertions.expires_at <= ?`, clientID, jti, micros(expiresAt), micros(now))
	if err != nil {
		return err
	}
	if n == 0 {
		return storage.ErrConflict
	}
	return nil
}
