package main

import (
	"strings"
	"testing"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/storage/sqlstore/sqlstoretest"
)

// onEngines runs test against a server on SQLite and one on PostgreSQL
// (skipped without ASNIDP_TEST_POSTGRES_DSN), each with env added.
func onEngines(t *testing.T, test func(t *testing.T, o *testOP), env ...string) {
	t.Run("sqlite", func(t *testing.T) { test(t, startOP(t, env...)) })
	t.Run("postgres", func(t *testing.T) {
		test(t, startOP(t, append([]string{"ASNIDP_DATABASE_DRIVER=postgres",
			"ASNIDP_DATABASE_DSN=" + sqlstoretest.NewPostgresSchema(t)}, env...)...))
	})
}

const (
	agencyBandung = "Pemerintah Kota Bandung" // the agency of addUser
	agencyBKN     = "Badan Kepegawaian Negara"
)

// addUserOf provisions an account of instansi and returns its NIP.
func (o *testOP) addUserOf(instansi string) string {
	o.t.Helper()
	n := newNIP()
	o.mustCLI("", "user", "add", "--nip", n, "--name", "Operator "+n[14:], "--email", "op."+n+"@example.go.id",
		"--instansi", instansi)
	return n
}

// operatorRows is the operator family of the audit log.
func operatorRows(t *testing.T, o *testOP) []auditRow {
	t.Helper()
	rows, _ := auditRows(t, o, "--type", "operator")
	return rows
}

func TestOperator_GrantRevokeList(t *testing.T) {
	onEngines(t, testOperatorGrantRevokeList, "USER=budi.operator")
}

func testOperatorGrantRevokeList(t *testing.T, o *testOP) {
	national := o.addUserOf(agencyBKN)
	agency := o.addUser(false).NIP

	if out := o.mustCLI("", "operator", "list"); !strings.HasPrefix(out, "no operators") {
		t.Errorf("operator list with no operators printed %q", out)
	}
	out := o.mustCLI("", "operator", "grant", "--nip", national, "--role", "national")
	if want := national + " (Operator " + national[14:] + ") now holds the role national\n"; out != want {
		t.Errorf("grant national printed %q, want %q", out, want)
	}
	out = o.mustCLI("", "operator", "grant", "--nip", agency, "--role", "agency", "--instansi", agencyBandung)
	if !strings.Contains(out, `now holds the role agency of "Pemerintah Kota Bandung"`) {
		t.Errorf("grant agency printed %q", out)
	}
	// The same grant again changes nothing and writes no row.
	out = o.mustCLI("", "operator", "grant", "--nip", agency, "--role", "agency", "--instansi", agencyBandung)
	if !strings.Contains(out, "already holds the role") {
		t.Errorf("repeated grant printed %q, want that nothing changed", out)
	}
	out = o.mustCLI("", "operator", "grant", "--nip", agency, "--role", "HELPDESK", "--instansi", agencyBandung)
	if !strings.Contains(out, `now holds the role helpdesk of "Pemerintah Kota Bandung", replacing agency of "Pemerintah Kota Bandung"`) {
		t.Errorf("changed grant printed %q", out)
	}

	list := o.mustCLI("", "operator", "list")
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NIP") ||
		!strings.Contains(lines[1], agency) || !strings.Contains(lines[1], "helpdesk") || !strings.Contains(lines[1], agencyBandung) ||
		!strings.Contains(lines[2], national) || !strings.Contains(lines[2], "national") || !strings.Contains(lines[2], "operator:budi.operator") {
		t.Errorf("operator list =\n%s\nwant a header, the helpdesk and the national operator", list)
	}

	out = o.mustCLI("", "operator", "revoke", "--nip", agency)
	if want := agency + ` no longer holds the role helpdesk of "Pemerintah Kota Bandung"` + "\n"; out != want {
		t.Errorf("revoke printed %q, want %q", out, want)
	}
	if list := o.mustCLI("", "operator", "list"); strings.Contains(list, agency) {
		t.Errorf("operator list after revoke still names %s:\n%s", agency, list)
	}

	rows := operatorRows(t, o)
	if len(rows) != 4 {
		t.Errorf("operator audit rows = %d, want 4 (three grants that changed something, one revocation): %v", len(rows), rows)
	}
	wantAuditRow(t, rows, auditRow{"type": audit.OperatorGranted, "nip": national, "actor": "operator:budi.operator",
		"detail": `role=national instansi=""`})
	wantAuditRow(t, rows, auditRow{"type": audit.OperatorGranted, "nip": agency,
		"detail": `role=helpdesk instansi="Pemerintah Kota Bandung" previous_role=agency previous_instansi="Pemerintah Kota Bandung"`})
	wantAuditRow(t, rows, auditRow{"type": audit.OperatorRevoked, "nip": agency, "actor": "operator:budi.operator",
		"detail": `role=helpdesk instansi="Pemerintah Kota Bandung"`})
}

