package login

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/throttle"
	"github.com/asnidp/asnidp/storage"
)

// newRecoveryCodes makes a new set of recovery codes for the account,
// after a fresh code of the authenticator (A10, A13): a session alone,
// stolen or left open, cannot void the codes an employee wrote down or
// learn new ones. The new set replaces the old in one transaction, is
// shown once and the employee is mailed.
func (h *Handler) newRecoveryCodes(c echo.Context) error {
	sess, u, err := h.accountSession(c)
	if err != nil {
		return err
	}
	if msg, status, err := h.accountCode(c, u, throttle.AccountRecoveryCodeAttempts(sess.ID), "make new recovery codes"); err != nil || msg != "" {
		if err != nil {
			return err
		}
		return h.renderAccount(c, status, sess, u, &accountView{Refused: refusal{Section: "recovery", Message: msg}})
	}
	ctx := c.Request().Context()
	codes, err := h.deps.MFA.NewRecoveryCodes(ctx, u)
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	h.log.InfoContext(ctx, "recovery codes replaced on the account page", "sub", u.ID, "sid", sess.ID, "ip", c.RealIP())
	h.record(c, storage.AuditEvent{Type: audit.MFARecoveryIssued, Reason: "new set from the account page", NIP: u.NIP, UserID: u.ID})
	h.mailNotice(c, u, "recovery_regenerated", h.whereFields(c))
	v := recoveryCodesView{
		layout: layout{Title: "recovery.codes_title", Notice: "account.recovery_new", L: h.localizer(c, nil), Here: "/login/account"},
		Codes:  codes,
	}
	v.Download = recoveryFile(v.L.T("recovery.file_heading", "NIP", u.NIP), codes)
	// Shown once: neither the browser nor a proxy keeps the page.
	c.Response().Header().Set("Cache-Control", "no-store")
	return h.render(c, http.StatusOK, "recovery_codes", &v)
}
