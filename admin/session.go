package admin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"

	"github.com/asnidp/asnidp/internal/access"
	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/storage"
)

// session is what the console's cookie holds, sealed: who signed in and
// when their second factor was last entered for the console. It holds no
// role: the role is read on every request.
type session struct {
	Sub string `json:"sub"`
	// Expires ends the session (Options.SessionLifetime after sign-in).
	Expires int64 `json:"exp"`
	// StepUpAt is the auth_time of the last step-up (0: none yet).
	StepUpAt int64 `json:"stepup,omitempty"`
	// SID is the OP's SSO session the operator signed in with (the ID
	// token's sid). The console session lives only as long as it: signing
	// out of the console ends it, and so does anything that ends the
	// operator's sessions at the OP (authenticator reset, "Bukan saya",
	// sign-out elsewhere), so a copy of the cookie is dead after either.
	SID string `json:"sid"`
}

// flow is a sign-in or step-up under way, in its own short cookie.
type flow struct {
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	// StepUp asks for the step-up level; Started is when (a step-up's
	// auth_time must not be older).
	StepUp  bool   `json:"stepup,omitempty"`
	Started int64  `json:"started"`
	Return  string `json:"return"`
	Expires int64  `json:"exp"`
}

// verifierLeeway is how far the OP's clock may run ahead of the system
// clock for an ID token to verify; it must stay below the token's 10
// minutes, which it shortens as seen by the verifier.
const verifierLeeway = 5 * time.Minute

// flowLifetime bounds a sign-in at the OP.
const flowLifetime = 10 * time.Minute

const (
	sessionAAD = "admin/session"
	flowAAD    = "admin/flow"
)

func (h *Handler) seal(v any, aad string) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	sealed, err := h.deps.Sealer.Seal(b, []byte(aad))
	if err != nil {
		return "", err
	}
	return base64URL(sealed), nil
}

func (h *Handler) open(value, aad string, v any) bool {
	raw, ok := unbase64URL(value)
	if !ok {
		return false
	}
	b, err := h.deps.Sealer.Open(raw, []byte(aad))
	if err != nil {
		return false
	}
	return json.Unmarshal(b, v) == nil
}

// currentSession is the browser's live console session, or nil.
func (h *Handler) currentSession(c echo.Context) *session {
	var s session
	v := h.opts.Cookies.Value(c.Request(), sessionCookie)
	if v == "" || !h.open(v, sessionAAD, &s) || s.Sub == "" || h.now().Unix() >= s.Expires {
		return nil
	}
	return &s
}

func (h *Handler) setSession(c echo.Context, s *session) error {
	v, err := h.seal(s, sessionAAD)
	if err != nil {
		return err
	}
	life := time.Until(time.Unix(s.Expires, 0))
	if d := time.Unix(s.Expires, 0).Sub(h.now()); d > 0 {
		life = d
	}
	c.SetCookie(h.opts.Cookies.New(sessionCookie, v, life, http.SameSiteStrictMode))
	return nil
}

const (
	operatorKey = "admin.operator"
	sessionKey  = "admin.session"
)

func operatorOf(c echo.Context) *storage.Operator {
	op, _ := c.Get(operatorKey).(*storage.Operator)
	return op
}

func sessionOf(c echo.Context) *session {
	s, _ := c.Get(sessionKey).(*session)
	return s
}

// signedIn lets through a browser with a live console session whose
// account holds a role now and is not disabled; without a session it
// starts the sign-in, and without a role it answers the "no access" page.
func (h *Handler) signedIn(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		s := h.currentSession(c)
		if s == nil {
			if c.Request().Method != http.MethodGet {
				return fail(http.StatusForbidden, "console.error.signed_out", nil)
			}
			return c.Redirect(http.StatusSeeOther, Path+"/login?return="+url.QueryEscape(returnPath(c.Request().URL)))
		}
		if live, err := h.ssoLive(c.Request().Context(), s); err != nil {
			return err
		} else if !live {
			c.SetCookie(h.opts.Cookies.Clear(sessionCookie, http.SameSiteStrictMode))
			if c.Request().Method != http.MethodGet {
				return fail(http.StatusForbidden, "console.error.signed_out", errors.New("the SSO session of the console session has ended"))
			}
			return c.Redirect(http.StatusSeeOther, Path+"/login?return="+url.QueryEscape(returnPath(c.Request().URL)))
		}
		op, err := h.operator(c.Request().Context(), s.Sub)
		if err != nil {
			c.SetCookie(h.opts.Cookies.Clear(sessionCookie, http.SameSiteStrictMode))
			return err
		}
		c.Set(operatorKey, op)
		c.Set(sessionKey, s)
		return next(c)
	}
}

