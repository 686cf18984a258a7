package op

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	oidcop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/cookie"
	"github.com/asnidp/asnidp/storage"
)

// server is the library's LegacyServer with asnidp's stricter rules where
// the library is lenient: exact redirect URIs, PKCE for everyone, no PKCE
// downgrade at the token endpoint, browser binding, SSO and logout.
type server struct {
	*oidcop.LegacyServer
	p *Provider
}

// maxEchoedParam bounds state and nonce: both are stored with the request
// and sent back (in the redirect URL, in the ID token), so an oversized
// one is refused here rather than carried along (D11).
const maxEchoedParam = 4096

var (
	// An S256 challenge is the base64url SHA-256 of the verifier.
	s256Challenge = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	// RFC 7636 §4.1: 43 to 128 unreserved characters.
	codeVerifier = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)
)

// VerifyAuthRequest finds the client and matches the redirect URI exactly.
// Errors here are shown by the OP and never redirected (D2).
func (s *server) VerifyAuthRequest(ctx context.Context, r *oidcop.Request[oidc.AuthRequest]) (*oidcop.ClientRequest[oidc.AuthRequest], error) {
	c, err := s.p.trustedRedirect(ctx, r.Data.ClientID, r.Data.RedirectURI)
	if err != nil {
		return nil, err
	}
	if len(r.Data.State) > maxEchoedParam || len(r.Data.Nonce) > maxEchoedParam {
		refuse(ctx, ReasonTooLarge, c)
		return nil, oidcop.NewStatusError(oidc.ErrInvalidRequest().WithDescription("state and nonce are limited to %d bytes", maxEchoedParam), http.StatusBadRequest)
	}
	return &oidcop.ClientRequest[oidc.AuthRequest]{Request: r, Client: s.p.wrapClient(c)}, nil
}

// trustedRedirect finds the client and matches redirectURI exactly against
// the ones it registered: only then may an answer go to redirectURI. When
// only the redirect URI fails, the client comes back with the error.
func (p *Provider) trustedRedirect(ctx context.Context, clientID, redirectURI string) (*storage.Client, error) {
	if clientID == "" {
		refuse(ctx, ReasonClientMissing, nil)
		return nil, oidc.ErrInvalidRequest().WithDescription("client_id is missing")
	}
	c, err := p.store.ClientByID(ctx, clientID)
	if errors.Is(err, storage.ErrNotFound) {
		refuse(ctx, ReasonClientUnknown, nil)
		return nil, oidcop.NewStatusError(oidc.ErrInvalidRequest().WithDescription("client_id is not registered"), http.StatusBadRequest)
	}
	if err != nil {
		refuse(ctx, ReasonUnavailable, nil)
		return nil, oidcop.NewStatusError(oidc.ErrServerError().WithParent(err), http.StatusServiceUnavailable)
	}
	if redirectURI == "" || !slices.Contains(c.RedirectURIs, redirectURI) {
		refuse(ctx, ReasonRedirectURI, c)
		return c, oidcop.NewStatusError(oidc.ErrInvalidRequestRedirectURI().WithDescription("redirect_uri is not registered for this client"), http.StatusBadRequest)
	}
	return c, nil
}

// VerifyClient answers every failed client authentication with 401
// invalid_client (RFC 6749 §5.2), where the library answers 400; other
// refusals (unauthorized_client) and server errors keep their status.
//
// A client assertion (private_key_jwt) is verified here, never by the
// library (see clientauth.go). A client with registered keys has no secret,
// so the library's secret check refuses it any other method.
func (s *server) VerifyClient(ctx context.Context, r *oidcop.Request[oidcop.ClientCredentials]) (oidcop.Client, error) {
	if r.Data.ClientAssertion != "" || r.Data.ClientAssertionType != "" {
		c, err := s.p.authenticateAssertion(ctx, r.Data.ClientID, r.Data.ClientAssertionType, r.Data.ClientAssertion, r.URL.Path)
		if err != nil {
			return nil, err
		}
		if oidc.GrantType(r.Form.Get("grant_type")) == oidc.GrantTypeClientCredentials && !slices.Contains(c.GrantTypes, GrantClientCredentials) {
			return nil, oidc.ErrUnauthorizedClient().WithDescription("client is not registered for client_credentials")
		}
		return s.p.wrapClient(c), nil
	}
	c, err := s.LegacyServer.VerifyClient(ctx, r)
	var oe *oidc.Error
	if err != nil && errors.As(err, &oe) && oe.ErrorType == oidc.InvalidClient {
		return nil, oidcop.NewStatusError(err, http.StatusUnauthorized)
	}
	return c, err
}

