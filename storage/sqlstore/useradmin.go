package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/asnidp/asnidp/storage"
)

// upsertChunk is how many users one INSERT carries: 200 rows of 11
// values stay far below both engines' parameter limits, and one statement
// per 200 rows is what makes a bulk import fast on PostgreSQL, where every
// statement is a round trip.
const upsertChunk = 200

// upsertColumns are the columns a provisioning upsert writes.
const upsertColumns = `id, nip, name, email, instansi, unit_kerja, jabatan, jenis_pegawai, state,
	created_at, updated_at`

// upsertConflict overwrites the personnel fields of an existing NIP only
// when one of them differs, so an unchanged row is not written at all
// (UpdatedAt keeps telling when the record last changed). A changed email
// is no longer verified.
const upsertConflict = ` ON CONFLICT (nip) DO UPDATE SET
	name = excluded.name, email = excluded.email, instansi = excluded.instansi,
	unit_kerja = excluded.unit_kerja, jabatan = excluded.jabatan,
	jenis_pegawai = excluded.jenis_pegawai,
	email_verified = CASE WHEN users.email = excluded.email THEN users.email_verified ELSE 0 END,
	updated_at = excluded.updated_at
	WHERE users.name <> excluded.name OR users.email <> excluded.email
		OR users.instansi <> excluded.instansi OR users.unit_kerja <> excluded.unit_kerja
		OR users.jabatan <> excluded.jabatan OR users.jenis_pegawai <> excluded.jenis_pegawai`

// UpsertUserProfiles inserts new NIPs and updates changed ones in one
// transaction, upsertChunk rows per statement.
func (s *Store) UpsertUserProfiles(ctx context.Context, users []*storage.User, events []*storage.AuditEvent, now time.Time) (err error) {
	defer wrap(&err, "UpsertUserProfiles")
	seen := make(map[string]bool, len(users))
	for _, u := range users {
		if err := validState(u.State); err != nil {
			return err
		}
		if u.ID == "" || u.NIP == "" {
			return errors.New("user without ID or NIP")
		}
		if seen[u.NIP] {
			return errors.New("a NIP appears twice in one batch")
		}
		seen[u.NIP] = true
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		for start := 0; start < len(users); start += upsertChunk {
			chunk := users[start:min(start+upsertChunk, len(users))]
			args := make([]any, 0, len(chunk)*11)
			for _, u := range chunk {
				args = append(args, u.ID, u.NIP, u.Name, u.Email, u.Instansi, u.UnitKerja, u.Jabatan,
					u.JenisPegawai, string(u.State), micros(now), micros(now))
			}
			query := `INSERT INTO users (` + upsertColumns + `) VALUES ` +
				placeholders(len(chunk), 11) + upsertConflict
			if _, err := exec(ctx, tx, query, args...); err != nil {
				return err
			}
		}
		return insertAudit(ctx, tx, events)
	})
}

// placeholders returns rows groups of cols "?" for a multi-row VALUES.
func placeholders(rows, cols int) string {
	group := "(" + strings.Repeat("?, ", cols-1) + "?)"
	var b strings.Builder
	b.Grow(rows * (len(group) + 2))
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(group)
	}
	return b.String()
}

// lookupChunk bounds the NIPs of one IN list.
const lookupChunk = 500

// UsersByNIPs returns the users holding any of nips.
func (s *Store) UsersByNIPs(ctx context.Context, nips []string) (_ []*storage.User, err error) {
	defer wrap(&err, "UsersByNIPs")
	var out []*storage.User
	for start := 0; start < len(nips); start += lookupChunk {
		chunk := nips[start:min(start+lookupChunk, len(nips))]
		args := make([]any, len(chunk))
		for i, n := range chunk {
			args[i] = n
		}
		var rows []userRow
		query := `SELECT ` + userColumns + ` FROM users WHERE nip IN (` +
			strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ") + `)`
		if err := all(ctx, s.db, &rows, query, args...); err != nil {
			return nil, err
		}
		for i := range rows {
			out = append(out, rows[i].user())
		}
	}
	return out, nil
}

// userWhere turns a filter into a WHERE clause (empty when it filters
// nothing) and its arguments.
func userWhere(f storage.UserFilter) (string, []any, error) {
	var where []string
	var args []any
	if f.Instansi != "" {
		where = append(where, "instansi = ?")
		args = append(args, f.Instansi)
	}
	if len(f.States) > 0 {
		for _, st := range f.States {
			if err := validState(st); err != nil {
				return "", nil, err
			}
			args = append(args, string(st))
		}
		where = append(where, "state IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(f.States)), ", ")+")")
	}
	if len(where) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(where, " AND "), args, nil
}

