package op

// Pushed authorization requests (RFC 9126, D17).
//
//	client ── POST /oauth/par (client authentication as at the token
//	          endpoint; the authorization parameters, or a request object) ──►
//	   validated as /authorize would (registered redirect_uri, PKCE S256,
//	   response_type, scopes, prompt, id_token_hint), stored under the hash
//	   of a random request_uri, 60 s ──► 201 {"request_uri", "expires_in": 60}
//	browser ── /authorize?client_id=…&request_uri=… ──►
//	   the stored request is consumed (once, by the client that pushed it,
//	   one conditional UPDATE) and becomes the request's parameters; any
//	   other query parameter must equal the pushed one, else the request is
//	   refused; then the library validates and runs it as any request.
//
// A client registered with --require-par, or every client with
// require_pushed_authorization_requests in config.yaml, must come this
// way: a plain authorization request, or a request object sent by value,
// is refused at its redirect_uri with invalid_request (Authorize).

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	oidcop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/storage"
)

const (
	// PARPath is the pushed authorization request endpoint.
	PARPath = "/oauth/par"
	// RequestURIPrefix starts every request_uri the PAR endpoint issues.
	RequestURIPrefix = "urn:ietf:params:oauth:request_uri:"
	// PushedLifetime is how long a request_uri may be used.
	PushedLifetime = 60 * time.Second
)

// pushedKey marks the context of an authorization request that came from
// a pushed request.
type pushedKey struct{}

func fromPushed(ctx context.Context) bool {
	ok, _ := ctx.Value(pushedKey{}).(bool)
	return ok
}

// clientAuthParams are the parameters of a push that authenticate the
// client; they are not part of the authorization request.
var clientAuthParams = []string{"client_secret", "client_assertion", "client_assertion_type"}

// servePAR is the PAR endpoint (RFC 9126 §2). Its requests pass
// guardProtocolRequest first, like the token endpoint's.
func (p *Provider) servePAR(w http.ResponseWriter, r *http.Request) {
	ctx := oidcop.ContextWithIssuer(r.Context(), p.cfg.Issuer)
	form := r.PostForm
	cc := &oidcop.ClientCredentials{
		ClientID:            form.Get("client_id"),
		ClientSecret:        form.Get("client_secret"),
		ClientAssertion:     form.Get("client_assertion"),
		ClientAssertionType: form.Get("client_assertion_type"),
	}
	if cc.ClientSecret != "" && cc.ClientAssertion != "" {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "client authentication must use one method")
		return
	}
	if id, secret, ok := r.BasicAuth(); ok {
		var err1, err2 error
		cc.ClientID, err1 = url.QueryUnescape(id)
		cc.ClientSecret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "invalid basic auth header")
			return
		}
	}
	if cc.ClientID == "" && cc.ClientAssertion == "" {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "client authentication is required")
		return
	}
	authForm := url.Values{}
	for k, v := range form {
		if k != "grant_type" {
			authForm[k] = v
		}
	}
	oc, err := p.srv.VerifyClient(ctx, &oidcop.Request[oidcop.ClientCredentials]{
		Method: r.Method, URL: r.URL, Header: r.Header, Form: authForm, Data: cc,
	})
	if err != nil {
		oidcop.WriteError(w, r, err, nil)
		return
	}
	cl, ok := oc.(*client)
	if !ok {
		writeOAuthError(w, http.StatusInternalServerError, "server_error", "unexpected client")
		return
	}
	c := cl.c

	params := url.Values{}
	for k, v := range form {
		if !slices.Contains(clientAuthParams, k) {
			params[k] = v
		}
	}
	if params.Has("request_uri") {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "request_uri must not be pushed")
		return
	}
	if id := params.Get("client_id"); id != "" && id != c.ID {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "client_id does not match the authenticated client")
		return
	}
	params.Set("client_id", c.ID)
	if params.Has("request") {
		if !c.HasKeys() {
			writeOAuthError(w, http.StatusBadRequest, "request_not_supported", "request objects are not supported for this client (it has no registered keys)")
			return
		}
		rest := url.Values{}
		for k, v := range params {
			if k != "request" {
				rest[k] = v
			}
		}
		obj, err := p.requestObjectParams(ctx, c, params.Get("request"), rest)
		if err != nil {
			p.log.InfoContext(ctx, "pushed request object refused", "client_id", c.ID, "reason", err)
			p.record(ctx, storage.AuditEvent{Type: audit.RequestObjectRefused, Outcome: audit.Failure, Reason: "request object does not verify", ClientID: c.ID})
			writeOAuthError(w, http.StatusBadRequest, errInvalidRequestObject, "request object refused: "+err.Error())
			return
		}
		params = obj
	}
	if err := p.validatePushed(ctx, cl, params); err != nil {
		oidcop.WriteError(w, r, err, nil)
		return
	}

	uri := RequestURIPrefix + p.newToken()
	now := p.now()
	stored := &storage.PushedAuthRequest{
		URIHash:   p.hash.Hash(uri),
		ClientID:  c.ID,
		Params:    map[string]string{},
		CreatedAt: now,
		ExpiresAt: now.Add(PushedLifetime),
	}
	for k := range params {
		stored.Params[k] = params.Get(k)
	}
	if err := p.store.CreatePushedAuthRequest(ctx, stored); err != nil {
		p.log.ErrorContext(ctx, "store pushed authorization request", "err", err)
		writeOAuthError(w, http.StatusServiceUnavailable, "server_error", "the request cannot be stored now")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{"request_uri": uri, "expires_in": int(PushedLifetime.Seconds())})
}

