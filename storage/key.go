package storage

import (
	"context"
	"time"
)

// SigningKey is a token signing key. The private part is sealed under the
// master key; the public part is a JWK in JSON. A key is published in JWKS
// from CreatedAt and signs from ActiveAt, so verifiers learn it before any
// token carries its kid; the keys package decides from the list which key
// signs and when an old one may leave.
type SigningKey struct {
	ID            string
	Algorithm     string
	PrivateSealed []byte
	PublicJWK     []byte
	CreatedAt     time.Time
	ActiveAt      time.Time
}

// KeyStore persists signing keys.
type KeyStore interface {
	// SigningKeys returns every stored key ordered by ActiveAt, oldest first.
	SigningKeys(ctx context.Context) ([]*SigningKey, error)
	// AddSigningKey inserts k unless a key of k's algorithm with ActiveAt
	// after notBefore already exists, and reports whether k was inserted:
	// each algorithm's keys rotate on their own. Check and insert
	// are one transaction, so processes starting together add one key.
	AddSigningKey(ctx context.Context, k *SigningKey, notBefore time.Time) (bool, error)
	// DeleteSigningKey removes a key that no unexpired token can carry.
	DeleteSigningKey(ctx context.Context, id string) error
}

// CounterStore holds rate-limit counters in fixed windows, shared by every
// process.
type CounterStore interface {
	// IncrementCounter adds one to key's counter for the window that
	// contains now (windows of length window) and returns the new count.
	IncrementCounter(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
	// Counter returns key's count in the window that contains now.
	Counter(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
	// DecrementCounter takes one back from key's counter for the window
	// that contains now, never below zero, for an attempt counted before
	// work it never got to do. A missing counter stays missing.
	DecrementCounter(ctx context.Context, key string, window time.Duration, now time.Time) error
	// ResetCounter deletes every window of key.
	ResetCounter(ctx context.Context, key string) error
}
