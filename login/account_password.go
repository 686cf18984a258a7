package login

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/password"
	"github.com/asnidp/asnidp/internal/throttle"
	"github.com/asnidp/asnidp/storage"
)

// Changing the password on the account page (B8). A stolen session is not
// enough: the change takes the current password and a fresh code of the
// authenticator. The checks run cheapest first, and each only when the
// ones before passed:
//
//  1. the new password: typed twice alike, not the current one, and the
//     reset's policy (nothing counted: no secret is checked);
//  2. the account's password ladder: locked or delayed takes no attempt
//     (and spends no code);
//  3. the authenticator code, on its own budget and the account's TOTP
//     failures, so a session without the phone cannot test passwords;
//  4. the current password, counted on the account's ladder as a login's.
//
// The new hash is stored over the one verified, in the transaction that
// ends every other session of the account with its tokens; this session
// stays. The employee is mailed.

func (h *Handler) changePassword(c echo.Context) error {
	sess, u, err := h.accountSession(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	p := accountView{}
	refuse := func(status int, msg string) error {
		p.Refused = refusal{Section: "password", Message: msg}
		return h.renderAccount(c, status, sess, u, &p)
	}
	current, pw := c.FormValue("current"), c.FormValue("password")
	switch {
	case pw != c.FormValue("confirm"):
		return refuse(http.StatusUnprocessableEntity, "reset.password_mismatch")
	case pw == current:
		return refuse(http.StatusUnprocessableEntity, "account.password_same")
	}
	if err := h.opts.Policy.Check(pw, h.policyContext(u)); err != nil {
		var pe *password.PolicyError
		if !errors.As(err, &pe) {
			return err
		}
		h.log.InfoContext(ctx, "new password refused by the policy", "sub", u.ID, "reason", pe.Reason)
		return refuse(http.StatusUnprocessableEntity, pe.Reason)
	}
	if o, refused := passwordRefusal(u, h.now()); refused {
		return h.refuseCurrentPassword(c, sess, u, &p, o)
	}
	if msg, status, err := h.accountCode(c, u, throttle.AccountPasswordCodeAttempts(sess.ID), "change the password"); err != nil || msg != "" {
		if err != nil {
			return err
		}
		return refuse(status, msg)
	}
	o, _, err := h.passwordAttempt(ctx, u, current, c.RealIP())
	if err != nil {
		return err
	}
	if o.failed() {
		return h.refuseCurrentPassword(c, sess, u, &p, o)
	}

	hash, err := h.hasher.Hash(ctx, pw)
	if err != nil {
		return err
	}
	ended, err := h.store.ChangePassword(ctx, storage.PasswordChange{
		UserID: u.ID, CurrentHash: u.PasswordHash, NewHash: hash, KeepSessionID: sess.ID,
	}, h.now())
	switch {
	case errors.Is(err, storage.ErrConflict):
		// A reset or another change won, or this session ended meanwhile.
		return fail(http.StatusConflict, "account.password_conflict", err)
	case errors.Is(err, storage.ErrNotFound):
		return fail(http.StatusUnauthorized, "account.no_session", err)
	case err != nil:
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	h.log.InfoContext(ctx, "password changed on the account page", "sub", u.ID, "sid", sess.ID, "sessions_ended", len(ended), "ip", c.RealIP())
	h.record(c, storage.AuditEvent{Type: audit.PasswordChanged, Reason: "changed on the account page", NIP: u.NIP, UserID: u.ID, Detail: "sid=" + sess.ID})
	h.recordEnded(c, u, ended, "ended by a change of password")
	h.mailNotice(c, u, "password_changed_account", h.whereFields(c))
	return c.Redirect(http.StatusSeeOther, "/login/account?notice=password")
}

// refuseCurrentPassword shows why the current password was not taken:
// wrong (with when to try again, once the ladder delays), or locked.
func (h *Handler) refuseCurrentPassword(c echo.Context, sess *storage.Session, u *storage.User, p *accountView, o outcome) error {
	h.log.InfoContext(c.Request().Context(), "current password refused on the account page", "sub", u.ID, "sid", sess.ID, "reason", o.reason, "ip", c.RealIP())
	h.record(c, storage.AuditEvent{Type: audit.PasswordChanged, Outcome: audit.Failure, Reason: o.reason, NIP: u.NIP, UserID: u.ID, Detail: "sid=" + sess.ID})
	status, msg := http.StatusUnauthorized, "account.current_wrong"
	if o.message == "login.locked" {
		status, msg = http.StatusForbidden, o.message
	}
	p.Refused = refusal{Section: "password", Message: msg}
	if !o.retryAt.IsZero() {
		p.Refused.RetryAt = o.retryAt.In(wib).Format("15:04:05 WIB")
		c.Response().Header().Set("Retry-After", retryAfterSeconds(o.retryAt.Sub(h.now())))
		status = http.StatusTooManyRequests
	}
	return h.renderAccount(c, status, sess, u, p)
}
