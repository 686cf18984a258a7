package sqlstore

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/asnidp/asnidp/storage"
	"github.com/asnidp/asnidp/storage/storagetest"
)

// openSQLite opens (without migrating) the SQLite database at path and
// closes it at the end of the test.
func openSQLite(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), Options{Driver: DriverSQLite, DSN: path})
	if err != nil {
		t.Fatalf("Open(sqlite, %q) = %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newSQLiteStore is a migrated store on a fresh file.
func newSQLiteStore(t testing.TB) *Store {
	t.Helper()
	s := openSQLite(t, filepath.Join(t.TempDir(), "asnidp.db"))
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate() = %v", err)
	}
	return s
}

func TestSQLite_Store(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return newSQLiteStore(t) })
}

// Two stores on one file, as two processes on one host have them.
func TestSQLite_Shared(t *testing.T) {
	storagetest.RunShared(t, func(t *testing.T, now func() time.Time) (storage.Store, storage.Store, time.Duration) {
		path := filepath.Join(t.TempDir(), "asnidp.db")
		open := func() *Store {
			s, err := Open(t.Context(), Options{Driver: DriverSQLite, DSN: path, Now: now})
			if err != nil {
				t.Fatalf("Open(sqlite, %q) = %v", path, err)
			}
			t.Cleanup(func() { s.Close() })
			if err := s.Migrate(t.Context()); err != nil {
				t.Fatalf("Migrate() = %v", err)
			}
			return s
		}
		return open(), open(), DefaultClientCacheBound
	})
}

// migrationVersions are the version numbers of the embedded migration
// files, in order (numbers may skip one taken by work not merged yet).
func migrationVersions(t testing.TB) []int {
	t.Helper()
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("embedded migrations: %v, %v", files, err)
	}
	var out []int
	for _, f := range files {
		var v int
		if _, err := fmt.Sscanf(path.Base(f), "%05d_", &v); err != nil {
			t.Fatalf("migration %s has no version number: %v", f, err)
		}
		out = append(out, v)
	}
	return out
}

// checkMigratedOnce fails unless every migration is recorded exactly once
// in goose's version table (plus goose's own version 0 row).
func checkMigratedOnce(t *testing.T, db *sql.DB) {
	t.Helper()
	rows, err := db.QueryContext(t.Context(),
		`SELECT version_id, COUNT(*) FROM goose_db_version GROUP BY version_id ORDER BY version_id`)
	if err != nil {
		t.Fatalf("read goose_db_version: %v", err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var version, n int64
		if err := rows.Scan(&version, &n); err != nil {
			t.Fatalf("scan goose_db_version: %v", err)
		}
		got = append(got, fmt.Sprintf("%d×%d", version, n))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read goose_db_version: %v", err)
	}
	want := []string{"0×1"}
	for _, v := range migrationVersions(t) {
		want = append(want, fmt.Sprintf("%d×1", v))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("goose_db_version rows (version×count) = %v, want %v", got, want)
	}
}

func TestSQLite_MigrateTwice(t *testing.T) {
	s := newSQLiteStore(t)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("second Migrate() = %v, want nil", err)
	}
	checkMigratedOnce(t, s.db.DB)
	// The schema works after the second run.
	if err := s.CreateClient(t.Context(), &storage.Client{ID: "rp"}); err != nil {
		t.Errorf("CreateClient after two migrations = %v", err)
	}
}

func TestSQLite_OpenCreatesDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "var", "lib", "asnidp", "asnidp.db")
	s := openSQLite(t, path)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate() = %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file after Open and Migrate: %v", err)
	}
}

func TestOpen_Invalid(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		opts Options
	}{
		{"unknown driver", Options{Driver: "mysql", DSN: "x"}},
		{"empty driver", Options{DSN: filepath.Join(dir, "a.db")}},
		{"sqlite without path", Options{Driver: DriverSQLite}},
		{"sqlite with query", Options{Driver: DriverSQLite, DSN: filepath.Join(dir, "a.db") + "?_txlock=deferred"}},
		{"sqlite in memory", Options{Driver: DriverSQLite, DSN: ":memory:"}},
		{"postgres without DSN", Options{Driver: DriverPostgres}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.Context(), tc.opts)
			if err == nil {
				s.Close()
				t.Errorf("Open(%+v) = nil error, want an error", tc.opts)
			}
		})
	}
}

// G1: every connection runs WAL with a busy timeout and foreign keys, and
// every transaction takes the write lock when it begins.
func TestSQLite_ConnectionSettings_G1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "asnidp.db")
	s := openSQLite(t, path)
	ctx := t.Context()

	pragmas := []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"busy_timeout", "10000"},
		{"foreign_keys", "1"},
		{"synchronous", "1"}, // NORMAL
	}
	for _, p := range pragmas {
		var got string
		if err := s.db.GetContext(ctx, &got, "PRAGMA "+p.pragma); err != nil {
			t.Fatalf("PRAGMA %s: %v", p.pragma, err)
		}
		if got != p.want {
			t.Errorf("PRAGMA %s = %q, want %q", p.pragma, got, p.want)
		}
	}

	// An empty transaction of the store already holds the write lock: a
	// second connection that will not wait cannot begin writing.
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer tx.Rollback()
	other, err := sql.Open("sqlite3", path+"?_busy_timeout=0")
	if err != nil {
		t.Fatalf("open second connection: %v", err)
	}
	defer other.Close()
	_, err = other.ExecContext(ctx, "BEGIN IMMEDIATE")
	var sqliteErr sqlite3.Error
	if !errors.As(err, &sqliteErr) || sqliteErr.Code != sqlite3.ErrBusy {
		t.Errorf("BEGIN IMMEDIATE beside an open store transaction = %v, want SQLITE_BUSY", err)
	}
}