// ssoLive reports whether the SSO session s was signed in with is still
// the operator's and neither ended nor past its absolute expiry.
func (h *Handler) ssoLive(ctx context.Context, s *session) (bool, error) {
	if s.SID == "" {
		return false, nil
	}
	sso, err := h.store.SessionByID(ctx, s.SID)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return sso.UserID == s.Sub && sso.RevokedAt.IsZero() && h.now().Before(sso.ExpiresAt), nil
}

// sidOf is the ID token's sid claim.
func sidOf(claims *oidc.IDTokenClaims) string {
	sid, _ := claims.Claims["sid"].(string)
	return sid
}

// operator reads the role of sub now; no role, or a disabled account, is
// the "no access" answer, audited by the guard.
func (h *Handler) operator(ctx context.Context, sub string) (*storage.Operator, error) {
	op, err := h.store.OperatorByUserID(ctx, sub)
	if err == nil {
		u, uerr := h.store.UserByID(ctx, sub)
		if uerr != nil && !errors.Is(uerr, storage.ErrNotFound) {
			return nil, uerr
		}
		if uerr == nil && u.State != storage.StateDisabled {
			return op, nil
		}
	} else if !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	// Authorize records the denial (no role) in the audit log.
	if _, err := h.deps.Guard.Authorize(ctx, sub, access.Lookup, access.Target{}); err != nil && !errors.Is(err, access.ErrDenied) {
		return nil, err
	}
	return nil, fail(http.StatusForbidden, "console.error.no_role", errors.New("no operator role or account disabled"))
}

// returnPath is where to come back after a sign-in: a path of the console
// only, never another site.
func returnPath(u *url.URL) string {
	p := u.Path
	if q := u.Query(); len(q) > 0 {
		q.Del("lang")
		if enc := q.Encode(); enc != "" {
			p += "?" + enc
		}
	}
	return safeReturn(p)
}

func safeReturn(p string) string {
	if !strings.HasPrefix(p, Path+"/") && p != Path || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return Path + "/"
	}
	return p
}

// party is the console's relying party at the OP, made on first use so
// the OP it discovers is serving by then.
type party struct {
	h    *Handler
	mu   sync.Mutex
	rp   rp.RelyingParty
	step rp.RelyingParty
}

func newParty(h *Handler) *party { return &party{h: h} }

type nonceKey struct{}

