package sqlstore

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/asnidp/asnidp/storage"
)

type signingKeyRow struct {
	ID            string `db:"id"`
	Algorithm     string `db:"algorithm"`
	PrivateSealed []byte `db:"private_sealed"`
	PublicJWK     []byte `db:"public_jwk"`
	CreatedAt     int64  `db:"created_at"`
	ActiveAt      int64  `db:"active_at"`
}

const signingKeyColumns = `id, algorithm, private_sealed, public_jwk, created_at, active_at`

// signingKeyLock is the PostgreSQL advisory lock AddSigningKey holds while
// it checks and inserts.
const signingKeyLock int64 = 0x6173_6e69_6470_6b01 // "asnidp" k1

// SigningKeys returns every key ordered by ActiveAt, then ID.
func (s *Store) SigningKeys(ctx context.Context) (_ []*storage.SigningKey, err error) {
	defer wrap(&err, "SigningKeys")
	var rows []signingKeyRow
	if err := all(ctx, s.db, &rows, `SELECT `+signingKeyColumns+` FROM signing_keys`); err != nil {
		return nil, err
	}
	keys := make([]*storage.SigningKey, 0, len(rows))
	for _, r := range rows {
		keys = append(keys, &storage.SigningKey{
			ID:            r.ID,
			Algorithm:     r.Algorithm,
			PrivateSealed: r.PrivateSealed,
			PublicJWK:     r.PublicJWK,
			CreatedAt:     fromMicros(r.CreatedAt),
			ActiveAt:      fromMicros(r.ActiveAt),
		})
	}
	// Sorted here so ties order byte-wise on both engines.
	slices.SortFunc(keys, func(a, b *storage.SigningKey) int {
		return cmp.Or(a.ActiveAt.Compare(b.ActiveAt), strings.Compare(a.ID, b.ID))
	})
	return keys, nil
}

// AddSigningKey inserts k unless a key of its algorithm activating after
// notBefore exists.
// The check and the insert share a transaction that holds the write lock
// (SQLite) or an advisory lock (PostgreSQL), so processes racing here add
// one key between them.
func (s *Store) AddSigningKey(ctx context.Context, k *storage.SigningKey, notBefore time.Time) (_ bool, err error) {
	defer wrap(&err, "AddSigningKey")
	var inserted bool
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.lockTx(ctx, tx, signingKeyLock); err != nil {
			return err
		}
		var n int
		if err := get(ctx, tx, &n, `SELECT COUNT(*) FROM signing_keys WHERE algorithm = ? AND active_at > ?`,
			k.Algorithm, micros(notBefore)); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if _, err := exec(ctx, tx, `INSERT INTO signing_keys (`+signingKeyColumns+`)
			VALUES (?, ?, ?, ?, ?, ?)`, k.ID, k.Algorithm, k.PrivateSealed, k.PublicJWK,
			micros(k.CreatedAt), micros(k.ActiveAt)); err != nil {
			return err
		}
		inserted = true
		return nil
	})
	return inserted, err
}

// DeleteSigningKey removes a key; ErrNotFound when absent.
func (s *Store) DeleteSigningKey(ctx context.Context, id string) (err error) {
	defer wrap(&err, "DeleteSigningKey")
	n, err := exec(ctx, s.db, `DELETE FROM signing_keys WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}
