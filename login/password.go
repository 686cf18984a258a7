package login

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/nip"
	"github.com/asnidp/asnidp/internal/password"
	"github.com/asnidp/asnidp/internal/throttle"
	"github.com/asnidp/asnidp/storage"
)

// boundAuthRequest loads the auth request named by id and checks that this
// browser started it: an ID alone, seen or guessed, completes nothing.
func (h *Handler) boundAuthRequest(c echo.Context, id string) (*storage.AuthRequest, error) {
	if id == "" || len(id) > 100 {
		return nil, fail(http.StatusBadRequest, "error.auth_request_unknown", nil)
	}
	ar, err := h.store.AuthRequestByID(c.Request().Context(), id, h.now())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fail(http.StatusBadRequest, "error.auth_request_unknown", err)
	}
	if err != nil {
		return nil, fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	if !h.deps.Browsers.Started(c.Request().Header, ar) {
		return nil, fail(http.StatusForbidden, "error.wrong_browser", fmt.Errorf("auth request %s presented by another browser", ar.ID))
	}
	if ar.SessionID != "" {
		// The login is finished: going back to its pages (after a logout,
		// on a shared device) must not turn one factor into a new session
		// (E4, E7).
		return nil, fail(http.StatusBadRequest, "error.auth_request_unknown", fmt.Errorf("auth request %s already completed", ar.ID))
	}
	c.Set(authRequestKey, ar) // for render's form-action
	return ar, nil
}

// resetNIPCookie carries the NIP of a completed reset to the login page.
const resetNIPCookie = "asnidp_reset_nip"

// authRequestKey holds the request's bound auth request in the echo context.
const authRequestKey = "authRequest"

func (h *Handler) showLogin(c echo.Context) error {
	ar, err := h.boundAuthRequest(c, c.QueryParam("id"))
	if err != nil {
		return err
	}
	if ar.UserID != "" && !ar.PasswordAt.IsZero() && h.now().Sub(ar.PasswordAt) <= h.opts.Enrolment {
		// The password is done: the second factor is what is missing (A1, A2).
		return c.Redirect(http.StatusSeeOther, "/login/otp?id="+ar.ID)
	}
	p := loginView{layout: layout{Title: "login.title", ID: ar.ID, L: h.localizer(c, ar)}, NIP: ar.LoginHint}
	switch c.QueryParam("notice") {
	case "reset":
		p.Notice = "login.success_reset"
		if v, err := nip.Normalize(h.opts.Cookies.Value(c.Request(), resetNIPCookie)); err == nil && p.NIP == "" {
			p.NIP = v
		}
		c.SetCookie(h.opts.Cookies.Clear(resetNIPCookie, http.SameSiteStrictMode))
	case "expired":
		p.Error = "otp.expired"
	case "otp_too_many":
		p.Error = "otp.too_many"
	}
	if len(p.NIP) > 40 {
		p.NIP = ""
	}
	if err := h.discardCaptcha(c); err != nil {
		return err
	}
	// A "new picture" link brings the NIP typed so far: the captcha an
	// account's failures ask for is shown again.
	canonical := ""
	if v, err := nip.Normalize(c.QueryParam("nip")); err == nil {
		canonical, p.NIP = v, v
	}
	if p.Captcha, err = h.loginCaptcha(c, ar.ID, canonical); err != nil {
		return err
	}
	return h.render(c, http.StatusOK, "login", &p)
}

