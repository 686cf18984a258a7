package keys

import (
	"path/filepath"
	"testing"

	"github.com/asnidp/asnidp/storage/sqlstore"
)

// openStore opens (and migrates) the SQLite database at path; a second
// call on the same path is a second process on the same database.
func openStore(t testing.TB, path string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(t.Context(), sqlstore.Options{Driver: sqlstore.DriverSQLite, DSN: path})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("migrate store: %v", err)
	}
	return s
}

func newStore(t testing.TB) *sqlstore.Store {
	t.Helper()
	return openStore(t, filepath.Join(t.TempDir(), "asnidp.db"))
}