// ForEachUser streams the matching users in NIP order.
func (s *Store) ForEachUser(ctx context.Context, f storage.UserFilter, fn func(*storage.User) error) (err error) {
	defer wrap(&err, "ForEachUser")
	where, args, err := userWhere(f)
	if err != nil {
		return err
	}
	rows, err := s.db.QueryxContext(ctx, s.db.Rebind(`SELECT `+userColumns+` FROM users`+where+` ORDER BY nip`), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r userRow
		if err := rows.StructScan(&r); err != nil {
			return err
		}
		if err := fn(r.user()); err != nil {
			return err
		}
	}
	return rows.Err()
}

// CountUsers counts users per group and state.
func (s *Store) CountUsers(ctx context.Context, f storage.UserFilter, by storage.Grouping) (_ []storage.StateCount, err error) {
	defer wrap(&err, "CountUsers")
	// The group columns come from this switch only, never from the caller.
	var cols string
	switch by {
	case storage.GroupNone:
		cols = "'' AS instansi, '' AS unit_kerja"
	case storage.GroupInstansi:
		cols = "instansi, '' AS unit_kerja"
	case storage.GroupUnitKerja:
		cols = "instansi, unit_kerja"
	default:
		return nil, fmt.Errorf("unknown grouping %q", by)
	}
	where, args, err := userWhere(f)
	if err != nil {
		return nil, err
	}
	group := "state"
	switch by {
	case storage.GroupInstansi:
		group = "instansi, state"
	case storage.GroupUnitKerja:
		group = "instansi, unit_kerja, state"
	}
	var rows []struct {
		Instansi  string `db:"instansi"`
		UnitKerja string `db:"unit_kerja"`
		State     string `db:"state"`
		N         int64  `db:"n"`
	}
	if err := all(ctx, s.db, &rows, `SELECT `+cols+`, state, COUNT(*) AS n FROM users`+where+
		` GROUP BY `+group+` ORDER BY `+group, args...); err != nil {
		return nil, err
	}
	out := make([]storage.StateCount, len(rows))
	for i, r := range rows {
		out[i] = storage.StateCount{Instansi: r.Instansi, UnitKerja: r.UnitKerja, State: storage.UserState(r.State), Count: int(r.N)}
	}
	return out, nil
}

// ChangeNIP renames the user's login; the ID stays.
func (s *Store) ChangeNIP(ctx context.Context, userID, newNIP string, now time.Time) (err error) {
	defer wrap(&err, "ChangeNIP")
	if newNIP == "" {
		return errors.New("empty NIP")
	}
	return s.updateUser(ctx, `UPDATE users SET nip = ?, updated_at = ? WHERE id = ?`, newNIP, micros(now), userID)
}

// DisableUser switches the account off and ends everything it holds in
// one transaction, so no request sees a disabled user with a live session
// or token. Each session ends as EndSession ends one, back-channel logout
// notices included.
func (s *Store) DisableUser(ctx context.Context, userID string, now time.Time) (err error) {
	defer wrap(&err, "DisableUser")
	defer s.logoutsQueued(&err)
	us := micros(now)
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		n, err := exec(ctx, tx, `UPDATE users SET state = 'disabled', updated_at = ? WHERE id = ?`, us, userID)
		if err != nil {
			return err
		}
		if n == 0 {
			return storage.ErrNotFound
		}
		return endUserSessionsTx(ctx, tx, userID, now)
	})
}

// EnableUser derives the state from the credentials, in one conditional
// UPDATE ... RETURNING.
func (s *Store) EnableUser(ctx context.Context, userID string, now time.Time) (_ storage.UserState, err error) {
	defer wrap(&err, "EnableUser")
	var state string
	err = queryRow(ctx, s.db, `UPDATE users SET state = CASE
			WHEN password_hash = '' THEN 'provisioned'
			WHEN totp_secret IS NULL THEN 'password_set'
			ELSE 'active' END,
		updated_at = ?
		WHERE id = ? AND state = 'disabled' RETURNING state`, micros(now), userID).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFoundOr(ctx, s.db, "users", userID, storage.ErrConflict)
	}
	if err != nil {
		return "", err
	}
	return storage.UserState(state), nil
}
