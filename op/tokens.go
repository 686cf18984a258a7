package op

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	oidcop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/asnidp/asnidp/keys"
	"github.com/asnidp/asnidp/storage"
)

// Token formats. The library builds token responses with one signing key
// for every client and signs its JWT access tokens with typ "JWT"; asnidp
// builds them here instead, so that each client gets its registered
// algorithm (RS256 or ES256) and RFC 9068 access tokens (typ "at+jwt").
// The ID token is still the library's (CreateIDToken), signed with the key
// SigningKey returns for the algorithm this context carries.

// Access token header types.
const (
	typAccessToken = "at+jwt"     // RFC 9068 §2.1
	typLogoutToken = "logout+jwt" // OpenID Back-Channel Logout §2.4
)

type tokenAlgKey struct{}

// withClientAlg carries c's signing algorithm to SigningKey, which the
// library calls without the client.
func withClientAlg(ctx context.Context, c *storage.Client) context.Context {
	return context.WithValue(ctx, tokenAlgKey{}, clientAlg(c))
}

// ctxAlg is the signing algorithm of the client being served: RS256 when
// none was set.
func ctxAlg(ctx context.Context) jose.SignatureAlgorithm {
	if alg, ok := ctx.Value(tokenAlgKey{}).(jose.SignatureAlgorithm); ok {
		return alg
	}
	return jose.RS256
}

// clientAlg is the algorithm of c's ID tokens, JWT access tokens and
// logout tokens.
func clientAlg(c *storage.Client) jose.SignatureAlgorithm {
	if c != nil && c.IDTokenAlg != "" {
		return jose.SignatureAlgorithm(c.IDTokenAlg)
	}
	return jose.RS256
}

// TokenAlgorithms are the algorithms a client may register for its ID
// tokens (id_token_signed_response_alg) and JWT access tokens: those the
// key manager keeps a series of.
var TokenAlgorithms = keys.Algorithms

func tokenAlgNames() []string {
	out := make([]string, len(TokenAlgorithms))
	for i, a := range TokenAlgorithms {
		out[i] = string(a)
	}
	return out
}

