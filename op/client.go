package op

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	oidcop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/asnidp/asnidp/storage"
)

// Grant types a client may be registered for.
const (
	GrantAuthorizationCode = string(oidc.GrantTypeCode)
	GrantRefreshToken      = string(oidc.GrantTypeRefreshToken)
	GrantClientCredentials = string(oidc.GrantTypeClientCredentials)
)

// ValidateRedirectURI applies the registration rule for redirect and
// post-logout URIs: an absolute https URL, or http on a loopback host
// (127.0.0.1, [::1], localhost) for development and native apps; no
// fragment, no user info, no wildcard, nothing but the exact string is ever
// matched.
func ValidateRedirectURI(raw string) error {
	if raw == "" {
		return errors.New("redirect URI is empty")
	}
	if strings.ContainsAny(raw, "*\\ \t\r\n") {
		return fmt.Errorf("redirect URI %q contains a wildcard, backslash or space", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("redirect URI %q is not a URL: %w", raw, err)
	}
	switch {
	case !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return fmt.Errorf("redirect URI %q must be an absolute http(s) URL", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("redirect URI %q must not have a fragment", raw)
	case u.User != nil:
		return fmt.Errorf("redirect URI %q must not carry user info", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("redirect URI %q uses http: only https, or http on 127.0.0.1, [::1] or localhost, is allowed", raw)
	default:
		return fmt.Errorf("redirect URI %q uses scheme %q: only https (or http on loopback) is allowed", raw, u.Scheme)
	}
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// ValidateClient checks a client before it is stored.
func ValidateClient(c *storage.Client) error {
	var errs []error
	if c.ID == "" || strings.ContainsAny(c.ID, " \t\r\n:") || len(c.ID) > 128 {
		errs = append(errs, fmt.Errorf("client id %q must be 1-128 characters without spaces or colons", c.ID))
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains([]string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials}, g) {
			errs = append(errs, fmt.Errorf("grant type %q is not supported", g))
		}
	}
	if c.Public && slices.Contains(c.GrantTypes, GrantClientCredentials) {
		errs = append(errs, errors.New("a public client cannot use client_credentials"))
	}
	if c.Public && c.PKCEOptional {
		errs = append(errs, errors.New("a public client must use PKCE"))
	}
	if slices.Contains(c.GrantTypes, GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
		errs = append(errs, errors.New("at least one redirect URI is needed for authorization_code"))
	}
	for _, u := range c.RedirectURIs {
		if err := ValidateRedirectURI(u); err != nil {
			errs = append(errs, err)
		}
	}
	for _, u := range c.PostLogoutRedirectURIs {
		if err := ValidateRedirectURI(u); err != nil {
			errs = append(errs, fmt.Errorf("post-logout: %w", err))
		}
	}
	if c.Public && c.HasKeys() {
		errs = append(errs, errors.New("a public client cannot register keys: it cannot keep a private key"))
	}
	if c.IDTokenAlg != "" && !slices.Contains(TokenAlgorithms, jose.SignatureAlgorithm(c.IDTokenAlg)) {
		errs = append(errs, fmt.Errorf("id_token_signed_response_alg %q is not one of %v", c.IDTokenAlg, TokenAlgorithms))
	}
	if c.JWKS != "" && c.JWKSURI != "" {
		errs = append(errs, errors.New("register a key set or a jwks_uri, not both (RFC 7591 §2)"))
	}
	if c.JWKS != "" {
		if _, err := ParseClientJWKS([]byte(c.JWKS)); err != nil {
			errs = append(errs, fmt.Errorf("key set: %w", err))
		}
	}
	if c.JWKSURI != "" {
		if err := ValidateRedirectURI(c.JWKSURI); err != nil {
			errs = append(errs, fmt.Errorf("jwks_uri: %w", err))
		}
	}
	if c.BackchannelLogoutURI != "" {
		if err := ValidateRedirectURI(c.BackchannelLogoutURI); err != nil {
			errs = append(errs, fmt.Errorf("back-channel logout: %w", err))
		}
	}
	return errors.Join(errs...)
}

// client adapts a storage.Client to zitadel's op.Client.
type client struct {
	c          *storage.Client
	loginURL   func(authRequestID string) string
	idTokenTTL time.Duration
}

var _ oidcop.Client = (*client)(nil)

func (c *client) GetID() string                    { return c.c.ID }
func (c *client) RedirectURIs() []string           { return c.c.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string { return c.c.PostLogoutRedirectURIs }
func (c *client) LoginURL(id string) string        { return c.loginURL(id) }
func (c *client) IDTokenLifetime() time.Duration   { return c.idTokenTTL }
func (c *client) DevMode() bool                    { return false }
func (c *client) ClockSkew() time.Duration         { return 0 }

// ApplicationType: confidential clients are web apps; public ones native
// (or browser) apps. Redirect URIs are matched exactly before the library
// looks at them, so the library's looser native rules never apply.
func (c *client) ApplicationType() oidcop.ApplicationType {
	if c.c.Public {
		return oidcop.ApplicationTypeNative
	}
	return oidcop.ApplicationTypeWeb
}

// AuthMethod: a client with registered keys authenticates with
// private_key_jwt only; the library then refuses it a secret.
func (c *client) AuthMethod() oidc.AuthMethod {
	switch {
	case c.c.Public:
		return oidc.AuthMethodNone
	case c.c.HasKeys():
		return oidc.AuthMethodPrivateKeyJWT
	}
	return oidc.AuthMethodBasic
}

func (c *client) ResponseTypes() []oidc.ResponseType {
	if slices.Contains(c.c.GrantTypes, GrantAuthorizationCode) {
		return []oidc.ResponseType{oidc.ResponseTypeCode}
	}
	return nil
}

func (c *client) GrantTypes() []oidc.GrantType {
	out := make([]oidc.GrantType, 0, len(c.c.GrantTypes))
	for _, g := range c.c.GrantTypes {
		out = append(out, oidc.GrantType(g))
	}
	return out
}

// AccessTokenType is opaque for every client: resource servers introspect,
// revocation takes effect at once, and no extra signature is spent.
func (c *client) AccessTokenType() oidcop.AccessTokenType { return oidcop.AccessTokenTypeBearer }

func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}

func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}

// IsScopeAllowed admits the asn scope beside the standard ones.
func (c *client) IsScopeAllowed(scope string) bool { return scope == ScopeASN }

func (c *client) IDTokenUserinfoClaimsAssertion() bool { return false }
