// Package sqlstoretest gives tests a real, migrated store: SQLite in a file
// of the test's temporary directory, or a PostgreSQL schema of their own on
// the server named by ASNIDP_TEST_POSTGRES_DSN. Only tests import it.
package sqlstoretest

import (
	"path/filepath"
	"testing"

	"github.com/asnidp/asnidp/storage/sqlstore"
	"github.com/asnidp/asnidp/storage/sqlstore/internal/pgtest"
)

// PostgresEnv names the test server DSN.
const PostgresEnv = pgtest.PostgresEnv

// PostgresDSN returns the test server's DSN or skips the test, or fails
// it when ASNIDP_TEST_REQUIRE_POSTGRES is set (CI).
func PostgresDSN(t testing.TB) string { return pgtest.PostgresDSN(t) }

// NewPostgresSchema creates an empty schema with a random name, dropped
// when the test ends, and returns a DSN whose connections work in it.
func NewPostgresSchema(t testing.TB) string { return pgtest.NewPostgresSchema(t) }

// New returns a migrated SQLite store on a fresh file, closed when the
// test ends.
func New(t testing.TB) *sqlstore.Store {
	t.Helper()
	return OpenSQLite(t, filepath.Join(t.TempDir(), "asnidp.db"))
}

// OpenSQLite returns a migrated store on the SQLite file at path, closed
// when the test ends; several may share one file, as processes do.
func OpenSQLite(t testing.TB, path string) *sqlstore.Store {
	t.Helper()
	return open(t, sqlstore.Options{Driver: sqlstore.DriverSQLite, DSN: path})
}

// NewPostgres returns a migrated store in a fresh PostgreSQL schema, or
// skips as PostgresDSN does.
func NewPostgres(t *testing.T) *sqlstore.Store {
	t.Helper()
	return OpenPostgres(t, pgtest.NewPostgresSchema(t))
}

// OpenPostgres returns a migrated store on dsn (from NewPostgresSchema),
// closed when the test ends; several may share one schema, as processes
// do.
func OpenPostgres(t testing.TB, dsn string) *sqlstore.Store {
	t.Helper()
	return open(t, sqlstore.Options{Driver: sqlstore.DriverPostgres, DSN: dsn})
}

func open(t testing.TB, opts sqlstore.Options) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(t.Context(), opts)
	if err != nil {
		t.Fatalf("open test store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("migrate test store: %v", err)
	}
	return s
}
