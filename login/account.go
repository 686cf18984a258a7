package login

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/cookie"
	"github.com/asnidp/asnidp/internal/totp"
	"github.com/asnidp/asnidp/storage"
)

// Changing the authenticator (A4). A bound authenticator is never replaced
// by the login's enrolment page; an employee with a live SSO session
// replaces it here, and only after proving the current one:
//
//	/login/account ── current code ──► new seed offered (sealed in a Strict
//	cookie bound to the session, 10 min) ── code from the new seed ──►
//	old seed unbound, new one bound, employee mailed
//
// Wrong current codes count towards the account's TOTP lock like any other.

// enrolCookie carries the seed offered for a change of authenticator.
const enrolCookie = "asnidp_enrol"

func (h *Handler) accountRoutes(g *echo.Group) {
	g.GET("/account", h.showAccount)
	g.POST("/account/authenticator", h.proveAuthenticator)
	g.POST("/account/authenticator/confirm", h.confirmNewAuthenticator)
}

// accountSession returns the browser's live SSO session and its user.
func (h *Handler) accountSession(c echo.Context) (*storage.Session, *storage.User, error) {
	token := h.cfg.Cookies.Value(c.Request(), cookie.Session)
	if token == "" {
		return nil, nil, fail(http.StatusUnauthorized, "account.no_session", nil)
	}
	ctx := c.Request().Context()
	sess, err := h.store.SessionByTokenHash(ctx, h.hash.Hash(token), h.cfg.SessionIdle, h.now())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, fail(http.StatusUnauthorized, "account.no_session", err)
	}
	if err != nil {
		return nil, nil, fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	u, err := h.store.UserByID(ctx, sess.UserID)
	if err != nil || u.State == storage.StateDisabled {
		return nil, nil, fail(http.StatusUnauthorized, "account.no_session", err)
	}
	return sess, u, nil
}

func (h *Handler) showAccount(c echo.Context) error {
	_, u, err := h.accountSession(c)
	if err != nil {
		return err
	}
	p := page{Title: "account.title", NIP: u.NIP, Message: u.Name}
	if c.QueryParam("notice") == "changed" {
		p.Notice = "account.changed"
	}
	return h.render(c, http.StatusOK, "account", p)
}

