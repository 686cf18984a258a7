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
	// Static marks a client declared in config.yaml (synced at start).
	Static    bool
	CreatedAt time.Time
}

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
