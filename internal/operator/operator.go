// Package operator manages who may use the agency console: it grants an
// employee account a role (national, agency or helpdesk), revokes it and
// lists the operators. Every grant and revocation is checked before
// anything is written and is stored with its audit row in one transaction,
// so bad input changes nothing and every change is on record.
//
// What each role may do is internal/access's job; this package only keeps
// the roles.
package operator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/useradmin"
	"github.com/asnidp/asnidp/storage"
)

// Store is the storage the roles live in.
type Store interface {
	UserByNIP(ctx context.Context, nip string) (*storage.User, error)
	CountUsers(ctx context.Context, f storage.UserFilter, by storage.Grouping) ([]storage.StateCount, error)
	GrantOperator(ctx context.Context, o *storage.Operator, event *storage.AuditEvent) error
	RevokeOperator(ctx context.Context, userID string, event *storage.AuditEvent) error
	OperatorByUserID(ctx context.Context, userID string) (*storage.Operator, error)
	Operators(ctx context.Context) ([]*storage.Operator, error)
}

// Auditor stamps an event for the transaction of its change, and logs it
// after the commit (internal/audit.Recorder).
type Auditor interface {
	Prepare(ctx context.Context, e *storage.AuditEvent)
	Emit(ctx context.Context, e *storage.AuditEvent)
}

// Admin grants and revokes roles.
type Admin struct {
	Store Store
	Audit Auditor
	// Actor names who acts (audit.Operator for the CLI); it is stored as
	// the grant's granted_by and the audit row's actor.
	Actor string
	Now   func() time.Time
}

// Errors of bad input; each message says what to do instead.
var (
	ErrRole          = errors.New("unknown role")
	ErrNeedsInstansi = errors.New("this role administers one agency and needs its instansi")
	ErrNoInstansi    = errors.New("the national role covers every agency and takes no instansi")
	ErrInstansi      = errors.New("no account has this instansi")
	ErrNoRole        = errors.New("the account holds no operator role")
)

// ParseRole reads a role name as the CLI takes it.
func ParseRole(s string) (storage.OperatorRole, error) {
	r := storage.OperatorRole(strings.ToLower(strings.TrimSpace(s)))
	if !r.Valid() {
		var names []string
		for _, r := range storage.Roles() {
			names = append(names, string(r))
		}
		return "", fmt.Errorf("%w %q (want %s)", ErrRole, s, strings.Join(names, ", "))
	}
	return r, nil
}

// Grant gives the account of rawNIP the role over instansi (empty for the
// national role), replacing the role it held. The agency must be one that
// accounts carry, spelt exactly as they carry it: a role over a misspelt
// agency would cover nobody. Granting the role an account already holds
// changes nothing; changed is false then. previous is the role replaced,
// nil when there was none.
func (a *Admin) Grant(ctx context.Context, rawNIP, role, instansi string) (o, previous *storage.Operator, changed bool, err error) {
	r, err := ParseRole(role)
	if err != nil {
		return nil, nil, false, err
	}
	instansi = strings.TrimSpace(instansi)
	switch {
	case r.NeedsInstansi() && instansi == "":
		return nil, nil, false, fmt.Errorf("role %s: %w", r, ErrNeedsInstansi)
	case !r.NeedsInstansi() && instansi != "":
		return nil, nil, false, ErrNoInstansi
	}
	u, err := a.user(ctx, rawNIP)
	if err != nil {
		return nil, nil, false, err
	}
	if instansi != "" {
		if err := a.checkInstansi(ctx, instansi); err != nil {
			return nil, nil, false, err
		}
	}
	previous, err = a.Store.OperatorByUserID(ctx, u.ID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		previous = nil
	case err != nil:
		return nil, nil, false, fmt.Errorf("load role: %w", err)
	case previous.Role == r && previous.Instansi == instansi:
		return previous, previous, false, nil
	}

	o = &storage.Operator{UserID: u.ID, Role: r, Instansi: instansi, GrantedBy: a.Actor, GrantedAt: a.now(), NIP: u.NIP, Name: u.Name}
	detail := describe("", o)
	if previous != nil {
		detail += " " + describe("previous_", previous)
	}
	e := &storage.AuditEvent{Type: audit.OperatorGranted, NIP: u.NIP, UserID: u.ID, Actor: a.Actor, Detail: detail}
	a.Audit.Prepare(ctx, e)
	if err := a.Store.GrantOperator(ctx, o, e); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			// The account or the agency went away since the checks.
			return nil, nil, false, fmt.Errorf("grant role: %w (try again)", err)
		}
		return nil, nil, false, fmt.Errorf("grant role: %w", err)
	}
	a.Audit.Emit(ctx, e)
	return o, previous, true, nil
}

