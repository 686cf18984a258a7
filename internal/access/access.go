// Package access decides what an operator of the agency console may do,
// and where. The rules:
//
//   - national: every action on every agency, and the views across all
//     agencies at once;
//   - agency: every action, on the accounts of its own agency only;
//   - helpdesk: look-up, unlock and reset-mfa, on its own agency only;
//   - agency and helpdesk change (unlock, reset-mfa, disable, enable,
//     import) only accounts holding no console role or one below their
//     own (Target.Role);
//   - anything else (no role, a revoked role, an action not listed, an
//     agency role that names no agency) is denied.
//
// Guard.Authorize is the only way to ask, and it reads the operator's role
// from the database on every call, so a revoked role is refused on the
// very next request. Every denial is recorded in the audit log by
// Authorize itself (operator.denied), so no caller can deny without a
// trace.
//
// The target agency must come from the record acted on (the account's
// instansi as stored, the agency of an import row), never from the
// request: a request names what it wants, the database says whose it is.
package access

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/storage"
)

// Action is something an operator does in the console.
type Action string

// The console's actions.
const (
	ViewFunnel  Action = "view_funnel"
	ViewPending Action = "view_pending"
	Lookup      Action = "lookup"
	Unlock      Action = "unlock"
	ResetMFA    Action = "reset_mfa"
	Disable     Action = "disable"
	Enable      Action = "enable"
	Import      Action = "import"
	ViewAudit   Action = "view_audit"
)

// Actions lists every action.
func Actions() []Action {
	return []Action{ViewFunnel, ViewPending, Lookup, Unlock, ResetMFA, Disable, Enable, Import, ViewAudit}
}

// helpdeskActions are what a helpdesk operator may do on its agency: help
// an employee who is stuck, nothing that changes who has an account.
var helpdeskActions = []Action{Lookup, Unlock, ResetMFA}

// AllAgencies is the target of a view across every agency at once (the
// national funnel, the whole audit log): only the national role has it.
const AllAgencies = ""

// Target is what an action is on.
type Target struct {
	// Instansi is the agency of the record acted on, as stored;
	// AllAgencies for a view across agencies.
	Instansi string
	// NIP is the employee acted on, when there is one; it is only
	// recorded, the decision is the agency's.
	NIP string
	// Role is the console role the account acted on holds, as stored
	// ("": none). An agency's operator changes only accounts of a lower
	// role than its own: a helpdesk operator cannot reset its agency
	// administrator's authenticator, nor an agency administrator disable
	// a national operator whose account belongs to its agency.
	Role storage.OperatorRole
}

// ErrDenied is the answer to a request the operator's role does not
// allow; the caller answers 403 and shows nothing of the target.
var ErrDenied = errors.New("not allowed")

// Store reads roles.
type Store interface {
	OperatorByUserID(ctx context.Context, userID string) (*storage.Operator, error)
}

// Auditor records security events (internal/audit.Recorder).
type Auditor interface {
	Record(ctx context.Context, e storage.AuditEvent)
}

// Guard answers authorization questions.
type Guard struct {
	store Store
	audit Auditor
}

// New returns a guard reading roles from store and recording denials with
// a. Both are required: a guard that could not record would deny without
// a trace.
func New(store Store, a Auditor) *Guard {
	if store == nil || a == nil {
		panic("access.New: a store and an auditor are required")
	}
	return &Guard{store: store, audit: a}
}

// Actor is how the console's audit rows name the operator: by sub, which
// stays when the NIP changes.
func Actor(sub string) string { return "console:" + sub }

// Authorize reports whether the operator whose sub is given may do action
// on target, reading its role now. It returns the role when allowed. A
// denial is ErrDenied, recorded before Authorize returns; a failure to
// read the role is another error (the caller answers 500), and nothing is
// allowed.
func (g *Guard) Authorize(ctx context.Context, sub string, action Action, target Target) (*storage.Operator, error) {
	var op *storage.Operator
	if sub != "" {
		held, err := g.store.OperatorByUserID(ctx, sub)
		switch {
		case err == nil:
			op = held
		case !errors.Is(err, storage.ErrNotFound):
			return nil, fmt.Errorf("read operator role: %w", err)
		}
	}
	reason := decide(op, action, target.Instansi)
	if reason == "" {
		reason = outranked(op, action, target.Role)
	}
	if reason == "" {
		return op, nil
	}
	e := storage.AuditEvent{
		Type: audit.OperatorDenied, Outcome: audit.Failure, Reason: reason, UserID: sub, Actor: Actor(sub),
		Detail: fmt.Sprintf("action=%s target_instansi=%q target_nip=%s", action, target.Instansi, target.NIP),
	}
	if op != nil {
		e.NIP = op.NIP
		e.Detail += fmt.Sprintf(" role=%s instansi=%q", op.Role, op.Instansi)
	}
	if target.Role != "" {
		e.Detail += " target_role=" + string(target.Role)
	}
	g.audit.Record(ctx, e)
	return nil, fmt.Errorf("%w: %s", ErrDenied, reason)
}

// decide returns why op may not do action on the agency target, or ""
// when it may. Every path that is not an explicit allow is a denial.
func decide(op *storage.Operator, action Action, target string) string {
	if op == nil {
		return "no operator role"
	}
	if !slices.Contains(Actions(), action) {
		return "unknown action"
	}
	switch op.Role {
	case storage.RoleNational:
		return ""
	case storage.RoleAgency, storage.RoleHelpdesk:
		if op.Instansi == "" || target != op.Instansi {
			return "outside the operator's agency"
		}
		if op.Role == storage.RoleHelpdesk && !slices.Contains(helpdeskActions, action) {
			return "not an action of the helpdesk role"
		}
		return ""
	default:
		return "unknown role"
	}
}

// accountChanges are the actions that change an account.
var accountChanges = []Action{Unlock, ResetMFA, Disable, Enable, Import}

// rank orders the roles; an unknown role ranks highest, so it is never
// below anyone.
func rank(r storage.OperatorRole) int {
	switch r {
	case "":
		return 0
	case storage.RoleHelpdesk:
		return 1
	case storage.RoleAgency:
		return 2
	}
	return 3
}

// outranked returns why op may not change an account holding the role
// target, or "" when it may: the national role changes any account, the
// others only accounts of a role below their own.
func outranked(op *storage.Operator, action Action, target storage.OperatorRole) string {
	if target == "" || op.Role == storage.RoleNational || !slices.Contains(accountChanges, action) {
		return ""
	}
	if rank(target) >= rank(op.Role) {
		return "the account holds an equal or higher operator role"
	}
	return ""
}
