package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/asnidp/asnidp/storage"
)

// operatorDirectory is two agencies' accounts for the operator tests.
func operatorDirectory(t *testing.T, s storage.Store) {
	t.Helper()
	for _, u := range []*storage.User{
		importedUser("op-a", seqNIP(1), "Kota Bandung", "Dinas Pendidikan"),
		importedUser("op-b", seqNIP(2), "Kota Bandung", "Dinas Kesehatan"),
		importedUser("op-c", seqNIP(3), "BKN", "Biro SDM"),
	} {
		u.CreatedAt, u.UpdatedAt = t0, t0
		must(t, s.CreateUser(t.Context(), u))
	}
}

// operatorEvents returns the operator.* audit rows, oldest first.
func operatorEvents(t *testing.T, s storage.Store) []*storage.AuditEvent {
	t.Helper()
	events, err := s.AuditEvents(t.Context(), storage.AuditFilter{Type: "operator"})
	must(t, err)
	return events
}

func testGrantOperator(t *testing.T, s storage.Store) {
	ctx := t.Context()
	operatorDirectory(t, s)

	agency := &storage.Operator{UserID: "op-a", Role: storage.RoleAgency, Instansi: "Kota Bandung",
		GrantedBy: "operator:budi", GrantedAt: t0}
	must(t, s.GrantOperator(ctx, agency, &storage.AuditEvent{Time: t0, Type: "operator.granted", UserID: "op-a"}))
	got, err := s.OperatorByUserID(ctx, "op-a")
	must(t, err)
	want := *agency
	want.NIP, want.Name = seqNIP(1), "Pegawai op-a"
	if diff := cmp.Diff(&want, got, cmpOpts...); diff != "" {
		t.Errorf("OperatorByUserID(op-a) mismatch (-want +got):\n%s", diff)
	}

	// A second grant replaces the first: one role per account.
	national := &storage.Operator{UserID: "op-a", Role: storage.RoleNational, GrantedBy: "operator:sari", GrantedAt: t0.Add(time.Hour)}
	must(t, s.GrantOperator(ctx, national, &storage.AuditEvent{Time: t0, Type: "operator.granted", UserID: "op-a"}))
	got, err = s.OperatorByUserID(ctx, "op-a")
	must(t, err)
	if got.Role != storage.RoleNational || got.Instansi != "" || got.GrantedBy != "operator:sari" || !got.GrantedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("OperatorByUserID(op-a) after a new grant = %+v, want the national role granted by sari", got)
	}
	helpdesk := &storage.Operator{UserID: "op-c", Role: storage.RoleHelpdesk, Instansi: "BKN", GrantedBy: "operator:budi", GrantedAt: t0}
	must(t, s.GrantOperator(ctx, helpdesk, nil))

	list, err := s.Operators(ctx)
	must(t, err)
	var ids []string
	for _, o := range list {
		ids = append(ids, o.UserID+"/"+string(o.Role)+"/"+o.NIP)
	}
	if diff := cmp.Diff([]string{"op-c/helpdesk/" + seqNIP(3), "op-a/national/" + seqNIP(1)}, ids); diff != "" {
		t.Errorf("Operators() mismatch (-want +got):\n%s", diff)
	}
	if n := len(operatorEvents(t, s)); n != 2 {
		t.Errorf("operator audit rows after two audited grants = %d, want 2", n)
	}
	_, err = s.OperatorByUserID(ctx, "op-b")
	wantErr(t, "OperatorByUserID(op-b without a role)", err, storage.ErrNotFound)
}

