package login

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/cookie"
	"github.com/asnidp/asnidp/internal/mail"
	"github.com/asnidp/asnidp/internal/mfa"
	"github.com/asnidp/asnidp/internal/secret"
	"github.com/asnidp/asnidp/internal/throttle"
	"github.com/asnidp/asnidp/storage"
)

// The second factor, as a state machine on the auth request:
//
//	password verified (UserID, PasswordAt set; browser cookie rotated)
//	  ├─ no authenticator ─► /login/enrol: a seed is offered (sealed on the
//	  │     auth request, 10 min); a valid code binds it to the account
//	  └─ authenticator ────► /login/otp: a valid, never-used code (5 min)
//	both ─► OTPAt set, fresh SSO session ─► OP callback issues the code
//
// Five wrong codes end the pending login (back to the password); the
// account's consecutive TOTP failures are counted across every pending
// login and lock the authenticator at the configured cap.

// afterPassword rotates the browser binding (so a value planted or seen
// before the password completes nothing, A5/E2), gives the pending login a
// fresh budget of codes and sends the browser to the second factor. The
// account's consecutive TOTP failures are not reset by a password (B2).
func (h *Handler) afterPassword(c echo.Context, ar *storage.AuthRequest, u *storage.User) error {
	ctx := c.Request().Context()
	for _, key := range []throttle.Key{throttle.CodeAttempts(ar.ID), throttle.EnrolAttempts(ar.ID)} {
		if err := h.store.ResetCounter(ctx, string(key)); err != nil {
			return fail(http.StatusServiceUnavailable, "error.unavailable", err)
		}
	}
	if err := h.rebind(c, ar.ID); err != nil {
		return err
	}
	next := "/login/otp?id="
	due, err := h.dueSelfReset(ctx, u)
	if err != nil {
		return err
	}
	if !u.HasAuthenticator() || due != nil { // a self-reset whose wait is over enrols the new phone (A12)
		next = "/login/enrol?id="
	}
	return c.Redirect(http.StatusSeeOther, next+ar.ID)
}

// rebind gives this browser a new binding value for auth request id.
func (h *Handler) rebind(c echo.Context, id string) error {
	browser := secret.Token()
	if err := h.store.RebindAuthRequest(c.Request().Context(), id, h.hash.Hash(browser)); err != nil {
		return fmt.Errorf("rebind auth request: %w", err)
	}
	c.SetCookie(h.opts.Cookies.New(cookie.Browser, browser, 0, http.SameSiteLaxMode))
	return nil
}

// pendingSecondFactor loads the bound auth request and its user when the
// password was verified within ttl; otherwise the browser goes back to
// the password page.
func (h *Handler) pendingSecondFactor(c echo.Context, id string, ttl time.Duration) (*storage.AuthRequest, *storage.User, error) {
	ar, err := h.boundAuthRequest(c, id)
	if err != nil {
		return nil, nil, err
	}
	if ar.UserID == "" || ar.PasswordAt.IsZero() {
		return nil, nil, c.Redirect(http.StatusSeeOther, loginURL(ar.ID, ""))
	}
	if h.now().Sub(ar.PasswordAt) > ttl {
		if err := h.store.ClearAuthRequestUser(c.Request().Context(), ar.ID); err != nil {
			return nil, nil, fmt.Errorf("clear expired login: %w", err)
		}
		return nil, nil, c.Redirect(http.StatusSeeOther, loginURL(ar.ID, "expired"))
	}
	u, err := h.store.UserByID(c.Request().Context(), ar.UserID)
	if err != nil {
		return nil, nil, fmt.Errorf("load user: %w", err)
	}
	if u.State == storage.StateDisabled {
		return nil, nil, fail(http.StatusForbidden, "login.invalid_credentials", errors.New("account disabled during login"))
	}
	return ar, u, nil
}

func loginURL(id, notice string) string {
	u := "/login/?id=" + id
	if notice != "" {
		u += "&notice=" + notice
	}
	return u
}