// submitLogin checks NIP and password. Every way of failing (unknown NIP,
// wrong password, provisioned account, disabled account, lockout) shows the
// same message; the log says which it was.
func (h *Handler) submitLogin(c echo.Context) error {
	ar, err := h.boundAuthRequest(c, c.FormValue("id"))
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	p := loginView{layout: layout{Title: "login.title", ID: ar.ID, L: h.localizer(c, ar)}, NIP: trimForDisplay(c.FormValue("nip"))}

	canonical, err := nip.Normalize(c.FormValue("nip"))
	if err != nil {
		var ne *nip.Error
		if errors.As(err, &ne) {
			p.Error = ne.Reason
		} else {
			p.Error = "login.invalid_credentials"
		}
		return h.render(c, http.StatusUnprocessableEntity, "login", &p)
	}
	p.NIP = canonical
	if ok, err := h.checkLoginCaptcha(c, canonical, &p); err != nil || !ok {
		if err != nil {
			return err
		}
		return h.render(c, http.StatusUnauthorized, "login", &p)
	}

	u, outcome, err := h.checkPassword(ctx, canonical, c.FormValue("password"), c.RealIP())
	if err != nil {
		return err
	}
	if outcome.failed() {
		h.log.InfoContext(ctx, "password rejected", "nip", canonical, "reason", outcome.reason, "ip", c.RealIP(), "auth_request", ar.ID)
		h.record(c, storage.AuditEvent{Type: audit.LoginPassword, Outcome: audit.Failure, Reason: outcome.reason, NIP: canonical, ClientID: ar.ClientID})
		p.Error = outcome.message
		if !outcome.retryAt.IsZero() {
			p.RetryAt = outcome.retryAt.In(wib).Format("15:04:05 WIB")
			c.Response().Header().Set("Retry-After", retryAfterSeconds(outcome.retryAt.Sub(h.now())))
		}
		if p.Captcha, err = h.loginCaptcha(c, ar.ID, canonical); err != nil {
			return err
		}
		return h.render(c, http.StatusUnauthorized, "login", &p)
	}

	now := h.now()
	if err := h.store.SetAuthRequestUser(ctx, ar.ID, u.ID, now); err != nil {
		return fmt.Errorf("record password factor: %w", err)
	}
	h.log.InfoContext(ctx, "password accepted", "nip", canonical, "sub", u.ID, "ip", c.RealIP(), "auth_request", ar.ID)
	h.record(c, storage.AuditEvent{Type: audit.LoginPassword, NIP: canonical, UserID: u.ID, ClientID: ar.ClientID})
	return h.afterPassword(c, ar, u)
}

// wib is Western Indonesia Time, the zone retry times are shown in.
var wib = time.FixedZone("WIB", 7*60*60)

func trimForDisplay(s string) string {
	if len(s) > 40 {
		return ""
	}
	return s
}

// outcome says why a password check failed, for the log, and what the
// employee is told (the same for every reason but the lock and the IP
// block, which add when to try again).
type outcome struct {
	reason  string
	message string
	retryAt time.Time
}

func (o outcome) failed() bool { return o.reason != "" }

func wrongPassword(reason string) outcome {
	return outcome{reason: reason, message: "login.invalid_credentials"}
}