// Introspect: a resource server with bad credentials gets 401
// invalid_client too (RFC 7662 §2.3), where the library answers 400
// unauthorized_client. Client authentication is the only failure the
// library reports here.
//
// A resource server may authenticate with private_key_jwt: its assertion
// is verified here, and the library, which would verify it its own way,
// is handed the client as authenticated (AuthorizeClientIDSecret).
func (s *server) Introspect(ctx context.Context, r *oidcop.Request[oidcop.IntrospectionRequest]) (*oidcop.Response, error) {
	if cc := r.Data.ClientCredentials; cc != nil && (cc.ClientAssertion != "" || cc.ClientAssertionType != "") {
		c, err := s.p.authenticateAssertion(ctx, cc.ClientID, cc.ClientAssertionType, cc.ClientAssertion, r.URL.Path)
		if err != nil {
			return nil, err
		}
		ctx = withAssertedClient(ctx, c.ID)
		data := *r.Data
		data.ClientCredentials = &oidcop.ClientCredentials{ClientID: c.ID}
		r = &oidcop.Request[oidcop.IntrospectionRequest]{Method: r.Method, URL: r.URL, Header: r.Header, Form: r.Form, Data: &data}
	}
	resp, err := s.LegacyServer.Introspect(ctx, r)
	var oe *oidc.Error
	if err != nil && errors.As(err, &oe) && oe.ErrorType != oidc.ServerError {
		return nil, oidcop.NewStatusError(oidc.ErrInvalidClient().WithDescription("client authentication failed").WithParent(err), http.StatusUnauthorized)
	}
	return resp, err
}

// Authorize applies the PKCE rules, binds the request to this browser and
// either completes it from a live SSO session or sends the browser to the
// login pages. Errors from here are redirected to the (verified) client.
func (s *server) Authorize(ctx context.Context, r *oidcop.ClientRequest[oidc.AuthRequest]) (*oidcop.Redirect, error) {
	p := s.p
	req := r.Data
	c := r.Client.(*client).c
	if req.ResponseMode != "" && req.ResponseMode != oidc.ResponseModeQuery {
		// Discovery offers the query mode only; form_post would need a page
		// with script.
		return nil, oidc.ErrInvalidRequest().WithDescription("response_mode must be query")
	}
	if err := checkPKCE(c, req); err != nil {
		return nil, err
	}
	acr, err := chooseACR(req.ACRValues, p.offeredACR())
	if err != nil {
		return nil, err
	}
	if (p.cfg.RequirePAR || c.RequirePAR) && !fromPushed(ctx) {
		return nil, oidc.ErrInvalidRequest().WithDescription("pushed authorization request required: push it to %s and send its request_uri", p.cfg.Issuer+PARPath)
	}
	hintUser, err := oidcop.ValidateAuthReqIDTokenHint(ctx, req.IDTokenHint, p.op.IDTokenHintVerifier(ctx))
	if err != nil {
		return nil, err
	}

	redirect := oidcop.NewRedirect("")
	browser := p.cfg.Cookies.ValueFromHeader(r.Header, cookie.Browser)
	if browser == "" || len(browser) > 64 {
		browser = p.newToken()
	}
	// Refreshed on every authorization so an active browser keeps it.
	redirect.Header.Add("Set-Cookie", p.cfg.Cookies.New(cookie.Browser, browser, 0, http.SameSiteLaxMode).String())

	sess := p.reusableSession(ctx, r.Header, req, hintUser)
	stepUp := acr != "" && acr == p.cfg.StepUpACR
	if slices.Contains(req.Prompt, oidc.PromptNone) {
		if sess == nil {
			return p.loginRequired(ctx, req)
		}
		if stepUp {
			// The code must be typed: there is no silent step-up.
			return nil, oidc.ErrInteractionRequired().WithDescription("%s needs the authenticator code entered now", acr)
		}
	}
	ar, err := p.storeAuthRequest(ctx, req, acr, hintUser, p.hash.Hash(browser))
	if err != nil {
		return nil, oidcop.NewStatusError(oidc.ErrServerError().WithParent(err), http.StatusServiceUnavailable)
	}
	if sess != nil && stepUp {
		// Step-up inside a live session: the session stands for the
		// password, and the login pages ask for the second factor again;
		// the session and its other services stay as they are (D20).
		if err := p.store.SetAuthRequestUser(ctx, ar.ID, sess.UserID, p.now()); err != nil {
			return nil, oidcop.NewStatusError(oidc.ErrServerError().WithParent(err), http.StatusServiceUnavailable)
		}
		sess = nil
	}
	if sess == nil {
		redirect.URL = p.loginURL(ar.ID)
		return redirect, nil
	}
	if err := p.completeFromSession(ctx, ar, sess); err != nil {
		return nil, oidcop.NewStatusError(oidc.ErrServerError().WithParent(err), http.StatusServiceUnavailable)
	}
	redirect.URL = p.CallbackURL(ar.ID)
	return redirect, nil
}