func (h *Handler) showOTP(c echo.Context) error {
	ar, u, err := h.pendingSecondFactor(c, c.QueryParam("id"), h.opts.PasswordOnly)
	if err != nil || ar == nil {
		return err
	}
	if !u.HasAuthenticator() {
		return c.Redirect(http.StatusSeeOther, "/login/enrol?id="+ar.ID)
	}
	return h.render(c, http.StatusOK, "otp", h.otpLayout(c, ar))
}

// otpLayout is the code page's frame; a step-up says why the code is
// asked for again.
func (h *Handler) otpLayout(c echo.Context, ar *storage.AuthRequest) *layout {
	l := &layout{Title: "otp.title", ID: ar.ID, L: h.localizer(c, ar)}
	if h.opts.StepUpACR != "" && ar.ACR == h.opts.StepUpACR {
		l.Notice = "otp.step_up"
	}
	return l
}

func (h *Handler) submitOTP(c echo.Context) error {
	ar, u, err := h.pendingSecondFactor(c, c.FormValue("id"), h.opts.PasswordOnly)
	if err != nil || ar == nil {
		return err
	}
	if !u.HasAuthenticator() {
		return c.Redirect(http.StatusSeeOther, "/login/enrol?id="+ar.ID)
	}
	ctx := c.Request().Context()
	p := h.otpLayout(c, ar)
	check, err := h.deps.MFA.Verify(ctx, u, throttle.CodeAttempts(ar.ID), h.opts.PasswordOnly, c.FormValue("code"))
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	switch check.Result {
	case mfa.Locked:
		p.Error = "otp.locked"
		return h.render(c, http.StatusForbidden, "otp", p)
	case mfa.Valid:
		h.log.InfoContext(ctx, "totp accepted", "sub", u.ID, "auth_request", ar.ID, "ip", c.RealIP())
		h.record(c, storage.AuditEvent{Type: audit.MFAVerified, NIP: u.NIP, UserID: u.ID, ClientID: ar.ClientID})
		// The employee holds the authenticator after all: a self-reset
		// still waiting would only leave a door open (A12).
		if err := h.store.CancelSelfResets(ctx, u.ID, h.now()); err != nil {
			return fail(http.StatusServiceUnavailable, "error.unavailable", err)
		}
		return h.secondFactorDone(c, ar, u, false)
	case mfa.OverBudget:
		return h.endPendingLogin(c, ar, u, check)
	case mfa.Replayed:
		h.log.WarnContext(ctx, "totp replay refused", "sub", u.ID, "auth_request", ar.ID, "ip", c.RealIP())
		h.record(c, storage.AuditEvent{Type: audit.MFAFailed, Outcome: audit.Failure, Reason: "code already used", NIP: u.NIP, UserID: u.ID, ClientID: ar.ClientID})
		p.Error = "otp.replayed"
	default:
		h.log.InfoContext(ctx, "totp rejected", "sub", u.ID, "auth_request", ar.ID, "ip", c.RealIP(), "failures", check.Failures)
		h.record(c, storage.AuditEvent{Type: audit.MFAFailed, Outcome: audit.Failure, Reason: "wrong code", NIP: u.NIP, UserID: u.ID, ClientID: ar.ClientID})
		p.Error = "otp.wrong"
	}
	if check.Exhausted {
		return h.endPendingLogin(c, ar, u, check)
	}
	return h.render(c, http.StatusUnauthorized, "otp", p)
}

