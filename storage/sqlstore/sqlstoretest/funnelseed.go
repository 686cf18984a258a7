package sqlstoretest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/asnidp/asnidp/storage/sqlstore"
	"github.com/asnidp/asnidp/storage/sqlstore/internal/pgtest"
)

// The national campaign the funnel benchmarks read: FunnelAccounts
// accounts over FunnelAgencies agencies. The biggest agency,
// FunnelBigAgency, has 200,000 accounts of which exactly FunnelBigPending
// are pending; the others have 600 to 2,600 each. Elsewhere a quarter is
// provisioned, 15% have a password only, 55% are active (activated over
// the 90 days before FunnelNow, signed in over the last 60) and 5% are
// disabled. NIPs are spread across agencies as birth dates spread them.
const (
	FunnelAccounts   = 1_000_000
	FunnelAgencies   = 500
	FunnelBigAgency  = "Kementerian Pusat"
	FunnelBigPending = 100_000

	bigAgencySize = 200_000
	// funnelSeed names the population; change it when the population
	// changes, so a cached copy of the old one is not reused.
	funnelSeed = 1
)

// FunnelStores opens the campaign on each engine, for benchmarks to run
// on both.
var FunnelStores = []struct {
	Name string
	Open func(testing.TB) *sqlstore.Store
}{
	{"sqlite", FunnelSQLite},
	{"postgres", FunnelPostgres},
}

// FunnelNow is the campaign's "now".
var FunnelNow = time.Date(2025, time.June, 2, 8, 0, 0, 0, time.UTC)

// FunnelAgency is the name of agency k (0 is FunnelBigAgency).
func FunnelAgency(k int) string {
	if k == 0 {
		return FunnelBigAgency
	}
	return fmt.Sprintf("Pemerintah Daerah %03d", k)
}

// agencySizes are the accounts per agency, FunnelAccounts in all.
func agencySizes() []int {
	sizes := make([]int, FunnelAgencies)
	sizes[0] = bigAgencySize
	rest := FunnelAccounts - bigAgencySize
	mean := rest / (FunnelAgencies - 1)
	total := bigAgencySize
	for k := 1; k < FunnelAgencies; k++ {
		// Pairs of agencies one above and one below the mean.
		d := ((k + 1) / 2 * 7919) % 1001
		if k%2 == 0 {
			d = -d
		}
		sizes[k] = mean + d
		total += sizes[k]
	}
	sizes[FunnelAgencies-1] += FunnelAccounts - total
	return sizes
}

// seedColumns are the columns the seed writes; the others keep their
// defaults.
var seedColumns = []string{"id", "nip", "name", "email", "email_verified", "instansi", "unit_kerja", "jabatan",
	"jenis_pegawai", "state", "password_hash", "totp_secret", "totp_last_step", "last_login_at", "activated_at",
	"created_at", "updated_at"}

// splitmix64 spreads i over 64 bits: a fixed pseudo-random draw per
// account, so every run seeds the same population.
func splitmix64(i uint64) uint64 {
	z := i + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// funnelRows calls fn with the values of every account, in seedColumns
// order, agency by agency as imports write them.
func funnelRows(fn func(values []any) error) error {
	now := FunnelNow.UnixMicro()
	const day = int64(24 * time.Hour / time.Microsecond)
	hash := "$argon2id$v=19$m=19456,t=2,p=1$" + strings.Repeat("c2FsdHNhbHQ", 2) + "$" + strings.Repeat("aGFzaGhhc2g", 4)
	secret := []byte(strings.Repeat("sealed-totp-seed", 4))
	values := make([]any, len(seedColumns))
	i := 0
	for k, size := range agencySizes() {
		instansi := FunnelAgency(k)
		for j := range size {
			r := splitmix64(uint64(i))
			var state string
			switch p := r % 100; {
			case k == 0 && j%4 == 0:
				state = "provisioned"
			case k == 0 && j%2 == 0:
				state = "password_set"
			case k == 0 && p < 10:
				state = "disabled"
			case k == 0:
				state = "active"
			case p < 25:
				state = "provisioned"
			case p < 40:
				state = "password_set"
			case p < 95:
				state = "active"
			default:
				state = "disabled"
			}
			var pw string
			var totp []byte
			var step, lastLogin, activated int64
			if state != "provisioned" {
				pw = hash
			}
			if state == "active" || (state == "disabled" && r&(1<<40) != 0) {
				totp, step = secret, 58_000_000+int64(r%100_000)
				activated = now - int64((r>>16)%uint64(90*day))
				lastLogin = max(activated, now-int64((r>>24)%uint64(60*day)))
			}
			if state == "password_set" && r&(1<<41) != 0 {
				lastLogin = now - int64((r>>32)%uint64(30*day))
			}
			// 7919 is prime to 10: i ↦ i·7919 mod 10⁶ visits every NIP once.
			nip := fmt.Sprintf("1990%014d", (uint64(i)*7919+13)%FunnelAccounts)
			values[0], values[1], values[2], values[3] = fmt.Sprintf("u%07d", i), nip, fmt.Sprintf("Pegawai Nomor %d", i), fmt.Sprintf("pegawai%d@example.go.id", i)
			values[4], values[5], values[6], values[7] = int64(1), instansi, fmt.Sprintf("Unit Kerja %02d", (r>>8)%20), "Guru Ahli Pertama"
			values[8], values[9], values[10], values[11] = "PPPK Paruh Waktu", state, pw, totp
			values[12], values[13], values[14] = step, lastLogin, activated
			values[15], values[16] = now-120*day, now-day
			if err := fn(values); err != nil {
				return err
			}
			i++
		}
	}
	return nil
}

// FunnelSQLite returns a store on a SQLite file holding the campaign.
// The file is kept under os.TempDir, named by the schema version and the
// population, so only the first run seeds it (about a minute).
func FunnelSQLite(tb testing.TB) *sqlstore.Store {
	tb.Helper()
	version, err := sqlstore.SchemaVersion()
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(os.TempDir(), fmt.Sprintf("asnidp-bench-funnel-schema%d-seed%d.db", version, funnelSeed))
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		tb.Logf("seeding %d accounts into %s", FunnelAccounts, path)
		// Seeded beside and renamed into place, so an interrupted seed is
		// never taken for a whole one.
		tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
		if err := seedSQLite(tb, tmp); err != nil {
			for _, f := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
				os.Remove(f)
			}
			tb.Fatalf("seed %s: %v", tmp, err)
		}
		if err := os.Rename(tmp, path); err != nil {
			tb.Fatal(err)
		}
	}
	return OpenSQLite(tb, path)
}