// proveAuthenticator checks a code of the current authenticator and, when
// it is right, offers a new seed.
func (h *Handler) proveAuthenticator(c echo.Context) error {
	sess, u, err := h.accountSession(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	p := page{Title: "account.title", NIP: u.NIP, Message: u.Name}
	if !u.HasAuthenticator() || u.TOTPLocked {
		p.Error = "otp.locked"
		return h.render(c, http.StatusForbidden, "account", p)
	}
	// Counted before checking, as at login (B3, H3).
	attempt, err := h.store.IncrementCounter(ctx, "account-otp:"+sess.ID, h.cfg.Enrolment, h.now())
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	failures, err := h.store.RecordTOTPFailure(ctx, u.ID, u.FailedTOTP+1 >= h.cfg.TOTPLockAfter, h.now())
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	if attempt > otpBudget || failures >= h.cfg.TOTPLockAfter {
		p.Error = "otp.too_many"
		return h.render(c, http.StatusTooManyRequests, "account", p)
	}
	seed, err := h.cfg.Sealer.Open(u.TOTPSecret, totpAAD(u.ID))
	if err != nil {
		return fmt.Errorf("open totp seed: %w", err)
	}
	step, result := totp.Verify(seed, c.FormValue("code"), h.now(), u.TOTPLastStep)
	if result == totp.Valid {
		if err := h.store.AcceptTOTPStep(ctx, u.ID, step, h.now()); errors.Is(err, storage.ErrConflict) {
			result = totp.Replayed
		} else if err != nil {
			return fail(http.StatusServiceUnavailable, "error.unavailable", err)
		}
	}
	if result != totp.Valid {
		h.record(c, storage.AuditEvent{Type: audit.MFAFailed, Outcome: audit.Failure, Reason: "wrong code to change the authenticator", NIP: u.NIP, UserID: u.ID})
		p.Error = "otp.wrong"
		if result == totp.Replayed {
			p.Error = "otp.replayed"
		}
		return h.render(c, http.StatusUnauthorized, "account", p)
	}

	next, err := totp.NewSecret(h.cfg.Rand)
	if err != nil {
		return fmt.Errorf("make totp seed: %w", err)
	}
	sealed, err := h.sealOffer(sess.ID, next)
	if err != nil {
		return err
	}
	c.SetCookie(h.cfg.Cookies.New(enrolCookie, sealed, h.cfg.Enrolment, http.SameSiteStrictMode))
	return h.renderNewAuthenticator(c, u, next, "")
}

func (h *Handler) renderNewAuthenticator(c echo.Context, u *storage.User, seed []byte, errKey string) error {
	keyURL := totp.KeyURL(h.cfg.IssuerName, u.NIP, seed)
	p, err := enrolPage(keyURL, seed)
	if err != nil {
		return err
	}
	p.Title, p.Error, p.Action = "account.new_title", errKey, "/login/account/authenticator/confirm"
	status := http.StatusOK
	if errKey != "" {
		status = http.StatusUnauthorized
	}
	return h.render(c, status, "enrol", p)
}

// confirmNewAuthenticator binds the offered seed once a code proves the
// phone holds it.
func (h *Handler) confirmNewAuthenticator(c echo.Context) error {
	sess, u, err := h.accountSession(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	seed, err := h.openOffer(sess.ID, h.cfg.Cookies.Value(c.Request(), enrolCookie))
	if err != nil {
		return fail(http.StatusBadRequest, "enrol.expired", err)
	}
	attempt, err := h.store.IncrementCounter(ctx, "account-enrol:"+sess.ID, h.cfg.Enrolment, h.now())
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	if attempt > otpBudget {
		c.SetCookie(h.cfg.Cookies.Clear(enrolCookie, http.SameSiteStrictMode))
		return fail(http.StatusTooManyRequests, "otp.too_many", nil)
	}
	step, result := totp.Verify(seed, c.FormValue("code"), h.now(), 0)
	if result != totp.Valid {
		return h.renderNewAuthenticator(c, u, seed, "enrol.wrong")
	}
	sealed, err := h.cfg.Sealer.Seal(seed, totpAAD(u.ID))
	if err != nil {
		return fmt.Errorf("seal totp seed: %w", err)
	}
	if err := h.store.ClearTOTP(ctx, u.ID, h.now()); err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	if err := h.store.BindTOTP(ctx, u.ID, sealed, step, h.now()); err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	c.SetCookie(h.cfg.Cookies.Clear(enrolCookie, http.SameSiteStrictMode))
	h.log.InfoContext(ctx, "authenticator changed", "sub", u.ID, "sid", sess.ID, "ip", c.RealIP())
	h.record(c, storage.AuditEvent{Type: audit.MFAEnrolled, Reason: "authenticator changed", NIP: u.NIP, UserID: u.ID})
	h.mailUser(ctx, c, u, "authenticator_added")
	return c.Redirect(http.StatusSeeOther, "/login/account?notice=changed")
}

// sealOffer seals a seed with its expiry, bound to the session.
func (h *Handler) sealOffer(sessionID string, seed []byte) (string, error) {
	plain := binary.BigEndian.AppendUint64(nil, uint64(h.now().Add(h.cfg.Enrolment).Unix()))
	sealed, err := h.cfg.Sealer.Seal(append(plain, seed...), offerAAD(sessionID))
	if err != nil {
		return "", fmt.Errorf("seal offered seed: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

func (h *Handler) openOffer(sessionID, value string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || value == "" {
		return nil, errors.New("no offered seed")
	}
	plain, err := h.cfg.Sealer.Open(raw, offerAAD(sessionID))
	if err != nil || len(plain) != 8+totp.SecretSize {
		return nil, errors.New("offered seed does not open for this session")
	}
	if h.now().After(time.Unix(int64(binary.BigEndian.Uint64(plain[:8])), 0)) {
		return nil, errors.New("offered seed expired")
	}
	return plain[8:], nil
}

func offerAAD(sessionID string) []byte { return []byte("account.enrol_offer:" + sessionID) }
