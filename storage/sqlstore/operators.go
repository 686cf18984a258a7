package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/asnidp/asnidp/storage"
)

type operatorRow struct {
	UserID    string `db:"user_id"`
	Role      string `db:"role"`
	Instansi  string `db:"instansi"`
	GrantedBy string `db:"granted_by"`
	GrantedAt int64  `db:"granted_at"`
	NIP       string `db:"nip"`
	Name      string `db:"name"`
}

func (r *operatorRow) operator() *storage.Operator {
	return &storage.Operator{
		UserID: r.UserID, Role: storage.OperatorRole(r.Role), Instansi: r.Instansi,
		GrantedBy: r.GrantedBy, GrantedAt: fromMicros(r.GrantedAt), NIP: r.NIP, Name: r.Name,
	}
}

// operatorSelect reads operators with their account's NIP and name.
const operatorSelect = `SELECT o.user_id, o.role, o.instansi, o.granted_by, o.granted_at, u.nip, u.name
	FROM operators o JOIN users u ON u.id = o.user_id`

// GrantOperator checks the role, the account and the agency, then upserts
// the role and appends its audit row, all in one transaction: the agency
// is looked up under the same write lock the grant takes.
func (s *Store) GrantOperator(ctx context.Context, o *storage.Operator, event *storage.AuditEvent) (err error) {
	defer wrap(&err, "GrantOperator")
	switch {
	case !o.Role.Valid():
		return fmt.Errorf("unknown operator role %q", o.Role)
	case o.Role.NeedsInstansi() && o.Instansi == "":
		return fmt.Errorf("role %s needs an instansi", o.Role)
	case !o.Role.NeedsInstansi() && o.Instansi != "":
		return fmt.Errorf("role %s covers every instansi and names none", o.Role)
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if ok, err := exists(ctx, tx, "users", o.UserID); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("%w: no user %s", storage.ErrNotFound, o.UserID)
		}
		if o.Instansi != "" {
			var one int
			err := queryRow(ctx, tx, `SELECT 1 FROM users WHERE instansi = ? LIMIT 1`, o.Instansi).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("%w: no account has instansi %q", storage.ErrNotFound, o.Instansi)
			}
			if err != nil {
				return err
			}
		}
		if _, err := exec(ctx, tx, `INSERT INTO operators (user_id, role, instansi, granted_by, granted_at)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (user_id) DO UPDATE SET role = excluded.role, instansi = excluded.instansi,
				granted_by = excluded.granted_by, granted_at = excluded.granted_at`,
			o.UserID, string(o.Role), o.Instansi, o.GrantedBy, micros(o.GrantedAt)); err != nil {
			return err
		}
		return insertAudit(ctx, tx, auditBatch(event))
	})
}

// RevokeOperator deletes the role and appends its audit row in one
// transaction; no role, no row.
func (s *Store) RevokeOperator(ctx context.Context, userID string, event *storage.AuditEvent) (err error) {
	defer wrap(&err, "RevokeOperator")
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		n, err := exec(ctx, tx, `DELETE FROM operators WHERE user_id = ?`, userID)
		if err != nil {
			return err
		}
		if n == 0 {
			return storage.ErrNotFound
		}
		return insertAudit(ctx, tx, auditBatch(event))
	})
}

// auditBatch is the one event of a change, or none.
func auditBatch(e *storage.AuditEvent) []*storage.AuditEvent {
	if e == nil {
		return nil
	}
	return []*storage.AuditEvent{e}
}

// OperatorByUserID reads the role of one account; nothing is cached.
func (s *Store) OperatorByUserID(ctx context.Context, userID string) (_ *storage.Operator, err error) {
	defer wrap(&err, "OperatorByUserID")
	var r operatorRow
	if err := get(ctx, s.db, &r, operatorSelect+` WHERE o.user_id = ?`, userID); err != nil {
		return nil, err
	}
	return r.operator(), nil
}

// Operators lists every operator.
func (s *Store) Operators(ctx context.Context) (_ []*storage.Operator, err error) {
	defer wrap(&err, "Operators")
	var rows []operatorRow
	if err := all(ctx, s.db, &rows, operatorSelect+` ORDER BY o.role, o.instansi, u.nip`); err != nil {
		return nil, err
	}
	out := make([]*storage.Operator, len(rows))
	for i := range rows {
		out[i] = rows[i].operator()
	}
	return out, nil
}

// UseConfirmation inserts the id, or takes over the row of an expired
// one, in one upsert: no row changed means a live row exists, a replay.
func (s *Store) UseConfirmation(ctx context.Context, id string, expiresAt, now time.Time) (err error) {
	defer wrap(&err, "UseConfirmation")
	if id == "" {
		return errors.New("empty confirmation id")
	}
	n, err := exec(ctx, s.db, `INSERT INTO used_confirmations (id, expires_at) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at
		WHERE used_confirmations.expires_at <= ?`, id, micros(expiresAt), micros(now))
	if err != nil {
		return err
	}
	if n == 0 {
		return storage.ErrConflict
	}
	return nil
}
