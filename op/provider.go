// Package op is asnidp's OpenID Provider: zitadel/oidc's op package driven
// by asnidp's storage and keys.
//
// The flow of one authorization:
//
//	/authorize ── validate (exact redirect_uri, PKCE S256, nonce rule) ──►
//	   live SSO session usable? ── yes ─► auth request stored already done ─► /authorize/callback
//	                            └─ no ──► auth request stored, bound to this browser ─► login pages
//	login pages record each verified factor on the auth request ─► /authorize/callback
//	/authorize/callback: same browser and every factor recorded? ── no ─► back to the login pages
//	                                                              └─ yes ─► code (and iss) to the client
//	/oauth/token: the code is redeemed atomically (a second redemption revokes the first one's tokens)
//
// Before /authorize validates anything, a request object (request=, from a
// client with registered keys) or a pushed request (request_uri= of
// /oauth/par) becomes the request's parameters; see requestobject.go and
// par.go. Clients with keys authenticate with private_key_jwt
// (clientauth.go, clientkeys.go).
//
// op never imports the login pages; the two share only the auth request
// row and the cookies named in internal/cookie.
package op

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	oidcop "github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/asnidp/asnidp/internal/cookie"
	"github.com/asnidp/asnidp/internal/secret"
	"github.com/asnidp/asnidp/internal/session"
	"github.com/asnidp/asnidp/keys"
	"github.com/asnidp/asnidp/storage"
)

// Config is what the provider needs from config.yaml.
type Config struct {
	// Issuer is static: never derived from Host or forwarding headers.
	Issuer string
	// CryptoKey encrypts opaque access tokens; every process derives the
	// same one from the master key.
	CryptoKey [32]byte
	// LoginPath is where the login pages live (e.g. "/login/").
	LoginPath string
	// LogoutPath is the login pages' logout confirmation page.
	LogoutPath string

	AccessTokenLifetime    time.Duration
	IDTokenLifetime        time.Duration
	CodeLifetime           time.Duration
	AuthRequestLifetime    time.Duration
	OfflineRefreshLifetime time.Duration

	// Browsers reads the SSO session and the auth request binding from a
	// request's cookies, as the login pages do.
	Browsers *session.Browsers

	// RequirePAR makes every client send its authorization requests by
	// pushed authorization request (RFC 9126), as if each were registered
	// with RequirePAR.
	RequirePAR bool
	// JWKSCacheTTL is how long a key set fetched from a client's jwks_uri
	// is used before it is fetched again (default 5 minutes).
	JWKSCacheTTL time.Duration
	// JWKSTransport fetches clients' jwks_uri; nil is the default
	// transport.
	JWKSTransport http.RoundTripper

	// RequireOTP makes the second factor part of completion.
	RequireOTP bool
	// ACR is reported in ID tokens completed with both factors.
	ACR string
	// StepUpACR is the level a client names in acr_values to have the
	// second factor entered in this very authorization, even inside a
	// live SSO session; empty offers no step-up.
	StepUpACR string

	// Audit records security events; nil records none.
	Audit Auditor

	// ShowError shows the browser a refusal of /authorize, its callback or
	// end_session that cannot go to the client; nil leaves the library's
	// JSON.
	ShowError func(w http.ResponseWriter, r *http.Request, page ErrorPage)

	Cookies cookie.Jar
	Now     func() time.Time
	Logger  *slog.Logger
}

// Provider serves every OIDC endpoint.
type Provider struct {
	cfg      Config
	store    Storage
	keys     *keys.Manager
	hash     *secret.MAC
	now      func() time.Time
	log      *slog.Logger
	newToken func() string
	// encoder builds every authorization response sent to a client.
	encoder issEncoder

	// clientKeys caches the key sets fetched from clients' jwks_uri.
	clientKeys *keyCache

	op        *oidcop.Provider
	srv       *server
	handler   http.Handler
	discovery []byte
}

