// Package storage is the persistence contract of asnidp: the records two OP
// processes must agree on, and the operations on them that must be atomic.
//
// The package holds types and interfaces only (standard library, no driver);
// storage/sqlstore implements them on SQLite and PostgreSQL and
// storage/storagetest pins the behaviour both engines must show.
//
// Conventions for every method:
//   - A missing row is ErrNotFound; a unique clash is ErrAlreadyExists; a lost
//     race or an already-consumed single-use value is ErrConflict.
//   - Times are passed in (now), never read from the clock inside storage, so
//     tests control expiry. A zero time.Time means "not set".
//   - Secrets arrive already sealed or hashed: storage never sees a password,
//     a code, a token or a TOTP seed in the clear.
package storage

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors; implementations translate driver errors into these.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	ErrConflict      = errors.New("conflict")
)

// Store is everything asnidp persists. Consumers declare the smaller
// interfaces they need; this union is what an engine implements.
type Store interface {
	UserStore
	ClientStore
	AuthRequestStore
	TokenStore
	SessionStore
	KeyStore
	CounterStore
	LogoutStore
	UserAdminStore
	AuditStore
	ResetStore
	CaptchaStore
	RecoveryStore
	AccountSecurityStore
	PushedAuthRequestStore
	OperatorStore
	ConfirmationStore
	FunnelStore
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// Prune deletes rows that expired before now (auth requests, tokens,
	// sessions, counters) and returns how many it removed.
	Prune(ctx context.Context, now time.Time) (int64, error)
	Close() error
}
