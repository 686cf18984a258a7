package main

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
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
	start := b.follow(o.URL, base+"/admin/")
	if start.status != http.StatusOK || !strings.Contains(start.body, `action="/login/"`) {
		t.Fatalf("console without a session: want the OP's login page, got %d at %s:\n%s", start.status, start.url, start.body)
	}
	return b.follow(base, completeLogin(t, o, b, start, u))
}

// stepUp confirms a fresh authenticator code from the console page p (the
// form posting to /admin/stepup) and returns the page it comes back to.
func stepUp(t *testing.T, o *testOP, b *browser, base string, p *page, u testUser) *page {
	t.Helper()
	sent := b.submit(p, "/admin/stepup", nil)
	otp := b.follow(o.URL, sent.location())
	if otp.status != http.StatusOK || !strings.Contains(otp.body, `action="/login/otp"`) {
		t.Fatalf("step-up: want the code page, got %d at %s:\n%s", otp.status, otp.url, otp.body)
	}
	done := o.secondFactor(b, otp, u)
	back, err := done.url.Parse(done.location())
	if err != nil {
		t.Fatal(err)
	}
	return b.follow(base, back.String())
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
	home := consoleSignIn(t, o, b, o.URL, national)
	if home.status != http.StatusOK || !strings.Contains(home.body, "Aktivasi akun per instansi") {
		t.Fatalf("national operator's first page: %d at %s:\n%s", home.status, home.url, home.body)
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
