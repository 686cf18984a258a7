package login

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/cookie"
	"github.com/asnidp/asnidp/internal/secret"
	"github.com/asnidp/asnidp/internal/useragent"
	"github.com/asnidp/asnidp/storage"
)

// finish starts a fresh SSO session for u, records it on the auth request
// and hands the browser to the OP's callback. Any session this browser
// held before (perhaps another employee's, on a shared device) is ended,
// and the new one gets a new random value (E2, E7). The browser binding is
// rotated again first, so a value seen between the factors cannot collect
// the code (A5, E2).
func (h *Handler) finish(c echo.Context, ar *storage.AuthRequest, u *storage.User, amr []string) error {
	ctx := c.Request().Context()
	now := h.now()
	if err := h.rebind(c, ar.ID); err != nil {
		return err
	}
	if sess, err := h.stepUpSession(c, ar, u); err != nil || sess != nil {
		if err != nil {
			return err
		}
		return h.finishStepUp(c, ar, u, sess)
	}
	if err := h.endBrowserSession(c); err != nil {
		return err
	}
	token := secret.Token()
	sess := &storage.Session{
		ID:         "s_" + rand.Text(),
		TokenHash:  h.hash.Hash(token),
		UserID:     u.ID,
		AuthTime:   now,
		AMR:        amr,
		CreatedAt:  now,
		LastSeenAt: now,
		ExpiresAt:  now.Add(h.opts.SessionAbsolute),
		// For the account page's list of sessions: where the employee
		// signed in, as the browser and the trusted-proxy rule tell it.
		UserAgent: useragent.Clip(c.Request().UserAgent()),
		IP:        c.RealIP(),
	}
	if err := h.store.CreateSession(ctx, sess); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	if err := h.store.CompleteAuthRequest(ctx, ar.ID, sess.ID, now); err != nil {
		return fmt.Errorf("complete auth request: %w", err)
	}
	c.SetCookie(h.opts.Cookies.New(cookie.Session, token, h.opts.SessionAbsolute, http.SameSiteLaxMode))
	h.noteDevice(c, u)
	h.log.InfoContext(ctx, "login complete", "sub", u.ID, "sid", sess.ID, "auth_request", ar.ID, "ip", c.RealIP())
	h.record(c, storage.AuditEvent{Type: audit.LoginSucceeded, NIP: u.NIP, UserID: u.ID, ClientID: ar.ClientID, Detail: "sid=" + sess.ID})
	return c.Redirect(http.StatusSeeOther, h.deps.CallbackURL(ar.ID))
}

// stepUpSession returns the live SSO session a step-up request may
// complete in: the one this browser holds, of the same employee. Any
// other request, or a session that ended or belongs to someone else,
// gets a fresh session as a sign-in does (E7).
func (h *Handler) stepUpSession(c echo.Context, ar *storage.AuthRequest, u *storage.User) (*storage.Session, error) {
	if h.opts.StepUpACR == "" || ar.ACR != h.opts.StepUpACR {
		return nil, nil
	}
	sess, err := h.deps.Browsers.Session(c.Request().Context(), c.Request().Header)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("load session: %w", err)
	case sess.UserID != u.ID:
		return nil, nil
	}
	return sess, nil
}

// finishStepUp completes a step-up request in the session it began in:
// the second factor was entered again just now, so the ID token's
// auth_time is now, and the services signed in through the session stay
// signed in (D20).
func (h *Handler) finishStepUp(c echo.Context, ar *storage.AuthRequest, u *storage.User, sess *storage.Session) error {
	ctx := c.Request().Context()
	now := h.now()
	if err := h.store.CompleteAuthRequest(ctx, ar.ID, sess.ID, now); err != nil {
		return fmt.Errorf("complete step-up: %w", err)
	}
	if err := h.store.TouchSession(ctx, sess.ID, now); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	h.log.InfoContext(ctx, "step-up complete", "sub", u.ID, "sid", sess.ID, "auth_request", ar.ID, "ip", c.RealIP())
	h.record(c, storage.AuditEvent{Type: audit.LoginSucceeded, NIP: u.NIP, UserID: u.ID, ClientID: ar.ClientID, Reason: "step-up", Detail: "sid=" + sess.ID})
	return c.Redirect(http.StatusSeeOther, h.deps.CallbackURL(ar.ID))
}

// endBrowserSession revokes the session in this browser's cookie, with
// the tokens issued in it, and deletes the cookie.
func (h *Handler) endBrowserSession(c echo.Context) error {
	ctx := c.Request().Context()
	now := h.now()
	sess, err := h.deps.Browsers.Session(ctx, c.Request().Header)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return fmt.Errorf("load session: %w", err)
	default:
		// Ends its tokens and queues back-channel logout notices too.
		if err := h.store.EndSession(ctx, sess.ID, now); err != nil {
			return fmt.Errorf("end session: %w", err)
		}
		h.log.InfoContext(ctx, "session ended", "sub", sess.UserID, "sid", sess.ID)
		h.record(c, storage.AuditEvent{Type: audit.SessionEnded, UserID: sess.UserID, Reason: "ended in the browser", Detail: "sid=" + sess.ID})
	}
	c.SetCookie(h.opts.Cookies.Clear(cookie.Session, http.SameSiteLaxMode))
	return nil
}

func (h *Handler) showLogout(c echo.Context) error {
	p := logoutView{layout: layout{Title: "logout.title"}}
	if c.QueryParam("done") != "" {
		p.Title, p.Done = "logout.done_title", true
	}
	return h.render(c, http.StatusOK, "logout", &p)
}

func (h *Handler) submitLogout(c echo.Context) error {
	if err := h.endBrowserSession(c); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/login/logout?done=1")
}
