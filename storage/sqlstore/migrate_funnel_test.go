package sqlstore

import (
	"io/fs"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/asnidp/asnidp/storage/sqlstore/internal/pgtest"
)

// migrateUpTo applies the embedded migrations up to and including
// version, as Migrate would without its locks, so a test can write rows
// the way an older schema held them.
func migrateUpTo(t *testing.T, s *Store, version int64) {
	t.Helper()
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	dialect := goose.DialectSQLite3
	if s.driver == DriverPostgres {
		dialect = goose.DialectPostgres
	}
	p, err := goose.NewProvider(dialect, s.db.DB, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatalf("load migrations: %v", err)
	}
	if _, err := p.UpTo(t.Context(), version); err != nil {
		t.Fatalf("migrate up to %d: %v", version, err)
	}
}

// The activation date of accounts that existed before 00019 comes from
// the audit log's first successful binding, or from the account's
// creation when the log has none.
func testActivatedAtBackfill(t *testing.T, s *Store) {
	ctx := t.Context()
	migrateUpTo(t, s, 18)
	day := func(d int) int64 { return time.Date(2025, time.May, d, 9, 0, 0, 0, time.UTC).UnixMicro() }
	users := []struct {
		id, state        string
		totp             bool
		created, updated int64
	}{
		{"enrolled-twice", "active", true, day(1), day(20)},
		{"reset-since", "password_set", false, day(1), day(20)},
		{"no-audit", "active", true, day(3), day(20)},
		{"no-dates", "active", true, 0, day(4)},
		{"disabled-bound", "disabled", true, day(1), day(20)},
		{"provisioned", "provisioned", false, day(1), day(1)},
	}
	for i, u := range users {
		var secret []byte
		if u.totp {
			secret = []byte("sealed")
		}
		if _, err := exec(ctx, s.db, `INSERT INTO users (id, nip, state, totp_secret, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)`, u.id, "19900101202203100"+string(rune('0'+i)), u.state, secret, u.created, u.updated); err != nil {
			t.Fatalf("insert %s: %v", u.id, err)
		}
	}
	events := []struct {
		id, typ, outcome, user string
		at                     int64
	}{
		{"e1", "mfa.enrolled", "failure", "enrolled-twice", day(5)}, // a failure activates nothing
		{"e2", "mfa.enrolled", "success", "enrolled-twice", day(7)},
		{"e3", "mfa.enrolled", "success", "enrolled-twice", day(6)}, // the first binding, written out of order
		{"e4", "mfa.enrolled", "success", "reset-since", day(8)},
		{"e5", "mfa.reset", "success", "reset-since", day(9)},
		{"e6", "mfa.verified", "success", "no-audit", day(10)},
		{"e7", "mfa.enrolled", "success", "disabled-bound", day(11)},
		{"e8", "mfa.enrolled", "success", "", day(2)}, // no account named
	}
	for _, e := range events {
		if _, err := exec(ctx, s.db, `INSERT INTO audit_events (id, at, type, outcome, user_id) VALUES (?, ?, ?, ?, ?)`,
			e.id, e.at, e.typ, e.outcome, e.user); err != nil {
			t.Fatalf("insert audit %s: %v", e.id, err)
		}
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate() = %v", err)
	}
	want := map[string]int64{
		"enrolled-twice": day(6),
		"reset-since":    day(8),
		"no-audit":       day(3),
		"no-dates":       day(4),
		"disabled-bound": day(11),
		"provisioned":    0,
	}
	for id, w := range want {
		u, err := s.UserByID(ctx, id)
		if err != nil {
			t.Fatalf("UserByID(%q) = %v", id, err)
		}
		if got := micros(u.ActivatedAt); got != w {
			t.Errorf("%s: ActivatedAt after the migration = %v, want %v", id, u.ActivatedAt, fromMicros(w))
		}
	}
}

func TestSQLite_ActivatedAtBackfill(t *testing.T) {
	testActivatedAtBackfill(t, openSQLite(t, t.TempDir()+"/asnidp.db"))
}

func TestPostgres_ActivatedAtBackfill(t *testing.T) {
	testActivatedAtBackfill(t, openPostgres(t, pgtest.NewPostgresSchema(t)))
}
