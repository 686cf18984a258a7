// Package sqlstore implements storage.Store on SQLite and PostgreSQL with
// sqlx. One set of embedded migrations and one text per query serve both
// engines: queries are written with ? placeholders and rebound for
// PostgreSQL, times are stored as unix microseconds (0 = unset), booleans as
// 0/1 and string lists as JSON text.
//
// Concurrency. Every operation that two requests (or two processes) may race
// on is decided by the database: a conditional UPDATE whose affected row
// decides the winner, or a transaction. On SQLite every transaction is
// BEGIN IMMEDIATE and connections wait on a busy timeout, so writers queue
// instead of failing with "database is locked". On PostgreSQL transactions
// run at READ COMMITTED, where a blocked conditional UPDATE re-checks its
// condition against the committed row, so the loser sees the winner's write.
//
// Semantics this package adds to the storage contract, where it is silent:
//   - A zero ExpiresAt counts as already expired.
//   - Auth requests and tokens must name an existing client (ErrNotFound
//     otherwise); deleting a client deletes them.
//   - Revoke* calls with an empty ID match nothing, and revoking what is
//     already revoked or absent is not an error (RevokeAccessToken and
//     RevokeSession still report an unknown ID as ErrNotFound).
//   - SetAuthRequestOTP and SetAuthRequestEnrolment need a user on the
//     request (ErrConflict otherwise); SetAuthRequestUser with another user
//     clears the second factor and enrolment recorded so far.
//   - DeleteAuthRequest keeps a request that issued a code (ErrConflict),
//     so a replayed code is still recognised until Prune removes it.
//   - BindTOTP leaves a disabled account disabled; RotateSessionToken
//     refuses a revoked session (ErrConflict).
//   - A counter key counted with windows of several lengths keeps one
//     count per length.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/jmoiron/sqlx"
	"github.com/mattn/go-sqlite3"

	"github.com/asnidp/asnidp/storage"
)

// Driver names accepted in Options.Driver.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Options selects and tunes the database.
type Options struct {
	// Driver is DriverSQLite or DriverPostgres.
	Driver string
	// DSN is the database file path for SQLite (its directory is created
	// when missing) and a libpq URL or key=value string for PostgreSQL.
	DSN string
	// Connection pool limits; zero keeps the database/sql default.
	MaxOpenConns    int
	MaxIdleConns    int
	ConnMaxLifetime time.Duration
	// ClientCacheBound is how long a client changed by another process may
	// still be answered from this Store's memory (DefaultClientCacheBound
	// when zero; see clientCache).
	ClientCacheBound time.Duration
	// Now is the clock of the client cache; nil is time.Now.
	Now func() time.Time
}

// Store is a storage.Store on one SQL database. It is safe for concurrent
// use, by many goroutines and by several processes sharing the database.
type Store struct {
	db     *sqlx.DB
	driver string

	// migrateMu keeps two Migrate calls of one Store from interleaving.
	migrateMu sync.Mutex

	// writer, on SQLite, is held by each transaction of this Store from
	// begin to end. SQLite has one writer at a time anyway; queueing here
	// hands the lock straight to the next transaction, where SQLite's busy
	// handler would put it to sleep for 1, 2, 5, 10 ... ms and leave the
	// CPU idle. Other processes on the file still queue on busy_timeout.
	writer chan struct{}
	// issues waits for the write lock, to be written as one group
	// (issuegroup.go).
	issues issueQueue

	// clients caches ClientByID.
	clients *clientCache

	// logoutQueued is called after a commit that queued back-channel
	// logout notices (see OnLogoutQueued).
	logoutQueued atomic.Pointer[func()]
}

var _ storage.Store = (*Store)(nil)

// sqliteBusyTimeout is how long a SQLite connection waits for the write
// lock before giving up: long enough that bursts queue instead of failing.
const sqliteBusyTimeout = 10 * time.Second