// checkPassword applies the client IP's budget and the account's lockout
// ladder, and verifies the password.
func (h *Handler) checkPassword(ctx context.Context, canonical, pw, ip string) (*storage.User, outcome, error) {
	now := h.now()
	lo := h.opts.Lockout
	ipKey := string(throttle.LoginFailuresFromIP(ip))
	ipFails, err := h.store.Counter(ctx, ipKey, lo.IPWindow, now)
	if err != nil {
		return nil, outcome{}, fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	if ipFails >= lo.IPFailures {
		return nil, outcome{reason: "ip blocked", message: "login.too_many_ip", retryAt: lo.IPBlockEnd(now)}, nil
	}
	countIPFailure := func() error {
		_, err := h.store.IncrementCounter(ctx, ipKey, lo.IPWindow, now)
		h.countFailure(ctx, ip, now)
		return err
	}

	u, err := h.store.UserByNIP(ctx, canonical)
	if errors.Is(err, storage.ErrNotFound) {
		o, err := h.unknownNIP(ctx, canonical, pw, now, countIPFailure)
		return nil, o, err
	}
	if err != nil {
		return nil, outcome{}, fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	o, wrong, err := h.passwordAttempt(ctx, u, pw, ip)
	switch {
	case err != nil:
		return nil, outcome{}, err
	case wrong:
		return nil, o, countIPFailure()
	case o.failed():
		return nil, o, nil
	case u.State == storage.StateDisabled:
		return nil, wrongPassword("account disabled"), nil
	}
	if err := h.store.RecordLogin(ctx, u.ID, now); err != nil {
		return nil, outcome{}, fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	return u, outcome{}, nil
}

// passwordAttempt applies the failure ladder of u to one attempt at its
// password and, within the ladder, verifies pw; the login and the account
// page's change of password both go through it, so guesses in either
// count towards the same delay and lock (B1, B8). wrong reports that the
// hash was compared and did not match.
//
// An attempt is counted as a failure before the hash is computed and
// cleared on success (by the caller's RecordLogin or the new password):
// of many simultaneous guesses only those within the free budget are ever
// evaluated (B3), and a failed counter write refuses the attempt instead
// of granting a free guess (H3).
func (h *Handler) passwordAttempt(ctx context.Context, u *storage.User, pw, ip string) (o outcome, wrong bool, err error) {
	now := h.now()
	lo := h.opts.Lockout
	if o, refused := passwordRefusal(u, now); refused {
		return o, false, nil
	}

	expected := u.FailedPasswords + 1
	n, err := h.store.RecordPasswordFailure(ctx, u.ID, now.Add(lo.Delay(expected)), expected >= lo.LockAfter, now)
	if err != nil {
		return outcome{}, false, fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	if n != expected && n >= lo.DelayAfter {
		// Another attempt for this account got in first; it is the one
		// evaluated, this one waits its turn.
		return outcome{reason: "concurrent attempt", message: "login.invalid_credentials", retryAt: now.Add(lo.Delay(n))}, false, nil
	}

	ok, err := h.hasher.Verify(ctx, u.PasswordHash, pw)
	if errors.Is(err, password.ErrBusy) {
		// No hash was compared, so the failure counted above is none: the
		// busy page must not bring an employee who retries at the morning
		// peak nearer a captcha, a delay or the lock. Only a count no other
		// attempt moved since is given back, so every evaluated guess stays
		// counted (B3).
		if _, rerr := h.store.ReleasePasswordFailure(ctx, u.ID, n, u.LockedUntil, now); rerr != nil {
			h.log.WarnContext(ctx, "give back the failure of a busy attempt", "user", u.ID, "err", rerr)
		}
	}
	if err != nil {
		return outcome{}, false, err
	}
	if ok {
		return outcome{}, false, nil
	}
	h.recordPasswordFailure(ctx, u, expected, ip)
	if u.PasswordHash == "" {
		return wrongPassword("no password set (account not activated)"), true, nil
	}
	return wrongPassword("wrong password"), true, nil
}

// passwordRefusal says whether u's ladder takes no password attempt at
// now: the password is locked, or the delay after the last failures runs.
func passwordRefusal(u *storage.User, now time.Time) (outcome, bool) {
	if u.PasswordLocked {
		return outcome{reason: "password locked", message: "login.locked"}, true
	}
	if now.Before(u.LockedUntil) {
		return outcome{reason: "delayed", message: "login.invalid_credentials", retryAt: u.LockedUntil}, true
	}
	return outcome{}, false
}

// unknownNIP costs the same hashing work as a known one and keeps a
// failure ladder of its own, so neither timing nor lockout behaviour tells
// which NIPs exist. When the hasher is busy it answers busy, as a known NIP
// does, and gives its count back, as a known NIP's busy attempt does.
func (h *Handler) unknownNIP(ctx context.Context, canonical, pw string, now time.Time, countIPFailure func() error) (outcome, error) {
	lo := h.opts.Lockout
	window := lo.DelayMax
	key := string(throttle.LoginFailuresOfUnknownNIP(canonical))
	n, err := h.store.IncrementCounter(ctx, key, window, now)
	if err == nil && n > lo.DelayAfter {
		return outcome{reason: "unknown nip (delayed)", message: "login.invalid_credentials", retryAt: now.Add(lo.Delay(n))}, nil
	}
	if _, err := h.hasher.Verify(ctx, "", pw); errors.Is(err, password.ErrBusy) {
		if derr := h.store.DecrementCounter(ctx, key, window, now); derr != nil {
			h.log.WarnContext(ctx, "give back the count of a busy attempt", "err", derr)
		}
		return outcome{}, err
	} else if err != nil {
		h.log.WarnContext(ctx, "dummy hash", "err", err)
	}
	if err := countIPFailure(); err != nil {
		h.log.WarnContext(ctx, "count ip failure", "err", err)
	}
	return wrongPassword("unknown nip"), nil
}

func windowEnd(now time.Time, window time.Duration) time.Time {
	return now.Truncate(window).Add(window)
}
