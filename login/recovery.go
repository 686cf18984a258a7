package login

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/mfa"
	"github.com/asnidp/asnidp/internal/throttle"
	"github.com/asnidp/asnidp/storage"
)

// Recovery codes in the login (A10, A11):
//
//	/login/otp ── "Tidak bisa membuka aplikasi authenticator?" ──► /login/recovery
//	  a valid recovery code (the TOTP budgets, shared) ──► RecoveryAt set, employee mailed
//	  ──► /login/enrol: a new authenticator replaces the old one ──► OTPAt set
//	first authenticator bound, or a sign-in of an account with no codes left
//	  ──► /login/recovery/codes: ten codes shown once ──► "Saya sudah
//	      menyimpan kode ini" (or, once, "Nanti saja") ──► the login completes
//
// A recovery code alone never completes a login: until the new
// authenticator is bound, OTPAt stays unset and the OP issues nothing, and
// a pending login that is abandoned leaves the old authenticator bound.

func (h *Handler) recoveryRoutes(g *echo.Group) {
	g.GET("/recovery", h.showRecovery)
	g.POST("/recovery", h.submitRecovery)
	g.POST("/recovery/codes", h.recoveryCodesSaved)
}

// recoveryView is the page that takes a recovery code; SelfReset offers
// the way without one.
type recoveryView struct {
	layout
	SelfReset bool
}

// recoveryCodesView shows a fresh set of codes once.
type recoveryCodesView struct {
	layout
	Codes []string
	// Download is the codes as a text file, for the download link.
	Download template.URL
	// CanSkip offers "Nanti saja": only to an account that had its
	// authenticator before this login and never put the codes off.
	CanSkip bool
}

func (h *Handler) showRecovery(c echo.Context) error {
	ar, u, err := h.pendingSecondFactor(c, c.QueryParam("id"), h.opts.PasswordOnly)
	if err != nil || ar == nil {
		return err
	}
	if !u.HasAuthenticator() {
		return c.Redirect(http.StatusSeeOther, "/login/enrol?id="+ar.ID)
	}
	return h.render(c, http.StatusOK, "recovery", &recoveryView{layout{Title: "recovery.title", ID: ar.ID, L: h.localizer(c, ar)}, h.opts.SelfReset.Enabled})
}

func (h *Handler) submitRecovery(c echo.Context) error {
	ar, u, err := h.pendingSecondFactor(c, c.FormValue("id"), h.opts.PasswordOnly)
	if err != nil || ar == nil {
		return err
	}
	if !u.HasAuthenticator() {
		return c.Redirect(http.StatusSeeOther, "/login/enrol?id="+ar.ID)
	}
	ctx := c.Request().Context()
	p := recoveryView{layout{Title: "recovery.title", ID: ar.ID, L: h.localizer(c, ar)}, h.opts.SelfReset.Enabled}
	check, err := h.deps.MFA.VerifyRecovery(ctx, u, throttle.CodeAttempts(ar.ID), h.opts.PasswordOnly, c.FormValue("code"))
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	switch check.Result {
	case mfa.Locked:
		p.Error = "otp.locked"
		return h.render(c, http.StatusForbidden, "recovery", &p)
	case mfa.OverBudget:
		return h.endPendingLogin(c, ar, u, check)
	case mfa.Valid:
		if err := h.store.SetAuthRequestRecovery(ctx, ar.ID, h.now()); err != nil {
			return fmt.Errorf("record recovery code: %w", err)
		}
		h.log.WarnContext(ctx, "recovery code accepted; a new authenticator must be enrolled", "sub", u.ID, "auth_request", ar.ID, "ip", c.RealIP())
		h.record(c, storage.AuditEvent{Type: audit.MFARecoveryUsed, NIP: u.NIP, UserID: u.ID, ClientID: ar.ClientID})
		h.securityMail(ctx, c, u, "recovery_used", nil)
		return c.Redirect(http.StatusSeeOther, "/login/enrol?id="+ar.ID)
	}
	h.log.InfoContext(ctx, "recovery code rejected", "sub", u.ID, "auth_request", ar.ID, "ip", c.RealIP(), "failures", check.Failures)
	h.record(c, storage.AuditEvent{Type: audit.MFAFailed, Outcome: audit.Failure, Reason: "wrong recovery code", NIP: u.NIP, UserID: u.ID, ClientID: ar.ClientID})
	if check.Exhausted {
		return h.endPendingLogin(c, ar, u, check)
	}
	p.Error = "recovery.wrong"
	return h.render(c, http.StatusUnauthorized, "recovery", &p)
}