// loginRequired answers prompt=none without a usable session with
// login_required at the client, as the library would for a returned error,
// but logs it at debug level: it is the expected outcome of a client's
// silent sign-in check for every visitor not signed in, and the library
// would log a warning on each one. The redirect URI and the response mode
// were checked before Authorize runs.
func (p *Provider) loginRequired(ctx context.Context, req *oidc.AuthRequest) (*oidcop.Redirect, error) {
	e := oidc.ErrLoginRequired()
	e.State = req.State
	u, err := oidcop.AuthResponseURL(req.RedirectURI, req.ResponseType, req.ResponseMode, e, p.encoder)
	if err != nil {
		return nil, err
	}
	p.log.DebugContext(ctx, "prompt=none without a session: login_required", "client_id", req.ClientID)
	return oidcop.NewRedirect(u), nil
}

// chooseACR picks the first of acr_values, in the client's order of
// preference, that this provider offers (both factors, or both with the
// second entered now), or "" when none was asked for. A request naming
// none it offers gets unmet_authentication_requirements (OpenID Connect
// Core 1.0 errata, RFC 9470 §3), so a client asking for a level it cannot
// get learns so at once instead of from the ID token (D19).
func chooseACR(requested, offered []string) (string, error) {
	if len(requested) == 0 {
		return "", nil
	}
	for _, v := range requested {
		if slices.Contains(offered, v) {
			return v, nil
		}
	}
	return "", &oidc.Error{ErrorType: "unmet_authentication_requirements",
		Description: "none of the acr_values can be satisfied; this provider offers " + strings.Join(offered, " ")}
}

