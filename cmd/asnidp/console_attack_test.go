package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// consoleCookie is the console session cookie b holds for base.
func consoleCookie(t *testing.T, b *browser, base string) *http.Cookie {
	t.Helper()
	return &http.Cookie{Name: "asnidp_console", Value: cookieOf(t, b, base, "asnidp_console")}
}

// cookieOf is the value of the cookie name that b holds for base's
// console.
func cookieOf(t *testing.T, b *browser, base, name string) string {
	t.Helper()
	u, _ := url.Parse(base + "/admin/")
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	t.Fatalf("the browser holds no %s cookie", name)
	return ""
}

// replay is a fresh browser holding only the console cookie c.
func replay(t *testing.T, base string, c *http.Cookie) *browser {
	t.Helper()
	b := newBrowser(t)
	u, _ := url.Parse(base + "/admin/")
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: "/"}})
	return b
}

// TestConsole_J11_SessionEndsWithLogoutAndSSO: a console session cookie
// copied before the operator signed out of the console, or before the
// operator's sessions were ended at the OP (here an authenticator reset,
// as after a lost phone), opens nothing; and after signing out of the
// console the same browser is not signed in again without the password.
func TestConsole_J11_SessionEndsWithLogoutAndSSO(t *testing.T) {
	onEngines(t, testConsoleSessionEnds)
}

func testConsoleSessionEnds(t *testing.T, o *testOP) {
	admin := consoleOperator(t, o, "agency", agencyBandung)
	employee := o.addUser(true)
	lookup := "/admin/employee?nip=" + employee.NIP

	b := newBrowser(t)
	home := consoleSignIn(t, o, b, o.URL, admin)
	stolen := consoleCookie(t, b, o.URL)
	if p := replay(t, o.URL, stolen).get(o.URL + lookup); p.status != http.StatusOK {
		t.Fatalf("the copied cookie before sign-out = %d, want the employee page (the test's premise)", p.status)
	}
	form, _ := parseForm(t, home, "/admin/logout")
	if p := b.post(o.URL+"/admin/logout", url.Values{"csrf": {form.Get("csrf")}}); p.status != http.StatusOK {
		t.Fatalf("sign-out = %d:\n%s", p.status, p.body)
	}
	if p := replay(t, o.URL, stolen).get(o.URL + lookup); p.status == http.StatusOK || strings.Contains(p.body, employee.NIP) {
		t.Errorf("the cookie replayed after sign-out = %d, want no employee data:\n%s", p.status, p.body)
	}
	// With a CSRF token of its own, as an attacker holding the cookie has.
	rb := replay(t, o.URL, stolen)
	rb.get(o.URL + "/admin/login")
	if p := rb.post(o.URL+"/admin/employee/action", url.Values{"csrf": {cookieOf(t, rb, o.URL, "asnidp_console_csrf")}, "nip": {employee.NIP},
		"action": {"disable"}, "reason": {"x"}}); p.status != http.StatusForbidden || !strings.Contains(p.body, "Sesi konsol Anda telah berakhir") {
		t.Errorf("an action with the cookie replayed after sign-out = %d, want 403 signed out:\n%s", p.status, p.body)
	}
	// The next person at the same browser: the login page, not the console.
	if p := b.followOn(o.URL+"/admin/", o.URL); p.status != http.StatusOK || !strings.Contains(p.body, `action="/login/"`) {
		t.Errorf("the console after sign-out = %d at %s, want the OP's login page:\n%s", p.status, p.url, p.body)
	}
	wantAuditRow(t, operatorRows(t, o), auditRow{"type": "operator.viewed", "nip": employee.NIP})
	rows, _ := auditRows(t, o, "--type", "session.ended")
	wantAuditRow(t, rows, auditRow{"type": "session.ended", "sub": subOf(t, o, admin.NIP), "reason": "console logout"})

	// The operator's sessions are ended at the OP: the console's too.
	b = newBrowser(t)
	consoleSignIn(t, o, b, o.URL, admin)
	stolen = consoleCookie(t, b, o.URL)
	o.mustCLI("", "user", "reset-mfa", admin.NIP)
	for _, br := range []*browser{b, replay(t, o.URL, stolen)} {
		if p := br.get(o.URL + lookup); p.status == http.StatusOK || strings.Contains(p.body, employee.NIP) {
			t.Errorf("the console after the operator's sessions were ended = %d, want no employee data:\n%s", p.status, p.body)
		}
	}
}

// TestConsole_J12_OperatorsOfHigherRoleNotChanged: an agency's operator
// cannot change an account holding an equal or higher console role of
// its own agency: BKN's agency administrator cannot disable or reset a
// national operator (whose account is BKN's), nor rewrite its email by an
// import; a helpdesk operator cannot unlock or reset its agency
// administrator. Each refusal is 403, audited, and changes nothing.
func TestConsole_J12_OperatorsOfHigherRoleNotChanged(t *testing.T) {
	onEngines(t, testConsoleOperatorRank)
}

