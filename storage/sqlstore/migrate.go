package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrations holds the numbered schema changes, portable SQL shared by both
// engines.
//
//go:embed migrations/*.sql
var migrations embed.FS

// Migrate brings the schema up to date; on an up-to-date schema it changes
// nothing. On PostgreSQL it holds a session advisory lock, keyed on the
// current schema, while it works, so processes starting at once migrate
// exactly once; the others wait and then find nothing to do. On SQLite a
// process that loses that race retries and finds nothing to do.
func (s *Store) Migrate(ctx context.Context) (err error) {
	defer wrap(&err, "Migrate")
	s.migrateMu.Lock()
	defer s.migrateMu.Unlock()

	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	dialect := goose.DialectSQLite3
	if s.driver == DriverPostgres {
		dialect = goose.DialectPostgres
		id, err := s.migrationLockID(ctx)
		if err != nil {
			return err
		}
		// Probe the lock every second for up to 10 minutes: a first
		// migration is quick, a waiting process should not sleep long.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(id), lock.WithLockTimeout(1, 600))
		if err != nil {
			return fmt.Errorf("create migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	// SQLite has no session lock. Each migration runs in a transaction
	// that takes the write lock, but the list of pending ones is read
	// before: a process that loses the race fails on the tables the winner
	// created, and rolls back. Trying again finds them recorded.
	attempts := 1
	if s.driver == DriverSQLite {
		attempts = 5
	}
	for range attempts {
		// A new provider each time; its Close would close our pool.
		var p *goose.Provider
		if p, err = goose.NewProvider(dialect, s.db.DB, fsys, opts...); err != nil {
			return fmt.Errorf("load migrations: %w", err)
		}
		if _, err = p.Up(ctx); err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

// SchemaVersion is the version of the newest embedded migration: the
// schema Migrate brings a database to.
func SchemaVersion() (int64, error) {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return 0, fmt.Errorf("list migrations: %w", err)
	}
	var newest int64
	for _, f := range files {
		var v int64
		if _, err := fmt.Sscanf(path.Base(f), "%05d_", &v); err != nil {
			return 0, fmt.Errorf("migration %s has no version number: %w", f, err)
		}
		newest = max(newest, v)
	}
	return newest, nil
}

// migrationLockID derives the advisory lock from the schema the store
// works in, so deployments (or tests) in different schemas of one database
// do not wait for each other.
func (s *Store) migrationLockID(ctx context.Context) (int64, error) {
	var schema sql.NullString
	if err := s.db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return 0, fmt.Errorf("read current schema: %w", err)
	}
	if !schema.Valid {
		return 0, errors.New("read current schema: no schema on the search_path exists")
	}
	h := fnv.New64a()
	h.Write([]byte("asnidp migrate " + schema.String))
	return int64(h.Sum64()), nil
}
