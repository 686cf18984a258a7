package login

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/mail"
	"github.com/asnidp/asnidp/internal/secret"
	"github.com/asnidp/asnidp/internal/throttle"
	"github.com/asnidp/asnidp/storage"
)

// The employee's own reset of a lost authenticator, for one who has no
// recovery code at hand (A12):
//
//	/login/recovery ── "Tidak punya kode pemulihan?" ──► /login/selfreset
//	  (a pending login whose password was verified in this browser)
//	  ── 8-digit code mailed to the registered address ── code typed ──►
//	  the wait (mfa.self_reset_delay) starts; the employee is mailed, with
//	  a "Bukan saya — batalkan" link that cancels it and ends every session
//	  ── a sign-in after the wait ──► /login/enrol replaces the
//	  authenticator ──► recovery codes ──► the login completes
//
// Nothing about the account changes before the new authenticator is
// bound: until then the old one keeps working, and a password alone (a
// login before the wait is over) can neither shorten the wait nor enrol.

// SelfReset configures it.
type SelfReset struct {
	Enabled bool
	// Delay is the wait after the mailed code; 0 lets the same sign-in go
	// on to the enrolment.
	Delay time.Duration
}

const (
	// selfResetCodeTTL and selfResetAttempts bound the mailed code.
	selfResetCodeTTL  = 10 * time.Minute
	selfResetAttempts = 5
	// selfResetMailsPerHour bounds the codes one account is sent.
	selfResetMailsPerHour = 3
)

func (h *Handler) selfResetRoutes(g *echo.Group) {
	if !h.opts.SelfReset.Enabled {
		return
	}
	g.GET("/selfreset", h.showSelfReset)
	g.POST("/selfreset/start", h.startSelfReset)
	g.POST("/selfreset/code", h.confirmSelfReset)
}

// selfResetView is the self-reset page in its three states: offered,
// code mailed, waiting until EligibleAt.
type selfResetView struct {
	layout
	CodeSent   bool
	EligibleAt string
	// Delay is the wait in whole hours (rounded up); NoWait when none.
	Delay  string
	NoWait bool
}

// selfResetPending is the pending login of the self-reset pages: the
// password was verified in this browser and an authenticator is bound.
func (h *Handler) selfResetPending(c echo.Context, id string) (*storage.AuthRequest, *storage.User, error) {
	ar, u, err := h.pendingSecondFactor(c, id, h.opts.Enrolment)
	if err != nil || ar == nil {
		return nil, nil, err
	}
	if !u.HasAuthenticator() {
		return nil, nil, c.Redirect(http.StatusSeeOther, "/login/enrol?id="+ar.ID)
	}
	return ar, u, nil
}