// endPendingLogin sends the browser back to the password after too many
// wrong codes, and mails the employee when the account got locked.
func (h *Handler) endPendingLogin(c echo.Context, ar *storage.AuthRequest, u *storage.User, check mfa.Check) error {
	ctx := c.Request().Context()
	if err := h.store.ClearAuthRequestUser(ctx, ar.ID); err != nil {
		return fmt.Errorf("end pending login: %w", err)
	}
	if check.Locked && !u.TOTPLocked {
		h.log.WarnContext(ctx, "authenticator locked after consecutive failures", "sub", u.ID, "failures", check.Failures)
		h.record(c, storage.AuditEvent{Type: audit.MFALocked, Outcome: audit.Failure, Reason: "consecutive wrong codes reached the lock", NIP: u.NIP, UserID: u.ID, ClientID: ar.ClientID})
		h.securityMail(ctx, c, u, "totp_locked", nil)
		p := h.otpLayout(c, ar)
		p.Error = "otp.locked"
		return h.render(c, http.StatusForbidden, "otp", p)
	}
	h.log.WarnContext(ctx, "pending login ended after wrong codes", "sub", u.ID, "auth_request", ar.ID, "failures", check.Failures)
	return c.Redirect(http.StatusSeeOther, loginURL(ar.ID, "otp_too_many"))
}

func (h *Handler) showEnrol(c echo.Context) error {
	ar, u, err := h.pendingSecondFactor(c, c.QueryParam("id"), h.opts.Enrolment)
	if err != nil || ar == nil {
		return err
	}
	replace, err := h.mayReplace(c, ar, u)
	if err != nil {
		return err
	}
	if u.HasAuthenticator() && !replace { // A4
		return c.Redirect(http.StatusSeeOther, "/login/otp?id="+ar.ID)
	}
	seed, err := h.enrolmentSeed(c.Request().Context(), ar)
	if err != nil {
		return err
	}
	return h.renderEnrol(c, ar, u, seed, "")
}

// enrolmentSeed returns the seed offered to this pending login, making one
// the first time. It stays the same while the page is reloaded.
func (h *Handler) enrolmentSeed(ctx context.Context, ar *storage.AuthRequest) ([]byte, error) {
	if len(ar.EnrolSecret) > 0 {
		return h.deps.MFA.OpenPending(ar.ID, ar.EnrolSecret)
	}
	seed, err := h.deps.MFA.NewSeed()
	if err != nil {
		return nil, err
	}
	sealed, err := h.deps.MFA.SealPending(ar.ID, seed)
	if err != nil {
		return nil, err
	}
	if err := h.store.SetAuthRequestEnrolment(ctx, ar.ID, sealed, h.now()); err != nil {
		return nil, fmt.Errorf("store enrolment seed: %w", err)
	}
	return seed, nil
}

func (h *Handler) renderEnrol(c echo.Context, ar *storage.AuthRequest, u *storage.User, seed []byte, errKey string) error {
	v := offerView{layout: layout{Title: "enrol.title", ID: ar.ID, L: h.localizer(c, ar)}, Action: "/login/enrol",
		Recovery: !ar.RecoveryAt.IsZero(), Replacing: u.HasAuthenticator()}
	return h.renderOffer(c, u, seed, v, errKey)
}

// offerView is the enrolment page's: the QR code image, the otpauth link
// for phones, the seed for typing by hand, and where the form posts (the
// login's enrolment or the change of authenticator).
type offerView struct {
	layout
	mfa.Offer
	Action string
	// Replacing: this seed replaces the authenticator the employee can no
	// longer open, after a recovery code (Recovery) or a self-reset.
	Replacing, Recovery bool
}

// renderOffer shows the enrolment page of v for seed.
func (h *Handler) renderOffer(c echo.Context, u *storage.User, seed []byte, v offerView, errKey string) error {
	offer, err := h.deps.MFA.Present(u.NIP, seed)
	if err != nil {
		return err
	}
	v.Offer, v.Error = offer, errKey
	status := http.StatusOK
	if errKey != "" {
		status = http.StatusUnauthorized
	}
	return h.render(c, status, "enrol", &v)
}

