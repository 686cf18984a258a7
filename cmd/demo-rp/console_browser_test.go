package main

import (
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/asnidp/asnidp/internal/optest"
	"github.com/asnidp/asnidp/storage/sqlstore"
)

// The agencies and operators of the console's browser test.
const (
	consoleBandung = "Pemerintah Kota Bandung"
	consoleBKN     = "Badan Kepegawaian Negara"
	consoleBogor   = "Pemerintah Kabupaten Bogor"
)

var (
	nationalOperator = optest.User{NIP: "198703122010011002", Name: "Hendra Wijaya", Email: "hendra.wijaya@example.go.id",
		Instansi: consoleBKN, UnitKerja: "Direktorat Sistem Informasi", Jabatan: "Pranata Komputer Ahli Madya", Password: "kopi tubruk pagi hari nasional"}
	agencyOperator = optest.User{NIP: "199004152022212007", Name: "Siti Rahmawati", Email: "siti@example.go.id",
		Instansi: consoleBandung, UnitKerja: "Badan Kepegawaian dan Pengembangan SDM", Jabatan: "Analis SDM Aparatur", Password: "kopi tubruk pagi hari bandung"}
	// dewi lost her phone: her account is locked and her authenticator
	// must be reset.
	dewi = optest.User{NIP: "199208172019032001", Name: "Dewi Lestari", Email: "dewi.lestari@example.go.id",
		Instansi: consoleBandung, UnitKerja: "Dinas Pendidikan", Jabatan: "Guru Ahli Pertama", Password: "nasi goreng kampung pedas"}
)

