package main

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asnidp/asnidp/storage/sqlstore"
)

// consoleOperator provisions an account of instansi with a password and
// grants it role (instansi "" for the national role's own account, which
// belongs to BKN).
func consoleOperator(t *testing.T, o *testOP, role, instansi string) testUser {
	t.Helper()
	agency := instansi
	if agency == "" {
		agency = agencyBKN
	}
	u := testUser{NIP: o.addUserOf(agency), Password: "kopi tubruk pagi hari operator"}
	o.mustCLI(u.Password+"\n", "user", "set-password", u.NIP)
	args := []string{"operator", "grant", "--nip", u.NIP, "--role", role}
	if instansi != "" {
		args = append(args, "--instansi", instansi)
	}
	o.mustCLI("", args...)
	return u
}

// consoleSignIn opens the console in b and signs in as u through the OP's
// pages; it returns the console page the sign-in lands on.
func consoleSignIn(t *testing.T, o *testOP, b *browser, base string, u testUser) *page {
	t.Helper()
	start := b.followOn(base+"/admin/", o.URL, base)
	if start.status != http.StatusOK || !strings.Contains(start.body, `action="/login/"`) {
		t.Fatalf("console without a session: want the OP's login page, got %d at %s:\n%s", start.status, start.url, start.body)
	}
	return b.followOn(completeLogin(t, o, b, start, u), o.URL, base)
}

// stepUp confirms a fresh authenticator code from the console page p (the
// form posting to /admin/stepup) and returns the page it comes back to.
func stepUp(t *testing.T, o *testOP, b *browser, base string, p *page, u testUser) *page {
	t.Helper()
	sent := b.submit(p, "/admin/stepup", nil)
	otp := b.followOn(resolve(t, sent), o.URL, base)
	if otp.status != http.StatusOK || !strings.Contains(otp.body, `action="/login/otp"`) {
		t.Fatalf("step-up: want the code page, got %d at %s:\n%s", otp.status, otp.url, otp.body)
	}
	return b.followOn(resolve(t, o.secondFactor(b, otp, u)), o.URL, base)
}

// resolve is the absolute URL of p's redirect.
func resolve(t *testing.T, p *page) string {
	t.Helper()
	next, err := p.url.Parse(p.location())
	if err != nil {
		t.Fatal(err)
	}
	return next.String()
}

var funnelRowRE = regexp.MustCompile(`<tr data-instansi="([^"]*)" data-in-service="(\d+)" data-with-password="(\d+)" data-active="(\d+)" data-signed-in="(\d+)" data-disabled="(\d+)" data-rate="([^"]+)">`)

func TestConsole_SignInAndFunnelMatchesReport(t *testing.T) {
	onEngines(t, testConsoleSignInAndFunnel)
}

