package sqlstore

import (
	"context"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/asnidp/asnidp/storage"
)

type clientRow struct {
	ID                     string `db:"id"`
	Name                   string `db:"name"`
	SecretHash             string `db:"secret_hash"`
	Public                 bool   `db:"is_public"`
	RedirectURIs           string `db:"redirect_uris"`
	PostLogoutRedirectURIs string `db:"post_logout_redirect_uris"`
	GrantTypes             string `db:"grant_types"`
	PKCEOptional           bool   `db:"pkce_optional"`
	BackchannelLogoutURI   string `db:"backchannel_logout_uri"`
	JWKS                   string `db:"jwks"`
	JWKSURI                string `db:"jwks_uri"`
	RequirePAR             bool   `db:"require_par"`
	IDTokenAlg             string `db:"id_token_alg"`
	AccessTokenJWT         bool   `db:"access_token_jwt"`
	Static                 bool   `db:"is_static"`
	CreatedAt              int64  `db:"created_at"`
}

const clientColumns = `id, name, secret_hash, is_public, redirect_uris, post_logout_redirect_uris,
	grant_types, pkce_optional, backchannel_logout_uri, jwks, jwks_uri, require_par,
	id_token_alg, access_token_jwt, is_static, created_at`

func (r *clientRow) client() (*storage.Client, error) {
	var l lists
	c := &storage.Client{
		ID:                     r.ID,
		Name:                   r.Name,
		SecretHash:             r.SecretHash,
		Public:                 r.Public,
		RedirectURIs:           l.parse(r.RedirectURIs),
		PostLogoutRedirectURIs: l.parse(r.PostLogoutRedirectURIs),
		GrantTypes:             l.parse(r.GrantTypes),
		PKCEOptional:           r.PKCEOptional,
		BackchannelLogoutURI:   r.BackchannelLogoutURI,
		JWKS:                   r.JWKS,
		JWKSURI:                r.JWKSURI,
		RequirePAR:             r.RequirePAR,
		IDTokenAlg:             r.IDTokenAlg,
		AccessTokenJWT:         r.AccessTokenJWT,
		Static:                 r.Static,
		CreatedAt:              fromMicros(r.CreatedAt),
	}
	return c, l.err
}

func clientArgs(c *storage.Client) []any {
	return []any{
		c.ID, c.Name, c.SecretHash, boolInt(c.Public), jsonList(c.RedirectURIs),
		jsonList(c.PostLogoutRedirectURIs), jsonList(c.GrantTypes), boolInt(c.PKCEOptional),
		c.BackchannelLogoutURI, c.JWKS, c.JWKSURI, boolInt(c.RequirePAR),
		c.IDTokenAlg, boolInt(c.AccessTokenJWT), boolInt(c.Static), micros(c.CreatedAt),
	}
}

// CreateClient inserts c; a taken ID is ErrAlreadyExists.
func (s *Store) CreateClient(ctx context.Context, c *storage.Client) (err error) {
	defer wrap(&err, "CreateClient")
	return s.changeClients(ctx, func(tx *sqlx.Tx) error {
		_, err := exec(ctx, tx, `INSERT INTO clients (`+clientColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, clientArgs(c)...)
		return err
	})
}

// UpsertClient inserts c or replaces every field of the client with its ID.
// The row is updated in place, so the client's auth requests and tokens
// survive.
func (s *Store) UpsertClient(ctx context.Context, c *storage.Client) (err error) {
	defer wrap(&err, "UpsertClient")
	return s.changeClients(ctx, func(tx *sqlx.Tx) error {
		_, err := exec(ctx, tx, `INSERT INTO clients (`+clientColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, secret_hash = excluded.secret_hash,
			is_public = excluded.is_public, redirect_uris = excluded.redirect_uris,
			post_logout_redirect_uris = excluded.post_logout_redirect_uris,
			grant_types = excluded.grant_types, pkce_optional = excluded.pkce_optional,
			backchannel_logout_uri = excluded.backchannel_logout_uri,
			jwks = excluded.jwks, jwks_uri = excluded.jwks_uri, require_par = excluded.require_par,
			id_token_alg = excluded.id_token_alg, access_token_jwt = excluded.access_token_jwt,
			is_static = excluded.is_static, created_at = excluded.created_at`, clientArgs(c)...)
		return err
	})
}

// ClientByID returns ErrNotFound for an unknown ID. It answers from the
// client cache: a change made through another Store is seen within the
// cache's bound, one made through this Store at once (see clientCache).
func (s *Store) ClientByID(ctx context.Context, id string) (_ *storage.Client, err error) {
	defer wrap(&err, "ClientByID")
	if c := s.clients.fresh(id); c != nil {
		return cloneClient(c), nil
	}
	checked, epoch := s.clients.begin()
	gen, err := clientGeneration(ctx, s.db)
	if err != nil {
		return nil, err
	}
	if c := s.clients.confirm(epoch, gen, checked, id); c != nil {
		return cloneClient(c), nil
	}
	var r clientRow
	if err := get(ctx, s.db, &r, `SELECT `+clientColumns+` FROM clients WHERE id = ?`, id); err != nil {
		return nil, err
	}
	c, err := r.client()
	if err != nil {
		return nil, err
	}
	s.clients.put(epoch, gen, c)
	return cloneClient(c), nil
}

// Clients lists every client ordered by ID, byte-wise on both engines.
func (s *Store) Clients(ctx context.Context) (_ []*storage.Client, err error) {
	defer wrap(&err, "Clients")
	var rows []clientRow
	if err := all(ctx, s.db, &rows, `SELECT `+clientColumns+` FROM clients`); err != nil {
		return nil, err
	}
	out := make([]*storage.Client, 0, len(rows))
	for i := range rows {
		c, err := rows[i].client()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	// Sorted here rather than in SQL: PostgreSQL would order by the
	// database collation, SQLite by bytes.
	slices.SortFunc(out, func(a, b *storage.Client) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// DeleteClient removes a client with its auth requests and tokens;
// ErrNotFound when absent.
func (s *Store) DeleteClient(ctx context.Context, id string) (err error) {
	defer wrap(&err, "DeleteClient")
	return s.changeClients(ctx, func(tx *sqlx.Tx) error {
		n, err := exec(ctx, tx, `DELETE FROM clients WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n == 0 {
			return storage.ErrNotFound
		}
		return nil
	})
}
