package op

// private_key_jwt client authentication (RFC 7523 §2.2, OpenID Connect
// Core §9) for confidential clients that registered keys. The library
// verifies such assertions too, but picks the key by kid alone, accepts
// any lifetime and keeps no record of jti, so asnidp verifies them itself
// (D16) and hands the library only the client that passed.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	oidcop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/storage"
)

const (
	// maxAssertionLifetime is how far ahead a client assertion's exp may
	// lie: an assertion is made for one request.
	maxAssertionLifetime = 5 * time.Minute
	// clientClockSkew is the leeway on a client's clock for exp, nbf and
	// iat.
	clientClockSkew = 30 * time.Second
	// maxJTI bounds the stored jti.
	maxJTI = 256
)

// jwtClaims are the registered claims asnidp checks in a client's JWT.
type jwtClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.Audience     `json:"aud"`
	Expiry    *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	ID        string           `json:"jti"`
}

// checkTimes applies exp (required, at most maxLifetime ahead), nbf and iat
// with clientClockSkew.
func (c *jwtClaims) checkTimes(now time.Time, maxLifetime time.Duration) error {
	if c.Expiry == nil {
		return errors.New("exp is required")
	}
	exp := c.Expiry.Time()
	switch {
	case !now.Before(exp.Add(clientClockSkew)):
		return errors.New("expired (exp)")
	case exp.After(now.Add(maxLifetime + clientClockSkew)):
		return fmt.Errorf("exp is more than %v ahead", maxLifetime)
	case c.NotBefore != nil && c.NotBefore.Time().After(now.Add(clientClockSkew)):
		return errors.New("not valid yet (nbf)")
	case c.IssuedAt != nil && c.IssuedAt.Time().After(now.Add(clientClockSkew)):
		return errors.New("issued in the future (iat)")
	}
	return nil
}

// assertionAudiences are the values a client assertion's aud may name:
// the issuer, the token endpoint, or the endpoint it was sent to (RFC 7523
// §3; RFC 9126 §2 for the PAR endpoint).
func (p *Provider) assertionAudiences(path string) []string {
	return []string{p.cfg.Issuer, p.cfg.Issuer + oidcop.DefaultEndpoints.Token.Relative(), p.cfg.Issuer + path}
}

// assertionError is a refused client assertion: 401 invalid_client with
// the reason, which only tells the client about its own assertion.
func assertionError(format string, args ...any) error {
	return oidcop.NewStatusError(oidc.ErrInvalidClient().WithDescription("client assertion refused: "+format, args...), http.StatusUnauthorized)
}

// authenticateAssertion authenticates a client by its private_key_jwt
// assertion sent to path: signed by one of its keys (see clientkeys.go),
// iss = sub = the client, aud naming asnidp, exp required and at most
// maxAssertionLifetime ahead, and a jti never seen before from this client
// while the assertion lives. formClientID, when sent, must be the same
// client.
func (p *Provider) authenticateAssertion(ctx context.Context, formClientID, assertionType, assertion, path string) (*storage.Client, error) {
	if assertionType != oidc.ClientAssertionTypeJWTAssertion {
		return nil, assertionError("client_assertion_type must be %s", oidc.ClientAssertionTypeJWTAssertion)
	}
	unverified, err := jose.ParseSignedCompact(assertion, ClientSigningAlgorithms)
	if err != nil {
		return nil, assertionError("not a JWS signed with RS256, PS256 or ES256")
	}
	var claims jwtClaims
	if err := json.Unmarshal(unverified.UnsafePayloadWithoutVerification(), &claims); err != nil {
		return nil, assertionError("claims cannot be read")
	}
	id := claims.Issuer
	if id == "" || claims.Subject != id {
		return nil, assertionError("iss and sub must both be the client_id")
	}
	if formClientID != "" && formClientID != id {
		return nil, assertionError("client_id does not match the assertion's iss")
	}
	c, err := p.store.ClientByID(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, assertionError("client is not registered")
	}
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	if c.Public || !c.HasKeys() {
		return nil, assertionError("client is not registered for private_key_jwt")
	}
	// A request object (typ oauth-authz-req+jwt) is no assertion.
	payload, err := p.verifyClientJWS(ctx, c, assertion, "", "JWT")
	if err != nil {
		p.log.InfoContext(ctx, "client assertion refused", "client_id", id, "reason", err)
		return nil, assertionError("%s", err.Error())
	}
	claims = jwtClaims{}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Issuer != id || claims.Subject != id {
		return nil, assertionError("claims cannot be read")
	}
	if !slices.ContainsFunc(p.assertionAudiences(path), func(a string) bool { return claims.Audience.Contains(a) }) {
		return nil, assertionError("aud must be the issuer or the endpoint URL")
	}
	now := p.now()
	if err := claims.checkTimes(now, maxAssertionLifetime); err != nil {
		return nil, assertionError("%s", err.Error())
	}
	if claims.ID == "" || len(claims.ID) > maxJTI || strings.ContainsAny(claims.ID, "\x00") {
		return nil, assertionError("jti is required (at most %d bytes)", maxJTI)
	}
	err = p.store.UseClientAssertion(ctx, c.ID, claims.ID, claims.Expiry.Time().Add(clientClockSkew), now)
	if errors.Is(err, storage.ErrConflict) {
		p.log.WarnContext(ctx, "client assertion replayed (jti used before)", "client_id", id)
		p.record(ctx, storage.AuditEvent{Type: audit.ClientAssertionReplayed, Outcome: audit.Failure, Reason: "jti used before", ClientID: c.ID})
		return nil, assertionError("jti was used before (replay)")
	}
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	return c, nil
}

// assertedClientKey marks a context whose request authenticated its client
// by assertion already, for the library's introspection path (Introspect).
type assertedClientKey struct{}

func withAssertedClient(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, assertedClientKey{}, id)
}

func assertedClient(ctx context.Context) string {
	id, _ := ctx.Value(assertedClientKey{}).(string)
	return id
}
