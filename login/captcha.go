package login

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/captcha"
	"github.com/asnidp/asnidp/internal/secret"
	"github.com/asnidp/asnidp/internal/throttle"
	"github.com/asnidp/asnidp/storage"
)

// Captcha configures the captcha of the reset start page and of the login
// after failures (docs/security.md, docs/security.md B1, B5, C2).
type Captcha struct {
	// Length is how many digits a challenge has; TTL how long it may be
	// answered.
	Length int
	TTL    time.Duration
	// CaptchaRule says when a login needs one; Enabled false turns every
	// captcha off (tests, deployments with other bot protection).
	throttle.CaptchaRule
}

// Captcha actions: a captcha solved for one cannot be used for another.
const (
	actionReset = "reset"
	actionLogin = "login"
)

// captchaView is what a form shows of a challenge.
type captchaView struct {
	ID            string
	Image         template.URL
	Width, Height int
	AudioURL      string
	// NewURL reloads the form's page with another picture, keeping the
	// NIP typed so far; this challenge is then used up.
	NewURL string
}

// captchaPages are the pages whose forms carry a challenge, by action.
var captchaPages = map[string]string{actionReset: "/login/reset", actionLogin: "/login/"}

// captchaBinding ties a challenge to the browser it was shown to: the
// hash of that browser's CSRF cookie, which another browser does not hold.
func (h *Handler) captchaBinding(c echo.Context) string {
	return h.hash.Hash("captcha:" + csrfToken(c))
}

// newCaptcha stores a fresh challenge for action and returns what the
// form shows: the image inline, a link to the spoken version and one to
// another picture. id is the form's auth request ("" for none) and nip
// what was typed in it.
func (h *Handler) newCaptcha(c echo.Context, action, id, nip string) (*captchaView, error) {
	now := h.now()
	ch := &storage.Captcha{
		ID:          secret.Token(),
		Action:      action,
		BindingHash: h.captchaBinding(c),
		Answer:      captcha.NewAnswer(h.opts.Captcha.Length),
		CreatedAt:   now,
		ExpiresAt:   now.Add(h.opts.Captcha.TTL),
	}
	if err := h.store.CreateCaptcha(c.Request().Context(), ch); err != nil {
		return nil, fail(http.StatusServiceUnavailable, "error.unavailable", fmt.Errorf("store captcha: %w", err))
	}
	png, err := captcha.Image(ch.ID, ch.Answer)
	if err != nil {
		return nil, err
	}
	again := url.Values{"captcha_old": {ch.ID}}
	if id != "" {
		again.Set("id", id)
	}
	if nip != "" {
		again.Set("nip", nip)
	}
	return &captchaView{
		ID:       ch.ID,
		Image:    template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)),
		Width:    captcha.Width,
		Height:   captcha.Height,
		AudioURL: "/login/captcha/audio?c=" + ch.ID,
		NewURL:   captchaPages[action] + "?" + again.Encode(),
	}, nil
}

// discardCaptcha uses up the challenge a "new picture" link names, so
// its answer no longer counts, when it was shown to this browser.
func (h *Handler) discardCaptcha(c echo.Context) error {
	id := c.QueryParam("captcha_old")
	if id == "" || len(id) > 64 {
		return nil
	}
	ctx := c.Request().Context()
	ch, err := h.store.CaptchaByID(ctx, id, h.now())
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", fmt.Errorf("look up captcha: %w", err))
	}
	if !h.hash.Equal(ch.BindingHash, "captcha:"+csrfToken(c)) {
		return nil
	}
	if _, err := h.store.UseCaptcha(ctx, id, h.now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fail(http.StatusServiceUnavailable, "error.unavailable", fmt.Errorf("use captcha: %w", err))
	}
	return nil
}

// solveCaptcha checks the challenge the form names against the answer it
// carries. The challenge is used up whatever the answer, so each one can
// be guessed once; it must have been shown to this browser, for this
// action, and not have expired (C2). Only the server's copy counts.
func (h *Handler) solveCaptcha(c echo.Context, action string) (bool, error) {
	id, typed := c.FormValue("captcha_id"), c.FormValue("captcha")
	if id == "" || len(id) > 64 {
		return false, nil
	}
	ch, err := h.store.UseCaptcha(c.Request().Context(), id, h.now())
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fail(http.StatusServiceUnavailable, "error.unavailable", fmt.Errorf("use captcha: %w", err))
	}
	if ch.Action != action || !h.hash.Equal(ch.BindingHash, "captcha:"+csrfToken(c)) {
		h.log.WarnContext(c.Request().Context(), "captcha presented out of place", "action", action, "captcha_action", ch.Action, "ip", c.RealIP())
		return false, nil
	}
	return captcha.Match(ch.Answer, typed), nil
}

