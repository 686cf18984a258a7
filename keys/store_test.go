package keys

import (
	"testing"

	"github.com/asnidp/asnidp/storage/sqlstore"
	"github.com/asnidp/asnidp/storage/sqlstore/sqlstoretest"
)

func openStore(t testing.TB, path string) *sqlstore.Store {
	t.Helper()
	return sqlstoretest.OpenSQLite(t, path)
}

func newStore(t testing.TB) *sqlstore.Store {
	t.Helper()
	return sqlstoretest.New(t)
}
