package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/asnidp/asnidp/storage"
)

type funnelRow struct {
	Instansi string `db:"instansi"`
	State    string `db:"state"`
	N        int64  `db:"n"`
	Recent   int64  `db:"recent"`
}

// funnelQuery is one aggregate over the covering index users_funnel
// (instansi, state, last_login_at): for 1,000,000 accounts it reads the
// index alone. last_login_at > 0 keeps a zero SignedInSince from counting
// accounts that never signed in.
func funnelQuery(f storage.FunnelFilter) (string, []any) {
	where, args := "", []any{micros(f.SignedInSince)}
	if f.Instansi != "" {
		where = " WHERE instansi = ?"
		args = append(args, f.Instansi)
	}
	return `SELECT instansi, state, COUNT(*) AS n,
		SUM(CASE WHEN last_login_at > 0 AND last_login_at >= CAST(? AS BIGINT) THEN 1 ELSE 0 END) AS recent
		FROM users` + where + ` GROUP BY instansi, state`, args
}

// ActivationFunnel counts per agency and state in one statement.
func (s *Store) ActivationFunnel(ctx context.Context, f storage.FunnelFilter) (_ []storage.Funnel, err error) {
	defer wrap(&err, "ActivationFunnel")
	query, args := funnelQuery(f)
	var rows []funnelRow
	if err := all(ctx, s.db, &rows, query, args...); err != nil {
		return nil, err
	}
	// Sorted here, not by ORDER BY: PostgreSQL would order by the
	// database's collation, SQLite by bytes.
	slices.SortFunc(rows, func(a, b funnelRow) int { return strings.Compare(a.Instansi, b.Instansi) })
	var out []storage.Funnel
	for _, r := range rows {
		if n := len(out); n == 0 || out[n-1].Instansi != r.Instansi {
			out = append(out, storage.Funnel{Instansi: r.Instansi})
		}
		last := &out[len(out)-1]
		last.Add(storage.UserState(r.State), int(r.N))
		if r.State == string(storage.StateActive) {
			last.SignedIn = int(r.Recent)
		}
	}
	return out, nil
}

// microsPerDay is a day in the unit activated_at is stored in.
const microsPerDay = int64(24 * time.Hour / time.Microsecond)

// maxTrendDays bounds a trend to about ten years of days.
const maxTrendDays = 3660

// trendQuery groups activated_at by whole days from the first midnight
// in one range of users_activated (or users_instansi_activated).
func trendQuery(instansi string, from, to int64) (string, []any) {
	where, args := "", []any{from, from, to}
	if instansi != "" {
		where = " AND instansi = ?"
		args = append(args, instansi)
	}
	return `SELECT (activated_at - CAST(? AS BIGINT)) / ` + fmt.Sprint(microsPerDay) + ` AS d,
		COUNT(*) AS n FROM users
		WHERE activated_at > 0 AND activated_at >= CAST(? AS BIGINT) AND activated_at < CAST(? AS BIGINT)` + where + `
		GROUP BY d`, args
}

// ActivationTrend reads the day counts and fills in the days without any.
func (s *Store) ActivationTrend(ctx context.Context, f storage.TrendFilter) (_ []storage.DayCount, err error) {
	defer wrap(&err, "ActivationTrend")
	if f.Days < 1 || f.Days > maxTrendDays {
		return nil, fmt.Errorf("trend of %d days (want 1..%d)", f.Days, maxTrendDays)
	}
	y, m, d := f.From.Date()
	start := time.Date(y, m, d, 0, 0, 0, 0, f.From.Location())
	from := start.UnixMicro()
	query, args := trendQuery(f.Instansi, from, from+int64(f.Days)*microsPerDay)
	var rows []struct {
		Day int64 `db:"d"`
		N   int64 `db:"n"`
	}
	if err := all(ctx, s.db, &rows, query, args...); err != nil {
		return nil, err
	}
	out := make([]storage.DayCount, f.Days)
	for i := range out {
		out[i].Day = start.AddDate(0, 0, i)
	}
	for _, r := range rows {
		if r.Day < 0 || r.Day >= int64(f.Days) {
			return nil, fmt.Errorf("activation day %d outside the trend", r.Day)
		}
		out[r.Day].Count = int(r.N)
	}
	return out, nil
}

