package main

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// bandungAdminSignedIn grants an agency administrator of Bandung and
// signs it in to the console in a new browser; it returns the console's
// first page.
func bandungAdminSignedIn(t *testing.T, o *testOP) (testUser, *browser, *page) {
	t.Helper()
	admin := consoleOperator(t, o, "agency", agencyBandung)
	b := newBrowser(t)
	return admin, b, consoleSignIn(t, o, b, o.URL, admin)
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
	// A file listing the national operator as stored changes nothing of it
	// and imports; leaving it out of a leavers run would disable it.
	same := "nip,nama,email,instansi\n" + national.NIP + ",Operator " + national.NIP[14:] + ",op." + national.NIP + "@example.go.id," + agencyBKN + "\n" +
		newNIP() + ",Baru,baru@example.go.id," + agencyBKN + "\n"
	if p := uploadImport(t, b, o.URL, "pegawai.csv", same); p.status != http.StatusOK || !strings.Contains(p.body, `action="/admin/import/apply"`) {
		t.Errorf("import listing the national operator unchanged = %d, want the preview:\n%s", p.status, p.body)
	}
	leavers := "nip,nama,email,instansi\n" + bknAdmin.NIP + ",Operator " + bknAdmin.NIP[14:] + ",op." + bknAdmin.NIP + "@example.go.id," + agencyBKN + "\n" +
		employee + ",Operator " + employee[14:] + ",op." + employee + "@example.go.id," + agencyBKN + "\n"
	if p := uploadLeavers(t, b, o.URL, csrf.Get("csrf"), leavers); p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "disable_missing "+national.NIP) ||
		strings.Contains(p.body, `action="/admin/import/apply"`) {
		t.Errorf("leavers run disabling the national operator = %d, want 422 naming it, no apply:\n%s", p.status, p.body)
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
	if n != 7 {
		t.Errorf("%d operator.denied rows naming the target's role, want 7 (3 actions, 2 imports, 2 helpdesk actions)", n)
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
	admin, b, _ := bandungAdminSignedIn(t, o)
	employee := o.addUser(true)
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

// TestConsole_AttacksThatMustHold: the request-shaped attacks on the
// console that its rules already refuse, kept as regressions: the OP's
// SSO cookie presented as the console's, agency
// names in another case or with a space, a pagination cursor, open
// redirects through the sign-in's return, GET on the action routes, a
// callback without this browser's flow, bad audit filters, markup in
// names, formulas in the pending CSV, an upload above admin.max_upload.
func TestConsole_AttacksThatMustHold(t *testing.T) {
	onEngines(t, testConsoleAttacksHold, "ASNIDP_ADMIN_MAX_UPLOAD=1MiB")
}

func testConsoleAttacksHold(t *testing.T, o *testOP) {
	admin := consoleOperator(t, o, "agency", agencyBandung)
	employee := o.addUser(true)
	otherPending := o.addUserOf(agencyBKN)
	evil := newNIP()
	o.mustCLI("", "user", "add", "--nip", evil, "--name", `=HYPERLINK("http://x")<script>alert(1)</script>`, "--email", "evil."+evil+"@example.go.id",
		"--instansi", agencyBandung, "--unit-kerja", "@SUM(A1)")
	b := newBrowser(t)
	home := consoleSignIn(t, o, b, o.URL, admin)
	csrf, _ := parseForm(t, home, "/admin/logout")

	// The OP's SSO cookie presented as the console's opens nothing.
	sso := replay(t, o.URL, &http.Cookie{Name: "asnidp_console", Value: cookieOf(t, b, o.URL, "asnidp_session")})
	if p := sso.get(o.URL + "/admin/employee?nip=" + employee.NIP); p.status != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/admin/login") {
		t.Errorf("the SSO cookie as the console's = %d %q, want a sign-in", p.status, p.location())
	}

	for _, variant := range []string{"PEMERINTAH KOTA BANDUNG", "pemerintah kota bandung", agencyBandung + " ", " " + agencyBandung, "Pemerintah  Kota Bandung"} {
		for _, path := range []string{"/admin/agency", "/admin/pending", "/admin/pending.csv"} {
			if p := b.get(o.URL + path + "?instansi=" + url.QueryEscape(variant)); p.status != http.StatusForbidden {
				t.Errorf("GET %s?instansi=%q = %d, want 403", path, variant, p.status)
			}
		}
	}
	for _, after := range []string{"", "0", otherPending[:17], "' OR 1=1 --"} {
		p := b.get(o.URL + "/admin/pending?instansi=" + url.QueryEscape(agencyBandung) + "&after=" + url.QueryEscape(after))
		if p.status != http.StatusOK || strings.Contains(p.body, otherPending) {
			t.Errorf("pending list after %q = %d, want the own agency's accounts only:\n%s", after, p.status, p.body)
		}
	}
	for _, ret := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "/admin/\r\nLocation: https://evil.example", "/admin@evil.example", "javascript:alert(1)"} {
		p := b.followOn(o.URL+"/admin/login?return="+url.QueryEscape(ret), o.URL)
		if loc := p.location(); loc != "" && (!strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\")) {
			t.Errorf("sign-in returning to %q redirects to %q", ret, loc)
		}
		if p.url.Host != strings.TrimPrefix(o.URL, "http://") {
			t.Errorf("sign-in returning to %q ended at %s", ret, p.url)
		}
	}
	for _, path := range []string{"/admin/employee/action", "/admin/employee/confirm", "/admin/import/apply", "/admin/stepup", "/admin/logout"} {
		if p := b.get(o.URL + path + "?nip=" + employee.NIP + "&action=disable&reason=x"); p.status < 400 {
			t.Errorf("GET %s = %d, want refused", path, p.status)
		}
	}
	if got := state(t, o, employee.NIP); got != "password_set" {
		t.Errorf("GETs on the action routes changed the account to %s", got)
	}
	if p := b.get(o.URL + "/admin/callback?code=x&state=y"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "tidak dimulai di browser ini") {
		t.Errorf("callback without this browser's flow = %d:\n%s", p.status, p.body)
	}
	for _, q := range []string{"days=-1", "days=0", "days=abc", "days=99999999999999999999", "days=3661", "type=%3Cscript%3E", "type=login.x"} {
		p := b.get(o.URL + "/admin/audit?nip=" + employee.NIP + "&" + q)
		if p.status != http.StatusBadRequest || strings.Contains(p.body, "<script>") {
			t.Errorf("audit filter %s = %d, want 400 with a message", q, p.status)
		}
		if p := b.get(o.URL + "/admin/audit.csv?nip=" + employee.NIP + "&" + q); p.status != http.StatusBadRequest {
			t.Errorf("audit CSV filter %s = %d, want 400", q, p.status)
		}
	}
	for _, path := range []string{"/admin/employee?nip=" + evil, "/admin/pending?instansi=" + url.QueryEscape(agencyBandung)} {
		p := b.get(o.URL + path)
		if p.status != http.StatusOK || strings.Contains(p.body, "<script>alert") || !strings.Contains(p.body, "&lt;script&gt;") {
			t.Errorf("GET %s shows the name unescaped or not at all (%d):\n%s", path, p.status, p.body)
		}
	}
	csvPage := b.get(o.URL + "/admin/pending.csv?instansi=" + url.QueryEscape(agencyBandung))
	for _, line := range strings.Split(csvPage.body, "\n") {
		if !strings.HasPrefix(line, evil) {
			continue
		}
		for _, cell := range strings.Split(line, ",") {
			cell = strings.TrimPrefix(cell, `"`)
			if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
				t.Errorf("pending CSV cell %q starts a formula: %s", cell, line)
			}
		}
	}
	big := "nip,nama,email,instansi\n" + strings.Repeat(newNIP()+",Besar,besar@example.go.id,"+agencyBandung+"\n", 1) +
		strings.Repeat("#", 1<<20)
	if p := uploadImportRaw(t, b, o.URL+"/admin/import?csrf="+csrf.Get("csrf"), "besar.csv", big); p.status != http.StatusRequestEntityTooLarge || !strings.Contains(p.body, "terlalu besar") {
		t.Errorf("upload above admin.max_upload = %d, want 413 with a message:\n%.500s", p.status, p.body)
	}
}