// Storage is the storage the provider calls: the methods of storage.Store
// it uses and no others. Each behaves as its storage contract says.
type Storage interface {
	// Clients and accounts
	ClientByID(ctx context.Context, id string) (*storage.Client, error)
	UserByID(ctx context.Context, id string) (*storage.User, error)

	// Auth requests and codes
	CreateAuthRequest(ctx context.Context, ar *storage.AuthRequest) error
	AuthRequestByID(ctx context.Context, id string, now time.Time) (*storage.AuthRequest, error)
	AuthRequestByCode(ctx context.Context, codeHash string) (*storage.AuthRequest, error)
	SetAuthRequestUser(ctx context.Context, id, userID string, at time.Time) error
	SetAuthRequestOTP(ctx context.Context, id string, at time.Time) error
	SetAuthRequestRecovery(ctx context.Context, id string, at time.Time) error
	CompleteAuthRequest(ctx context.Context, id, sessionID string, authTime time.Time) error
	SaveAuthCode(ctx context.Context, id, codeHash string, expiresAt time.Time) error
	RedeemAuthCode(ctx context.Context, codeHash string, now time.Time) (*storage.AuthRequest, error)

	// Tokens
	IssueTokens(ctx context.Context, iss *storage.Issue, now time.Time) error
	AccessTokenByID(ctx context.Context, id string) (*storage.AccessToken, error)
	RevokeAccessToken(ctx context.Context, id string, now time.Time) error
	RefreshTokenByHash(ctx context.Context, tokenHash string) (*storage.RefreshToken, error)
	RevokeRefreshFamily(ctx context.Context, familyID string, now time.Time) error
	RevokeGrant(ctx context.Context, grantID string, now time.Time) error

	// Pushed authorization requests and client assertions
	CreatePushedAuthRequest(ctx context.Context, p *storage.PushedAuthRequest) error
	ConsumePushedAuthRequest(ctx context.Context, uriHash, clientID string, now time.Time) (*storage.PushedAuthRequest, error)
	UseClientAssertion(ctx context.Context, clientID, jti string, expiresAt, now time.Time) error

	// SSO sessions and logout
	SessionByID(ctx context.Context, id string) (*storage.Session, error)
	TouchSession(ctx context.Context, id string, now time.Time) error
	EndSession(ctx context.Context, id string, now time.Time) error
	EndUserSessions(ctx context.Context, userID string, now time.Time) error
	ClaimLogoutDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*storage.LogoutDelivery, error)
	FinishLogoutDelivery(ctx context.Context, id string) error
	RetryLogoutDelivery(ctx context.Context, id string, next time.Time) error

	// Health
	Ping(ctx context.Context) error
}

// New builds the provider; it does not start anything.
func New(cfg Config, store Storage, km *keys.Manager, hash *secret.MAC) (*Provider, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.JWKSCacheTTL <= 0 {
		cfg.JWKSCacheTTL = 5 * time.Minute
	}
	p := &Provider{
		cfg:      cfg,
		store:    store,
		keys:     km,
		hash:     hash,
		now:      cfg.Now,
		log:      cfg.Logger,
		newToken: secret.Token,
		encoder:  issEncoder{inner: oidc.NewEncoder(), issuer: cfg.Issuer},
	}
	p.clientKeys = newKeyCache(cfg.JWKSCacheTTL, cfg.Now, cfg.JWKSTransport)

	opConfig := &oidcop.Config{
		CryptoKey:                cfg.CryptoKey,
		CryptoKeyId:              "k1",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedUILocales:       []language.Tag{language.Indonesian, language.English},
		SupportedClaims:          supportedClaims,
		SupportedScopes:          supportedScopes,
		DefaultLogoutRedirectURI: cfg.LogoutPath,
	}
	var opts []oidcop.Option
	if strings.HasPrefix(cfg.Issuer, "http://") {
		opts = append(opts, oidcop.WithAllowInsecure()) // loopback only; config refuses any other http issuer
	}
	opts = append(opts, oidcop.WithLogger(cfg.Logger),
		// The library's verifiers take RS256 only unless told; asnidp's own
		// tokens come in either of its algorithms.
		oidcop.WithAccessTokenVerifierOpts(oidcop.WithSupportedAccessTokenSigningAlgorithms(tokenAlgNames()...)),
		oidcop.WithIDTokenHintVerifierOpts(oidcop.WithSupportedIDTokenHintSigningAlgorithms(tokenAlgNames()...)))
	provider, err := oidcop.NewProvider(opConfig, &adapter{p}, oidcop.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("create oidc provider: %w", err)
	}
	p.op = provider

	endpoints := *oidcop.DefaultEndpoints
	endpoints.DeviceAuthorization = nil // no device flow
	endpoints.CheckSessionIframe = nil
	legacy := oidcop.NewLegacyServer(provider, endpoints)
	srv := &server{LegacyServer: legacy, p: p}
	p.srv = srv
	p.discovery, err = p.renderDiscovery(legacy)
	if err != nil {
		return nil, err
	}
	routes := oidcop.RegisterLegacyServer(srv, p.callback,
		oidcop.WithHTTPMiddleware(p.showRefusals, p.guardProtocolRequest, p.resolveRequestObjects),
		oidcop.WithEncoder(p.encoder),
	)
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+oidc.DiscoveryEndpoint, p.serveDiscovery)
	mux.HandleFunc("GET "+oidcop.DefaultEndpoints.JwksURI.Relative(), p.serveJWKS)
	mux.Handle(PARPath, p.guardProtocolRequest(http.HandlerFunc(p.servePAR)))
	mux.Handle("/", routes)
	p.handler = mux
	return p, nil
}

