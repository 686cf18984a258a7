package main

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/asnidp/asnidp/internal/optest"
)

// demo is both apps in process, pointed at a real asnidp.
type demo struct {
	op         *optest.OP
	profilURL  string
	riwayatURL string
}

// startDemo starts asnidp (built from this module, SQLite in a temporary
// directory, env overriding its config) with both apps registered, then
// both apps.
func startDemo(t *testing.T, env ...string) *demo {
	t.Helper()
	var lns []net.Listener
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
	}
	d := &demo{profilURL: "http://" + lns[0].Addr().String(), riwayatURL: "http://" + lns[1].Addr().String()}
	client := func(id, secret, base string) optest.Client {
		return optest.Client{
			ID: id, Secret: secret,
			RedirectURIs:           []string{base + "/callback"},
			PostLogoutRedirectURIs: []string{base + "/"},
			BackchannelLogoutURI:   base + "/backchannel-logout",
		}
	}
	d.op = optest.StartEnv(t, env, client("profil", devProfilSecret, d.profilURL), client("riwayat", devRiwayatSecret, d.riwayatURL))

	cfg, err := parseConfig([]string{
		"--issuer", d.op.URL,
		"--profil-url", d.profilURL, "--riwayat-url", d.riwayatURL,
	}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, log, lns, time.Now) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return d
}

var siti = optest.User{
	NIP:       "199004152022212007",
	Name:      "Siti Rahmawati, M.Pd.", // a degree ends in a full stop
	Email:     "siti@example.go.id",
	Instansi:  "Pemerintah Kota Bandung",
	UnitKerja: "Dinas Pendidikan",
	Jabatan:   "Guru Ahli Pertama",
	Password:  "kopi tubruk pagi hari",
}

// TestDemo runs both apps against one asnidp; each subtest uses its own
// browser and employee.
func TestDemo(t *testing.T) {
	d := startDemo(t)
	t.Run("SignedOutVisitLogsNoWarning", func(t *testing.T) { testSignedOutVisitLogsNoWarning(t, d) })
	t.Run("SignInSSOAndLogout", func(t *testing.T) { testSignInSSOAndLogout(t, d) })
	t.Run("UnknownNIPHasNoHistory", func(t *testing.T) { testUnknownNIPHasNoHistory(t, d) })
}

