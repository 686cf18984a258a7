// Package audit records security events. Each event goes to the
// audit_events table, where operators query it (`asnidp audit`), and to the
// log, where log shipping picks it up.
//
// An event holds identifiers (NIP, sub, client ID, session ID), the client's
// IP and user agent, and a reason in fixed words chosen by the code. It
// never holds a request value that could be a credential: no password,
// code, token, cookie or secret is ever passed to Record, and the fields
// are length-bounded and stripped of control characters so a hostile user
// agent can neither flood nor forge lines.
package audit

import (
	"context"
	"log/slog"
	"strings"
	"time"
	"unicode"

	"github.com/asnidp/asnidp/storage"
)

// Outcomes, as stored.
const (
	Success = storage.OutcomeSuccess
	Failure = storage.OutcomeFailure
)

// Store is where events are kept.
type Store interface {
	AppendAudit(ctx context.Context, e *storage.AuditEvent) error
}

// Recorder writes events to the store and to the log. A nil *Recorder
// records nothing, so packages can hold one unconditionally.
type Recorder struct {
	store    Store
	log      *slog.Logger
	now      func() time.Time
	observer Observer
}

// Observer sees every recorded event's type and outcome (metrics and
// alerts, see internal/monitor).
type Observer interface {
	Observe(ctx context.Context, eventType, outcome string)
}

// WithObserver makes r report each event to o as well.
func (r *Recorder) WithObserver(o Observer) *Recorder {
	r.observer = o
	return r
}

// New returns a recorder; now stamps the events.
func New(store Store, log *slog.Logger, now func() time.Time) *Recorder {
	if log == nil {
		log = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	return &Recorder{store: store, log: log, now: now}
}

// Field bounds: enough for any real value, small enough that nothing can
// flood the table or the log.
const (
	maxUserAgent = 256
	maxField     = 512
)

// Record stamps e with the time (when unset) and the client's IP and user
// agent from ctx (when unset, see WithRequest), then stores and logs it.
// A store failure is logged, not returned: the action the event describes
// has happened either way, and a login must not fail because its audit row
// could not be written.
func (r *Recorder) Record(ctx context.Context, e storage.AuditEvent) {
	if r == nil {
		return
	}
	r.Prepare(ctx, &e)
	r.Emit(ctx, &e)
	if err := r.store.AppendAudit(context.WithoutCancel(ctx), &e); err != nil {
		r.log.ErrorContext(ctx, "write audit event", "type", e.Type, "err", err)
	}
}

// Prepare stamps and bounds e as Record does, for a caller that stores it
// itself in the transaction of the change it describes; after the commit
// the caller passes it to Emit.
func (r *Recorder) Prepare(ctx context.Context, e *storage.AuditEvent) {
	if r == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = r.now()
	}
	if e.Outcome == "" {
		e.Outcome = Success
	}
	if info, ok := ctx.Value(requestKey{}).(requestInfo); ok {
		if e.IP == "" {
			e.IP = info.ip
		}
		if e.UserAgent == "" {
			e.UserAgent = info.userAgent
		}
	}
	clean(e)
}

// Emit logs a prepared event and reports it to the observer.
func (r *Recorder) Emit(ctx context.Context, e *storage.AuditEvent) {
	if r == nil {
		return
	}
	level := slog.LevelInfo
	if e.Outcome != Success {
		level = slog.LevelWarn
	}
	r.log.LogAttrs(ctx, level, "audit", attrs(e)...)
	if r.observer != nil {
		r.observer.Observe(ctx, e.Type, e.Outcome)
	}
}

// attrs is the log form of an event: empty fields are left out.
func attrs(e *storage.AuditEvent) []slog.Attr {
	out := []slog.Attr{slog.String("type", e.Type), slog.String("outcome", e.Outcome)}
	for _, f := range []struct{ key, value string }{
		{"reason", e.Reason}, {"nip", e.NIP}, {"sub", e.UserID}, {"client_id", e.ClientID},
		{"ip", e.IP}, {"user_agent", e.UserAgent}, {"actor", e.Actor}, {"detail", e.Detail},
	} {
		if f.value != "" {
			out = append(out, slog.String(f.key, f.value))
		}
	}
	return out
}

// clean bounds every field and removes control characters.
func clean(e *storage.AuditEvent) {
	e.UserAgent = bound(e.UserAgent, maxUserAgent)
	for _, f := range []*string{&e.Type, &e.Outcome, &e.Reason, &e.NIP, &e.UserID, &e.ClientID, &e.IP, &e.Actor, &e.Detail} {
		*f = bound(*f, maxField)
	}
}

func bound(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\uFFFD' {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	if len(s) <= n {
		return s
	}
	// Cut at a rune boundary.
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// Operator names the actor of a CLI command: "operator:<login name>", or
// "operator" when the name is unknown.
func Operator(name string) string {
	name = bound(strings.TrimSpace(name), 64)
	if name == "" {
		return "operator"
	}
	return "operator:" + name
}
