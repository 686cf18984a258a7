package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Step names, in journey order. The password step is the one that hashes
// (argon2id); every other step is "non-hashing".
const (
	stepAuthorize     = "authorize"
	stepPassword      = "password"
	stepEnrol         = "enrol"
	stepOTP           = "otp"
	stepRecoveryCodes = "recovery_codes"
	stepCallback      = "callback"
	stepToken         = "token"
	stepUserinfo      = "userinfo"
	stepRefresh       = "refresh"
	stepLogout        = "logout"
	stepLogoutCheck   = "logout_check"
)

var stepOrder = []string{stepAuthorize, stepPassword, stepEnrol, stepOTP, stepRecoveryCodes, stepCallback,
	stepToken, stepUserinfo, stepRefresh, stepLogout, stepLogoutCheck}

// endpoints are the OP's, from its discovery document.
type endpoints struct {
	Issuer        string `json:"issuer"`
	Authorization string `json:"authorization_endpoint"`
	Token         string `json:"token_endpoint"`
	Userinfo      string `json:"userinfo_endpoint"`
	EndSession    string `json:"end_session_endpoint"`
	JWKS          string `json:"jwks_uri"`
}

// journeys runs sign-ins of one relying party against one OP.
type journeys struct {
	ep                      endpoints
	clientID, secret        string
	redirectURI, postLogout string
	verifier                *verifier
	client                  *http.Client // for the RP's back-channel calls
	requestTimeout          time.Duration
	checkLogout             bool
	now                     func() time.Time
	sleep                   func(context.Context, time.Duration) error
}

// stepResult is one timed step.
type stepResult struct {
	name  string
	start time.Time
	dur   time.Duration
}

// journeyResult is one employee's sign-in from authorize to logout.
type journeyResult struct {
	start time.Time
	steps []stepResult
	// total is the sum of the steps: the time the employee waited for the
	// server, not for their authenticator's next step.
	total      time.Duration
	kind       string // kindOK, kindBusy or an error kind
	failedStep string
	err        error
	totpWait   time.Duration
	// held is the tokens of a sign-in that was asked to stay signed in
	// (no logout), for checks after the run.
	held *heldTokens
}

// heldTokens are what an RP keeps of a sign-in.
type heldTokens struct {
	nip, sub, access, refresh string
}