func testConsoleSignInAndFunnel(t *testing.T, o *testOP) {
	national := consoleOperator(t, o, "national", "")
	o.addUser(true)
	o.addUser(false)
	o.addUserOf(agencyBKN)
	gone := o.addUserOf(agencyBKN)
	o.mustCLI("", "user", "disable", gone)

	b := newBrowser(t)
	start := b.followOn(o.URL+"/admin/", o.URL)
	toConsole := b.get(completeLogin(t, o, b, start, national))
	callback := b.get(resolve(t, toConsole))
	if !strings.HasPrefix(callback.url.Path, "/admin/callback") || callback.status != http.StatusSeeOther {
		t.Fatalf("console callback: %d at %s:\n%s", callback.status, callback.url, callback.body)
	}
	var sessionCookie *http.Cookie
	for _, c := range (&http.Response{Header: callback.header}).Cookies() {
		if c.Name == "asnidp_console" {
			sessionCookie = c
		}
	}
	if sessionCookie == nil || !sessionCookie.HttpOnly || sessionCookie.SameSite != http.SameSiteStrictMode ||
		sessionCookie.MaxAge <= 0 || sessionCookie.MaxAge > 1800 || sessionCookie.Path != "/" {
		t.Errorf("console session cookie = %+v, want HttpOnly, SameSite=Strict, Path=/, at most 30 minutes", sessionCookie)
	}
	home := b.followOn(resolve(t, callback), o.URL)
	if home.status != http.StatusOK || !strings.Contains(home.body, "Aktivasi akun per instansi") {
		t.Fatalf("national operator's first page: %d at %s:\n%s", home.status, home.url, home.body)
	}
	for k, want := range map[string]string{"Content-Security-Policy": "frame-ancestors 'none'", "Cache-Control": "no-store",
		"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
		if got := home.header.Get(k); !strings.Contains(got, want) {
			t.Errorf("console page %s = %q, want %q", k, got, want)
		}
	}
	if en := b.get(o.URL + "/admin/?lang=en"); !strings.Contains(en.body, "Account activation per agency") {
		t.Errorf("console in English:\n%s", en.body)
	}
	if !strings.Contains(home.body, "<svg") {
		t.Error("the funnel page has no trend chart")
	}
	report := o.mustCLI("", "report", "activation", "--by", "instansi", "--format", "csv")
	want := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(report), "\n")[1:] {
		f := strings.Split(line, ",")
		if f[0] == "TOTAL" {
			continue
		}
		prov, pw, act := atoi(t, f[1]), atoi(t, f[2]), atoi(t, f[3])
		want[f[0]] = []string{itoa(prov + pw + act), itoa(pw + act), f[3], f[4], f[6]}
	}
	got := map[string][]string{}
	for _, m := range funnelRowRE.FindAllStringSubmatch(home.body, -1) {
		got[m[1]] = []string{m[2], m[3], m[4], m[6], m[7]}
	}
	if len(want) != 2 || len(got) != len(want) {
		t.Fatalf("agencies: report %v, console %v", want, got)
	}
	for k, w := range want {
		if strings.Join(got[k], " ") != strings.Join(w, " ") {
			t.Errorf("%s: console (in service, with password, active, disabled, rate) = %v, report = %v", k, got[k], w)
		}
	}
	agency := b.get(o.URL + "/admin/agency?instansi=" + url.QueryEscape(agencyBandung))
	if agency.status != http.StatusOK || !strings.Contains(agency.body, `data-step="in_service">2<`) {
		t.Errorf("drill-down of %s: %d\n%s", agencyBandung, agency.status, agency.body)
	}

	// An operator whose account is disabled keeps the role but is
	// refused at the next request.
	o.mustCLI("", "user", "disable", national.NIP)
	// (Disabling also ends its SSO session, so the console sends it to
	// sign in again, which a disabled account cannot.)
	if p := b.get(o.URL + "/admin/?lang=id"); p.status == http.StatusOK || strings.Contains(p.body, agencyBandung) ||
		p.status == http.StatusSeeOther && !strings.HasPrefix(p.location(), "/admin/login") {
		t.Errorf("disabled operator = %d %q, want a refusal or a new sign-in, and no data:\n%s", p.status, p.location(), p.body)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return n
}

func itoa(n int) string { return strconv.Itoa(n) }

// consoleAction posts an action's form from the employee page p and, when
// it is answered with the confirmation page, confirms it; it returns the
// confirmation page and the answer to the confirmation.
func consoleAction(t *testing.T, b *browser, p *page, action, reason string) (confirmPage, done *page) {
	t.Helper()
	confirmPage = b.submit(p, "/admin/employee/action", map[string]string{"action": action, "reason": reason})
	if confirmPage.status != http.StatusOK || !strings.Contains(confirmPage.body, `action="/admin/employee/confirm"`) {
		t.Fatalf("%s: want the confirmation page, got %d:\n%s", action, confirmPage.status, confirmPage.body)
	}
	return confirmPage, b.submit(confirmPage, "/admin/employee/confirm", nil)
}

func TestConsole_J7_ActionsNeedReasonStepUpConfirmationAndCSRF(t *testing.T) {
	onEngines(t, testConsoleActions, "ASNIDP_ADMIN_STEP_UP=2m")
}