// offeredACR lists the levels discovery announces: the default, then the
// step-up one.
func (p *Provider) offeredACR() []string {
	var out []string
	for _, v := range []string{p.cfg.ACR, p.cfg.StepUpACR} {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// checkPKCE: S256 is required unless the confidential client was
// registered with PKCE optional, and then a nonce must protect the code
// instead (D3, D4). `plain` is never accepted.
func checkPKCE(c *storage.Client, req *oidc.AuthRequest) error {
	if req.CodeChallenge == "" {
		if req.CodeChallengeMethod != "" {
			return oidc.ErrInvalidRequest().WithDescription("code_challenge_method without code_challenge")
		}
		if !c.PKCEOptional {
			return oidc.ErrInvalidRequest().WithDescription("code_challenge is required (PKCE with S256)")
		}
		if req.Nonce == "" {
			return oidc.ErrInvalidRequest().WithDescription("nonce is required when PKCE is not used")
		}
		return nil
	}
	if req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	}
	if !s256Challenge.MatchString(req.CodeChallenge) {
		return oidc.ErrInvalidRequest().WithDescription("code_challenge is not a base64url SHA-256 value")
	}
	return nil
}

// CodeExchange redeems a code. Unlike the library, a challenge sent at
// /authorize always requires the verifier, whatever the client type (D5),
// and the code is burnt by the first attempt, right or wrong (D6): a
// refused exchange burns it alone, an accepted one in the transaction
// that stores its tokens (adapter.issue).
func (s *server) CodeExchange(ctx context.Context, r *oidcop.ClientRequest[oidc.AccessTokenRequest]) (*oidcop.Response, error) {
	p := s.p
	authReq, err := p.redeemableCode(ctx, r.Data.Code)
	if err != nil {
		return nil, err
	}
	if err := checkCodeExchange(authReq, r); err != nil {
		if authReq.codeHash != "" {
			// Burn it now; a lost race here is a reuse and revokes.
			oidcop.AuthRequestByCode(ctx, p.op.Storage(), r.Data.Code)
		}
		return nil, err
	}
	c, err := ourClient(r.Client)
	if err != nil {
		return nil, err
	}
	resp, err := p.tokenResponse(ctx, authReq, c, r.Data.Code, "")
	if err != nil {
		return nil, err
	}
	return oidcop.NewResponse(resp), nil
}

// redeemableCode reads the request of a code that can still be redeemed,
// without burning it: the burn is written with the tokens. A code that
// cannot (used, expired, unknown) goes through the library's path to
// RedeemAuthCode, which marks a reuse and revokes the first redemption's
// tokens (D7).
func (p *Provider) redeemableCode(ctx context.Context, code string) (*authRequest, error) {
	hash := p.hash.Hash(code)
	ar, err := p.store.AuthRequestByCode(ctx, hash)
	if err == nil && ar.CodeUsedAt.IsZero() && p.now().Before(ar.CodeExpiresAt) {
		a := p.authRequest(ar)
		a.codeHash = hash
		return a, nil
	}
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	got, err := oidcop.AuthRequestByCode(ctx, p.op.Storage(), code)
	if err != nil {
		return nil, err
	}
	// Redeemed just now after all (the two reads disagreed on the time):
	// burnt already, so the tokens are stored without a redemption.
	return got.(*authRequest), nil
}

// checkCodeExchange applies the verifier, client and redirect URI rules
// to a code's request.
func checkCodeExchange(authReq *authRequest, r *oidcop.ClientRequest[oidc.AccessTokenRequest]) error {
	challenge := authReq.GetCodeChallenge()
	verifier := r.Data.CodeVerifier
	switch {
	case challenge == nil && verifier != "":
		return oidc.ErrInvalidGrant().WithDescription("code_verifier sent but no code_challenge was")
	case challenge == nil:
		// Only a PKCE-optional confidential client gets here; its
		// authorization request carried a nonce (checked at /authorize).
	case !codeVerifier.MatchString(verifier):
		return oidc.ErrInvalidGrant().WithDescription("code_verifier is missing or malformed")
	case !oidc.VerifyCodeChallenge(challenge, verifier):
		return oidc.ErrInvalidGrant().WithDescription("code_verifier does not match")
	}
	if r.Client.GetID() != authReq.GetClientID() {
		return oidc.ErrInvalidGrant().WithDescription("code was issued to another client")
	}
	if r.Data.RedirectURI != authReq.GetRedirectURI() {
		return oidc.ErrInvalidGrant().WithDescription("redirect_uri does not match the authorization request")
	}
	return nil
}

// JWTProfile refuses the JWT bearer grant (RFC 7523), which asnidp does
// not offer (discovery does not list it) but the library would route, so
// no assertion sent to the token endpoint is ever parsed (D10, D12).
func (s *server) JWTProfile(context.Context, *oidcop.Request[oidc.JWTProfileGrantRequest]) (*oidcop.Response, error) {
	return nil, oidc.ErrUnsupportedGrantType().WithDescription("the jwt-bearer grant is not supported")
}

// EndSession ends the SSO session of this browser. It redirects to the
// client only for a valid id_token_hint and an exactly registered
// post_logout_redirect_uri; otherwise the login pages ask the user (D2).
func (s *server) EndSession(ctx context.Context, r *oidcop.Request[oidc.EndSessionRequest]) (*oidcop.Redirect, error) {
	p := s.p
	if r.Data.IdTokenHint == "" {
		return oidcop.NewRedirect(p.cfg.Issuer + p.cfg.LogoutPath), nil
	}
	claims, err := oidcop.VerifyIDTokenHint[*oidc.IDTokenClaims](ctx, r.Data.IdTokenHint, p.op.IDTokenHintVerifier(ctx))
	if err != nil && !errors.As(err, &oidcop.IDTokenHintExpiredError{}) {
		return oidcop.NewRedirect(p.cfg.Issuer + p.cfg.LogoutPath), nil
	}
	clientID := claims.GetAuthorizedParty()
	if clientID == "" && len(claims.GetAudience()) == 1 {
		clientID = claims.GetAudience()[0]
	}
	if r.Data.ClientID != "" && r.Data.ClientID != clientID {
		return nil, oidcop.NewStatusError(oidc.ErrInvalidRequest().WithDescription("client_id does not match the id_token_hint"), http.StatusBadRequest)
	}

	// The redirect target is checked before anything ends, so a refused
	// request changes nothing.
	target := p.cfg.Issuer + p.cfg.LogoutPath + "?done=1"
	if uri := r.Data.PostLogoutRedirectURI; uri != "" {
		c, err := p.store.ClientByID(ctx, clientID)
		if err != nil || !slices.Contains(c.PostLogoutRedirectURIs, uri) {
			refuse(ctx, ReasonLogoutURI, c)
			return nil, oidcop.NewStatusError(oidc.ErrInvalidRequest().WithDescription("post_logout_redirect_uri is not registered for this client"), http.StatusBadRequest)
		}
		target = uri
		if r.Data.State != "" {
			u, _ := url.Parse(uri)
			q := u.Query()
			q.Set("state", r.Data.State)
			u.RawQuery = q.Encode()
			target = u.String()
		}
	}
	if err := p.endBrowserSession(ctx, r.Header, claims.GetSubject(), sidOf(claims)); err != nil {
		return nil, oidcop.NewStatusError(oidc.ErrServerError().WithParent(err), http.StatusServiceUnavailable)
	}
	p.record(ctx, storage.AuditEvent{Type: audit.SessionEnded, Reason: "relying party logout", UserID: claims.GetSubject(), ClientID: clientID, Detail: "sid=" + sidOf(claims)})
	redirect := oidcop.NewRedirect(target)
	redirect.Header.Add("Set-Cookie", p.cfg.Cookies.Clear(cookie.Session, http.SameSiteLaxMode).String())
	return redirect, nil
}

func sidOf(claims *oidc.IDTokenClaims) string {
	if sid, ok := claims.Claims["sid"].(string); ok {
		return sid
	}
	return ""
}