// run does the whole journey for e and says how it went; it never panics
// on a bad answer and stops at the first step that fails. With hold the
// employee stays signed in: no logout, and the tokens are returned.
func (j *journeys) run(ctx context.Context, e *employee, hold bool) journeyResult {
	r := journeyResult{start: j.now()}
	timed := func(name string, f func(context.Context) error) bool {
		ctx, cancel := context.WithTimeout(ctx, j.requestTimeout)
		defer cancel()
		start := j.now()
		err := f(ctx)
		d := j.now().Sub(start)
		r.steps = append(r.steps, stepResult{name: name, start: start, dur: d})
		r.total += d
		if err != nil {
			r.kind, r.failedStep, r.err = kindOf(err), name, fmt.Errorf("%s: %w", name, err)
			return false
		}
		return true
	}
	b := e.browser
	pk := newPKCE()
	state, nonce := randomText(), randomText()
	var login, factor, done *page
	var code string
	var tok, refreshed *tokenResponse
	var claims *idClaims
	ok := timed(stepAuthorize, func(ctx context.Context) (err error) {
		login, err = b.follow(ctx, j.ep.Issuer, j.authorizeURL(pk, state, nonce))
		if err != nil {
			return err
		}
		return expectLoginPage(login)
	}) && timed(stepPassword, func(ctx context.Context) error {
		p, err := b.submit(ctx, login, "/login/", map[string]string{"nip": e.nip, "password": e.password})
		if err != nil {
			return err
		}
		if p.status != http.StatusSeeOther {
			return unexpectedStatus(p)
		}
		factor, err = b.follow(ctx, j.ep.Issuer, p.location())
		if err == nil && factor.status != http.StatusOK {
			err = unexpectedStatus(factor)
		}
		return err
	})
	if !ok {
		return r
	}
	step, action := stepOTP, "/login/otp"
	if strings.Contains(factor.body, `action="/login/enrol"`) {
		step, action = stepEnrol, "/login/enrol"
		if err := e.enrol(elementText(factor, "secret")); err != nil {
			r.kind, r.failedStep, r.err = kindOf(err), step, err
			return r
		}
	}
	c, wait, err := e.code(j.now())
	if err != nil {
		r.kind, r.failedStep, r.err = kindOf(err), step, err
		return r
	}
	if wait > 0 {
		// The authenticator shows the next code only when its step comes.
		r.totpWait = wait
		if err := j.sleep(ctx, wait); err != nil {
			r.kind, r.failedStep, r.err = kindOf(err), step, err
			return r
		}
	}
	ok = timed(step, func(ctx context.Context) (err error) {
		done, err = b.submit(ctx, factor, action, map[string]string{"code": c})
		if err == nil && done.status != http.StatusSeeOther && !isRecoveryCodesPage(done) {
			err = unexpectedStatus(done)
		}
		return err
	})
	if ok && isRecoveryCodesPage(done) {
		// First sign-in: the codes are shown once, written down, confirmed.
		ok = timed(stepRecoveryCodes, func(ctx context.Context) (err error) {
			done, err = b.submit(ctx, done, "/login/recovery/codes", nil)
			if err == nil && done.status != http.StatusSeeOther {
				err = unexpectedStatus(done)
			}
			return err
		})
	}
	ok = ok && timed(stepCallback, func(ctx context.Context) error {
		p, err := b.follow(ctx, j.ep.Issuer, done.location())
		if err != nil {
			return err
		}
		code, err = j.codeFrom(p, state)
		return err
	}) && timed(stepToken, func(ctx context.Context) (err error) {
		tok, err = j.tokenRequest(ctx, url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {j.redirectURI}, "code_verifier": {pk.verifier}})
		if err != nil {
			return err
		}
		claims, err = j.verifier.verify(ctx, tok.IDToken, nonce, j.now())
		if err == nil && claims.Subject != e.subject(claims.Subject) {
			err = fmt.Errorf("%w: sub changed between sign-ins of one employee", errBadToken)
		}
		return err
	}) && timed(stepUserinfo, func(ctx context.Context) error {
		return j.userinfo(ctx, tok.AccessToken, claims.Subject, e.nip)
	}) && timed(stepRefresh, func(ctx context.Context) (err error) {
		refreshed, err = j.tokenRequest(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
		if err != nil {
			return err
		}
		if refreshed.RefreshToken == tok.RefreshToken {
			return fmt.Errorf("%w: refresh did not rotate the refresh token", errBadToken)
		}
		c, err := j.verifier.verify(ctx, refreshed.IDToken, "", j.now())
		if err == nil && c.Subject != claims.Subject {
			err = fmt.Errorf("%w: refreshed ID token names another sub", errBadToken)
		}
		return err
	})
	if ok && hold {
		r.kind = kindOK
		r.held = &heldTokens{nip: e.nip, sub: claims.Subject, access: refreshed.AccessToken, refresh: refreshed.RefreshToken}
		return r
	}
	ok = ok && timed(stepLogout, func(ctx context.Context) error {
		return j.logout(ctx, b, refreshed.IDToken)
	})
	if ok && j.checkLogout {
		timed(stepLogoutCheck, func(ctx context.Context) error {
			_, err := j.tokenRequest(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshed.RefreshToken}})
			var se *statusError
			if errors.As(err, &se) && se.status == http.StatusBadRequest {
				return nil
			}
			if err == nil {
				return fmt.Errorf("%w: refresh token still works after logout", errBadToken)
			}
			return err
		})
	}
	if r.kind == "" {
		r.kind = kindOK
	}
	return r
}

func (j *journeys) authorizeURL(pk pkce, state, nonce string) string {
	q := url.Values{
		"client_id": {j.clientID}, "redirect_uri": {j.redirectURI}, "response_type": {"code"},
		"scope": {"openid profile email offline_access asn"}, "state": {state}, "nonce": {nonce},
		"code_challenge": {pk.challenge}, "code_challenge_method": {"S256"},
	}
	return j.ep.Authorization + "?" + q.Encode()
}

func expectLoginPage(p *page) error {
	if p.status != http.StatusOK {
		return unexpectedStatus(p)
	}
	if !strings.Contains(p.body, `name="password"`) || !strings.Contains(p.body, `name="nip"`) {
		return fmt.Errorf("%w: authorize did not lead to the login page (status %d at %s)", errUnexpectedPage, p.status, p.url.Path)
	}
	return nil
}