// J6: a grant that breaks a rule (a role that does not exist, an agency
// role without its agency or the national role with one, an unknown
// account or an agency no account carries) is refused and writes nothing,
// neither the role nor its audit row; a grant whose audit row cannot be
// written leaves no role.
func testGrantOperatorRefused(t *testing.T, s storage.Store) {
	ctx := t.Context()
	operatorDirectory(t, s)
	tests := []struct {
		name     string
		op       storage.Operator
		wantErr  error
		eventOff bool
	}{
		{"unknown role", storage.Operator{UserID: "op-a", Role: "superuser"}, nil, false},
		{"empty role", storage.Operator{UserID: "op-a", Role: ""}, nil, false},
		{"agency without instansi", storage.Operator{UserID: "op-a", Role: storage.RoleAgency}, nil, false},
		{"helpdesk without instansi", storage.Operator{UserID: "op-a", Role: storage.RoleHelpdesk}, nil, false},
		{"national with instansi", storage.Operator{UserID: "op-a", Role: storage.RoleNational, Instansi: "BKN"}, nil, false},
		{"unknown user", storage.Operator{UserID: "nobody", Role: storage.RoleNational}, storage.ErrNotFound, false},
		{"unknown instansi", storage.Operator{UserID: "op-a", Role: storage.RoleAgency, Instansi: "Kota Bogor"}, storage.ErrNotFound, false},
		{"instansi of another case", storage.Operator{UserID: "op-a", Role: storage.RoleAgency, Instansi: "kota bandung"}, storage.ErrNotFound, false},
		{"audit row cannot be written", storage.Operator{UserID: "op-a", Role: storage.RoleNational}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.op
			o.GrantedAt = t0
			event := &storage.AuditEvent{Time: t0, Type: "operator.granted", UserID: o.UserID}
			if tc.eventOff {
				event.Type = "" // refused by AppendAudit
			}
			err := s.GrantOperator(ctx, &o, event)
			switch {
			case err == nil:
				t.Errorf("GrantOperator(%+v) = nil, want an error", tc.op)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Errorf("GrantOperator(%+v) = %v, want %v", tc.op, err, tc.wantErr)
			}
			if list, err := s.Operators(ctx); err != nil || len(list) != 0 {
				t.Errorf("Operators() after a refused grant = %v, %v; want none", list, err)
			}
			if events := operatorEvents(t, s); len(events) != 0 {
				t.Errorf("audit rows after a refused grant = %+v, want none", events)
			}
		})
	}
}

func testRevokeOperator(t *testing.T, s storage.Store) {
	ctx := t.Context()
	operatorDirectory(t, s)
	must(t, s.GrantOperator(ctx, &storage.Operator{UserID: "op-b", Role: storage.RoleAgency, Instansi: "Kota Bandung", GrantedAt: t0}, nil))

	// An audit row that cannot be written keeps the role.
	err := s.RevokeOperator(ctx, "op-b", &storage.AuditEvent{Time: t0})
	if err == nil {
		t.Error("RevokeOperator with an audit row without type = nil, want an error")
	}
	if _, err := s.OperatorByUserID(ctx, "op-b"); err != nil {
		t.Errorf("OperatorByUserID(op-b) after the refused revocation = %v, want the role kept", err)
	}

	must(t, s.RevokeOperator(ctx, "op-b", &storage.AuditEvent{Time: t0, Type: "operator.revoked", UserID: "op-b"}))
	_, err = s.OperatorByUserID(ctx, "op-b")
	wantErr(t, "OperatorByUserID(op-b) after revocation", err, storage.ErrNotFound)
	if events := operatorEvents(t, s); len(events) != 1 || events[0].Type != "operator.revoked" {
		t.Errorf("audit rows after one revocation = %+v, want one operator.revoked", events)
	}

	// Revoking again: no role, no change, no row.
	err = s.RevokeOperator(ctx, "op-b", &storage.AuditEvent{Time: t0, Type: "operator.revoked", UserID: "op-b"})
	wantErr(t, "RevokeOperator(op-b) again", err, storage.ErrNotFound)
	if events := operatorEvents(t, s); len(events) != 1 {
		t.Errorf("audit rows after a refused revocation = %d, want still 1", len(events))
	}
}

// J5: a confirmation id is used once, whichever of many concurrent calls
// gets there first; once its token has expired the id may be recorded
// again (the token itself is refused for its expiry), and Prune removes it.
func testUseConfirmation(t *testing.T, s storage.Store) {
	ctx := t.Context()
	exp := t0.Add(5 * time.Minute)
	must(t, s.UseConfirmation(ctx, "c1", exp, t0))
	wantErr(t, "UseConfirmation(c1) again", s.UseConfirmation(ctx, "c1", exp, t0.Add(time.Minute)), storage.ErrConflict)
	wantErr(t, "UseConfirmation(c2)", s.UseConfirmation(ctx, "c2", exp, t0), nil)
	if err := s.UseConfirmation(ctx, "", exp, t0); err == nil {
		t.Error("UseConfirmation(\"\") = nil, want an error")
	}

	errs := race(8, func(int) error { return s.UseConfirmation(ctx, "c-race", exp, t0) })
	if wins, _ := tally(t, "UseConfirmation(c-race)", errs, storage.ErrConflict); wins != 1 {
		t.Errorf("%d of 8 concurrent UseConfirmation calls won, want 1", wins)
	}

	n, err := s.Prune(ctx, exp.Add(time.Second))
	must(t, err)
	if n != 3 {
		t.Errorf("Prune after every confirmation expired removed %d rows, want 3", n)
	}
	wantErr(t, "UseConfirmation(c1) after expiry", s.UseConfirmation(ctx, "c1", exp.Add(time.Hour), exp.Add(time.Second)), nil)
}