// tokenResponse issues the tokens of one response of the code or refresh
// grant: the access token (and a refresh token when the grant gets one)
// stored in one transaction, then the ID token.
func (p *Provider) tokenResponse(ctx context.Context, req oidcop.IDTokenRequest, c *client, code, refreshToken string) (*oidc.AccessTokenResponse, error) {
	ctx = withClientAlg(ctx, c.c)
	resp, err := p.accessTokenResponse(ctx, req, c, refreshToken)
	if err != nil {
		return nil, err
	}
	resp.IDToken, err = oidcop.CreateIDToken(ctx, oidcop.IssuerFromContext(ctx), req, c.IDTokenLifetime(), resp.AccessToken, code, p.op.Storage(), c)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// accessTokenResponse stores and formats the access token of a response,
// with a refresh token when the grant gets one.
func (p *Provider) accessTokenResponse(ctx context.Context, req oidcop.TokenRequest, c *client, refreshToken string) (*oidc.AccessTokenResponse, error) {
	ctx = withClientAlg(ctx, c.c)
	a := &adapter{p}
	var (
		id, refresh string
		exp         time.Time
		err         error
	)
	if needsRefreshToken(req, c) {
		id, refresh, exp, err = a.CreateAccessAndRefreshTokens(ctx, req, refreshToken)
	} else {
		id, exp, err = a.CreateAccessToken(ctx, req)
	}
	if err != nil {
		return nil, err
	}
	var access string
	if c.c.AccessTokenJWT {
		access, err = p.accessTokenJWT(ctx, req, c, id, exp)
	} else {
		access, err = oidcop.CreateBearerToken(id, req.GetSubject(), p.op.Crypto())
	}
	if err != nil {
		return nil, err
	}
	return &oidc.AccessTokenResponse{
		AccessToken:  access,
		RefreshToken: refresh,
		TokenType:    oidc.BearerToken,
		ExpiresIn:    uint64(exp.Add(c.ClockSkew()).Sub(p.now()).Seconds()),
		Scope:        req.GetScopes(),
	}, nil
}

// needsRefreshToken: a refresh always rotates; a code gets a refresh token
// for offline_access when the client may use the grant; nothing else does.
func needsRefreshToken(req oidcop.TokenRequest, c *client) bool {
	switch r := req.(type) {
	case oidcop.AuthRequest:
		return slices.Contains(r.GetScopes(), oidc.ScopeOfflineAccess) && slices.Contains(c.c.GrantTypes, GrantRefreshToken)
	case oidcop.RefreshTokenRequest:
		return true
	}
	return false
}

// accessTokenJWT is an RFC 9068 access token: its jti is the stored
// token's ID, so introspection, userinfo and revocation find the row, and a
// token revoked or ended by logout stops working there although its
// signature still verifies. The audience is the client (no resource
// indicators are taken).
func (p *Provider) accessTokenJWT(ctx context.Context, req oidcop.TokenRequest, c *client, id string, exp time.Time) (string, error) {
	claims := oidc.NewAccessTokenClaims(oidcop.IssuerFromContext(ctx), req.GetSubject(), req.GetAudience(), exp, id, c.GetID(), 0)
	claims.Scopes = req.GetScopes()
	// The library stamps iat with the wall clock; the OP's clock dates
	// everything else (exp, auth_time).
	claims.IssuedAt = oidc.FromTime(p.now())
	claims.NotBefore = claims.IssuedAt
	if r, ok := req.(oidcop.IDTokenRequest); ok {
		claims.AuthTime = oidc.FromTime(r.GetAuthTime())
		claims.AuthenticationMethodsReferences = r.GetAMR()
	}
	if r, ok := req.(oidcop.AuthRequest); ok {
		claims.AuthenticationContextClassReference = r.GetACR()
	}
	return p.signJWT(ctx, ctxAlg(ctx), typAccessToken, claims)
}

// signJWT signs claims with the current key of alg, naming its kid and the
// header type typ.
func (p *Provider) signJWT(ctx context.Context, alg jose.SignatureAlgorithm, typ string, claims any) (string, error) {
	k, err := p.keys.Signer(ctx, alg)
	if err != nil {
		return "", fmt.Errorf("load signing key: %w", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Algorithm, Key: jose.JSONWebKey{Key: k.Private, KeyID: k.ID}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return "", fmt.Errorf("make %s signer: %w", typ, err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode %s claims: %w", typ, err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign %s: %w", typ, err)
	}
	return jws.CompactSerialize()
}

// RefreshToken is the library's refresh grant with asnidp's token
// response.
func (s *server) RefreshToken(ctx context.Context, r *oidcop.ClientRequest[oidc.RefreshTokenRequest]) (*oidcop.Response, error) {
	c, err := ourClient(r.Client)
	if err != nil {
		return nil, err
	}
	request, err := oidcop.RefreshTokenRequestByRefreshToken(ctx, s.p.op.Storage(), r.Data.RefreshToken)
	if err != nil {
		return nil, err
	}
	if c.GetID() != request.GetClientID() {
		return nil, oidc.ErrInvalidGrant()
	}
	if err := oidcop.ValidateRefreshTokenScopes(r.Data.Scopes, request); err != nil {
		return nil, err
	}
	resp, err := s.p.tokenResponse(ctx, request, c, "", r.Data.RefreshToken)
	if err != nil {
		return nil, err
	}
	return oidcop.NewResponse(resp), nil
}

// ClientCredentialsExchange is the library's client_credentials grant with
// asnidp's access token formats.
func (s *server) ClientCredentialsExchange(ctx context.Context, r *oidcop.ClientRequest[oidc.ClientCredentialsRequest]) (*oidcop.Response, error) {
	c, err := ourClient(r.Client)
	if err != nil {
		return nil, err
	}
	req, err := (&adapter{s.p}).ClientCredentialsTokenRequest(ctx, c.GetID(), r.Data.Scope)
	if err != nil {
		return nil, err
	}
	resp, err := s.p.accessTokenResponse(ctx, req, c, "")
	if err != nil {
		return nil, err
	}
	return oidcop.NewResponse(resp), nil
}

// UserInfo answers 401 for every token that is not live (revoked, ended
// by logout, of a disabled account, or not naming a stored token at all),
// as RFC 6750 §3.1 has it for invalid_token; the library answers 403 for
// the ones whose signature or encryption checks out. A failing store stays
// a server error.
func (s *server) UserInfo(ctx context.Context, r *oidcop.Request[oidc.UserInfoRequest]) (*oidcop.Response, error) {
	resp, err := s.LegacyServer.UserInfo(ctx, r)
	if err == nil {
		return resp, nil
	}
	var oe *oidc.Error
	if errors.As(err, &oe) && oe.ErrorType == oidc.ServerError {
		return nil, err
	}
	return nil, oidcop.NewStatusError(oidc.ErrAccessDenied().WithDescription("access token invalid").WithParent(err), http.StatusUnauthorized)
}

// ourClient is the client VerifyClient returned.
func ourClient(c oidcop.Client) (*client, error) {
	if ours, ok := c.(*client); ok {
		return ours, nil
	}
	return nil, oidc.ErrServerError().WithParent(errors.New("token request without a registered client"))
}