func testSignInSSOAndLogout(t *testing.T, d *demo) {
	d.op.AddUser(t, siti)
	b := optest.NewBrowser(t)

	// A visitor without a session is checked silently (prompt=none) and,
	// unknown to asnidp, offered the sign-in button.
	landing, trail := b.Follow(d.profilURL + "/")
	if landing.URL.Path != "/masuk" || optest.Text(t, landing, "masuk") != "Masuk dengan ASN Digital" {
		t.Fatalf("first visit ended at %s (status %d), want the /masuk page; trail %v", landing.URL, landing.Status, trail)
	}
	if !trailHas(trail, "prompt=none") || !trailHas(trail, "error=login_required") {
		t.Errorf("first visit trail %v: want a prompt=none request answered login_required", trail)
	}

	// Sign in to Profil: password, authenticator enrolment, code.
	loginPage, _ := b.Follow(d.profilURL + "/login")
	profil, trail := d.op.Login(t, b, loginPage, siti)
	if profil.URL.String() != d.profilURL+"/" || profil.Status != http.StatusOK {
		t.Fatalf("after sign-in: %s status %d, want %s/; trail %v\n%s", profil.URL, profil.Status, d.profilURL, trail, profil.Body)
	}
	for id, want := range map[string]string{
		"nama": siti.Name, "nip": siti.NIP, "instansi": siti.Instansi, "unit-kerja": siti.UnitKerja,
		"jabatan": siti.Jabatan, "email": siti.Email, "jenis-pegawai": "PPPK Paruh Waktu",
	} {
		if got := optest.Text(t, profil, id); got != want {
			t.Errorf("Profil #%s = %q, want %q", id, got, want)
		}
	}
	checkPageHeaders(t, profil, d.op.URL)
	if !strings.Contains(profil.Body, "dengan password dan kode authenticator") {
		t.Error("Profil does not say the sign-in used both factors (amr mfa)")
	}

	// Riwayat Jabatan, through Profil's link: single sign-on, no page of
	// asnidp on the way.
	link := optest.Link(t, profil, "layanan-lain")
	if link != d.riwayatURL+"/" {
		t.Fatalf("Profil links the other service at %q, want %s/", link, d.riwayatURL)
	}
	riwayat, trail := b.Follow(link)
	if riwayat.URL.String() != d.riwayatURL+"/" || riwayat.Status != http.StatusOK {
		t.Fatalf("Riwayat: %s status %d, want %s/; trail %v\n%s", riwayat.URL, riwayat.Status, d.riwayatURL, trail, riwayat.Body)
	}
	for _, u := range trail {
		if strings.HasPrefix(u, d.op.URL+"/login") {
			t.Errorf("SSO into Riwayat passed through the login pages: %v", trail)
		}
	}
	history := optest.Text(t, riwayat, "riwayat")
	for _, want := range []string{"Guru Ahli Pertama", "TMT 1 Maret 2023", "Guru Kelas (Honorer)", "TMT 18 Juli 2016"} {
		if !strings.Contains(history, want) {
			t.Errorf("Riwayat list %q lacks %q", history, want)
		}
	}
	if i, j := strings.Index(history, "Guru Ahli Pertama"), strings.Index(history, "Guru Kelas"); i > j {
		t.Errorf("Riwayat list is not newest first: %q", history)
	}
	checkPageHeaders(t, riwayat, d.op.URL)
	for _, pg := range []*optest.Page{profil, riwayat} {
		if strings.Contains(pg.Body, "..") {
			t.Errorf("%s has a double full stop (after the degree?)", pg.URL)
		}
		title := regexp.MustCompile(`<title>([^<]*)</title>`).FindStringSubmatch(pg.Body)
		if title == nil {
			t.Fatalf("%s has no title", pg.URL)
		}
		if parts := strings.Split(html.UnescapeString(title[1]), " · "); len(parts) != 2 || parts[0] == parts[1] {
			t.Errorf("%s title = %q, want the page and the service, each once", pg.URL, title[1])
		}
	}

	// Keluar without the form's CSRF token changes nothing.
	forged := b.Post(d.profilURL+"/logout", url.Values{"csrf": {"forged"}})
	if forged.Status != http.StatusForbidden {
		t.Errorf("logout with a forged token = %d, want 403", forged.Status)
	}
	if again, _ := b.Follow(d.profilURL + "/"); again.URL.Path != "/" {
		t.Fatalf("forged logout ended the session: landed on %s", again.URL)
	}

	// Keluar in Profil: RP-initiated logout at asnidp with id_token_hint,
	// back to Profil's registered post-logout URI.
	out := b.Submit(profil, "/logout", nil)
	endSession := out.Location()
	if out.Status != http.StatusSeeOther || !strings.HasPrefix(endSession, d.op.URL+"/end_session?") {
		t.Fatalf("Keluar = %d to %q, want 303 to %s/end_session", out.Status, endSession, d.op.URL)
	}
	q := queryOf(t, endSession)
	if q.Get("id_token_hint") == "" || q.Get("post_logout_redirect_uri") != d.profilURL+"/" || q.Get("client_id") != "profil" {
		t.Errorf("end_session parameters %v: want id_token_hint, client_id=profil and post_logout_redirect_uri=%s/", q, d.profilURL)
	}
	after, trail := b.Follow(endSession)
	if !trailHas(trail, d.profilURL+"/") || after.URL.Path != "/masuk" || !strings.HasPrefix(after.URL.String(), d.profilURL) {
		t.Errorf("after logout: landed on %s, trail %v; want Profil's post-logout URI then its /masuk page", after.URL, trail)
	}

	// The SSO session at asnidp is over: a silent sign-in is refused.
	_, trail = b.Follow(d.riwayatURL + "/login?silent=1")
	if !trailHas(trail, "error=login_required") {
		t.Errorf("silent sign-in after logout: trail %v, want login_required", trail)
	}

	// When asnidp sends back-channel logout tokens, Riwayat's session ends
	// too; until then the local session outlives the SSO session.
	if discovery(t, d.op.URL)["backchannel_logout_supported"] == true {
		deadline := time.Now().Add(15 * time.Second)
		for {
			p, _ := b.Follow(d.riwayatURL + "/")
			if p.URL.Path == "/masuk" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("Riwayat session still alive 15 s after logout from Profil, though the OP advertises back-channel logout")
			}
			time.Sleep(200 * time.Millisecond)
		}
	} else {
		t.Log("the OP does not advertise backchannel_logout_supported yet; Riwayat's session end is not checked here")
	}
}

func testUnknownNIPHasNoHistory(t *testing.T, d *demo) {
	budi := optest.User{NIP: "199203142020121004", Name: "Budi Santoso", Email: "budi@example.go.id", Password: "teh manis hangat sore"}
	d.op.AddUser(t, budi)
	b := optest.NewBrowser(t)
	loginPage, _ := b.Follow(d.riwayatURL + "/login")
	page, trail := d.op.Login(t, b, loginPage, budi)
	if page.URL.String() != d.riwayatURL+"/" {
		t.Fatalf("after sign-in: %s, trail %v", page.URL, trail)
	}
	if got := optest.Text(t, page, "kosong"); !strings.Contains(got, "Belum ada riwayat jabatan") {
		t.Errorf("Riwayat for an unknown NIP shows %q, want the no-history message", got)
	}
	if optest.Text(t, page, "riwayat") != "" {
		t.Error("Riwayat shows a list for an NIP without sample data")
	}
}

// checkPageHeaders: no script, and a CSP that forbids it.
func checkPageHeaders(t *testing.T, p *optest.Page, issuer string) {
	t.Helper()
	csp := p.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self' " + issuer} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: CSP %q lacks %q", p.URL, csp, want)
		}
	}
	if strings.Contains(strings.ToLower(p.Body), "<script") || strings.Contains(p.Body, "style=") {
		t.Errorf("%s has inline script or style", p.URL)
	}
	if p.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store on a page with personal data", p.URL, p.Header.Get("Cache-Control"))
	}
}

func trailHas(trail []string, s string) bool {
	for _, u := range trail {
		if strings.Contains(u, s) {
			return true
		}
	}
	return false
}

func queryOf(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	return u.Query()
}

func discovery(t *testing.T, issuer string) map[string]any {
	t.Helper()
	resp, err := http.Get(issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("decode discovery: %v", err)
	}
	return doc
}