// activeSelfReset returns u's unfinished self-reset, or nil.
func (h *Handler) activeSelfReset(ctx context.Context, u *storage.User) (*storage.SelfReset, error) {
	r, err := h.store.ActiveSelfReset(ctx, u.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	return r, nil
}

// dueSelfReset returns u's confirmed self-reset whose wait is over, or
// nil: the one thing besides a recovery code that lets a login replace a
// bound authenticator.
func (h *Handler) dueSelfReset(ctx context.Context, u *storage.User) (*storage.SelfReset, error) {
	if !h.opts.SelfReset.Enabled {
		return nil, nil
	}
	r, err := h.activeSelfReset(ctx, u)
	if err != nil || r == nil || r.EligibleAt.IsZero() || r.EligibleAt.After(h.now()) {
		return nil, err
	}
	return r, nil
}

func (h *Handler) showSelfReset(c echo.Context) error {
	ar, u, err := h.selfResetPending(c, c.QueryParam("id"))
	if err != nil || ar == nil {
		return err
	}
	r, err := h.activeSelfReset(c.Request().Context(), u)
	if err != nil {
		return err
	}
	v := h.selfResetView(c, ar, r)
	if r != nil && !r.EligibleAt.IsZero() && !r.EligibleAt.After(h.now()) {
		return c.Redirect(http.StatusSeeOther, "/login/enrol?id="+ar.ID)
	}
	return h.render(c, http.StatusOK, "selfreset", &v)
}

func (h *Handler) selfResetView(c echo.Context, ar *storage.AuthRequest, r *storage.SelfReset) selfResetView {
	d := h.opts.SelfReset.Delay
	v := selfResetView{layout: layout{Title: "selfreset.title", ID: ar.ID, L: h.localizer(c, ar)},
		Delay: strconv.Itoa(int((d + time.Hour - 1) / time.Hour)), NoWait: d == 0}
	if r != nil {
		// A code that can no longer be confirmed offers a new one.
		v.CodeSent = r.EligibleAt.IsZero() && r.CodeExpiresAt.After(h.now()) && r.CodeAttempts < selfResetAttempts
		if !r.EligibleAt.IsZero() {
			v.EligibleAt = r.EligibleAt.In(wib).Format("02-01-2006 15:04 WIB")
		}
	}
	return v
}

func (h *Handler) startSelfReset(c echo.Context) error {
	ar, u, err := h.selfResetPending(c, c.FormValue("id"))
	if err != nil || ar == nil {
		return err
	}
	ctx := c.Request().Context()
	now := h.now()
	if r, err := h.activeSelfReset(ctx, u); err != nil {
		return err
	} else if r != nil && !r.EligibleAt.IsZero() {
		// Confirmed already: a new code would only restart the wait.
		return c.Redirect(http.StatusSeeOther, "/login/selfreset?id="+ar.ID)
	}
	sent, err := h.store.IncrementCounter(ctx, string(throttle.SelfResetMails(u.ID)), time.Hour, now)
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	if sent > selfResetMailsPerHour {
		v := h.selfResetView(c, ar, nil)
		h.retryLater(c, &v.layout, "selfreset.too_many", windowEnd(now, time.Hour))
		return h.render(c, http.StatusTooManyRequests, "selfreset", &v)
	}
	code := newResetCode()
	r := &storage.SelfReset{ID: "sr_" + secret.Token(), UserID: u.ID, CodeExpiresAt: now.Add(selfResetCodeTTL), CreatedAt: now}
	r.CodeHash = h.hash.Hash(selfResetCodeMessage(r.ID, code))
	if err := h.store.StartSelfReset(ctx, r); err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	h.log.InfoContext(ctx, "self-reset code mailed", "sub", u.ID, "auth_request", ar.ID, "ip", c.RealIP())
	h.record(c, storage.AuditEvent{Type: audit.MFASelfReset, Reason: "code mailed", NIP: u.NIP, UserID: u.ID, ClientID: ar.ClientID})
	h.sendMail(ctx, c, u, "self_reset_code", mail.Data{Name: u.Name, NIP: u.NIP,
		Fields: map[string]string{"code": code, "minutes": strconv.Itoa(int(selfResetCodeTTL / time.Minute))}})
	return c.Redirect(http.StatusSeeOther, "/login/selfreset?id="+ar.ID)
}

func (h *Handler) confirmSelfReset(c echo.Context) error {
	ar, u, err := h.selfResetPending(c, c.FormValue("id"))
	if err != nil || ar == nil {
		return err
	}
	ctx := c.Request().Context()
	now := h.now()
	r, err := h.activeSelfReset(ctx, u)
	if err != nil {
		return err
	}
	if r == nil || !r.EligibleAt.IsZero() {
		return c.Redirect(http.StatusSeeOther, "/login/selfreset?id="+ar.ID)
	}
	codeHash := "" // matches nothing: a malformed code is a wrong one
	if code, ok := parseResetCode(c.FormValue("code")); ok {
		codeHash = h.hash.Hash(selfResetCodeMessage(r.ID, code))
	}
	eligible := now.Add(h.opts.SelfReset.Delay)
	err = h.store.ConfirmSelfReset(ctx, r.ID, codeHash, selfResetAttempts, eligible, now)
	v := h.selfResetView(c, ar, r)
	switch {
	case errors.Is(err, storage.ErrConflict):
		h.record(c, storage.AuditEvent{Type: audit.MFASelfReset, Outcome: audit.Failure, Reason: "wrong code", NIP: u.NIP, UserID: u.ID, ClientID: ar.ClientID})
		v.Error = "selfreset.wrong"
		return h.render(c, http.StatusUnauthorized, "selfreset", &v)
	case errors.Is(err, storage.ErrNotFound):
		h.record(c, storage.AuditEvent{Type: audit.MFASelfReset, Outcome: audit.Failure, Reason: "code expired or used up", NIP: u.NIP, UserID: u.ID, ClientID: ar.ClientID})
		v.CodeSent, v.Error = false, "selfreset.expired"
		return h.render(c, http.StatusUnauthorized, "selfreset", &v)
	case err != nil:
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	h.log.WarnContext(ctx, "self-reset of the authenticator started", "sub", u.ID, "eligible_at", eligible, "ip", c.RealIP())
	h.record(c, storage.AuditEvent{Type: audit.MFASelfReset, Reason: "started", NIP: u.NIP, UserID: u.ID, ClientID: ar.ClientID,
		Detail: "eligible_at=" + eligible.UTC().Format(time.RFC3339)})
	at := eligible.In(wib).Format("02-01-2006 15:04 WIB")
	h.securityMail(ctx, c, u, "self_reset_started", map[string]string{"eligible_at": at})
	if !eligible.After(now) {
		return c.Redirect(http.StatusSeeOther, "/login/enrol?id="+ar.ID)
	}
	return c.Redirect(http.StatusSeeOther, "/login/selfreset?id="+ar.ID)
}

// selfResetCodeMessage is what the mailed code's hash covers: the code
// tied to its self-reset, so it proves nothing elsewhere.
func selfResetCodeMessage(id, code string) string { return fmt.Sprintf("selfreset:%s:%s", id, code) }

// mayReplace reports whether this pending login may replace u's bound
// authenticator: after a recovery code accepted in it (A11), or with a
// self-reset whose wait is over (A12). A password alone never may (A4).
func (h *Handler) mayReplace(c echo.Context, ar *storage.AuthRequest, u *storage.User) (bool, error) {
	if !ar.RecoveryAt.IsZero() {
		return true, nil
	}
	due, err := h.dueSelfReset(c.Request().Context(), u)
	return due != nil, err
}

// claimSelfReset uses up the due self-reset a replacement rides on, and
// voids the recovery codes with it (none to claim after a recovery code).
// Of two browsers replacing at once one claims it; the other gets
// storage.ErrConflict.
func (h *Handler) claimSelfReset(c echo.Context, ar *storage.AuthRequest, u *storage.User) error {
	if !ar.RecoveryAt.IsZero() {
		return nil
	}
	ctx := c.Request().Context()
	due, err := h.dueSelfReset(ctx, u)
	if err != nil {
		return err
	}
	if due == nil {
		return storage.ErrConflict
	}
	err = h.store.CompleteSelfReset(ctx, due.ID, h.now())
	if errors.Is(err, storage.ErrNotFound) {
		return storage.ErrConflict
	}
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	h.record(c, storage.AuditEvent{Type: audit.MFASelfReset, Reason: "completed: new authenticator", NIP: u.NIP, UserID: u.ID, ClientID: ar.ClientID})
	return nil
}
