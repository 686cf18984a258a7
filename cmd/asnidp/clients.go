package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/secret"
	"github.com/asnidp/asnidp/op"
	"github.com/asnidp/asnidp/storage"
)

func clientCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "client", Short: "Register and list relying parties"}
	cmd.AddCommand(clientAddCommand(e), clientListCommand(e), clientRemoveCommand(e))
	return cmd
}

func clientAddCommand(e *env) *cobra.Command {
	var (
		c           storage.Client
		pkce        string
		grants      []string
		jwksFile    string
		accessToken string
	)
	cmd := &cobra.Command{
		Use:   "add --id ID --redirect-uri URI [--redirect-uri URI2] [--public] [--pkce optional] [--jwks-file F | --jwks-uri URL] [--require-par] [--id-token-alg ES256] [--access-token jwt]",
		Short: "Register a client; a confidential client's secret is printed once, alone on the last line (none for a client with keys)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch pkce {
			case "required":
			case "optional":
				c.PKCEOptional = true
			default:
				return fmt.Errorf("--pkce must be required or optional, got %q", pkce)
			}
			switch accessToken {
			case "opaque":
			case "jwt":
				c.AccessTokenJWT = true
			default:
				return fmt.Errorf("--access-token must be opaque or jwt, got %q", accessToken)
			}
			c.GrantTypes = grants
			if len(c.GrantTypes) == 0 {
				c.GrantTypes = []string{op.GrantAuthorizationCode, op.GrantRefreshToken}
			}
			if jwksFile != "" {
				set, err := readJWKSFile(jwksFile)
				if err != nil {
					return err
				}
				c.JWKS = set
			}
			var plain string
			if !c.Public && !c.HasKeys() {
				plain = secret.Token()
			}
			return e.withApp(cmd.Context(), func(a *app) error {
				if err := registerClient(cmd.Context(), a, &c, plain, false); err != nil {
					return err
				}
				e.recordAdmin(cmd.Context(), a, storage.AuditEvent{Type: audit.ClientCreated, ClientID: c.ID, Detail: clientKind(&c)})
				fmt.Fprintf(e.stdout, "client %s registered (%s)\n", c.ID, clientKind(&c))
				if plain != "" {
					fmt.Fprintln(e.stdout, "client secret (shown once, store it now):")
					fmt.Fprintln(e.stdout, plain)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.ID, "id", "", "client id (required)")
	f.StringVar(&c.Name, "name", "", "display name")
	f.StringArrayVar(&c.RedirectURIs, "redirect-uri", nil, "exact redirect URI (repeatable)")
	f.StringArrayVar(&c.PostLogoutRedirectURIs, "post-logout-redirect-uri", nil, "exact post-logout redirect URI (repeatable)")
	f.StringVar(&c.BackchannelLogoutURI, "backchannel-logout-uri", "", "back-channel logout URI")
	f.BoolVar(&c.Public, "public", false, "public client (no secret; PKCE always required)")
	f.StringVar(&pkce, "pkce", "required", "required, or optional for an older confidential RP that sends a nonce")
	f.StringArrayVar(&grants, "grant", nil, "grant type (repeatable): authorization_code, refresh_token, client_credentials")
	f.StringVar(&jwksFile, "jwks-file", "", "the client's public keys, a JWKS JSON file (RSA or EC P-256; RS256, PS256, ES256): it then authenticates with private_key_jwt, has no secret, and may sign request objects")
	f.StringVar(&c.JWKSURI, "jwks-uri", "", "where the client publishes its public keys (https), instead of --jwks-file")
	f.BoolVar(&c.RequirePAR, "require-par", false, "the client must push every authorization request (RFC 9126)")
	f.StringVar(&c.IDTokenAlg, "id-token-alg", "", "id_token_signed_response_alg: RS256 (default) or ES256, also for its JWT access and logout tokens")
	f.StringVar(&accessToken, "access-token", "opaque", "access token format: opaque, or jwt (RFC 9068 at+jwt, verifiable offline)")
	_ = cmd.MarkFlagRequired("id")
	return cmd
}

func clientKind(c *storage.Client) string {
	kind := "confidential"
	if c.Public {
		kind = "public"
	}
	if c.PKCEOptional {
		kind += ", PKCE optional with nonce"
	}
	switch {
	case c.JWKS != "" && !c.Public:
		kind += ", private_key_jwt with registered keys"
	case c.JWKSURI != "" && !c.Public:
		kind += ", private_key_jwt with keys at " + c.JWKSURI
	}
	if c.RequirePAR {
		kind += ", PAR required"
	}
	if c.IDTokenAlg != "" {
		kind += ", " + c.IDTokenAlg + " tokens"
	}
	if c.AccessTokenJWT {
		kind += ", JWT access tokens"
	}
	return kind
}

// readJWKSFile reads and checks a client's key set file.
func readJWKSFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read key set: %w", err)
	}
	set, err := op.ParseClientJWKS(data)
	if err != nil {
		return "", fmt.Errorf("key set %s: %w", path, err)
	}
	return set, nil
}