// secondFactorDone records the second factor and, when the account has
// no recovery codes left, shows a fresh set before the login completes.
// enrolled says a new authenticator was bound in this login: its codes
// must be saved, not put off.
func (h *Handler) secondFactorDone(c echo.Context, ar *storage.AuthRequest, u *storage.User, enrolled bool) error {
	ctx := c.Request().Context()
	if err := h.store.SetAuthRequestOTP(ctx, ar.ID, h.now()); err != nil {
		return fmt.Errorf("record otp factor: %w", err)
	}
	left, err := h.deps.MFA.RecoveryCodesLeft(ctx, u)
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	if left > 0 {
		return h.finish(c, ar, u, factors(ar))
	}
	// The second factor is done: rotate the binding as after every
	// factor (A5), before the page that completes the login.
	if err := h.rebind(c, ar.ID); err != nil {
		return err
	}
	codes, err := h.deps.MFA.NewRecoveryCodes(ctx, u)
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	h.record(c, storage.AuditEvent{Type: audit.MFARecoveryIssued, NIP: u.NIP, UserID: u.ID, ClientID: ar.ClientID})
	v := recoveryCodesView{
		layout:  layout{Title: "recovery.codes_title", ID: ar.ID, L: h.localizer(c, ar)},
		Codes:   codes,
		CanSkip: !enrolled && u.RecoverySkippedAt.IsZero(),
	}
	v.Download = recoveryFile(v.L.T("recovery.file_heading", "NIP", u.NIP), codes)
	// Shown once: neither the browser nor a proxy keeps the page.
	c.Response().Header().Set("Cache-Control", "no-store")
	return h.render(c, http.StatusOK, "recovery_codes", &v)
}

// recoveryCodesSaved continues the login after the codes page.
func (h *Handler) recoveryCodesSaved(c echo.Context) error {
	ar, u, err := h.pendingSecondFactor(c, c.FormValue("id"), h.opts.Enrolment)
	if err != nil || ar == nil {
		return err
	}
	if ar.OTPAt.IsZero() { // the codes page follows the second factor
		return c.Redirect(http.StatusSeeOther, "/login/otp?id="+ar.ID)
	}
	if ar.SessionID != "" { // a replayed confirmation of a completed login
		return fail(http.StatusBadRequest, "error.bad_request", errors.New("login already completed"))
	}
	if c.FormValue("skip") != "" {
		if len(ar.EnrolSecret) > 0 || !u.RecoverySkippedAt.IsZero() {
			return fail(http.StatusBadRequest, "recovery.must_save", errors.New("recovery codes cannot be put off here"))
		}
		if err := h.store.SkipRecoveryCodes(c.Request().Context(), u.ID, h.now()); err != nil {
			return fail(http.StatusServiceUnavailable, "error.unavailable", err)
		}
		h.record(c, storage.AuditEvent{Type: audit.MFARecoveryIssued, Outcome: audit.Failure, Reason: "put off by the employee", NIP: u.NIP, UserID: u.ID, ClientID: ar.ClientID})
	}
	return h.finish(c, ar, u, factors(ar))
}

// factors is the authentication methods of a login whose second factor
// is done: a recovery code says so, not "otp" (the RFC 8176 "otp" is the
// authenticator app).
func factors(ar *storage.AuthRequest) []string {
	if !ar.RecoveryAt.IsZero() {
		return []string{"pwd", "rec"}
	}
	return []string{"pwd", "otp"}
}

// recoveryFile is the download: a heading and one code a line, with CRLF
// so that every phone and PC editor shows the lines.
func recoveryFile(heading string, codes []string) template.URL {
	text := heading + "\r\n\r\n" + strings.Join(codes, "\r\n") + "\r\n"
	return template.URL("data:text/plain;charset=utf-8," + url.PathEscape(text))
}
