package storage

import (
	"context"
	"time"
)

// PushedAuthRequest is an authorization request a client pushed (RFC
// 9126), waiting for the browser to bring its request_uri to /authorize.
type PushedAuthRequest struct {
	// URIHash is the keyed hash of the request_uri; the URI itself is only
	// in the client's answer.
	URIHash  string
	ClientID string
	// Params are the authorization parameters, after any request object
	// in the push was verified and applied.
	Params    map[string]string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time
}

// PushedAuthRequestStore persists pushed authorization requests and the
// JWT IDs of client assertions seen.
type PushedAuthRequestStore interface {
	// CreatePushedAuthRequest stores p; the client must exist (ErrNotFound)
	// and a taken URIHash is ErrAlreadyExists.
	CreatePushedAuthRequest(ctx context.Context, p *PushedAuthRequest) error
	// ConsumePushedAuthRequest atomically marks the request of uriHash used
	// and returns it, only for clientID, before ExpiresAt and if not used
	// before. A request used before is ErrConflict; an unknown or expired
	// one, or one pushed by another client (which is left unused), is
	// ErrNotFound. Of two concurrent calls exactly one succeeds.
	ConsumePushedAuthRequest(ctx context.Context, uriHash, clientID string, now time.Time) (*PushedAuthRequest, error)
	// UseClientAssertion records the JWT ID of a client's assertion (RFC
	// 7523 client authentication) until expiresAt. A jti of the same client
	// recorded before and not yet expired at now is ErrConflict: the
	// assertion is a replay. Of two concurrent calls exactly one succeeds.
	UseClientAssertion(ctx context.Context, clientID, jti string, expiresAt, now time.Time) error
}