func seedSQLite(tb testing.TB, path string) error {
	ctx := tb.Context()
	if err := migrateOnly(ctx, sqlstore.Options{Driver: sqlstore.DriverSQLite, DSN: path}); err != nil {
		return err
	}
	db, err := sql.Open("sqlite3", path+"?_synchronous=OFF&_journal_mode=WAL")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// 100 rows per INSERT: far below SQLite's parameter limit.
	const perInsert = 100
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(seedColumns)), ", ") + ")"
	stmt, err := tx.PrepareContext(ctx, "INSERT INTO users ("+strings.Join(seedColumns, ", ")+") VALUES "+
		strings.TrimSuffix(strings.Repeat(row+", ", perInsert), ", "))
	if err != nil {
		return err
	}
	args := make([]any, 0, perInsert*len(seedColumns))
	err = funnelRows(func(values []any) error {
		args = append(args, values...)
		if len(args) < cap(args) {
			return nil
		}
		_, err := stmt.ExecContext(ctx, args...)
		args = args[:0]
		return err
	})
	if err != nil {
		return err
	}
	if len(args) != 0 {
		return fmt.Errorf("%d accounts left over: FunnelAccounts must be a multiple of %d", len(args)/len(seedColumns), perInsert)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	// No ANALYZE: a deployment's file has none either, and the funnel's
	// queries must not depend on it.
	_, err = db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	return err
}

// FunnelPostgres returns a store on a PostgreSQL schema holding the
// campaign. The schema is kept, named by the schema version and the
// population, so only the first run seeds it.
func FunnelPostgres(tb testing.TB) *sqlstore.Store {
	tb.Helper()
	version, err := sqlstore.SchemaVersion()
	if err != nil {
		tb.Fatal(err)
	}
	schema := fmt.Sprintf("asnidp_bench_funnel_schema%d_seed%d", version, funnelSeed)
	dsn := pgtest.KeptSchema(tb, schema)
	if !postgresSeeded(tb.Context(), dsn) {
		tb.Logf("seeding %d accounts into schema %s", FunnelAccounts, schema)
		pgtest.DropSchema(tb, schema)
		dsn = pgtest.KeptSchema(tb, schema)
		if err := seedPostgres(tb, dsn); err != nil {
			pgtest.DropSchema(tb, schema)
			tb.Fatalf("seed schema %s: %v", schema, err)
		}
	}
	return open(tb, sqlstore.Options{Driver: sqlstore.DriverPostgres, DSN: dsn})
}

// postgresSeeded reports whether a seed completed: its last step writes
// the bench_seed row.
func postgresSeeded(ctx context.Context, dsn string) bool {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return false
	}
	defer db.Close()
	var n int64
	return db.QueryRowContext(ctx, "SELECT accounts FROM bench_seed").Scan(&n) == nil && n == FunnelAccounts
}

func seedPostgres(tb testing.TB, dsn string) error {
	ctx := tb.Context()
	if err := migrateOnly(ctx, sqlstore.Options{Driver: sqlstore.DriverPostgres, DSN: dsn}); err != nil {
		return err
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// COPY streams the rows: one round trip for a million.
	rows := make(chan []any, 1024)
	done := make(chan error, 1)
	go func() {
		done <- funnelRows(func(values []any) error {
			rows <- append([]any(nil), values...)
			return nil
		})
		close(rows)
	}()
	err = conn.Raw(func(dc any) error {
		_, err := dc.(*stdlib.Conn).Conn().CopyFrom(ctx, pgx.Identifier{"users"}, seedColumns, &chanSource{rows: rows})
		return err
	})
	for range rows {
		// Drain, so the generator ends when the copy failed.
	}
	if err := <-done; err != nil {
		return err
	}
	if err != nil {
		return fmt.Errorf("copy accounts: %w", err)
	}
	// Autovacuum would do the same soon after a bulk import.
	if _, err := conn.ExecContext(ctx, "VACUUM ANALYZE users"); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "CREATE TABLE bench_seed (accounts BIGINT NOT NULL)"); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "INSERT INTO bench_seed VALUES ($1)", FunnelAccounts)
	return err
}

// migrateOnly creates the schema for the seed to write into.
func migrateOnly(ctx context.Context, opts sqlstore.Options) error {
	s, err := sqlstore.Open(ctx, opts)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Migrate(ctx)
}

// chanSource feeds CopyFrom from a channel.
type chanSource struct {
	rows <-chan []any
	cur  []any
}

func (c *chanSource) Next() bool {
	var ok bool
	c.cur, ok = <-c.rows
	return ok
}

func (c *chanSource) Values() ([]any, error) { return c.cur, nil }
func (c *chanSource) Err() error             { return nil }