// sqliteStmtCache is how many prepared statements each SQLite connection
// keeps, least recently used out: more than the queries of any one path.
// (pgx caches prepared statements per connection by default.)
const sqliteStmtCache = 128

// Open connects to the database and checks that it answers. It does not
// migrate: call Migrate before first use.
func Open(ctx context.Context, opts Options) (*Store, error) {
	var driverName, dsn string
	switch opts.Driver {
	case DriverSQLite:
		var err error
		if dsn, err = sqliteDSN(opts.DSN); err != nil {
			return nil, fmt.Errorf("open sqlite database: %w", err)
		}
		driverName = "sqlite3"
	case DriverPostgres:
		if opts.DSN == "" {
			return nil, errors.New("open postgres database: empty DSN")
		}
		driverName, dsn = "pgx", opts.DSN
	default:
		return nil, fmt.Errorf("open database: unknown driver %q (want %q or %q)", opts.Driver, DriverSQLite, DriverPostgres)
	}
	db, err := sqlx.Open(driverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", opts.Driver, err)
	}
	if opts.MaxOpenConns > 0 {
		db.SetMaxOpenConns(opts.MaxOpenConns)
	}
	if opts.MaxIdleConns > 0 {
		db.SetMaxIdleConns(opts.MaxIdleConns)
	}
	if opts.ConnMaxLifetime > 0 {
		db.SetConnMaxLifetime(opts.ConnMaxLifetime)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s database: %w", opts.Driver, err)
	}
	if opts.ClientCacheBound <= 0 {
		opts.ClientCacheBound = DefaultClientCacheBound
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Store{db: db, driver: opts.Driver, clients: newClientCache(opts.ClientCacheBound, opts.Now)}
	if opts.Driver == DriverSQLite {
		s.writer = make(chan struct{}, 1)
	}
	return s, nil
}

// sqliteDSN turns a file path into a go-sqlite3 DSN with the settings every
// connection needs: WAL so readers never block the writer, a busy timeout,
// foreign keys, and BEGIN IMMEDIATE for every transaction so a transaction
// takes the write lock up front (a deferred one that later upgrades fails
// with SQLITE_BUSY at once, whatever the timeout). synchronous=NORMAL is
// safe against process crashes in WAL mode. Each connection keeps its
// prepared statements (sqliteStmtCache of them): preparing the token
// path's statements anew on every call was a tenth of its CPU.
func sqliteDSN(path string) (string, error) {
	if path == "" {
		return "", errors.New("empty file path")
	}
	if strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") || path == ":memory:" {
		return "", errors.New("DSN must be a plain file path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create database directory: %w", err)
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_busy_timeout", fmt.Sprint(sqliteBusyTimeout.Milliseconds()))
	q.Set("_foreign_keys", "on")
	q.Set("_txlock", "immediate")
	q.Set("_synchronous", "NORMAL")
	q.Set("_stmt_cache_size", fmt.Sprint(sqliteStmtCache))
	return path + "?" + q.Encode(), nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) (err error) {
	defer wrap(&err, "Ping")
	return s.db.PingContext(ctx)
}

// Close closes every connection. It is safe to call more than once.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	return nil
}

// inTx runs fn in a transaction and commits when fn returns nil. fn uses
// tx only: a call on s.db inside it could wait for the transaction's own
// write lock.
func (s *Store) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	if s.writer != nil {
		select {
		case s.writer <- struct{}{}:
			defer func() { <-s.writer }()
		case <-ctx.Done():
			return fmt.Errorf("wait for the write lock: %w", ctx.Err())
		}
	}
	var opts *sql.TxOptions
	if s.driver == DriverPostgres {
		// Pinned so that a server default of SERIALIZABLE cannot turn the
		// conditional updates below into serialization failures.
		opts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	tx, err := s.db.BeginTxx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}

