package login

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/storage"
)

// Ending sessions from the account page (E4, E8). A session is named by
// its ID, which is no secret (relying parties see it as the ID token's
// sid), so what decides is that it belongs to the account of the browser's
// own session: any other ID, another account's or none at all, is "not
// found", alike, and changes nothing. Each session ends as a logout ends
// it: its tokens are revoked and its back-channel logouts queued.

// endAccountSession ends one session of the account: another device's,
// or this one, which is signing out here.
func (h *Handler) endAccountSession(c echo.Context) error {
	sess, u, err := h.accountSession(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	sid := c.FormValue("sid")
	if sid == sess.ID {
		return h.submitLogout(c)
	}
	if sid == "" || len(sid) > 100 {
		return fail(http.StatusNotFound, "account.session_unknown", errors.New("no session named"))
	}
	target, err := h.store.SessionByID(ctx, sid)
	if err == nil && target.UserID != u.ID {
		// Logged, not shown: the answer is the same as for no session.
		h.log.WarnContext(ctx, "account page: end of another account's session refused", "sub", u.ID, "sid", sess.ID, "target_sid", sid, "ip", c.RealIP())
		err = storage.ErrNotFound
	}
	if errors.Is(err, storage.ErrNotFound) {
		return fail(http.StatusNotFound, "account.session_unknown", fmt.Errorf("session %s of the account: %w", sid, err))
	}
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	if target.RevokedAt.IsZero() {
		if err := h.store.EndSession(ctx, sid, h.now()); err != nil {
			return fail(http.StatusServiceUnavailable, "error.unavailable", err)
		}
		h.log.InfoContext(ctx, "session ended from the account page", "sub", u.ID, "sid", sess.ID, "ended_sid", sid, "ip", c.RealIP())
		h.record(c, storage.AuditEvent{Type: audit.SessionEnded, Reason: "ended from the account page", NIP: u.NIP, UserID: u.ID, Detail: "sid=" + sid})
	}
	return c.Redirect(http.StatusSeeOther, "/login/account?notice=ended")
}

// endOtherSessions ends every session of the account but this one.
func (h *Handler) endOtherSessions(c echo.Context) error {
	sess, u, err := h.accountSession(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	ended, err := h.store.EndOtherSessions(ctx, u.ID, sess.ID, h.now())
	if errors.Is(err, storage.ErrConflict) { // this session ended meanwhile
		return fail(http.StatusUnauthorized, "account.no_session", err)
	}
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	h.log.InfoContext(ctx, "other sessions ended from the account page", "sub", u.ID, "sid", sess.ID, "ended", len(ended), "ip", c.RealIP())
	h.recordEnded(c, u, ended, "ended with all other sessions from the account page")
	return c.Redirect(http.StatusSeeOther, "/login/account?notice=others_ended")
}

// recordEnded audits the end of each of the sessions ids of u.
func (h *Handler) recordEnded(c echo.Context, u *storage.User, ids []string, reason string) {
	for _, id := range ids {
		h.record(c, storage.AuditEvent{Type: audit.SessionEnded, Reason: reason, NIP: u.NIP, UserID: u.ID, Detail: "sid=" + id})
	}
}