// pendingState is the pending condition, written as the partial indexes
// users_pending and users_pending_unit state it: SQLite uses a partial
// index only for a query that repeats its condition.
const pendingState = `state IN ('provisioned', 'password_set')`

const pendingColumns = `id, nip, name, instansi, unit_kerja, jabatan, state, password_locked,
	last_login_at, created_at`

type pendingRow struct {
	ID             string `db:"id"`
	NIP            string `db:"nip"`
	Name           string `db:"name"`
	Instansi       string `db:"instansi"`
	UnitKerja      string `db:"unit_kerja"`
	Jabatan        string `db:"jabatan"`
	State          string `db:"state"`
	PasswordLocked bool   `db:"password_locked"`
	LastLoginAt    int64  `db:"last_login_at"`
	CreatedAt      int64  `db:"created_at"`
}

func (r *pendingRow) pending() storage.PendingUser {
	return storage.PendingUser{
		ID:             r.ID,
		NIP:            r.NIP,
		Name:           r.Name,
		Instansi:       r.Instansi,
		UnitKerja:      r.UnitKerja,
		Jabatan:        r.Jabatan,
		State:          storage.UserState(r.State),
		PasswordLocked: r.PasswordLocked,
		LastLoginAt:    fromMicros(r.LastLoginAt),
		CreatedAt:      fromMicros(r.CreatedAt),
	}
}

// PendingUsers reads one keyset page: NIP is unique, so "NIP above the
// last one" resumes exactly where the previous page ended.
func (s *Store) PendingUsers(ctx context.Context, f storage.PendingFilter, after string, limit int) (_ []storage.PendingUser, err error) {
	defer wrap(&err, "PendingUsers")
	return s.pendingPage(ctx, f, after, limit)
}

// pendingQuery reads one keyset page through users_pending or
// users_pending_unit.
func pendingQuery(f storage.PendingFilter, after string, limit int) (string, []any, error) {
	if limit < 1 || limit > storage.MaxPendingPage {
		return "", nil, fmt.Errorf("page of %d accounts (want 1..%d)", limit, storage.MaxPendingPage)
	}
	where := []string{pendingState, "nip > ?"}
	args := []any{after}
	switch {
	case f.UnitKerja != "" && f.Instansi == "":
		return "", nil, errors.New("a work unit without its agency")
	case f.UnitKerja != "":
		where = append(where, "instansi = ?", "unit_kerja = ?")
		args = append(args, f.Instansi, f.UnitKerja)
	case f.Instansi != "":
		where = append(where, "instansi = ?")
		args = append(args, f.Instansi)
	}
	return `SELECT ` + pendingColumns + ` FROM users WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY nip LIMIT ?`, append(args, limit), nil
}

func (s *Store) pendingPage(ctx context.Context, f storage.PendingFilter, after string, limit int) ([]storage.PendingUser, error) {
	query, args, err := pendingQuery(f, after, limit)
	if err != nil {
		return nil, err
	}
	var rows []pendingRow
	if err := all(ctx, s.db, &rows, query, args...); err != nil {
		return nil, err
	}
	out := make([]storage.PendingUser, len(rows))
	for i := range rows {
		out[i] = rows[i].pending()
	}
	return out, nil
}

// pendingBatch is the page ForEachPendingUser reads: large enough that
// the round trips do not count, small enough that memory does not.
const pendingBatch = storage.MaxPendingPage

// ForEachPendingUser walks the keyset pages, so the walk holds one page
// in memory and no read transaction across fn.
func (s *Store) ForEachPendingUser(ctx context.Context, f storage.PendingFilter, fn func(*storage.PendingUser) error) (err error) {
	defer wrap(&err, "ForEachPendingUser")
	after := ""
	for {
		page, err := s.pendingPage(ctx, f, after, pendingBatch)
		if err != nil {
			return err
		}
		for i := range page {
			if err := fn(&page[i]); err != nil {
				return err
			}
		}
		if len(page) < pendingBatch {
			return nil
		}
		after = page[len(page)-1].NIP
	}
}