// get returns the relying party; stepUp requires the step-up acr.
func (p *party) get(ctx context.Context, stepUp bool) (rp.RelyingParty, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cached := &p.rp
	if stepUp {
		cached = &p.step
	}
	if *cached != nil {
		return *cached, nil
	}
	h := p.h
	verify := []rp.VerifierOption{
		rp.WithNonce(func(ctx context.Context) string { n, _ := ctx.Value(nonceKey{}).(string); return n }),
		// The library checks iat and exp against the system clock, the
		// OP stamps them with its own (the same one here: the token
		// endpoint is reached in-process); the console checks auth_time
		// against that clock itself, below.
		rp.WithIssuedAtOffset(verifierLeeway),
	}
	if stepUp {
		verify = append(verify, rp.WithACRVerifier(oidc.DefaultACRVerifier([]string{h.opts.StepUpACR})))
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	party, err := rp.NewRelyingPartyOIDC(ctx, h.opts.Issuer, ClientID, h.opts.ClientSecret, RedirectURI(h.opts.BaseURL),
		[]string{oidc.ScopeOpenID, oidc.ScopeProfile},
		rp.WithHTTPClient(h.deps.HTTPClient), rp.WithLogger(h.deps.Logger), rp.WithVerifierOpts(verify...))
	if err != nil {
		return nil, fmt.Errorf("discover the OP: %w", err)
	}
	*cached = party
	return party, nil
}

// startLogin sends the browser to the OP to sign in.
func (h *Handler) startLogin(c echo.Context) error {
	return h.redirectToOP(c, false, safeReturn(c.QueryParam("return")))
}

// startStepUp sends the operator to the OP for a fresh second factor,
// then back to the page it came from.
func (h *Handler) startStepUp(c echo.Context) error {
	return h.redirectToOP(c, true, safeReturn(c.FormValue("return")))
}

func (h *Handler) redirectToOP(c echo.Context, stepUp bool, back string) error {
	party, err := h.rp.get(c.Request().Context(), stepUp)
	if err != nil {
		return err
	}
	f := flow{State: rand.Text(), Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier(), StepUp: stepUp,
		Started: h.now().Unix(), Return: back, Expires: h.now().Add(flowLifetime).Unix()}
	v, err := h.seal(f, flowAAD)
	if err != nil {
		return err
	}
	// Lax: the OP's redirect back is a navigation from the login pages.
	c.SetCookie(h.opts.Cookies.New(flowCookie, v, flowLifetime, http.SameSiteLaxMode))
	opts := []rp.AuthURLOpt{
		rp.WithCodeChallenge(oidc.NewSHACodeChallenge(f.Verifier)),
		rp.AuthURLOpt(rp.WithURLParam("nonce", f.Nonce)),
		rp.AuthURLOpt(rp.WithURLParam("ui_locales", h.localizer(c).Lang())),
	}
	if stepUp {
		opts = append(opts, rp.AuthURLOpt(rp.WithURLParam("acr_values", h.opts.StepUpACR)))
	}
	return c.Redirect(http.StatusSeeOther, rp.AuthURL(f.State, party, opts...))
}

// callback completes a sign-in or a step-up: the state of this browser's
// flow, the code exchanged with its PKCE verifier, the ID token verified
// (signature, issuer, audience, nonce; for a step-up the acr), then the
// operator's role, and for a step-up an auth_time within Options.StepUp
// and not older than the flow.
func (h *Handler) callback(c echo.Context) error {
	var f flow
	v := h.opts.Cookies.Value(c.Request(), flowCookie)
	c.SetCookie(h.opts.Cookies.Clear(flowCookie, http.SameSiteLaxMode))
	if v == "" || !h.open(v, flowAAD, &f) || h.now().Unix() >= f.Expires || c.QueryParam("state") != f.State {
		return fail(http.StatusBadRequest, "console.error.flow", errors.New("no sign-in under way in this browser, or another one"))
	}
	if e := c.QueryParam("error"); e != "" {
		return fail(http.StatusForbidden, "console.error.signin_refused", fmt.Errorf("OP answered %s", e))
	}
	party, err := h.rp.get(c.Request().Context(), f.StepUp)
	if err != nil {
		return err
	}
	ctx := context.WithValue(c.Request().Context(), nonceKey{}, f.Nonce)
	tokens, err := rp.CodeExchange[*oidc.IDTokenClaims](ctx, c.QueryParam("code"), party, rp.WithCodeVerifier(f.Verifier))
	if err != nil {
		return fail(http.StatusForbidden, "console.error.signin_refused", err)
	}
	claims := tokens.IDTokenClaims
	sub, sid := claims.Subject, sidOf(claims)
	if sid == "" {
		return fail(http.StatusForbidden, "console.error.signin_refused", errors.New("ID token without sid"))
	}
	if _, err := h.operator(c.Request().Context(), sub); err != nil {
		return err
	}
	now := h.now()
	if !f.StepUp {
		s := &session{Sub: sub, SID: sid, Expires: now.Add(h.opts.SessionLifetime).Unix()}
		if err := h.setSession(c, s); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, f.Return)
	}
	s := h.currentSession(c)
	if s == nil || s.Sub != sub {
		return fail(http.StatusForbidden, "console.error.stepup_other", errors.New("step-up for another account or without a console session"))
	}
	authTime := claims.GetAuthTime()
	if claims.AuthenticationContextClassReference != h.opts.StepUpACR || authTime.Unix() < f.Started-1 || now.Sub(authTime) > h.opts.StepUp {
		return fail(http.StatusForbidden, "console.error.stepup_stale", fmt.Errorf("acr %q auth_time %s", claims.AuthenticationContextClassReference, authTime))
	}
	s.StepUpAt, s.SID = authTime.Unix(), sid
	if err := h.setSession(c, s); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, f.Return)
}

// freshFactor reports whether the operator's last step-up is within
// Options.StepUp.
func (h *Handler) freshFactor(c echo.Context) bool {
	s := sessionOf(c)
	return s != nil && s.StepUpAt > 0 && h.now().Sub(time.Unix(s.StepUpAt, 0)) <= h.opts.StepUp
}

// logout ends the console session and the SSO session it was signed in
// with (its tokens revoked, back-channel logouts queued): a console left
// on a shared computer must not sign the next person in as the operator
// in one click, nor a copy of the cookie keep working.
func (h *Handler) logout(c echo.Context) error {
	c.SetCookie(h.opts.Cookies.Clear(sessionCookie, http.SameSiteStrictMode))
	if s := h.currentSession(c); s != nil && s.SID != "" {
		ctx := c.Request().Context()
		sso, err := h.store.SessionByID(ctx, s.SID)
		switch {
		case err == nil && sso.UserID == s.Sub && sso.RevokedAt.IsZero():
			if err := h.store.EndSession(ctx, sso.ID, h.now()); err != nil {
				return err
			}
			h.deps.Audit.Record(ctx, storage.AuditEvent{Type: audit.SessionEnded, Outcome: audit.Success, UserID: s.Sub,
				Actor: access.Actor(s.Sub), Reason: "console logout", Detail: "sid=" + sso.ID})
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			return err
		}
	}
	return h.render(c, http.StatusOK, "console_done", &doneView{layout: layout{Title: "console.logout.title"}, Message: "console.logout.done", SignedOut: true})
}

func base64URL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func unbase64URL(s string) ([]byte, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return b, err == nil
}