// lockTx serialises transactions that call it with the same id until they
// end. On SQLite every transaction already holds the write lock, so there
// is nothing to do.
func (s *Store) lockTx(ctx context.Context, tx *sqlx.Tx, id int64) error {
	if s.driver != DriverPostgres {
		return nil
	}
	if _, err := exec(ctx, tx, "SELECT pg_advisory_xact_lock(?)", id); err != nil {
		return fmt.Errorf("take advisory lock: %w", err)
	}
	return nil
}

// The helpers below take queries written with ? placeholders and rebind
// them for the engine, so each query text exists once.

// exec runs a statement and returns how many rows it changed.
func exec(ctx context.Context, e sqlx.ExtContext, query string, args ...any) (int64, error) {
	res, err := e.ExecContext(ctx, e.Rebind(query), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// get scans the single row of query into dest (sql.ErrNoRows when none).
func get(ctx context.Context, q sqlx.ExtContext, dest any, query string, args ...any) error {
	return sqlx.GetContext(ctx, q, dest, q.Rebind(query), args...)
}

// all scans every row of query into dest, a pointer to a slice.
func all(ctx context.Context, q sqlx.ExtContext, dest any, query string, args ...any) error {
	return sqlx.SelectContext(ctx, q, dest, q.Rebind(query), args...)
}

// queryRow runs a query (or an UPDATE ... RETURNING) expected to yield one
// row.
func queryRow(ctx context.Context, q sqlx.ExtContext, query string, args ...any) *sqlx.Row {
	return q.QueryRowxContext(ctx, q.Rebind(query), args...)
}

// exists reports whether table has a row with the given id. Callers use it
// after a conditional UPDATE changed nothing, to tell "absent" from
// "condition not met".
func exists(ctx context.Context, q sqlx.ExtContext, table, id string) (bool, error) {
	var one int
	err := queryRow(ctx, q, "SELECT 1 FROM "+table+" WHERE id = ?", id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// notFoundOr returns ErrNotFound when table has no row id and other when it
// has one.
func notFoundOr(ctx context.Context, q sqlx.ExtContext, table, id string, other error) error {
	ok, err := exists(ctx, q, table, id)
	switch {
	case err != nil:
		return err
	case !ok:
		return storage.ErrNotFound
	default:
		return other
	}
}

// wrap prefixes a method's error with its name and translates driver errors
// into the storage sentinels. Driver messages name constraints, never
// values, so they are kept.
func wrap(errp *error, method string) {
	if *errp == nil {
		return
	}
	*errp = fmt.Errorf("Store.%s: %w", method, translate(*errp))
}

func translate(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return storage.ErrNotFound
	}
	var sqliteErr sqlite3.Error
	if errors.As(err, &sqliteErr) {
		switch sqliteErr.ExtendedCode {
		case sqlite3.ErrConstraintUnique, sqlite3.ErrConstraintPrimaryKey:
			return fmt.Errorf("%w: %v", storage.ErrAlreadyExists, err)
		case sqlite3.ErrConstraintForeignKey:
			return fmt.Errorf("%w: referenced row: %v", storage.ErrNotFound, err)
		}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %v", storage.ErrAlreadyExists, err)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%w: referenced row: %v", storage.ErrNotFound, err)
		}
	}
	return err
}

// micros stores a time as unix microseconds, 0 for the zero time.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicros is the inverse of micros; times come back in UTC.
func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// boolInt stores a bool as 0/1 (portable, and what a SMALLINT accepts).
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// jsonList stores a string list as a JSON array.
func jsonList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, err := json.Marshal(l)
	if err != nil {
		// A []string always marshals.
		panic(err)
	}
	return string(b)
}

// parseList reads a JSON array written by jsonList; an empty list is nil.
func parseList(s string) ([]string, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("decode list: %w", err)
	}
	return l, nil
}

// lists decodes several JSON lists of one row, keeping the first error.
type lists struct{ err error }

func (d *lists) parse(s string) []string {
	if d.err != nil {
		return nil
	}
	l, err := parseList(s)
	d.err = err
	return l
}