func (h *Handler) submitEnrol(c echo.Context) error {
	ar, u, err := h.pendingSecondFactor(c, c.FormValue("id"), h.opts.Enrolment)
	if err != nil || ar == nil {
		return err
	}
	ctx := c.Request().Context()
	replacing := u.HasAuthenticator()
	if replacing {
		ok, err := h.mayReplace(c, ar, u)
		if err != nil {
			return err
		}
		if !ok { // A4, A12: a password alone never replaces the authenticator
			h.log.WarnContext(ctx, "enrolment refused: authenticator already bound", "sub", u.ID, "auth_request", ar.ID)
			h.record(c, storage.AuditEvent{Type: audit.MFAEnrolFailed, Outcome: audit.Failure, Reason: "an authenticator is bound", NIP: u.NIP, UserID: u.ID, ClientID: ar.ClientID})
			return c.Redirect(http.StatusSeeOther, "/login/otp?id="+ar.ID)
		}
	}
	if len(ar.EnrolSecret) == 0 { // A2: confirming without having been shown a seed
		return c.Redirect(http.StatusSeeOther, "/login/enrol?id="+ar.ID)
	}
	seed, err := h.enrolmentSeed(ctx, ar)
	if err != nil {
		return err
	}
	check, err := h.deps.MFA.Confirm(ctx, seed, throttle.EnrolAttempts(ar.ID), h.opts.Enrolment, c.FormValue("code"))
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	if check.Result != mfa.Valid {
		if check.Result != mfa.OverBudget {
			h.log.InfoContext(ctx, "enrolment code rejected", "sub", u.ID, "auth_request", ar.ID, "attempt", check.Attempt)
			h.record(c, storage.AuditEvent{Type: audit.MFAEnrolFailed, Outcome: audit.Failure, Reason: "wrong code", NIP: u.NIP, UserID: u.ID, ClientID: ar.ClientID})
		}
		if check.Exhausted {
			return h.endPendingLogin(c, ar, u, check)
		}
		return h.renderEnrol(c, ar, u, seed, "enrol.wrong")
	}
	if replacing {
		// After a recovery code or a due self-reset: the new seed replaces
		// the one loaded, in one write (A4, A11); a seed changed meanwhile
		// restarts the login. A self-reset is used up first, so two
		// browsers cannot both ride on it (A12).
		err = h.claimSelfReset(c, ar, u)
		if err == nil {
			err = h.deps.MFA.Replace(ctx, u, seed, check.Step)
		}
	} else {
		err = h.deps.MFA.Bind(ctx, u, seed, check.Step)
	}
	if errors.Is(err, storage.ErrConflict) {
		if replacing {
			if err := h.store.ClearAuthRequestUser(ctx, ar.ID); err != nil {
				return fmt.Errorf("end pending login: %w", err)
			}
			return c.Redirect(http.StatusSeeOther, loginURL(ar.ID, "expired"))
		}
		return c.Redirect(http.StatusSeeOther, "/login/otp?id="+ar.ID)
	}
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	h.log.InfoContext(ctx, "authenticator bound", "sub", u.ID, "nip", u.NIP, "auth_request", ar.ID, "ip", c.RealIP(), "replaced", replacing)
	h.record(c, storage.AuditEvent{Type: audit.MFAEnrolled, NIP: u.NIP, UserID: u.ID, ClientID: ar.ClientID})
	h.securityMail(ctx, c, u, "authenticator_added", nil)
	return h.secondFactorDone(c, ar, u, true)
}

// sendMail sends mail name to u now; a mail that cannot be sent is
// logged, never shown: the login itself succeeded or failed on its own
// terms.
func (h *Handler) sendMail(ctx context.Context, c echo.Context, u *storage.User, name string, d mail.Data) {
	m, err := h.deps.Mails.Render(u.Email, h.localizer(c, nil), name, d)
	if err != nil {
		h.log.WarnContext(ctx, "render mail", "mail", name, "sub", u.ID, "err", err)
		return
	}
	if err := h.deps.Mail.Send(ctx, m); err != nil {
		h.log.WarnContext(ctx, "send mail", "mail", name, "sub", u.ID, "err", err)
	}
}