// Handler serves discovery, JWKS and every protocol endpoint.
func (p *Provider) Handler() http.Handler { return p.handler }

// CallbackURL is where the login pages send the browser once they have
// recorded the factors of auth request id.
func (p *Provider) CallbackURL(id string) string {
	return p.cfg.Issuer + oidcop.DefaultEndpoints.Authorization.Relative() + "/callback?id=" + url.QueryEscape(id)
}

func (p *Provider) loginURL(id string) string {
	return p.cfg.Issuer + p.cfg.LoginPath + "?id=" + url.QueryEscape(id)
}

// renderDiscovery builds the discovery document once: it is static for a
// static issuer, so serving it costs one write.
func (p *Provider) renderDiscovery(legacy *oidcop.LegacyServer) ([]byte, error) {
	ctx := oidcop.ContextWithIssuer(context.Background(), p.cfg.Issuer)
	resp, err := legacy.Discovery(ctx, &oidcop.Request[struct{}]{})
	if err != nil {
		return nil, fmt.Errorf("build discovery: %w", err)
	}
	d, ok := resp.Data.(*oidc.DiscoveryConfiguration)
	if !ok {
		return nil, fmt.Errorf("build discovery: unexpected %T", resp.Data)
	}
	d.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	d.ResponseModesSupported = []string{string(oidc.ResponseModeQuery)}
	d.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeClientCredentials}
	d.CodeChallengeMethodsSupported = []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256}
	d.IDTokenSigningAlgValuesSupported = tokenAlgNames()
	algs := make([]string, len(ClientSigningAlgorithms))
	for i, a := range ClientSigningAlgorithms {
		algs[i] = string(a)
	}
	d.TokenEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodPrivateKeyJWT, oidc.AuthMethodNone}
	d.TokenEndpointAuthSigningAlgValuesSupported = algs
	d.IntrospectionEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodPrivateKeyJWT}
	d.IntrospectionEndpointAuthSigningAlgValuesSupported = algs
	d.RevocationEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodPrivateKeyJWT, oidc.AuthMethodNone}
	d.RevocationEndpointAuthSigningAlgValuesSupported = algs
	d.RequestObjectSigningAlgValuesSupported = algs
	d.ClaimsSupported = supportedClaims
	d.ScopesSupported = supportedScopes
	d.RequestURIParameterSupported = false
	d.BackChannelLogoutSupported = true
	d.BackChannelLogoutSessionSupported = true
	d.ACRValuesSupported = p.offeredACR()
	// The library's struct has no fields for RFC 9207's flag and RFC
	// 9126's metadata; the outer fields win. request_uri_parameter_supported
	// stays false: the only request_uri accepted is one the PAR endpoint
	// issued.
	b, err := json.Marshal(struct {
		*oidc.DiscoveryConfiguration
		RequestParameterSupported                  bool   `json:"request_parameter_supported"`
		AuthorizationResponseIssParameterSupported bool   `json:"authorization_response_iss_parameter_supported"`
		PushedAuthorizationRequestEndpoint         string `json:"pushed_authorization_request_endpoint"`
		RequirePushedAuthorizationRequests         bool   `json:"require_pushed_authorization_requests"`
	}{d, true, true, p.cfg.Issuer + PARPath, p.cfg.RequirePAR})
	if err != nil {
		return nil, fmt.Errorf("encode discovery: %w", err)
	}
	return b, nil
}

func (p *Provider) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Write(p.discovery)
}