func testConsoleOperatorRank(t *testing.T, o *testOP) {
	national := consoleOperator(t, o, "national", "")
	bknAdmin := consoleOperator(t, o, "agency", agencyBKN)
	bandungAdmin := consoleOperator(t, o, "agency", agencyBandung)
	helpdesk := consoleOperator(t, o, "helpdesk", agencyBandung)
	employee := o.addUserOf(agencyBKN)
	consoleSignIn(t, o, newBrowser(t), o.URL, national) // binds its authenticator

	b := newBrowser(t)
	consoleSignIn(t, o, b, o.URL, bknAdmin)
	view := stepUp(t, o, b, o.URL, b.get(o.URL+"/admin/employee?nip="+employee), bknAdmin)
	csrf, _ := parseForm(t, view, "/admin/logout")
	before := len(operatorRows(t, o))
	for _, action := range []string{"disable", "reset_mfa", "unlock"} {
		if p := b.post(o.URL+"/admin/employee/action", url.Values{"csrf": {csrf.Get("csrf")}, "nip": {national.NIP},
			"action": {action}, "reason": {"ambil alih"}}); p.status != http.StatusForbidden || strings.Contains(p.body, `action="/admin/employee/confirm"`) {
			t.Errorf("agency administrator %s on the national operator = %d, want 403:\n%s", action, p.status, p.body)
		}
	}
	imp := uploadImport(t, b, o.URL, "pegawai.csv", "nip,nama,email,instansi\n"+
		national.NIP+",Operator Nasional,penyerang@example.go.id,"+agencyBKN+"\n")
	if imp.status != http.StatusUnprocessableEntity || !strings.Contains(imp.body, `data-line="2"`) || strings.Contains(imp.body, `action="/admin/import/apply"`) {
		t.Errorf("import rewriting the national operator's email = %d, want 422 naming line 2, no apply:\n%s", imp.status, imp.body)
	}
	// An ordinary employee of the agency stays the administrator's to change.
	if _, done := consoleAction(t, b, view, "disable", "pensiun"); done.status != http.StatusOK {
		t.Errorf("agency administrator disabling its own employee = %d:\n%s", done.status, done.body)
	}
	if got := state(t, o, national.NIP); got != "active" {
		t.Errorf("the national operator's account is %s", got)
	}
	if got := showField(t, o, national.NIP, "email"); strings.Contains(got, "penyerang") {
		t.Errorf("the national operator's email became %s", got)
	}

	hb := newBrowser(t)
	consoleSignIn(t, o, hb, o.URL, helpdesk)
	hview := stepUp(t, o, hb, o.URL, hb.get(o.URL+"/admin/employee?nip="+bandungAdmin.NIP), helpdesk)
	hcsrf, _ := parseForm(t, hview, "/admin/logout")
	for _, action := range []string{"reset_mfa", "unlock"} {
		if p := hb.post(o.URL+"/admin/employee/action", url.Values{"csrf": {hcsrf.Get("csrf")}, "nip": {bandungAdmin.NIP},
			"action": {action}, "reason": {"ambil alih"}}); p.status != http.StatusForbidden {
			t.Errorf("helpdesk %s on its agency administrator = %d, want 403", action, p.status)
		}
	}
	n := 0
	for _, r := range operatorRows(t, o)[before:] {
		if r["type"] == "operator.denied" && strings.Contains(r["detail"], "target_role=") {
			n++
		}
	}
	if n != 6 {
		t.Errorf("%d operator.denied rows naming the target's role, want 6 (3 actions, 1 import row, 2 helpdesk actions)", n)
	}
}

// TestConsole_J13_RecordReadsAndRefusedConfirmationsAudited: reading an
// employee's audit events (page and CSV) is a personal data access and
// writes an operator.viewed row naming the operator's sub, as the
// employee page does; a confirmation refused (bound to another reason,
// or replayed) writes an operator.denied row naming the operator's sub.
func TestConsole_J13_RecordReadsAndRefusedConfirmationsAudited(t *testing.T) {
	onEngines(t, testConsoleAuditedReads)
}

func testConsoleAuditedReads(t *testing.T, o *testOP) {
	admin := consoleOperator(t, o, "agency", agencyBandung)
	employee := o.addUser(true)
	b := newBrowser(t)
	consoleSignIn(t, o, b, o.URL, admin)
	sub := subOf(t, o, admin.NIP)
	for _, page := range []string{"audit", "audit.csv"} {
		if p := b.get(o.URL + "/admin/" + page + "?nip=" + employee.NIP); p.status != http.StatusOK {
			t.Fatalf("GET /admin/%s of an own employee = %d:\n%s", page, p.status, p.body)
		}
		rows, _ := auditRows(t, o, "--nip", employee.NIP, "--type", "operator.viewed")
		wantAuditRow(t, rows, auditRow{"type": "operator.viewed", "actor": "console:" + sub, "detail": "operator_nip=" + admin.NIP + " page=" + page})
	}

	view := stepUp(t, o, b, o.URL, b.get(o.URL+"/admin/employee?nip="+employee.NIP), admin)
	confirmPage := b.submit(view, "/admin/employee/action", map[string]string{"action": "unlock", "reason": "ditelepon"})
	denied := func() int {
		n := 0
		for _, r := range operatorRows(t, o) {
			if r["type"] == "operator.denied" && r["sub"] == sub && strings.HasPrefix(r["reason"], "confirmation refused") {
				n++
			}
		}
		return n
	}
	if p := b.submit(confirmPage, "/admin/employee/confirm", map[string]string{"reason": "alasan lain"}); p.status != http.StatusForbidden {
		t.Errorf("confirmation with another reason = %d, want 403", p.status)
	}
	if n := denied(); n != 1 {
		t.Errorf("%d denial rows after a confirmation bound to another reason, want 1", n)
	}
	if done := b.submit(confirmPage, "/admin/employee/confirm", nil); done.status != http.StatusOK {
		t.Fatalf("confirmed unlock = %d:\n%s", done.status, done.body)
	}
	if p := b.submit(confirmPage, "/admin/employee/confirm", nil); p.status != http.StatusConflict {
		t.Errorf("replayed confirmation = %d, want 409", p.status)
	}
	if n := denied(); n != 2 {
		t.Errorf("%d denial rows after a replayed confirmation, want 2", n)
	}
}
