// Package pgtest gives tests a PostgreSQL schema of their own on the
// server named by ASNIDP_TEST_POSTGRES_DSN. sqlstore's own tests use it
// directly; every other test goes through sqlstoretest.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx driver
)

// PostgresEnv names the test server DSN.
const PostgresEnv = "ASNIDP_TEST_POSTGRES_DSN"

// PostgresDSN returns the test server's DSN or skips the test, or fails
// it when ASNIDP_TEST_REQUIRE_POSTGRES is set (CI).
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(PostgresEnv)
	if dsn == "" && os.Getenv("ASNIDP_TEST_REQUIRE_POSTGRES") != "" {
		t.Fatal(PostgresEnv + " is not set but ASNIDP_TEST_REQUIRE_POSTGRES is: PostgreSQL tests must run")
	}
	if dsn == "" {
		t.Skip(PostgresEnv + " is not set, so the PostgreSQL tests are skipped; set it to e.g. " +
			"postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	return dsn
}

// NewPostgresSchema creates an empty schema with a random name, dropped
// when the test ends, and returns a DSN whose connections work in it.
func NewPostgresSchema(t testing.TB) string {
	t.Helper()
	base := PostgresDSN(t)
	b := make([]byte, 8)
	rand.Read(b)
	schema := "asnidp_test_" + hex.EncodeToString(b)

	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open %s: %v", PostgresEnv, err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	// Registered before any store's Close, so it runs after them.
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			t.Errorf("open %s to drop the test schema: %v", PostgresEnv, err)
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(t, base, schema)
}

// KeptSchema returns a DSN whose connections work in schema, which is
// created when missing and never dropped: benchmarks keep their seeded
// data in one between runs. name must be a plain identifier.
func KeptSchema(t testing.TB, schema string) string {
	t.Helper()
	base := PostgresDSN(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open %s: %v", PostgresEnv, err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	return withSearchPath(t, base, schema)
}

// DropSchema drops schema and everything in it.
func DropSchema(t testing.TB, schema string) {
	t.Helper()
	admin, err := sql.Open("pgx", PostgresDSN(t))
	if err != nil {
		t.Fatalf("open %s: %v", PostgresEnv, err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(t.Context(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
		t.Fatalf("drop schema %s: %v", schema, err)
	}
}

// withSearchPath adds search_path to a URL or key=value DSN; pgx sends it
// as a run-time parameter when each connection starts.
func withSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