func (p *Provider) serveJWKS(w http.ResponseWriter, r *http.Request) {
	body, err := p.keys.JWKS(r.Context())
	if err != nil {
		p.log.ErrorContext(r.Context(), "render jwks", "err", err)
		http.Error(w, `{"error":"server_error"}`, http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// Short enough that a key published ahead of rotation reaches every
	// verifier before it signs (keys.publish_lead is longer).
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Write(body)
}

// postOnly lists the endpoints RFC 6749, 7009 and 7662 define for POST.
var postOnly = map[string]bool{
	oidcop.DefaultEndpoints.Token.Relative():         true,
	oidcop.DefaultEndpoints.Revocation.Relative():    true,
	oidcop.DefaultEndpoints.Introspection.Relative(): true,
	PARPath: true,
}

// maxProtocolBody bounds every protocol request body (F3).
const maxProtocolBody = 1 << 20

// guardProtocolRequest runs before the library on every protocol endpoint:
// it bounds the body, refuses repeated parameters (RFC 6749 §3.1) and a
// request that authenticates the client twice (RFC 6749 §2.3).
func (p *Provider) guardProtocolRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if postOnly[r.URL.Path] && r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxProtocolBody)
		if err := r.ParseForm(); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				refuse(r.Context(), ReasonTooLarge, nil)
				writeOAuthError(w, http.StatusRequestEntityTooLarge, "invalid_request", "request body too large")
				return
			}
			refuse(r.Context(), ReasonMalformed, nil)
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "request cannot be parsed")
			return
		}
		for _, values := range []url.Values{r.URL.Query(), r.PostForm} {
			for key, v := range values {
				if len(v) > 1 {
					refuse(r.Context(), ReasonRepeated, nil)
					writeOAuthError(w, http.StatusBadRequest, "invalid_request", "parameter "+safeName(key)+" is repeated")
					return
				}
			}
		}
		for key := range r.PostForm {
			if r.URL.Query().Has(key) {
				refuse(r.Context(), ReasonRepeated, nil)
				writeOAuthError(w, http.StatusBadRequest, "invalid_request", "parameter "+safeName(key)+" is repeated")
				return
			}
		}
		if _, _, basic := r.BasicAuth(); basic && (r.Form.Has("client_secret") || r.Form.Has("client_assertion")) {
			writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "client authentication must use one method")
			return
		}
		next.ServeHTTP(challengeOn401{ResponseWriter: w, bearer: r.URL.Path == oidcop.DefaultEndpoints.Userinfo.Relative()}, r)
	})
}

// safeName keeps an attacker's parameter name short and printable in an
// error description.
func safeName(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '?'
		}
		return r
	}, s)
}

// challengeOn401 adds the WWW-Authenticate header a 401 must carry (RFC
// 6749 §5.2 for client authentication, RFC 6750 §3 for bearer tokens) to
// the library's answers, which leave it out.
type challengeOn401 struct {
	http.ResponseWriter
	bearer bool
}

func (c challengeOn401) WriteHeader(status int) {
	if status == http.StatusUnauthorized && c.Header().Get("WWW-Authenticate") == "" {
		if c.bearer {
			c.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		} else {
			c.Header().Set("WWW-Authenticate", `Basic realm="asnidp"`)
		}
	}
	c.ResponseWriter.WriteHeader(status)
}

func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="asnidp"`)
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}

// callback completes an auth request: only in the browser that started it
// and only when every factor was recorded; otherwise the browser goes back
// to the login pages, which show the step that is missing.
func (p *Provider) callback(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	ar, err := p.store.AuthRequestByID(r.Context(), id, p.now())
	if err != nil {
		http.Redirect(w, r, p.loginURL(id), http.StatusSeeOther)
		return
	}
	a := p.authRequest(ar)
	if started := p.cfg.Browsers.Started(r.Header, ar); !started || !a.done() {
		p.log.WarnContext(r.Context(), "callback before the login finished", "auth_request", ar.ID, "same_browser", started)
		http.Redirect(w, r, p.loginURL(id), http.StatusSeeOther)
		return
	}
	oidcop.AuthorizeCallback(w, r, issAuthorizer{Authorizer: p.op, encoder: p.encoder})
}

// storeAuthRequest persists a validated authorization request.
func (p *Provider) storeAuthRequest(ctx context.Context, req *oidc.AuthRequest, acr, hintUserID, browserHash string) (*storage.AuthRequest, error) {
	now := p.now()
	maxAge := int64(-1)
	if req.MaxAge != nil {
		maxAge = int64(*req.MaxAge)
	}
	ar := &storage.AuthRequest{
		ID:                  newID(),
		BrowserHash:         browserHash,
		ClientID:            req.ClientID,
		RedirectURI:         req.RedirectURI,
		State:               req.State,
		Nonce:               req.Nonce,
		Scopes:              req.Scopes,
		ResponseType:        string(req.ResponseType),
		ResponseMode:        string(req.ResponseMode),
		CodeChallenge:       req.CodeChallenge,
		CodeChallengeMethod: string(req.CodeChallengeMethod),
		Prompt:              req.Prompt,
		MaxAge:              maxAge,
		LoginHint:           req.LoginHint,
		HintUserID:          hintUserID,
		ACR:                 acr,
		CreatedAt:           now,
		ExpiresAt:           now.Add(p.cfg.AuthRequestLifetime),
	}
	for _, l := range req.UILocales {
		ar.UILocales = append(ar.UILocales, l.String())
	}
	if err := p.store.CreateAuthRequest(ctx, ar); err != nil {
		return nil, fmt.Errorf("store auth request: %w", err)
	}
	return ar, nil
}

// newID returns an unguessable auth request ID. Guessing one gives nothing
// anyway (the request is bound to its browser), but it also names the
// request in URLs and logs.
func newID() string {
	return "ar_" + rand.Text()
}