// validatePushed applies the checks of /authorize to a pushed request, so
// a bad one is refused to the client that pushed it, not to the browser.
// /authorize checks the stored request again all the same.
func (p *Provider) validatePushed(ctx context.Context, cl *client, params url.Values) error {
	var req oidc.AuthRequest
	if err := p.op.Decoder().Decode(&req, params); err != nil {
		return oidc.ErrInvalidRequest().WithDescription("the request cannot be read")
	}
	c := cl.c
	if req.RedirectURI == "" || !slices.Contains(c.RedirectURIs, req.RedirectURI) {
		return oidc.ErrInvalidRequest().WithDescription("redirect_uri is not registered for this client")
	}
	if len(req.State) > maxEchoedParam || len(req.Nonce) > maxEchoedParam {
		return oidc.ErrInvalidRequest().WithDescription("state and nonce are limited to %d bytes", maxEchoedParam)
	}
	if _, err := oidcop.ValidateAuthReqPrompt(req.Prompt, req.MaxAge); err != nil {
		return err
	}
	if _, err := oidcop.ValidateAuthReqScopes(cl, req.Scopes); err != nil {
		return err
	}
	if err := oidcop.ValidateAuthReqResponseType(cl, req.ResponseType); err != nil {
		return err
	}
	if err := oidcop.ValidateAuthReqCodeChallengeMethod(req.CodeChallenge, req.CodeChallengeMethod); err != nil {
		return err
	}
	if req.ResponseMode != "" && req.ResponseMode != oidc.ResponseModeQuery {
		return oidc.ErrInvalidRequest().WithDescription("response_mode must be query")
	}
	if err := checkPKCE(c, &req); err != nil {
		return err
	}
	if _, err := oidcop.ValidateAuthReqIDTokenHint(ctx, req.IDTokenHint, p.op.IDTokenHintVerifier(ctx)); err != nil {
		return err
	}
	return nil
}

// usePushed replaces an authorization request naming a request_uri of the
// PAR endpoint with the request that was pushed.
func (p *Provider) usePushed(w http.ResponseWriter, r *http.Request, next http.Handler) {
	ctx := r.Context()
	form := r.Form
	clientID := form.Get("client_id")
	if clientID == "" {
		refuse(ctx, ReasonClientMissing, nil)
		oidcop.WriteError(w, r, oidcop.NewStatusError(oidc.ErrInvalidRequest().WithDescription("client_id is missing"), http.StatusBadRequest), nil)
		return
	}
	c, err := p.store.ClientByID(ctx, clientID)
	if errors.Is(err, storage.ErrNotFound) {
		refuse(ctx, ReasonClientUnknown, nil)
		oidcop.WriteError(w, r, oidcop.NewStatusError(oidc.ErrInvalidRequest().WithDescription("client_id is not registered"), http.StatusBadRequest), nil)
		return
	}
	if err != nil {
		refuse(ctx, ReasonUnavailable, nil)
		oidcop.WriteError(w, r, oidcop.NewStatusError(oidc.ErrServerError().WithParent(err), http.StatusServiceUnavailable), nil)
		return
	}
	pushed, err := p.store.ConsumePushedAuthRequest(ctx, p.hash.Hash(form.Get("request_uri")), c.ID, p.now())
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrConflict) {
		p.log.InfoContext(ctx, "request_uri refused", "client_id", c.ID, "used_before", errors.Is(err, storage.ErrConflict))
		e := &oidc.Error{ErrorType: errInvalidRequestURI, Description: "request_uri is unknown, was used before, has expired, or was pushed by another client"}
		p.refuseAuthorization(w, r, c, form, form.Get("redirect_uri"), e, ReasonRequestURI)
		return
	}
	if err != nil {
		refuse(ctx, ReasonUnavailable, c)
		oidcop.WriteError(w, r, oidcop.NewStatusError(oidc.ErrServerError().WithParent(err), http.StatusServiceUnavailable), nil)
		return
	}
	params := url.Values{}
	for k, v := range pushed.Params {
		params.Set(k, v)
	}
	// Parameters outside the pushed request would change what the client
	// pushed (and authenticated): refused unless they repeat it exactly.
	for k, v := range form {
		if k == "client_id" || k == "request_uri" {
			continue
		}
		if !params.Has(k) || params.Get(k) != v[0] {
			e := oidc.ErrInvalidRequest().WithDescription("parameter %s in the query differs from the pushed request; send client_id and request_uri only", safeName(k))
			p.refuseAuthorization(w, r, c, params, params.Get("redirect_uri"), e, ReasonRequestURI)
			return
		}
	}
	replaceForm(form, params)
	next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, pushedKey{}, true)))
}