func isRecoveryCodesPage(p *page) bool {
	return p.status == http.StatusOK && strings.Contains(p.body, `action="/login/recovery/codes"`)
}

// codeFrom reads the code from the OP's redirect to the relying party,
// checking state and iss (RFC 9207) as a careful RP does.
func (j *journeys) codeFrom(p *page, state string) (string, error) {
	loc := p.location()
	if !strings.HasPrefix(loc, j.redirectURI+"?") {
		if p.status >= 400 {
			return "", unexpectedStatus(p)
		}
		return "", fmt.Errorf("%w: callback went to %q (status %d), not the redirect URI", errUnexpectedPage, redactQuery(loc), p.status)
	}
	u, err := url.Parse(loc)
	if err != nil {
		return "", fmt.Errorf("%w: redirect %v", errUnexpectedPage, err)
	}
	q := u.Query()
	switch {
	case q.Get("error") != "":
		return "", fmt.Errorf("%w: authorization error %s", errUnexpectedPage, q.Get("error"))
	case q.Get("state") != state:
		return "", fmt.Errorf("%w: state does not match", errUnexpectedPage)
	case q.Get("iss") != j.ep.Issuer:
		return "", fmt.Errorf("%w: iss %q in the redirect", errUnexpectedPage, q.Get("iss"))
	case q.Get("code") == "":
		return "", fmt.Errorf("%w: no code in the redirect", errUnexpectedPage)
	}
	return q.Get("code"), nil
}

// redactQuery drops the query of a URL, which may hold a code, for errors.
func redactQuery(s string) string {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		return s[:i] + "?…"
	}
	return s
}

// tokenResponse is the token endpoint's answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

func (j *journeys) tokenRequest(ctx context.Context, form url.Values) (*tokenResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.ep.Token, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(j.clientID), url.QueryEscape(j.secret))
	var out tokenResponse
	if err := j.doJSON(req, &out); err != nil {
		return nil, err
	}
	if out.AccessToken == "" || out.IDToken == "" || out.RefreshToken == "" {
		return nil, fmt.Errorf("%w: token response lacks an access, ID or refresh token", errBadToken)
	}
	return &out, nil
}

func (j *journeys) userinfo(ctx context.Context, accessToken, sub, nip string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.ep.Userinfo, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	var info struct {
		Subject           string `json:"sub"`
		PreferredUsername string `json:"preferred_username"`
		NIP               string `json:"nip"`
	}
	if err := j.doJSON(req, &info); err != nil {
		return err
	}
	if info.Subject != sub || info.PreferredUsername != nip || info.NIP != nip {
		return fmt.Errorf("%w: userinfo names sub %q NIP %q, want the ID token's sub and the employee's NIP", errBadToken, info.Subject, info.NIP)
	}
	return nil
}

// doJSON sends req and decodes a 200 JSON answer into out.
func (j *journeys) doJSON(req *http.Request, out any) error {
	resp, err := j.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read %s: %w", req.URL.Path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return &statusError{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), path: req.URL.Path}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%w: %s answer is not JSON: %v", errBadToken, req.URL.Path, err)
	}
	return nil
}

// logout is RP-initiated logout in the employee's browser: the OP ends the
// session and sends the browser back to the RP with its state.
func (j *journeys) logout(ctx context.Context, b *browser, idToken string) error {
	state := randomText()
	q := url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {j.postLogout}, "state": {state}}
	p, err := b.follow(ctx, j.ep.Issuer, j.ep.EndSession+"?"+q.Encode())
	if err != nil {
		return err
	}
	if want := j.postLogout + "?state=" + url.QueryEscape(state); p.location() != want {
		if p.status >= 400 {
			return unexpectedStatus(p)
		}
		return fmt.Errorf("%w: end_session answered %d to %q", errUnexpectedPage, p.status, redactQuery(p.location()))
	}
	return nil
}

// pkce is one PKCE verifier and its S256 challenge.
type pkce struct{ verifier, challenge string }

func newPKCE() pkce {
	v := rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(v))
	return pkce{verifier: v, challenge: base64.RawURLEncoding.EncodeToString(sum[:])}
}

func randomText() string { return rand.Text() }
