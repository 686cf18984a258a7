package sqlstore

import (
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/asnidp/asnidp/storage"
	"github.com/asnidp/asnidp/storage/sqlstore/internal/pgtest"
	"github.com/asnidp/asnidp/storage/storagetest"
)

// openPostgres opens (without migrating) a store on dsn, closed at the end
// of the test. The pool is kept small: the suite's races would otherwise
// open one connection per goroutine.
func openPostgres(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(t.Context(), Options{Driver: DriverPostgres, DSN: dsn, MaxOpenConns: 8, MaxIdleConns: 8})
	if err != nil {
		t.Fatalf("Open(postgres) = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	warmPool(t, s, 8)
	return s
}

// warmPool opens n connections up front. Opening one takes far longer
// than the statements the races run, so on a cold pool the first
// goroutines would finish before the others start and a race would test
// nothing.
func warmPool(t *testing.T, s *Store, n int) {
	t.Helper()
	var txs []*sql.Tx
	for range n {
		tx, err := s.db.BeginTx(t.Context(), nil)
		if err != nil {
			t.Fatalf("warm the pool: %v", err)
		}
		txs = append(txs, tx)
	}
	for _, tx := range txs {
		tx.Rollback()
	}
}

func newPostgresStore(t *testing.T) *Store {
	t.Helper()
	s := openPostgres(t, pgtest.NewPostgresSchema(t))
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate() = %v", err)
	}
	return s
}

func TestPostgres_Store(t *testing.T) {
	pgtest.PostgresDSN(t)
	storagetest.Run(t, func(t *testing.T) storage.Store { return newPostgresStore(t) })
}

// Two stores on one schema, as two `asnidp serve` processes have them.
func TestPostgres_Shared(t *testing.T) {
	pgtest.PostgresDSN(t)
	storagetest.RunShared(t, func(t *testing.T, now func() time.Time) (storage.Store, storage.Store, time.Duration) {
		dsn := pgtest.NewPostgresSchema(t)
		const bound = 2 * time.Second
		open := func() *Store {
			s, err := Open(t.Context(), Options{Driver: DriverPostgres, DSN: dsn, MaxOpenConns: 4, ClientCacheBound: bound, Now: now})
			if err != nil {
				t.Fatalf("Open(postgres) = %v", err)
			}
			t.Cleanup(func() { s.Close() })
			if err := s.Migrate(t.Context()); err != nil {
				t.Fatalf("Migrate() = %v", err)
			}
			return s
		}
		return open(), open(), bound
	})
}

func TestPostgres_MigrateTwice(t *testing.T) {
	s := newPostgresStore(t)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("second Migrate() = %v, want nil", err)
	}
	checkMigratedOnce(t, s.db.DB)
	if err := s.CreateClient(t.Context(), &storage.Client{ID: "rp"}); err != nil {
		t.Errorf("CreateClient after two migrations = %v", err)
	}
}

// I5: two processes starting at once on a fresh schema both come up, and
// the schema is migrated once.
func TestPostgres_ConcurrentMigrate_I5(t *testing.T) {
	dsn := pgtest.NewPostgresSchema(t)
	// Two stores, two pools: as two processes would have.
	stores := []*Store{openPostgres(t, dsn), openPostgres(t, dsn)}
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() { errs[i] = s.Migrate(t.Context()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent Migrate() #%d = %v, want nil", i, err)
		}
	}
	checkMigratedOnce(t, stores[0].db.DB)
	for i, s := range stores {
		if err := s.CreateClient(t.Context(), &storage.Client{ID: "rp" + string(rune('a'+i))}); err != nil {
			t.Errorf("store #%d: CreateClient after the concurrent migration = %v", i, err)
		}
	}
}

// The test schemas really isolate: a store sees only its own schema.
func TestPostgres_SchemaIsolation(t *testing.T) {
	a, b := newPostgresStore(t), newPostgresStore(t)
	if err := a.CreateClient(t.Context(), &storage.Client{ID: "rp"}); err != nil {
		t.Fatalf("CreateClient in schema a: %v", err)
	}
	if _, err := b.ClientByID(t.Context(), "rp"); err == nil {
		t.Errorf("ClientByID in schema b found schema a's client")
	}
}
