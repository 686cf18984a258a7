package storage

import (
	"context"
	"time"
)

// OperatorRole is what an operator of the agency console may do, and
// where (see internal/access for the rules).
type OperatorRole string

const (
	// RoleNational sees and acts on every agency.
	RoleNational OperatorRole = "national"
	// RoleAgency administers the accounts of one agency.
	RoleAgency OperatorRole = "agency"
	// RoleHelpdesk looks up, unlocks and resets the authenticator of the
	// accounts of one agency.
	RoleHelpdesk OperatorRole = "helpdesk"
)

// Roles lists every role, in the order the CLI names them.
func Roles() []OperatorRole { return []OperatorRole{RoleNational, RoleAgency, RoleHelpdesk} }

// Valid reports whether r is one of Roles.
func (r OperatorRole) Valid() bool {
	return r == RoleNational || r == RoleAgency || r == RoleHelpdesk
}

// NeedsInstansi reports whether a grant of r names one agency: agency and
// helpdesk roles do, the national role never does.
func (r OperatorRole) NeedsInstansi() bool { return r == RoleAgency || r == RoleHelpdesk }

// Operator is an employee account allowed into the agency console.
type Operator struct {
	// UserID is the account's sub; an account holds at most one role.
	UserID string
	Role   OperatorRole
	// Instansi is the agency of an agency or helpdesk role, exactly as the
	// accounts carry it; empty for the national role.
	Instansi string
	// GrantedBy names who granted the role (audit.Operator for the CLI).
	GrantedBy string
	GrantedAt time.Time

	// NIP and Name are the account's, filled when an operator is read and
	// ignored when one is granted.
	NIP  string
	Name string
}

// OperatorStore keeps the console's roles. Each change is written in one
// transaction with the audit row that describes it, so a committed change
// always has its row and a refused one leaves none.
type OperatorStore interface {
	// GrantOperator gives o.UserID the role o describes, replacing any
	// role it held. The role must be valid, and o.Instansi set exactly
	// when the role needs one (an error otherwise). An unknown user, or
	// an instansi that no account carries, is ErrNotFound. event is
	// appended in the same transaction (as AppendAudit would).
	GrantOperator(ctx context.Context, o *Operator, event *AuditEvent) error
	// RevokeOperator takes the role of userID away, appending event in
	// the same transaction. A user without a role is ErrNotFound, and
	// nothing is written.
	RevokeOperator(ctx context.Context, userID string, event *AuditEvent) error
	// OperatorByUserID returns the role of userID, read from the database
	// on every call (a revocation takes effect on the next read); a user
	// without one is ErrNotFound.
	OperatorByUserID(ctx context.Context, userID string) (*Operator, error)
	// Operators returns every operator, ordered by role, instansi, NIP.
	Operators(ctx context.Context) ([]*Operator, error)
}