// TestBrowserConsole drives Chromium through the agency console: the
// national operator signs in and sees every agency's funnel and one
// agency's; the agency administrator of Bandung sees its own funnel,
// exports its pending list, looks up an employee, unlocks the account and
// resets its authenticator (each with a reason, a fresh authenticator
// code and a confirmation), and uploads an import with a row of another
// agency (refused, by line) and then a good one.
func TestBrowserConsole(t *testing.T) {
	chromium := chromiumPath(t)
	op := optest.Start(t)
	seedConsole(t, op)

	// National operator.
	j := newJourney(t, chromium)
	j.consoleSignIn(op, nationalOperator)
	j.wantPage(op.URL, "/admin/")
	if got := j.text("table.agencies tbody"); !strings.Contains(got, consoleBandung) || !strings.Contains(got, consoleBogor) {
		j.fatalf("national funnel lists %q, want every agency", got)
	}
	j.shot("20-console-national")
	j.click(`table.agencies a[href*="Bandung"]`)
	j.wantPage(op.URL, "/admin/agency")
	j.shot("21-console-agency")
	j.requests.checkLoopback(t)

	// Agency administrator of Bandung, in a browser of its own.
	j = newJourney(t, chromium)
	j.consoleSignIn(op, agencyOperator)
	j.wantPage(op.URL, "/admin/agency")
	if strings.Contains(j.text("body"), consoleBogor) {
		j.fatalf("the agency administrator sees another agency")
	}
	j.click(`a[href^="/admin/pending"]`)
	j.wantPage(op.URL, "/admin/pending")
	j.shot("22-console-pending")
	// The export is a download (the pages' CSP lets no script fetch
	// it); its content is checked by TestConsole_ImportPendingAndResetMFA.
	if href := j.attr("a[download]", "href"); !strings.HasPrefix(href, "/admin/pending.csv?instansi=") {
		j.fatalf("pending export link %q", href)
	}

	j.open(op.URL + "/admin/employee")
	j.fill("#nip", dewi.NIP)
	j.click(`form[action="/admin/employee"] button[type="submit"]`)
	j.wantPage(op.URL, "/admin/employee")
	if got := j.text("#locks"); !strings.HasPrefix(got, "Terkunci") {
		j.fatalf("Dewi's locks = %q, want locked", got)
	}
	j.shot("23-console-employee")
	j.click(`form[action="/admin/stepup"] button[type="submit"]`)
	j.wantPage(op.URL, "/login/otp")
	j.shot("24-console-stepup")
	j.fill("#code", op.Code(t, agencyOperator.NIP))
	j.click(`form[action="/login/otp"] button[type="submit"]`)
	j.wantPage(op.URL, "/admin/employee")

	j.check(`input[value="unlock"]`)
	j.fill("#reason", "Pegawai menelepon helpdesk, lupa password berkali-kali")
	j.shot("25-console-action")
	j.click(`form[action="/admin/employee/action"] button[type="submit"]`)
	j.wantPage(op.URL, "/admin/employee/action")
	j.shot("26-console-confirm")
	j.click(`form[action="/admin/employee/confirm"] button[type="submit"]`)
	j.shot("27-console-done")
	j.click(`a[href^="/admin/employee?nip="]`)
	if got := j.text("#locks"); got != "Tidak terkunci" {
		j.fatalf("Dewi's locks after the unlock = %q", got)
	}
	j.check(`input[value="reset_mfa"]`)
	j.fill("#reason", "Ponsel hilang, laporan atasan tanggal ini")
	j.click(`form[action="/admin/employee/action"] button[type="submit"]`)
	j.click(`form[action="/admin/employee/confirm"] button[type="submit"]`)
	if got := j.text("main"); !strings.Contains(got, "Authenticator telah direset") {
		j.fatalf("after the reset: %q", got)
	}

	dir := t.TempDir()
	bad := filepath.Join(dir, "pegawai-bandung.csv")
	good := filepath.Join(dir, "pegawai-bandung-perbaikan.csv")
	rows := "nip;nama;email;instansi;unit_kerja\n" +
		"199601012024211001;Agus Salim;agus.salim@example.go.id;" + consoleBandung + ";Dinas Kesehatan\n" +
		"199602022024212002;Rina Marlina;rina.marlina@example.go.id;" + consoleBandung + ";Dinas Kesehatan\n"
	writeFile(t, bad, rows+"199603032024211003;Joko Susilo;joko.susilo@example.go.id;"+consoleBogor+";Dinas Pertanian\n")
	writeFile(t, good, rows)
	j.open(op.URL + "/admin/import")
	j.upload("#file", bad)
	j.clickWant(`form[enctype="multipart/form-data"] button[type="submit"]`, http.StatusUnprocessableEntity)
	if got := j.text("table.bad-rows tbody"); !strings.HasPrefix(got, "4 instansi") {
		j.fatalf("bad rows = %q, want line 4's agency", got)
	}
	j.shot("28-console-import-refused")
	j.open(op.URL + "/admin/import")
	j.upload("#file", good)
	j.click(`form[enctype="multipart/form-data"] button[type="submit"]`)
	if got := j.text(`dd[data-count="create"]`); got != "2" {
		j.fatalf("preview creates %q, want 2", got)
	}
	j.shot("29-console-import-preview")
	j.click(`form[action="/admin/import/apply"] button[type="submit"]`)
	if got := j.text("main"); !strings.Contains(got, "Impor telah disimpan") {
		j.fatalf("after the apply: %q", got)
	}
	if out, err := op.CLI("", "user", "show", "199601012024211001"); err != nil || !strings.Contains(out, "Dinas Kesehatan") {
		t.Errorf("the imported account: %v\n%s", err, out)
	}
	j.requests.checkLoopback(t)
}