// TestConsole_J14_UploadsLeftUnappliedRemoved: a previewed upload that is
// never applied does not stay on disk: once its confirmation can no
// longer be used it is removed at the next upload, and its apply is
// refused (410), so repeated uploads of admin.max_upload cannot fill the
// server's disk.
func TestConsole_J14_UploadsLeftUnappliedRemoved(t *testing.T) {
	onEngines(t, testConsoleUploadsRemoved)
}

func testConsoleUploadsRemoved(t *testing.T, o *testOP) {
	admin, b, _ := bandungAdminSignedIn(t, o)
	file := "nip,nama,email,instansi\n" + newNIP() + ",Ani,ani@example.go.id," + agencyBandung + "\n"
	preview := uploadImport(t, b, o.URL, "pegawai.csv", file)
	stepped := stepUp(t, o, b, o.URL, preview, admin)
	if stepped.status != http.StatusOK {
		t.Fatalf("step-up = %d", stepped.status)
	}
	preview = uploadImport(t, b, o.URL, "pegawai.csv", file)
	form, _ := parseForm(t, preview, "/admin/import/apply")
	stored := filepath.Join(os.TempDir(), "asnidp-console-uploads", form.Get("upload"))
	if _, err := os.Stat(stored); err != nil {
		t.Fatalf("the previewed upload is not stored: %v", err)
	}
	o.clock.Advance(11 * time.Minute)
	uploadImport(t, b, o.URL, "lain.csv", "nip,nama,email\n")
	if _, err := os.Stat(stored); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an upload left unapplied is still on disk after its lifetime (%v)", err)
	}
	if p := b.submit(preview, "/admin/import/apply", nil); p.status != http.StatusGone {
		t.Errorf("apply of an upload past its lifetime = %d, want 410", p.status)
	}
}

// uploadLeavers posts an import file with disable_missing set.
func uploadLeavers(t *testing.T, b *browser, base, csrf, content string) *page {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("disable_missing", "1")
	fw, _ := mw.CreateFormFile("file", "pegawai.csv")
	io.WriteString(fw, content)
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, base+"/admin/import?csrf="+url.QueryEscape(csrf), &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}
