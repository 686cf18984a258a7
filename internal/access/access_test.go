package access

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/storage"
	"github.com/asnidp/asnidp/storage/sqlstore"
	"github.com/asnidp/asnidp/storage/sqlstore/sqlstoretest"
)

var t0 = time.Date(2025, time.June, 2, 8, 0, 0, 0, time.UTC)

const (
	agencyA = "Pemerintah Kota Bandung"
	agencyB = "Badan Kepegawaian Negara"
)

// Operators of the fixture, by sub.
const (
	subNational = "u-national"
	subAgencyA  = "u-agency-a"
	subHelpA    = "u-helpdesk-a"
	subEmployee = "u-employee" // an account without a role
)

// fixture is a guard on a real store holding one operator of each role,
// an employee of each agency and an account without a role.
type fixture struct {
	store *sqlstore.Store
	guard *Guard
}

func newFixture(t *testing.T, store *sqlstore.Store) *fixture {
	t.Helper()
	ctx := t.Context()
	for i, u := range []struct{ id, instansi string }{
		{subNational, agencyB}, {subAgencyA, agencyA}, {subHelpA, agencyA}, {subEmployee, agencyA}, {"u-b", agencyB},
	} {
		if err := store.CreateUser(ctx, &storage.User{ID: u.id, NIP: fmt.Sprintf("19900101202203%04d", i), Name: u.id,
			Instansi: u.instansi, State: storage.StateActive, CreatedAt: t0}); err != nil {
			t.Fatalf("setup: %v", err)
		}
	}
	for _, o := range []*storage.Operator{
		{UserID: subNational, Role: storage.RoleNational},
		{UserID: subAgencyA, Role: storage.RoleAgency, Instansi: agencyA},
		{UserID: subHelpA, Role: storage.RoleHelpdesk, Instansi: agencyA},
	} {
		o.GrantedAt = t0
		if err := store.GrantOperator(ctx, o, nil); err != nil {
			t.Fatalf("setup: %v", err)
		}
	}
	rec := audit.New(store, slog.New(slog.NewTextHandler(t.Output(), nil)), func() time.Time { return t0 })
	return &fixture{store: store, guard: New(store, rec)}
}

// denials returns the operator.denied rows.
func (f *fixture) denials(t *testing.T) []*storage.AuditEvent {
	t.Helper()
	rows, err := f.store.AuditEvents(t.Context(), storage.AuditFilter{Type: audit.OperatorDenied})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestActions_AreTheNine pins the list the matrix below covers: an action
// added without a row in the matrix fails here.
func TestActions_AreTheNine(t *testing.T) {
	want := []Action{"view_funnel", "view_pending", "lookup", "unlock", "reset_mfa", "disable", "enable", "import", "view_audit"}
	if !slices.Equal(Actions(), want) {
		t.Errorf("Actions() = %v, want %v", Actions(), want)
	}
}

// J1 (an agency's operator reaching another agency), J2 (a helpdesk
// operator calling an agency administrator's action) and J4 (every
// denial audited, no allow audited as one): every role × action × target
// against a matrix written out by hand, so loosening any rule, or adding
// an allow, fails a row. Each denial writes exactly one operator.denied
// row naming the operator's sub, the action and the target.
func TestAuthorize_J1_J2_J4_Matrix(t *testing.T) {
	f := newFixture(t, sqlstoretest.New(t))
	all := Actions()
	allowed := map[string]map[string][]Action{
		subNational: {"own": all, "other": all, "all": all},
		subAgencyA:  {"own": all, "other": nil, "all": nil},
		subHelpA:    {"own": {Lookup, Unlock, ResetMFA}, "other": nil, "all": nil},
		subEmployee: {"own": nil, "other": nil, "all": nil},
	}
	targets := map[string]Target{
		"own":   {Instansi: agencyA, NIP: "199001012022030003"},
		"other": {Instansi: agencyB, NIP: "199001012022030004"},
		"all":   {Instansi: AllAgencies},
	}
	for _, sub := range []string{subNational, subAgencyA, subHelpA, subEmployee} {
		for _, where := range []string{"own", "other", "all"} {
			for _, action := range all {
				t.Run(fmt.Sprintf("%s/%s/%s", sub, where, action), func(t *testing.T) {
					before := len(f.denials(t))
					want := slices.Contains(allowed[sub][where], action)
					op, err := f.guard.Authorize(t.Context(), sub, action, targets[where])
					rows := f.denials(t)[before:]
					if want {
						if err != nil || op == nil || op.UserID != sub {
							t.Errorf("Authorize(%s, %s, %s) = %v, %v; want the operator's role", sub, action, where, op, err)
						}
						if len(rows) != 0 {
							t.Errorf("an allowed request wrote denial rows %+v", rows)
						}
						return
					}
					if !errors.Is(err, ErrDenied) || op != nil {
						t.Errorf("Authorize(%s, %s, %s) = %v, %v; want ErrDenied and no role", sub, action, where, op, err)
					}
					if len(rows) != 1 {
						t.Fatalf("denial wrote %d operator.denied rows, want 1", len(rows))
					}
					e := rows[0]
					wantDetail := fmt.Sprintf("action=%s target_instansi=%q target_nip=%s", action, targets[where].Instansi, targets[where].NIP)
					if e.UserID != sub || e.Actor != "console:"+sub || e.Outcome != audit.Failure || e.Reason == "" ||
						!strings.HasPrefix(e.Detail, wantDetail) {
						t.Errorf("denial row = %+v, want sub %s, actor console:%s, a reason and detail %q", e, sub, sub, wantDetail)
					}
				})
			}
		}
	}
}

// J3: everything that is not an explicit allow is a denial, audited: no
// sub, an unknown action (even for the national role), an agency spelt
// in another case or with a trailing space, an agency role whose agency
// is empty asking for the all-agencies view.
func TestAuthorize_J3_FailsClosed(t *testing.T) {
	f := newFixture(t, sqlstoretest.New(t))
	tests := []struct {
		name       string
		sub        string
		action     Action
		target     Target
		wantReason string
	}{
		{"no sub", "", Lookup, Target{Instansi: agencyA}, "no operator role"},
		{"unknown sub", "u-nobody", Lookup, Target{Instansi: agencyA}, "no operator role"},
		{"account without a role", subEmployee, Lookup, Target{Instansi: agencyA}, "no operator role"},
		{"unknown action, national", subNational, "delete_everything", Target{Instansi: agencyA}, "unknown action"},
		{"empty action, agency", subAgencyA, "", Target{Instansi: agencyA}, "unknown action"},
		{"action in another case", subAgencyA, "UNLOCK", Target{Instansi: agencyA}, "unknown action"},
		{"agency in another case", subAgencyA, Lookup, Target{Instansi: strings.ToUpper(agencyA)}, "outside the operator's agency"},
		{"agency with a trailing space", subHelpA, Unlock, Target{Instansi: agencyA + " "}, "outside the operator's agency"},
		{"helpdesk import on its own agency", subHelpA, Import, Target{Instansi: agencyA}, "not an action of the helpdesk role"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.denials(t))
			op, err := f.guard.Authorize(t.Context(), tc.sub, tc.action, tc.target)
			if !errors.Is(err, ErrDenied) || op != nil {
				t.Errorf("Authorize = %v, %v; want ErrDenied", op, err)
			}
			rows := f.denials(t)[before:]
			if len(rows) != 1 || rows[0].Reason != tc.wantReason {
				t.Errorf("denial rows = %+v, want one with reason %q", rows, tc.wantReason)
			}
		})
	}

	// An agency role that names no agency (a row written around the
	// storage's checks) reaches nothing, not even "no agency".
	for _, role := range []storage.OperatorRole{storage.RoleAgency, storage.RoleHelpdesk, "superuser"} {
		op := &storage.Operator{UserID: "x", Role: role}
		for _, action := range Actions() {
			if reason := decide(op, action, AllAgencies); reason == "" {
				t.Errorf("decide(%s without instansi, %s, all agencies) allowed, want a denial", role, action)
			}
		}
	}
	if reason := decide(nil, Lookup, agencyA); reason == "" {
		t.Error("decide(no operator) allowed, want a denial")
	}
}