// Revoke takes the role of the account of rawNIP away and returns the
// role it held.
func (a *Admin) Revoke(ctx context.Context, rawNIP string) (*storage.Operator, error) {
	u, err := a.user(ctx, rawNIP)
	if err != nil {
		return nil, err
	}
	held, err := a.Store.OperatorByUserID(ctx, u.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNoRole, u.NIP)
	}
	if err != nil {
		return nil, fmt.Errorf("load role: %w", err)
	}
	e := &storage.AuditEvent{Type: audit.OperatorRevoked, NIP: u.NIP, UserID: u.ID, Actor: a.Actor, Detail: describe("", held)}
	a.Audit.Prepare(ctx, e)
	err = a.Store.RevokeOperator(ctx, u.ID, e)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNoRole, u.NIP)
	}
	if err != nil {
		return nil, fmt.Errorf("revoke role: %w", err)
	}
	a.Audit.Emit(ctx, e)
	return held, nil
}

// List returns every operator.
func (a *Admin) List(ctx context.Context) ([]*storage.Operator, error) {
	list, err := a.Store.Operators(ctx)
	if err != nil {
		return nil, fmt.Errorf("list operators: %w", err)
	}
	return list, nil
}

// Describe is a role as the CLI prints it: `agency of "Kota Bandung"`,
// `national`.
func Describe(o *storage.Operator) string {
	if o.Instansi == "" {
		return string(o.Role)
	}
	return fmt.Sprintf("%s of %q", o.Role, o.Instansi)
}

// WriteList prints operators as a table.
func WriteList(w io.Writer, list []*storage.Operator) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "no operators (grant one with: asnidp operator grant --nip N --role national|agency|helpdesk [--instansi ...])")
		return err
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NIP\tNAME\tROLE\tINSTANSI\tGRANTED BY\tGRANTED AT")
	for _, o := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.NIP, o.Name, o.Role, o.Instansi, o.GrantedBy,
			o.GrantedAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

// describe is a role in an audit row's detail, its keys prefixed.
func describe(prefix string, o *storage.Operator) string {
	return fmt.Sprintf("%srole=%s %sinstansi=%q", prefix, o.Role, prefix, o.Instansi)
}

func (a *Admin) user(ctx context.Context, rawNIP string) (*storage.User, error) {
	return useradmin.Lookup(ctx, a.Store, rawNIP)
}

// checkInstansi refuses an agency no account carries, naming the one
// meant when only case or spacing differ.
func (a *Admin) checkInstansi(ctx context.Context, instansi string) error {
	counts, err := a.Store.CountUsers(ctx, storage.UserFilter{}, storage.GroupInstansi)
	if err != nil {
		return fmt.Errorf("list agencies: %w", err)
	}
	var near []string
	for _, c := range counts {
		if c.Instansi == instansi {
			return nil
		}
		if strings.EqualFold(strings.Join(strings.Fields(c.Instansi), " "), strings.Join(strings.Fields(instansi), " ")) {
			near = append(near, fmt.Sprintf("%q", c.Instansi))
		}
	}
	err = fmt.Errorf("%w: %q", ErrInstansi, instansi)
	if len(near) > 0 {
		slices.Sort(near)
		err = fmt.Errorf("%w (did you mean %s?)", err, strings.Join(slices.Compact(near), " or "))
	}
	return err
}

func (a *Admin) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}
