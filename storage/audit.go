package storage

import (
	"context"
	"time"
)

// Audit outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
)

// AuditEvent is one security event: who (NIP and sub), through which
// client, from where, what happened and how it ended. No field ever holds a
// password, a code, a token or a secret: writers put identifiers and fixed
// reasons here, never request values.
type AuditEvent struct {
	// ID orders events written in the same microsecond; AppendAudit fills
	// it when empty.
	ID   string
	Time time.Time
	// Type is a dotted event name such as "login.password" or "mfa.reset".
	Type string
	// Outcome is OutcomeSuccess or OutcomeFailure.
	Outcome string
	// Reason says why, in fixed words chosen by the code ("wrong password").
	Reason string
	NIP    string
	// UserID is the subject (sub).
	UserID    string
	ClientID  string
	IP        string
	UserAgent string
	// Actor is who acted: empty for the employee, "operator:<name>" for the
	// CLI.
	Actor string
	// Detail holds further non-secret context ("old_nip=…", "sid=…").
	Detail string
}

// AuditFilter selects audit events. Zero fields do not filter.
type AuditFilter struct {
	// NIP and UserID select the events of one person; when both are set an
	// event matching either is returned, so events recorded under an old
	// NIP are found through the unchanged sub.
	NIP    string
	UserID string
	// Type matches the type exactly, or, when it has no dot, every type of
	// that family ("mfa" matches "mfa.reset").
	Type string
	// Types keeps events whose type matches any of these, each an exact
	// type or a family as in Type (the account page's choice of events).
	Types []string
	// Since keeps events at or after this time.
	Since time.Time
	// Limit keeps the most recent Limit events (0: no limit).
	Limit int
}

// AuditStore keeps the audit log. Events are only ever appended.
type AuditStore interface {
	// AppendAudit stores e, giving it an ID when it has none.
	AppendAudit(ctx context.Context, e *AuditEvent) error
	// AuditEvents returns the matching events, oldest first (the most
	// recent Limit of them when Limit is set).
	AuditEvents(ctx context.Context, f AuditFilter) ([]*AuditEvent, error)
}