func testConsoleActions(t *testing.T, o *testOP) {
	admin := consoleOperator(t, o, "agency", agencyBandung)
	employee := o.addUser(true)
	// The employee is locked out: 100 wrong passwords' worth, set directly.
	lockPassword(t, o, employee.NIP)

	b := newBrowser(t)
	consoleSignIn(t, o, b, o.URL, admin)
	view := b.get(o.URL + "/admin/employee?nip=" + employee.NIP)
	if view.status != http.StatusOK || !strings.Contains(view.body, `id="locks">Terkunci`) {
		t.Fatalf("employee page: %d\n%s", view.status, view.body)
	}
	wantAuditRow(t, operatorRows(t, o), auditRow{"type": "operator.viewed", "nip": employee.NIP})

	// No fresh second factor yet: the page offers the step-up, and a
	// forged action post is refused.
	if strings.Contains(view.body, `action="/admin/employee/action"`) || !strings.Contains(view.body, `action="/admin/stepup"`) {
		t.Fatalf("employee page before a step-up offers the action form or no step-up:\n%s", view.body)
	}
	form, _ := parseForm(t, view, "/admin/stepup")
	forged := b.post(o.URL+"/admin/employee/action", url.Values{"csrf": {form.Get("csrf")}, "nip": {employee.NIP}, "action": {"unlock"}, "reason": {"telepon"}})
	if forged.status != http.StatusForbidden {
		t.Errorf("action without a fresh second factor = %d, want 403", forged.status)
	}

	// A step-up whose authorization request lost its acr_values completes
	// silently in the SSO session, without a code: refused.
	sent := b.submit(view, "/admin/stepup", nil)
	stripped, _ := url.Parse(resolve(t, sent))
	q := stripped.Query()
	q.Del("acr_values")
	stripped.RawQuery = q.Encode()
	if p := b.followOn(stripped.String(), o.URL); p.status != http.StatusForbidden {
		t.Errorf("step-up without acr_values = %d at %s, want 403", p.status, p.url)
	}
	if p := b.get(o.URL + "/admin/employee?nip=" + employee.NIP); strings.Contains(p.body, `action="/admin/employee/action"`) {
		t.Error("a step-up without a code opened the actions")
	}

	view = stepUp(t, o, b, o.URL, view, admin)
	if !strings.Contains(view.body, `action="/admin/employee/action"`) {
		t.Fatalf("after the step-up: no action form:\n%s", view.body)
	}
	if p := b.submit(view, "/admin/employee/action", map[string]string{"action": "unlock", "reason": "  "}); p.status != http.StatusBadRequest || !strings.Contains(p.body, "Isi alasan") {
		t.Errorf("action without a reason = %d, want 400 asking for one:\n%s", p.status, p.body)
	}
	withoutCSRF := url.Values{"nip": {employee.NIP}, "action": {"unlock"}, "reason": {"lupa"}}
	if p := b.post(o.URL+"/admin/employee/action", withoutCSRF); p.status != http.StatusForbidden {
		t.Errorf("action without the CSRF token = %d, want 403", p.status)
	}
	if stillLocked(t, o, employee.NIP) == false {
		t.Fatal("refused requests unlocked the account")
	}

	// Confirmation forged (another reason than the one bound) or missing.
	confirmPage := b.submit(view, "/admin/employee/action", map[string]string{"action": "unlock", "reason": "ditelepon pegawai"})
	if p := b.submit(confirmPage, "/admin/employee/confirm", map[string]string{"reason": "alasan lain"}); p.status != http.StatusForbidden {
		t.Errorf("confirmation with another reason = %d, want 403", p.status)
	}
	if p := b.submit(confirmPage, "/admin/employee/confirm", map[string]string{"token": ""}); p.status != http.StatusForbidden {
		t.Errorf("confirmation without its token = %d, want 403", p.status)
	}
	if !stillLocked(t, o, employee.NIP) {
		t.Fatal("a refused confirmation unlocked the account")
	}
	done := b.submit(confirmPage, "/admin/employee/confirm", nil)
	if done.status != http.StatusOK || !strings.Contains(done.body, "dibuka kuncinya") {
		t.Fatalf("confirmed unlock = %d:\n%s", done.status, done.body)
	}
	if stillLocked(t, o, employee.NIP) {
		t.Error("the account is still locked after the confirmed unlock")
	}
	if p := b.submit(confirmPage, "/admin/employee/confirm", nil); p.status != http.StatusConflict {
		t.Errorf("replayed confirmation = %d, want 409", p.status)
	}
	rows, _ := auditRows(t, o, "--nip", employee.NIP, "--type", "user.unlocked")
	if len(rows) != 1 || rows[0]["actor"] != "console:"+subOf(t, o, admin.NIP) || !strings.Contains(rows[0]["detail"], `reason="ditelepon pegawai"`) {
		t.Errorf("unlock audit rows = %v, want one naming the operator's sub and the reason", rows)
	}

	// The step-up ages out: the action is refused again.
	o.clock.Advance(3 * time.Minute)
	view = b.get(o.URL + "/admin/employee?nip=" + employee.NIP)
	if strings.Contains(view.body, `action="/admin/employee/action"`) {
		t.Error("the action form is offered after the step-up expired")
	}
	if p := b.post(o.URL+"/admin/employee/action", url.Values{"csrf": {form.Get("csrf")}, "nip": {employee.NIP}, "action": {"disable"}, "reason": {"keluar"}}); p.status != http.StatusForbidden {
		t.Errorf("action after the step-up expired = %d, want 403", p.status)
	}
	if state(t, o, employee.NIP) == "disabled" {
		t.Error("an action with an expired step-up disabled the account")
	}
}