// captchaAudio serves the spoken version of a live challenge shown to
// this browser.
func (h *Handler) captchaAudio(c echo.Context) error {
	id := c.QueryParam("c")
	if id == "" || len(id) > 64 {
		return fail(http.StatusNotFound, "error.not_found", nil)
	}
	ch, err := h.store.CaptchaByID(c.Request().Context(), id, h.now())
	if errors.Is(err, storage.ErrNotFound) {
		return fail(http.StatusNotFound, "error.not_found", err)
	}
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	if !h.hash.Equal(ch.BindingHash, "captcha:"+csrfToken(c)) {
		return fail(http.StatusNotFound, "error.not_found", errors.New("captcha audio asked for by another browser"))
	}
	wav, err := captcha.Audio(ch.ID, ch.Answer)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "audio/wav", wav)
}

// loginCaptchaNeeded reports whether a login from ip for the NIP canonical
// ("" before one is typed) needs a solved captcha.
func (h *Handler) loginCaptchaNeeded(ctx context.Context, canonical, ip string) (bool, error) {
	need, err := throttle.LoginCaptchaNeeded(ctx, h.store, h.opts.Captcha.CaptchaRule, h.opts.Lockout, canonical, ip, h.now())
	if err != nil {
		return false, fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	return need, nil
}

// loginCaptcha returns a challenge for the login page when a login for
// canonical from this client needs one, else nil.
func (h *Handler) loginCaptcha(c echo.Context, id, canonical string) (*captchaView, error) {
	need, err := h.loginCaptchaNeeded(c.Request().Context(), canonical, c.RealIP())
	if err != nil || !need {
		return nil, err
	}
	return h.newCaptcha(c, actionLogin, id, canonical)
}

// checkLoginCaptcha enforces the login captcha before the password is
// looked at. It reports false when the attempt must stop: then p carries
// the message and a fresh challenge, ready to render. A refused attempt
// does not count as a password failure and costs no hashing.
func (h *Handler) checkLoginCaptcha(c echo.Context, canonical string, p *loginView) (bool, error) {
	need, err := h.loginCaptchaNeeded(c.Request().Context(), canonical, c.RealIP())
	if err != nil || !need {
		return err == nil, err
	}
	ok, err := h.solveCaptcha(c, actionLogin)
	if err != nil || ok {
		return ok, err
	}
	h.log.InfoContext(c.Request().Context(), "login refused: captcha missing or wrong", "nip", canonical, "ip", c.RealIP())
	p.Error = "captcha.wrong"
	if c.FormValue("captcha_id") == "" {
		// The form had no captcha yet (it is asked for once the NIP is
		// known): say what is new rather than what is wrong.
		p.Error = "captcha.required"
	}
	if p.Captcha, err = h.newCaptcha(c, actionLogin, p.ID, canonical); err != nil {
		return false, err
	}
	return false, nil
}

// countFailure counts a password failure towards the system-wide rate
// and raises an alert when the rate, or the failures of the client IP,
// cross their captcha thresholds (B5). It runs after the IP's own counter
// was incremented.
func (h *Handler) countFailure(ctx context.Context, ip string, now time.Time) {
	cp := h.opts.Captcha
	n, err := h.store.IncrementCounter(ctx, string(throttle.LoginFailures), time.Hour, now)
	if err != nil {
		h.log.WarnContext(ctx, "count password failure", "err", err)
		return
	}
	if n == cp.LoginGlobalPerHour {
		h.log.ErrorContext(ctx, "ALERT: password failures across all accounts reached the hourly threshold; every login now needs a captcha",
			"failures", n, "threshold", cp.LoginGlobalPerHour, "captcha", cp.Enabled)
	}
	if n, err = h.store.Counter(ctx, string(throttle.LoginFailuresFromIP(ip)), h.opts.Lockout.IPWindow, now); err == nil && n == cp.LoginIPAfter {
		h.log.WarnContext(ctx, "ALERT: password failures from one client IP reached the captcha threshold",
			"ip", ip, "failures", n, "captcha", cp.Enabled)
	}
}