// registerClient validates and stores a client; plain is its secret (empty
// for a public client), stored only as a keyed hash.
func registerClient(ctx context.Context, a *app, c *storage.Client, plain string, upsert bool) error {
	if err := op.ValidateClient(c); err != nil {
		return fmt.Errorf("client %q: %w", c.ID, err)
	}
	if plain != "" && c.HasKeys() {
		return fmt.Errorf("client %q: a client with keys authenticates with private_key_jwt and has no secret", c.ID)
	}
	if plain != "" {
		c.SecretHash = a.secrets.Hash(plain)
	}
	c.CreatedAt = a.now()
	if upsert {
		return a.store.UpsertClient(ctx, c)
	}
	err := a.store.CreateClient(ctx, c)
	if errors.Is(err, storage.ErrAlreadyExists) {
		return fmt.Errorf("client %q already exists (remove it first)", c.ID)
	}
	return err
}

// syncStaticClients stores the clients declared in config.yaml; a bad
// entry stops start-up naming its key.
func syncStaticClients(ctx context.Context, a *app) error {
	clients, err := staticClients(a.cfg.Clients)
	if err != nil {
		return err
	}
	var errs []error
	for i, c := range clients {
		if err := registerClient(ctx, a, c, a.cfg.Clients[i].Secret, true); err != nil {
			errs = append(errs, fmt.Errorf("clients[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// staticClients turns config.yaml's clients into storage clients and
// checks them without touching the database, so a bad entry stops
// start-up before anything is migrated or created.
func staticClients(list []configClient) ([]*storage.Client, error) {
	var errs []error
	out := make([]*storage.Client, 0, len(list))
	for i, cc := range list {
		c := &storage.Client{
			ID:                     cc.ID,
			Name:                   cc.Name,
			Public:                 cc.Public,
			RedirectURIs:           cc.RedirectURIs,
			PostLogoutRedirectURIs: cc.PostLogoutRedirectURIs,
			GrantTypes:             cc.GrantTypes,
			PKCEOptional:           cc.PKCE == "optional",
			BackchannelLogoutURI:   cc.BackchannelLogoutURI,
			JWKSURI:                cc.JWKSURI,
			RequirePAR:             cc.RequirePAR,
			IDTokenAlg:             cc.IDTokenAlg,
			AccessTokenJWT:         cc.AccessToken == "jwt",
			Static:                 true,
		}
		if cc.JWKSFile != "" {
			set, err := readJWKSFile(cc.JWKSFile)
			if err != nil {
				errs = append(errs, fmt.Errorf("clients[%d].jwks_file: %w", i, err))
				continue
			}
			c.JWKS = set
		}
		if len(c.GrantTypes) == 0 {
			c.GrantTypes = []string{op.GrantAuthorizationCode, op.GrantRefreshToken}
		}
		if uriErrs := staticClientURIs(i, cc); len(uriErrs) > 0 {
			errs = append(errs, uriErrs...)
			continue
		}
		if err := op.ValidateClient(c); err != nil {
			errs = append(errs, fmt.Errorf("clients[%d]: %w", i, err))
		}
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}

// staticClientURIs checks the URIs of the i-th client of config.yaml and
// names each bad one by its key, e.g. clients[0].redirect_uris[1].
func staticClientURIs(i int, cc configClient) []error {
	var errs []error
	for _, list := range []struct {
		key  string
		uris []string
	}{
		{"redirect_uris", cc.RedirectURIs},
		{"post_logout_redirect_uris", cc.PostLogoutRedirectURIs},
	} {
		for j, uri := range list.uris {
			if err := op.ValidateRedirectURI(uri); err != nil {
				errs = append(errs, fmt.Errorf("clients[%d].%s[%d]: %w", i, list.key, j, err))
			}
		}
	}
	if uri := cc.BackchannelLogoutURI; uri != "" {
		if err := op.ValidateRedirectURI(uri); err != nil {
			errs = append(errs, fmt.Errorf("clients[%d].backchannel_logout_uri: %w", i, err))
		}
	}
	return errs
}

func clientListCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List registered clients",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.withApp(cmd.Context(), func(a *app) error {
				clients, err := a.store.Clients(cmd.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tTYPE\tGRANTS\tREDIRECT URIS\tCREATED")
				for _, c := range clients {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, clientKind(c), strings.Join(c.GrantTypes, ","),
						strings.Join(c.RedirectURIs, " "), c.CreatedAt.Format(time.DateOnly))
				}
				return tw.Flush()
			})
		},
	}
}

func clientRemoveCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a client",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withApp(cmd.Context(), func(a *app) error {
				if slices.ContainsFunc(a.cfg.Clients, func(c configClient) bool { return c.ID == args[0] }) {
					return fmt.Errorf("client %q is declared in %s; remove it there", args[0], e.config)
				}
				err := a.store.DeleteClient(cmd.Context(), args[0])
				if errors.Is(err, storage.ErrNotFound) {
					return fmt.Errorf("client %q does not exist", args[0])
				}
				if err != nil {
					return err
				}
				e.recordAdmin(cmd.Context(), a, storage.AuditEvent{Type: audit.ClientRemoved, ClientID: args[0]})
				fmt.Fprintf(e.stdout, "client %s removed\n", args[0])
				return nil
			})
		},
	}
}