// seedConsole provisions the campaign the screenshots show: three
// agencies with accounts in every state, activations spread over the last
// weeks, the two operators and Dewi.
func seedConsole(t *testing.T, op *optest.OP) {
	t.Helper()
	var csv strings.Builder
	csv.WriteString("nip,nama,email,instansi,unit_kerja,jabatan\n")
	units := map[string][]string{
		consoleBandung: {"Dinas Pendidikan", "Dinas Kesehatan", "Kecamatan Coblong"},
		consoleBKN:     {"Direktorat Sistem Informasi", "Kantor Regional III"},
		consoleBogor:   {"Dinas Pertanian", "Kecamatan Cibinong"},
	}
	var active []optest.User
	n := 0
	for _, agency := range []string{consoleBandung, consoleBKN, consoleBogor} {
		for i := range 12 {
			n++
			nip := fmt.Sprintf("19950%d%02d202401%d%03d", 1+n%9, 1+n%28, 1+n%2, n)
			unit := units[agency][i%len(units[agency])]
			fmt.Fprintf(&csv, "%s,Pegawai %03d,pegawai%03d@example.go.id,%s,%s,Pengelola Layanan\n", nip, n, n, agency, unit)
			if i%3 == 0 {
				active = append(active, optest.User{NIP: nip, Password: fmt.Sprintf("rendang sapi empuk %03d", n)})
			}
		}
	}
	path := filepath.Join(t.TempDir(), "kampanye.csv")
	writeFile(t, path, csv.String())
	if out, err := op.CLI("", "user", "import", path); err != nil {
		t.Fatalf("import the campaign: %v\n%s", err, out)
	}
	for _, u := range []optest.User{nationalOperator, agencyOperator, dewi} {
		op.AddUser(t, u)
	}
	active = append(active, nationalOperator, agencyOperator, dewi)
	for _, u := range active {
		if _, err := op.CLI(u.Password+"\n", "user", "set-password", u.NIP); err != nil {
			t.Fatal(err)
		}
		b := optest.NewBrowser(t)
		start, _ := b.Follow(op.URL + "/admin/")
		op.Login(t, b, start, u) // binds the authenticator; the console itself refuses those without a role
	}
	for _, g := range [][]string{{"operator", "grant", "--nip", nationalOperator.NIP, "--role", "national"},
		{"operator", "grant", "--nip", agencyOperator.NIP, "--role", "agency", "--instansi", consoleBandung}} {
		if out, err := op.CLI("", g...); err != nil {
			t.Fatalf("%v: %v\n%s", g, err, out)
		}
	}
	// Spread the activations over the last three weeks, as a campaign
	// has them, and lock Dewi's password as 100 wrong ones would.
	db, err := sql.Open("sqlite3", op.DatabasePath())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i, u := range active[:len(active)-3] {
		if _, err := db.Exec(`UPDATE users SET activated_at = activated_at - ? WHERE nip = ?`,
			int64(i*17%21)*int64(24*time.Hour/time.Microsecond), u.NIP); err != nil {
			t.Fatal(err)
		}
	}
	st, err := sqlstore.Open(t.Context(), sqlstore.Options{Driver: sqlstore.DriverSQLite, DSN: op.DatabasePath()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.UserByNIP(t.Context(), dewi.NIP)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.RecordPasswordFailure(t.Context(), u.ID, time.Time{}, true, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// consoleSignIn opens the console and signs in as u on the OP's pages
// (the authenticator is bound already).
func (j *journey) consoleSignIn(op *optest.OP, u optest.User) {
	j.t.Helper()
	j.open(op.URL + "/admin/")
	j.wantPage(op.URL, "/login/")
	j.fill("#nip", u.NIP)
	j.fill("#password", u.Password)
	j.click(`form[action="/login/"] button[type="submit"]`)
	j.wantPage(op.URL, "/login/otp")
	j.fill("#code", op.Code(j.t, u.NIP))
	j.click(`form[action="/login/otp"] button[type="submit"]`)
}

// clickWant is click for a page answered with status.
func (j *journey) clickWant(sel string, status int64) {
	j.t.Helper()
	resp, err := chromedp.RunResponse(j.ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		j.fatalf("click %s: %v", sel, err)
	}
	if resp == nil || resp.Status != status {
		j.fatalf("click %s: want status %d, got %v", sel, status, resp)
	}
}

// upload chooses path in the file field sel.
func (j *journey) upload(sel, path string) {
	j.t.Helper()
	if err := chromedp.Do(j.ctx, chromedp.SetUploadFiles(chromedp.CSS(sel), []string{path})); err != nil {
		j.fatalf("choose %s in %s: %v", path, sel, err)
	}
}

// check selects the radio button or checkbox sel, which loads no page.
func (j *journey) check(sel string) {
	j.t.Helper()
	if err := chromedp.Do(j.ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		j.fatalf("select %s: %v", sel, err)
	}
}
