package access

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/asnidp/asnidp/storage"
	"github.com/asnidp/asnidp/storage/sqlstore/sqlstoretest"
)

// TestAuthorize_J12_TargetRoleOutranks: an agency's operator changes an
// account of its agency only when the account holds no console role or
// one below its own; the national role changes any; looking up and
// reading the audit are not changes. Each refusal is audited with the
// target's role.
func TestAuthorize_J12_TargetRoleOutranks(t *testing.T) {
	f := newFixture(t, sqlstoretest.New(t))
	roles := []storage.OperatorRole{"", storage.RoleHelpdesk, storage.RoleAgency, storage.RoleNational}
	// The highest target role each operator may change (index into roles).
	highest := map[string]int{subNational: 3, subAgencyA: 1, subHelpA: 0}
	for sub, top := range highest {
		for i, role := range roles {
			for _, action := range Actions() {
				t.Run(fmt.Sprintf("%s/%s/%s", sub, role, action), func(t *testing.T) {
					base := decide(mustOperator(t, f, sub), action, agencyA) == ""
					change := slices.Contains(accountChanges, action)
					want := base && (!change || i <= top)
					before := len(f.denials(t))
					_, err := f.guard.Authorize(t.Context(), sub, action, Target{Instansi: agencyA, NIP: "199001012022030001", Role: role})
					if want != (err == nil) {
						t.Fatalf("Authorize(%s, %s on a %q account) = %v, want allowed %t", sub, action, role, err, want)
					}
					if want {
						return
					}
					if !errors.Is(err, ErrDenied) {
						t.Fatalf("refusal %v is not ErrDenied", err)
					}
					rows := f.denials(t)[before:]
					if len(rows) != 1 || base && !strings.Contains(rows[0].Detail, "target_role="+string(role)) {
						t.Errorf("denial rows %+v, want one naming target_role=%s", rows, role)
					}
				})
			}
		}
	}
}

func mustOperator(t *testing.T, f *fixture, sub string) *storage.Operator {
	t.Helper()
	op, err := f.store.OperatorByUserID(t.Context(), sub)
	if err != nil {
		t.Fatal(err)
	}
	return op
}
