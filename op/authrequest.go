package op

import (
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	oidcop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/asnidp/asnidp/storage"
)

// Authentication method references (RFC 8176) an ID token carries.
const (
	AMRPassword = "pwd"
	AMROTP      = "otp"
	AMRMFA      = "mfa"
	// AMRRecovery is a recovery code in place of the authenticator app
	// (not registered in RFC 8176, which has no value for it; documented
	// in the integrator guide).
	AMRRecovery = "rec"
)

// authRequest adapts a storage.AuthRequest to zitadel's op.AuthRequest.
// Completion lives in done: the one place that decides whether the login
// pages have verified every factor this request needs.
type authRequest struct {
	ar         *storage.AuthRequest
	requireOTP bool
	// acr is the provider's default level; stepUpACR the level that needs
	// the second factor entered in this request.
	acr, stepUpACR string
	// codeHash is set on a request read for its code but not redeemed yet:
	// the tokens are stored with the code's redemption (adapter.issue).
	codeHash string
}

// authRequest wraps ar with the provider's completion rules.
func (p *Provider) authRequest(ar *storage.AuthRequest) *authRequest {
	return &authRequest{ar: ar, requireOTP: p.cfg.RequireOTP, acr: p.cfg.ACR, stepUpACR: p.cfg.StepUpACR}
}

var _ oidcop.AuthRequest = (*authRequest)(nil)

// done reports whether every required factor was verified in this request
// (or taken from a live SSO session) and the request was completed.
func (a *authRequest) done() bool {
	ar := a.ar
	if ar.UserID == "" || ar.SessionID == "" || ar.PasswordAt.IsZero() {
		return false
	}
	if a.stepUp() {
		// Step-up: a second factor carried over from the SSO session
		// does not count, only one entered since the request began (D20).
		return !ar.OTPAt.IsZero() && !ar.OTPAt.Before(ar.CreatedAt)
	}
	return !a.requireOTP || !ar.OTPAt.IsZero()
}

// stepUp reports whether the client asked for the step-up level.
func (a *authRequest) stepUp() bool {
	return a.stepUpACR != "" && a.ar.ACR == a.stepUpACR
}

func (a *authRequest) GetID() string          { return a.ar.ID }
func (a *authRequest) Done() bool             { return a.done() }
func (a *authRequest) GetClientID() string    { return a.ar.ClientID }
func (a *authRequest) GetNonce() string       { return a.ar.Nonce }
func (a *authRequest) GetRedirectURI() string { return a.ar.RedirectURI }
func (a *authRequest) GetScopes() []string    { return a.ar.Scopes }
func (a *authRequest) GetState() string       { return a.ar.State }
func (a *authRequest) GetSubject() string     { return a.ar.UserID }
func (a *authRequest) GetAuthTime() time.Time { return a.ar.AuthTime }
func (a *authRequest) GetAudience() []string  { return []string{a.ar.ClientID} }

func (a *authRequest) GetACR() string {
	switch {
	case a.stepUp():
		if a.done() {
			return a.stepUpACR
		}
	case a.requireOTP && !a.ar.OTPAt.IsZero():
		return a.acr
	}
	return ""
}

func (a *authRequest) GetAMR() []string {
	return amr(!a.ar.PasswordAt.IsZero(), !a.ar.OTPAt.IsZero(), !a.ar.RecoveryAt.IsZero())
}

// amr lists the methods of a request's factors. A login that used a
// recovery code (and then bound a new authenticator) says "rec", not
// "otp".
func amr(password, otp, recovery bool) []string {
	var out []string
	if password {
		out = append(out, AMRPassword)
	}
	second := otp
	switch {
	case otp && recovery:
		out = append(out, AMRRecovery)
	case otp:
		out = append(out, AMROTP)
	}
	if password && second {
		out = append(out, AMRMFA)
	}
	return out
}

// hasSecondFactor reports whether a session's methods include one.
func hasSecondFactor(methods []string) bool {
	return slices.Contains(methods, AMROTP) || slices.Contains(methods, AMRRecovery)
}

func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.ar.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{
		Challenge: a.ar.CodeChallenge,
		Method:    oidc.CodeChallengeMethod(a.ar.CodeChallengeMethod),
	}
}

func (a *authRequest) GetResponseType() oidc.ResponseType {
	return oidc.ResponseType(a.ar.ResponseType)
}

func (a *authRequest) GetResponseMode() oidc.ResponseMode {
	return oidc.ResponseMode(a.ar.ResponseMode)
}

// refreshRequest adapts a stored refresh token to op.RefreshTokenRequest.
type refreshRequest struct {
	rt     *storage.RefreshToken
	scopes []string
	// user is the active account the token belongs to, loaded with it.
	user *storage.User
}

var _ oidcop.RefreshTokenRequest = (*refreshRequest)(nil)

func (r *refreshRequest) GetAMR() []string       { return r.rt.AMR }
func (r *refreshRequest) GetAudience() []string  { return r.rt.Audience }
func (r *refreshRequest) GetAuthTime() time.Time { return r.rt.AuthTime }
func (r *refreshRequest) GetClientID() string    { return r.rt.ClientID }
func (r *refreshRequest) GetScopes() []string    { return r.scopes }
func (r *refreshRequest) GetSubject() string     { return r.rt.UserID }
func (r *refreshRequest) SetCurrentScopes(s []string) {
	// The library narrows scopes only to a subset it has validated.
	r.scopes = slices.Clone(s)
}

// clientCredentialsRequest is the token request of a service client: the
// client is its own subject.
type clientCredentialsRequest struct {
	clientID string
	scopes   []string
}

func (c *clientCredentialsRequest) GetSubject() string    { return c.clientID }
func (c *clientCredentialsRequest) GetAudience() []string { return []string{c.clientID} }
func (c *clientCredentialsRequest) GetScopes() []string   { return c.scopes }
