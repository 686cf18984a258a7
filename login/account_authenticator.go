package login

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/mfa"
	"github.com/asnidp/asnidp/internal/throttle"
	"github.com/asnidp/asnidp/storage"
)

// Changing the authenticator (A4). A bound authenticator is never replaced
// by the login's enrolment page; an employee with a live SSO session
// replaces it on the account page, and only after proving the current one:
//
//	/login/account ── current code ──► new seed offered (sealed in a Strict
//	cookie bound to the session, 10 min) ── code from the new seed ──►
//	old seed unbound, new one bound, employee mailed
//
// Wrong current codes count towards the account's TOTP lock like any other.

// enrolCookie carries the seed offered for a change of authenticator.
const enrolCookie = "asnidp_enrol"

// proveAuthenticator checks a code of the current authenticator and, when
// it is right, offers a new seed.
func (h *Handler) proveAuthenticator(c echo.Context) error {
	sess, u, err := h.accountSession(c)
	if err != nil {
		return err
	}
	if msg, status, err := h.accountCode(c, u, throttle.AccountCodeAttempts(sess.ID), "change the authenticator"); err != nil || msg != "" {
		if err != nil {
			return err
		}
		return h.renderAccount(c, status, sess, u, &accountView{Refused: refusal{Section: "authenticator", Message: msg}})
	}
	next, err := h.deps.MFA.NewSeed()
	if err != nil {
		return err
	}
	sealed, err := h.deps.MFA.SealOffer(sess.ID, next)
	if err != nil {
		return err
	}
	c.SetCookie(h.opts.Cookies.New(enrolCookie, sealed, h.opts.Enrolment, http.SameSiteStrictMode))
	return h.renderNewAuthenticator(c, u, next, "")
}

func (h *Handler) renderNewAuthenticator(c echo.Context, u *storage.User, seed []byte, errKey string) error {
	v := offerView{layout: layout{Title: "account.new_title", L: h.localizer(c, nil)}, Action: "/login/account/authenticator/confirm"}
	return h.renderOffer(c, u, seed, v, errKey)
}

// confirmNewAuthenticator binds the offered seed once a code proves the
// phone holds it.
func (h *Handler) confirmNewAuthenticator(c echo.Context) error {
	sess, u, err := h.accountSession(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	seed, err := h.deps.MFA.OpenOffer(sess.ID, h.opts.Cookies.Value(c.Request(), enrolCookie))
	if err != nil {
		return fail(http.StatusBadRequest, "enrol.expired", err)
	}
	check, err := h.deps.MFA.Confirm(ctx, seed, throttle.AccountEnrolAttempts(sess.ID), h.opts.Enrolment, c.FormValue("code"))
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	switch check.Result {
	case mfa.Valid:
	case mfa.OverBudget:
		c.SetCookie(h.opts.Cookies.Clear(enrolCookie, http.SameSiteStrictMode))
		return fail(http.StatusTooManyRequests, "otp.too_many", nil)
	default:
		return h.renderNewAuthenticator(c, u, seed, "enrol.wrong")
	}
	// One write swaps the old seed for the new: if it fails, the old
	// authenticator stays bound and no login is offered an enrolment (A4).
	err = h.deps.MFA.Replace(ctx, u, seed, check.Step)
	if errors.Is(err, storage.ErrConflict) { // reset or changed meanwhile
		c.SetCookie(h.opts.Cookies.Clear(enrolCookie, http.SameSiteStrictMode))
		return fail(http.StatusConflict, "enrol.expired", err)
	}
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	c.SetCookie(h.opts.Cookies.Clear(enrolCookie, http.SameSiteStrictMode))
	h.log.InfoContext(ctx, "authenticator changed", "sub", u.ID, "sid", sess.ID, "ip", c.RealIP())
	h.record(c, storage.AuditEvent{Type: audit.MFAEnrolled, Reason: "authenticator changed", NIP: u.NIP, UserID: u.ID})
	h.securityMail(ctx, c, u, "authenticator_added", nil)
	return c.Redirect(http.StatusSeeOther, "/login/account?notice=changed")
}