// subOf is the sub of the account of nip.
func subOf(t *testing.T, o *testOP, nip string) string {
	t.Helper()
	return showField(t, o, nip, "sub")
}

func state(t *testing.T, o *testOP, nip string) string { return showField(t, o, nip, "state") }

func stillLocked(t *testing.T, o *testOP, nip string) bool {
	return strings.HasPrefix(showField(t, o, nip, "password locked"), "yes")
}

// showField reads one line of `asnidp user show`.
func showField(t *testing.T, o *testOP, nip, field string) string {
	t.Helper()
	for _, line := range strings.Split(o.mustCLI("", "user", "show", nip), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == field {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("user show %s has no %q", nip, field)
	return ""
}

// openStore opens a second store on the test server's database, either
// engine.
func openStore(t *testing.T, o *testOP) *sqlstore.Store {
	t.Helper()
	db, err := sqlstore.Open(t.Context(), sqlstore.Options{Driver: o.cfg.Database.Driver, DSN: o.cfg.Database.DSN})
	if err != nil {
		t.Fatalf("open a second store on the test database: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// lockPassword sets the hard password lock of nip, as 100 wrong
// passwords would.
func lockPassword(t *testing.T, o *testOP, nip string) {
	t.Helper()
	db := openStore(t, o)
	u, err := db.UserByNIP(t.Context(), nip)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.RecordPasswordFailure(t.Context(), u.ID, time.Time{}, true, o.clock.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestConsole_J8_OtherAgencyRefused: an agency administrator of Bandung
// asks for BKN's funnel, pending list, employee, audit and actions, by
// every parameter the pages take: 403 with the localized refusal, an
// operator.denied row each, no data of BKN and nothing changed.
func TestConsole_J8_OtherAgencyRefused(t *testing.T) {
	onEngines(t, testConsoleOtherAgency)
}

func testConsoleOtherAgency(t *testing.T, o *testOP) {
	admin := consoleOperator(t, o, "agency", agencyBandung)
	other := o.addUserOf(agencyBKN)
	otherName := "Operator " + other[14:]
	b := newBrowser(t)
	home := consoleSignIn(t, o, b, o.URL, admin)
	if home.status != http.StatusOK || !strings.Contains(home.body, agencyBandung) {
		t.Fatalf("agency administrator's first page: %d at %s\n%s", home.status, home.url, home.body)
	}
	home = stepUp(t, o, b, o.URL, b.get(o.URL+"/admin/employee?nip="+admin.NIP), admin)
	csrf, _ := parseForm(t, home, "/admin/logout")
	before := len(operatorRows(t, o))

	bkn := url.QueryEscape(agencyBKN)
	gets := []string{
		"/admin/", // the all-agencies funnel: a redirect to its own, tested below
		"/admin/agency?instansi=" + bkn,
		"/admin/agency?instansi=",
		"/admin/pending?instansi=" + bkn,
		"/admin/pending.csv?instansi=" + bkn,
		"/admin/pending?instansi=" + bkn + "&unit=Dinas+Pendidikan",
		"/admin/employee?nip=" + other,
		"/admin/employee?nip=199001012020121999", // no account: refused alike
		"/admin/audit?nip=" + other,
		"/admin/audit.csv?nip=" + other,
		"/admin/audit",
	}
	denials := 0
	for _, path := range gets {
		p := b.get(o.URL + path)
		if path == "/admin/" {
			if loc := p.location(); p.status != http.StatusSeeOther || !strings.Contains(loc, url.QueryEscape(agencyBandung)) {
				t.Errorf("GET /admin/ as an agency administrator = %d %q, want its own agency", p.status, loc)
			}
			continue
		}
		if path == "/admin/audit" {
			if p.status != http.StatusOK || strings.Contains(p.body, "<li class=\"success\"") {
				t.Errorf("GET /admin/audit without a NIP = %d, want the form asking for a NIP and no events:\n%s", p.status, p.body)
			}
			denials++ // the all-agencies audit view is asked and denied
			continue
		}
		denials++
		if p.status != http.StatusForbidden || !strings.Contains(p.body, "tidak berwenang") {
			t.Errorf("GET %s = %d, want 403 with the refusal:\n%s", path, p.status, p.body)
		}
		if strings.Contains(p.body, other) && !strings.Contains(path, other) || strings.Contains(p.body, otherName) {
			t.Errorf("GET %s shows data of the other agency:\n%s", path, p.body)
		}
	}
	for _, action := range []string{"unlock", "reset_mfa", "disable", "enable"} {
		for _, target := range []string{"/admin/employee/action", "/admin/employee/confirm"} {
			p := b.post(o.URL+target, url.Values{"csrf": {csrf.Get("csrf")}, "nip": {other}, "action": {action}, "reason": {"coba"}, "token": {"c1.x.1.y"}})
			denials++
			if p.status != http.StatusForbidden {
				t.Errorf("POST %s %s on another agency's account = %d, want 403", target, action, p.status)
			}
		}
	}
	if got := state(t, o, other); got != "provisioned" {
		t.Errorf("the other agency's account is %s after the refused actions", got)
	}
	rows := operatorRows(t, o)[before:]
	n := 0
	for _, r := range rows {
		if r["type"] == "operator.denied" {
			n++
		}
	}
	if n != denials {
		t.Errorf("%d operator.denied rows for %d refused requests:\n%v", n, denials, rows)
	}

	// Import rows of the other agency, and a row moving the other
	// agency's account into this one, are refused by line.
	imp := uploadImport(t, b, o.URL, "pegawai.csv", "nip,nama,email,instansi\n"+
		newNIP()+",Baru Bandung,baru@example.go.id,"+agencyBandung+"\n"+
		newNIP()+",Baru BKN,bkn@example.go.id,"+agencyBKN+"\n"+
		other+",Pindah,pindah@example.go.id,"+agencyBandung+"\n")
	if imp.status != http.StatusUnprocessableEntity || !strings.Contains(imp.body, `data-line="3"`) || !strings.Contains(imp.body, `data-line="4"`) ||
		strings.Contains(imp.body, `data-line="2"`) || strings.Contains(imp.body, `action="/admin/import/apply"`) {
		t.Errorf("import with rows of another agency = %d, want 422 naming lines 3 and 4 only, no apply:\n%s", imp.status, imp.body)
	}
	if got := showField(t, o, other, "instansi"); got != agencyBKN {
		t.Errorf("the other agency's account moved to %q", got)
	}
}

// uploadImport posts an import file from the import page.
func uploadImport(t *testing.T, b *browser, base, name, content string) *page {
	t.Helper()
	form := b.get(base + "/admin/import")
	if form.status != http.StatusOK {
		t.Fatalf("import page = %d:\n%s", form.status, form.body)
	}
	_, target := parseForm(t, form, "/admin/import?csrf=")
	return uploadImportRaw(t, b, target, name, content)
}

// TestConsole_J9_RolesAndRevocation: an employee without a role gets the
// localized "no access" page and no data; a helpdesk operator may unlock
// and reset-mfa but not disable, import or read the funnel; a role revoked
// during a session is refused at the next request.
func TestConsole_J9_RolesAndRevocation(t *testing.T) {
	onEngines(t, testConsoleRoles)
}

func testConsoleRoles(t *testing.T, o *testOP) {
	plain := o.addUser(true)
	b := newBrowser(t)
	p := consoleSignIn(t, o, b, o.URL, plain)
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "tidak memiliki akses ke konsol") || strings.Contains(p.body, "/admin/pending") {
		t.Errorf("employee without a role = %d, want the 403 no-access page:\n%s", p.status, p.body)
	}
	if p := b.get(o.URL + "/admin/agency?instansi=" + url.QueryEscape(agencyBandung)); p.status != http.StatusSeeOther && p.status != http.StatusForbidden {
		t.Errorf("employee without a role, funnel = %d, want a sign-in or 403", p.status)
	}
	wantAuditRow(t, operatorRows(t, o), auditRow{"type": "operator.denied", "sub": subOf(t, o, plain.NIP)})

	helpdesk := consoleOperator(t, o, "helpdesk", agencyBandung)
	employee := o.addUser(true)
	b = newBrowser(t)
	home := consoleSignIn(t, o, b, o.URL, helpdesk)
	if home.status != http.StatusOK || !strings.Contains(home.body, `action="/admin/employee"`) {
		t.Fatalf("helpdesk first page = %d, want the look-up:\n%s", home.status, home.body)
	}
	view := stepUp(t, o, b, o.URL, b.get(o.URL+"/admin/employee?nip="+employee.NIP), helpdesk)
	if strings.Contains(view.body, `value="disable"`) || !strings.Contains(view.body, `value="unlock"`) {
		t.Errorf("helpdesk's actions: want unlock without disable:\n%s", view.body)
	}
	csrf, _ := parseForm(t, view, "/admin/employee/action")
	for _, path := range []string{"/admin/agency?instansi=" + url.QueryEscape(agencyBandung), "/admin/pending", "/admin/import", "/admin/audit?nip=" + employee.NIP} {
		if p := b.get(o.URL + path); p.status != http.StatusForbidden {
			t.Errorf("helpdesk GET %s = %d, want 403", path, p.status)
		}
	}
	if p := b.post(o.URL+"/admin/employee/action", url.Values{"csrf": {csrf.Get("csrf")}, "nip": {employee.NIP}, "action": {"disable"}, "reason": {"keluar"}}); p.status != http.StatusForbidden {
		t.Errorf("helpdesk disable = %d, want 403", p.status)
	}
	if p := uploadImportRaw(t, b, o.URL+"/admin/import?csrf="+csrf.Get("csrf"), "a.csv", "nip,nama,email\n"); p.status != http.StatusForbidden {
		t.Errorf("helpdesk import upload = %d, want 403", p.status)
	}
	if got := state(t, o, employee.NIP); got != "password_set" {
		t.Errorf("employee state after the helpdesk's refused disable = %s", got)
	}
	_, done := consoleAction(t, b, view, "unlock", "pegawai menelepon")
	if done.status != http.StatusOK {
		t.Errorf("helpdesk unlock = %d:\n%s", done.status, done.body)
	}

	// Revoked mid-session: the next request is refused.
	o.mustCLI("", "operator", "revoke", "--nip", helpdesk.NIP)
	if p := b.get(o.URL + "/admin/employee?nip=" + employee.NIP); p.status != http.StatusForbidden || strings.Contains(p.body, employee.NIP) {
		t.Errorf("after the revocation, look-up = %d, want 403 and no data:\n%s", p.status, p.body)
	}
	if p := b.post(o.URL+"/admin/employee/action", url.Values{"csrf": {csrf.Get("csrf")}, "nip": {employee.NIP}, "action": {"unlock"}, "reason": {"lagi"}}); p.status != http.StatusForbidden {
		t.Errorf("after the revocation, action = %d, want 403", p.status)
	}
}

func uploadImportRaw(t *testing.T, b *browser, target, name, content string) *page {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", name)
	io.WriteString(fw, content)
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, target, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

// TestConsole_ImportPendingAndResetMFA: an agency administrator's import
// with a bad row writes nothing and names the line; the good file is
// previewed, stepped up, applied once (the same file again changes
// nothing), and its accounts show on the pending list, by work unit, and
// in the streamed CSV. A reset of an employee's authenticator mails the
// employee.
func TestConsole_ImportPendingAndResetMFA(t *testing.T) {
	onEngines(t, testConsoleImport)
}

func testConsoleImport(t *testing.T, o *testOP) {
	admin := consoleOperator(t, o, "agency", agencyBandung)
	b := newBrowser(t)
	consoleSignIn(t, o, b, o.URL, admin)
	n1, n2 := newNIP(), newNIP()
	good := "nip;nama;email;instansi;unit_kerja\n" +
		n1 + ";Ani;ani@example.go.id;" + agencyBandung + ";Dinas Kesehatan\n" +
		n2 + ";Budi;budi@example.go.id;" + agencyBandung + ";Dinas Pendidikan\n"
	bad := good + "12345;Cacat;cacat@example.go.id;" + agencyBandung + ";Dinas Kesehatan\n"

	for _, tc := range []struct{ name, file, content, want string }{
		{"bad row", "pegawai.csv", bad, `data-line="4"`},
		{"not CSV", "pegawai.csv", "\x89PNG\r\n\x1a\n\x00\x00binary", "bukan CSV"},
		{"no rows", "pegawai.csv", "nip,nama,email\n", "tidak berisi baris"},
		{"wrong extension", "pegawai.xlsx", good, "bukan CSV"},
	} {
		p := uploadImport(t, b, o.URL, tc.file, tc.content)
		if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, tc.want) || strings.Contains(p.body, `action="/admin/import/apply"`) {
			t.Errorf("%s: import = %d, want 422 with %q and no apply:\n%s", tc.name, p.status, tc.want, p.body)
		}
	}
	if _, err := o.cli("", "user", "show", n1); err == nil {
		t.Fatal("a refused import created an account")
	}

	preview := uploadImport(t, b, o.URL, "pegawai.csv", good)
	if preview.status != http.StatusOK || !strings.Contains(preview.body, `data-count="create">2<`) || !strings.Contains(preview.body, `action="/admin/stepup"`) {
		t.Fatalf("preview = %d, want 2 to create and a step-up first:\n%s", preview.status, preview.body)
	}
	stepUp(t, o, b, o.URL, preview, admin)
	preview = uploadImport(t, b, o.URL, "pegawai.csv", good)
	applied := b.submit(preview, "/admin/import/apply", nil)
	if applied.status != http.StatusOK || !strings.Contains(applied.body, "Impor telah disimpan") {
		t.Fatalf("apply = %d:\n%s", applied.status, applied.body)
	}
	if got := state(t, o, n1); got != "provisioned" {
		t.Errorf("imported account state = %q", got)
	}
	if again := b.submit(preview, "/admin/import/apply", nil); again.status == http.StatusOK {
		t.Errorf("the same apply again = %d, want refused", again.status)
	}
	if p := uploadImport(t, b, o.URL, "pegawai.csv", good); !strings.Contains(p.body, `data-count="unchanged">2<`) {
		t.Errorf("the same file again: want 2 unchanged:\n%s", p.body)
	}
	rows, _ := auditRows(t, o, "--nip", n1, "--type", "user.created")
	if len(rows) != 1 || rows[0]["actor"] != "console:"+subOf(t, o, admin.NIP) {
		t.Errorf("user.created rows = %v, want one by the operator's sub", rows)
	}

	pending := b.get(o.URL + "/admin/pending?instansi=" + url.QueryEscape(agencyBandung) + "&unit=Dinas+Kesehatan")
	if pending.status != http.StatusOK || !strings.Contains(pending.body, `data-nip="`+n1+`"`) || strings.Contains(pending.body, `data-nip="`+n2+`"`) {
		t.Errorf("pending list of Dinas Kesehatan = %d, want %s only:\n%s", pending.status, n1, pending.body)
	}
	csvPage := b.get(o.URL + "/admin/pending.csv?instansi=" + url.QueryEscape(agencyBandung))
	if csvPage.status != http.StatusOK || !strings.HasPrefix(csvPage.header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(csvPage.body, n1+",Ani,") || !strings.Contains(csvPage.body, n2+",Budi,") {
		t.Errorf("pending CSV = %d %s:\n%s", csvPage.status, csvPage.header.Get("Content-Type"), csvPage.body)
	}

	// reset-mfa: the operator's own authenticator is the one bound here.
	target := consoleOperator(t, o, "helpdesk", agencyBandung)
	tb := newBrowser(t)
	consoleSignIn(t, o, tb, o.URL, target) // binds the authenticator
	o.mustCLI("", "operator", "revoke", "--nip", target.NIP)
	view := b.get(o.URL + "/admin/employee?nip=" + target.NIP)
	if !strings.Contains(view.body, `value="reset_mfa"`) {
		view = stepUp(t, o, b, o.URL, view, admin)
	}
	_, done := consoleAction(t, b, view, "reset_mfa", "ponsel hilang")
	if done.status != http.StatusOK || showField(t, o, target.NIP, "authenticator bound") != "no" {
		t.Fatalf("reset-mfa = %d, authenticator %s:\n%s", done.status, showField(t, o, target.NIP, "authenticator bound"), done.body)
	}
	if !strings.Contains(o.logs.String(), `to=op.`+target.NIP+`@example.go.id subject="Authenticator akun ASN Digital Anda telah dilepas oleh admin"`) {
		t.Error("reset-mfa did not mail the employee")
	}
}

var consoleAddrRE = regexp.MustCompile(`agency console serving on its own listener" listen=(\S+)`)

// TestConsole_OwnListener: with admin.listen set the console is served
// there, signs in through the OP, and is not served on the main listener.
func TestConsole_OwnListener(t *testing.T) {
	o := startOP(t, "ASNIDP_ADMIN_LISTEN=localhost:0")
	// The console's listener starts beside the main one: its log line may
	// come just after the OP answers.
	var m []string
	for deadline := time.Now().Add(10 * time.Second); m == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		m = consoleAddrRE.FindStringSubmatch(o.logs.String())
	}
	if m == nil {
		t.Fatalf("no console listener in the log:\n%s", o.logs.String())
	}
	base := "http://" + m[1]
	if p := newBrowser(t).get(o.URL + "/admin/"); p.status != http.StatusNotFound {
		t.Errorf("GET /admin/ on the main listener = %d, want 404", p.status)
	}
	national := consoleOperator(t, o, "national", "")
	b := newBrowser(t)
	home := consoleSignIn(t, o, b, base, national)
	if home.status != http.StatusOK || !strings.HasPrefix(home.url.String(), base+"/admin/") || !strings.Contains(home.body, "Aktivasi akun per instansi") {
		t.Fatalf("console on its own listener: %d at %s:\n%s", home.status, home.url, home.body)
	}
}

// TestConsole_ImportProgress (J16): with admin.import_wait 0 the apply page
// sends the operator to the import's progress page, which refreshes
// itself until it shows the result; another operator's browser finds no
// such import there.
func TestConsole_ImportProgress(t *testing.T) {
	onEngines(t, testConsoleImportProgress, "ASNIDP_ADMIN_IMPORT_WAIT=0s")
}

func testConsoleImportProgress(t *testing.T, o *testOP) {
	admin := consoleOperator(t, o, "agency", agencyBandung)
	b := newBrowser(t)
	consoleSignIn(t, o, b, o.URL, admin)
	var file strings.Builder
	file.WriteString("nip;nama;email;instansi;unit_kerja\n")
	first := newNIP()
	for i := range 300 {
		n := first
		if i > 0 {
			n = newNIP()
		}
		fmt.Fprintf(&file, "%s;Pegawai %d;p%d@example.go.id;%s;Dinas Kesehatan\n", n, i, i, agencyBandung)
	}
	preview := uploadImport(t, b, o.URL, "pegawai.csv", file.String())
	stepUp(t, o, b, o.URL, preview, admin)
	preview = uploadImport(t, b, o.URL, "pegawai.csv", file.String())
	applied := b.submit(preview, "/admin/import/apply", nil)
	loc := applied.location()
	if applied.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/admin/import/progress?job=") {
		t.Fatalf("apply = %d Location %q, want a redirect to the progress page", applied.status, loc)
	}

	other := consoleOperator(t, o, "agency", agencyBandung)
	ob := newBrowser(t)
	consoleSignIn(t, o, ob, o.URL, other)
	if p := ob.get(o.URL + loc); p.status != http.StatusNotFound || strings.Contains(p.body, "pegawai.csv") {
		t.Errorf("another operator's view of the import = %d, want 404:\n%s", p.status, p.body)
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		p := b.get(o.URL + loc)
		if p.status == http.StatusOK && strings.Contains(p.body, "Impor telah disimpan") {
			if !strings.Contains(p.body, `data-count="create">300<`) {
				t.Errorf("result page without the 300 accounts created:\n%s", p.body)
			}
			break
		}
		if p.status != http.StatusOK || !strings.Contains(p.body, `http-equiv="refresh"`) || !strings.Contains(p.body, "<progress") {
			t.Fatalf("progress page = %d, want a self-refreshing progress bar:\n%s", p.status, p.body)
		}
		if time.Now().After(deadline) {
			t.Fatal("the import did not finish in 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := state(t, o, first); got != "provisioned" {
		t.Errorf("imported account state = %q, want provisioned", got)
	}
}