// J6: every bad grant or revocation is refused with a message that says
// what is wrong, exits non-zero, and writes neither a role nor an audit
// row.
func TestOperator_J6_BadInputChangesNothing(t *testing.T) {
	onEngines(t, testOperatorBadInput)
}

func testOperatorBadInput(t *testing.T, o *testOP) {
	known := o.addUser(false).NIP
	unknown := newNIP()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown NIP", []string{"grant", "--nip", unknown, "--role", "national"}, "no account has this NIP: " + unknown},
		{"malformed NIP", []string{"grant", "--nip", "12345", "--role", "national"}, "NIP:"},
		{"no NIP", []string{"grant", "--role", "national"}, `"nip" not set`},
		{"no role", []string{"grant", "--nip", known}, `"role" not set`},
		{"unknown role", []string{"grant", "--nip", known, "--role", "admin"}, `--role: unknown role "admin" (want national, agency, helpdesk)`},
		{"agency without instansi", []string{"grant", "--nip", known, "--role", "agency"}, "role agency: this role administers one agency and needs its instansi"},
		{"helpdesk with a blank instansi", []string{"grant", "--nip", known, "--role", "helpdesk", "--instansi", "  "}, "needs its instansi"},
		{"national with instansi", []string{"grant", "--nip", known, "--role", "national", "--instansi", agencyBandung}, "the national role covers every agency and takes no instansi"},
		{"unknown instansi", []string{"grant", "--nip", known, "--role", "agency", "--instansi", "Pemerintah Kota Bogor"}, `no account has this instansi: "Pemerintah Kota Bogor"`},
		{"instansi misspelt in case and spacing", []string{"grant", "--nip", known, "--role", "agency", "--instansi", "pemerintah  kota bandung"},
			`no account has this instansi: "pemerintah  kota bandung" (did you mean "Pemerintah Kota Bandung"?)`},
		{"revoke without a role", []string{"revoke", "--nip", known}, "the account holds no operator role: " + known},
		{"revoke unknown NIP", []string{"revoke", "--nip", unknown}, "no account has this NIP"},
		{"stray argument", []string{"list", "extra"}, "unknown command"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := o.cli("", append([]string{"operator"}, tc.args...)...)
			if err == nil {
				t.Fatalf("operator %s = nil error, printed %q; want a refusal", strings.Join(tc.args, " "), out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("operator %s error = %q, want it to contain %q", strings.Join(tc.args, " "), err, tc.want)
			}
			if out != "" {
				t.Errorf("operator %s printed %q alongside the error", strings.Join(tc.args, " "), out)
			}
			if list := o.mustCLI("", "operator", "list"); !strings.HasPrefix(list, "no operators") {
				t.Errorf("operator list after the refusal = %q, want no operators", list)
			}
			if rows := operatorRows(t, o); len(rows) != 0 {
				t.Errorf("operator audit rows after the refusal = %v, want none", rows)
			}
		})
	}
}