// J3: a revoked role is refused on the very next request, and a changed
// one applies at once: Authorize keeps nothing between calls. Runs on
// SQLite and PostgreSQL.
func TestAuthorize_J3_RevocationTakesEffectAtOnce(t *testing.T) {
	engines := map[string]func(t *testing.T) *sqlstore.Store{
		"sqlite":   func(t *testing.T) *sqlstore.Store { return sqlstoretest.New(t) },
		"postgres": sqlstoretest.NewPostgres,
	}
	for name, open := range engines {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, open(t))
			ctx := t.Context()
			own := Target{Instansi: agencyA}
			if _, err := f.guard.Authorize(ctx, subAgencyA, Disable, own); err != nil {
				t.Fatalf("Authorize before the change = %v, want allowed", err)
			}
			// Demoted to helpdesk: disable is refused, unlock still allowed.
			if err := f.store.GrantOperator(ctx, &storage.Operator{UserID: subAgencyA, Role: storage.RoleHelpdesk, Instansi: agencyA, GrantedAt: t0}, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := f.guard.Authorize(ctx, subAgencyA, Disable, own); !errors.Is(err, ErrDenied) {
				t.Errorf("Authorize(disable) right after the demotion = %v, want ErrDenied", err)
			}
			if _, err := f.guard.Authorize(ctx, subAgencyA, Unlock, own); err != nil {
				t.Errorf("Authorize(unlock) after the demotion = %v, want allowed", err)
			}
			if err := f.store.RevokeOperator(ctx, subAgencyA, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := f.guard.Authorize(ctx, subAgencyA, Unlock, own); !errors.Is(err, ErrDenied) {
				t.Errorf("Authorize right after the revocation = %v, want ErrDenied", err)
			}
		})
	}
}

// A failure to read the role allows nothing and is not reported as a
// denial the operator earned.
func TestAuthorize_StoreFailureAllowsNothing(t *testing.T) {
	store := sqlstoretest.New(t)
	f := newFixture(t, store)
	store.Close()
	op, err := f.guard.Authorize(t.Context(), subNational, Lookup, Target{Instansi: agencyA})
	if err == nil || errors.Is(err, ErrDenied) || op != nil {
		t.Errorf("Authorize on a closed store = %v, %v; want an error other than ErrDenied and no role", op, err)
	}
}

func TestNew_RequiresStoreAndAuditor(t *testing.T) {
	store := sqlstoretest.New(t)
	for name, build := range map[string]func(){
		"no auditor": func() { New(store, nil) },
		"no store":   func() { New(nil, audit.New(store, nil, nil)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New with %s did not refuse", name)
				}
			}()
			build()
		}()
	}
}
