package storage

import (
	"context"
	"time"
)

// Client is a registered relying party.
type Client struct {
	ID   string
	Name string
	// SecretHash is the hash of a confidential client's secret; empty for a
	// public client.
	SecretHash             string
	Public                 bool
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	// GrantTypes lists the OAuth grants the client may use
	// ("authorization_code", "refresh_token", "client_credentials").
	GrantTypes []string
	// PKCEOptional lets a confidential client omit PKCE if it sends a nonce.
	PKCEOptional         bool
	BackchannelLogoutURI string
	// JWKS is the client's own public key set (RFC 7517 JSON), checked at
	// registration; JWKSURI is where the client publishes it instead. A
	// confidential client with either authenticates with private_key_jwt
	// (RFC 7523) only, and signs its request objects (RFC 9101) with them.
	JWKS    string
	JWKSURI string
	// RequirePAR makes the client send every authorization request by
	// pushed authorization request (RFC 9126).
	RequirePAR bool
	// IDTokenAlg is the algorithm of the client's ID tokens (and JWT
	// access tokens): "RS256" (also when empty) or "ES256"
	// (id_token_signed_response_alg, OpenID Connect Registration).
	IDTokenAlg string
	// AccessTokenJWT gives the client RFC 9068 JWT access tokens
	// (typ at+jwt) that resource servers can verify offline; otherwise
	// its access tokens are opaque.
	AccessTokenJWT bool
	// Static marks a client declared in config.yaml (synced at start).
	Static    bool
	CreatedAt time.Time
}

// HasKeys reports whether the client registered a key set (by value or by
// URI).
func (c *Client) HasKeys() bool { return c.JWKS != "" || c.JWKSURI != "" }

// ClientStore persists relying parties.
type ClientStore interface {
	// CreateClient inserts c; a taken ID is ErrAlreadyExists.
	CreateClient(ctx context.Context, c *Client) error
	// UpsertClient inserts c or replaces the client with the same ID.
	UpsertClient(ctx context.Context, c *Client) error
	// ClientByID returns ErrNotFound for an unknown ID.
	ClientByID(ctx context.Context, id string) (*Client, error)
	// Clients lists every client ordered by ID.
	Clients(ctx context.Context) ([]*Client, error)
	// DeleteClient removes a client; ErrNotFound when absent.
	DeleteClient(ctx context.Context, id string) error
}