// G1: many goroutines mixing transactions and single writes on one file
// never see "database is locked".
func TestSQLite_ConcurrentWriters_G1(t *testing.T) {
	s := newSQLiteStore(t)
	ctx := t.Context()
	if err := s.CreateClient(ctx, &storage.Client{ID: "rp"}); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	if err := s.CreateUser(ctx, &storage.User{ID: "u1", NIP: "198609262015051001", State: storage.StateActive}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	const workers, rounds = 16, 15
	errs := make(chan error, workers*rounds*4)
	done := make(chan struct{})
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			hash := fmt.Sprintf("w%d-0", w)
			if err := s.CreateRefreshToken(ctx, &storage.RefreshToken{ID: hash, TokenHash: hash,
				FamilyID: hash, ClientID: "rp", ExpiresAt: time.Unix(1<<40, 0)}); err != nil {
				errs <- err
				return
			}
			for r := 1; r <= rounds; r++ {
				next := fmt.Sprintf("w%d-%d", w, r)
				errs <- s.RotateRefreshToken(ctx, hash, &storage.RefreshToken{ID: next, TokenHash: next,
					ClientID: "rp", ExpiresAt: time.Unix(1<<40, 0)}, time.Unix(1000, 0))
				hash = next
				_, err := s.IncrementCounter(ctx, "ip:192.0.2.1", time.Minute, time.Unix(1000, 0))
				errs <- err
				_, err = s.RecordPasswordFailure(ctx, "u1", time.Time{}, false, time.Unix(1000, 0))
				errs <- err
				_, err = s.AddSigningKey(ctx, &storage.SigningKey{ID: next, Algorithm: "RS256",
					PrivateSealed: []byte{1}, PublicJWK: []byte{1}, ActiveAt: time.Unix(2000, 0)}, time.Unix(1000, 0))
				errs <- err
			}
		}()
	}
	for range workers {
		<-done
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent write = %v, want nil", err)
		}
	}
	u, err := s.UserByID(ctx, "u1")
	if err != nil || u.FailedPasswords != workers*rounds {
		t.Errorf("FailedPasswords after the run = %v (err %v), want %d", u, err, workers*rounds)
	}
}

// BenchmarkRedeemAuthCode measures the code redemption on the token
// endpoint's path. Run briefly: go test -run ^$ -bench . -benchtime 2000x
func BenchmarkRedeemAuthCode(b *testing.B) {
	s := newSQLiteStore(b)
	ctx := b.Context()
	if err := s.CreateClient(ctx, &storage.Client{ID: "rp"}); err != nil {
		b.Fatal(err)
	}
	now := time.Unix(1_750_000_000, 0)
	for i := range b.N {
		id := fmt.Sprint("ar", i)
		if err := s.CreateAuthRequest(ctx, &storage.AuthRequest{ID: id, ClientID: "rp",
			Scopes: []string{"openid", "profile"}, ExpiresAt: now.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
		if err := s.SaveAuthCode(ctx, id, "code-"+id, now.Add(time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.RedeemAuthCode(ctx, fmt.Sprint("code-ar", i), now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRotateRefreshToken measures one refresh rotation.
func BenchmarkRotateRefreshToken(b *testing.B) {
	s := newSQLiteStore(b)
	ctx := b.Context()
	if err := s.CreateClient(ctx, &storage.Client{ID: "rp"}); err != nil {
		b.Fatal(err)
	}
	now := time.Unix(1_750_000_000, 0)
	rt := func(id string) *storage.RefreshToken {
		return &storage.RefreshToken{ID: id, TokenHash: "hash-" + id, FamilyID: "fam", ClientID: "rp",
			UserID: "u1", Scopes: []string{"openid", "offline_access"}, ExpiresAt: now.Add(time.Hour)}
	}
	if err := s.CreateRefreshToken(ctx, rt("0")); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		if err := s.RotateRefreshToken(ctx, fmt.Sprint("hash-", i), rt(fmt.Sprint(i+1)), now); err != nil {
			b.Fatal(err)
		}
	}
}

// Two processes starting together on one file both come up and the
// schema is migrated once.
func TestSQLite_ConcurrentMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "asnidp.db")
	for round := range 3 {
		path := fmt.Sprintf("%s.%d", path, round)
		stores := []*Store{openSQLite(t, path), openSQLite(t, path)}
		errs := make([]error, len(stores))
		var wg sync.WaitGroup
		for i, s := range stores {
			wg.Go(func() { errs[i] = s.Migrate(t.Context()) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d: concurrent Migrate() #%d = %v, want nil", round, i, err)
			}
		}
		checkMigratedOnce(t, stores[0].db.DB)
	}
}
