package login

import (
	"context"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/storage"
)

// Auditor records security events (internal/audit.Recorder). Events carry
// identifiers and fixed reasons only, never a form value.
type Auditor interface {
	Record(ctx context.Context, e storage.AuditEvent)
}

// record audits e with the client's IP and user agent; without an
// Auditor it does nothing.
func (h *Handler) record(c echo.Context, e storage.AuditEvent) {
	if h.deps.Audit == nil {
		return
	}
	e.IP = c.RealIP()
	e.UserAgent = c.Request().UserAgent()
	h.deps.Audit.Record(c.Request().Context(), e)
}

// recordPasswordFailure audits what the n-th consecutive password failure
// of u brought on: the lock that only a reset releases, or the
// progressive delay.
func (h *Handler) recordPasswordFailure(ctx context.Context, u *storage.User, n int, ip string) {
	if h.deps.Audit == nil {
		return
	}
	lo := h.opts.Lockout
	e := storage.AuditEvent{NIP: u.NIP, UserID: u.ID, IP: ip, Outcome: audit.Failure}
	switch {
	case n >= lo.LockAfter:
		e.Type, e.Reason = audit.LoginLocked, "consecutive password failures reached the lock"
	case lo.Delay(n) > 0:
		e.Type, e.Reason = audit.LoginDelayed, "consecutive password failures"
		e.Detail = "until=" + h.now().Add(lo.Delay(n)).UTC().Format(time.RFC3339)
	default:
		return
	}
	h.deps.Audit.Record(ctx, e)
}
