package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// signedIn is an employee signed in to profil through b, with the tokens
// the RP holds.
type signedIn struct {
	u      testUser
	b      *browser
	r      *relyingParty
	secret string
	tokens *oidc.Tokens[*oidc.IDTokenClaims]
}

// signIn provisions a user with a password and signs them in to profil
// (enrolling the authenticator).
func signIn(t *testing.T, o *testOP) *signedIn {
	t.Helper()
	secret := o.addClient("--id", "profil", "--redirect-uri", rpRedirect, "--post-logout-redirect-uri", rpPostLogout)
	s := &signedIn{u: o.addUser(true), b: newBrowser(t), secret: secret}
	s.r = newRelyingParty(t, o, "profil", secret)
	code, p := s.r.login(t, o, s.b, s.u)
	s.tokens = s.r.exchange(t, code, p)
	return s
}

// admLoginForm starts an authorization in b and returns the page it lands
// on: the login form, or (with a live SSO session) the redirect with a
// code.
func admLoginForm(t *testing.T, o *testOP, s *signedIn, b *browser) *page {
	t.Helper()
	return b.follow(o.URL, rp.AuthURL("st", s.r.RelyingParty, rp.WithCodeChallenge(newPKCE().challenge),
		rp.AuthURLOpt(rp.WithURLParam("nonce", "n"))))
}

// wantNoAccess checks that nothing s held still works: no token, no
// refresh, no silent SSO login.
func wantNoAccess(t *testing.T, o *testOP, s *signedIn, when string) {
	t.Helper()
	if introspect(t, o, "profil", s.secret, s.tokens.AccessToken).Active {
		t.Errorf("%s: access token still active", when)
	}
	if _, err := rp.Userinfo[*oidc.UserInfo](t.Context(), s.tokens.AccessToken, oidc.BearerToken, s.tokens.IDTokenClaims.Subject, s.r.RelyingParty); err == nil {
		t.Errorf("%s: userinfo still answers the access token", when)
	}
	s.r.nonce = ""
	if _, err := rp.RefreshTokens[*oidc.IDTokenClaims](t.Context(), s.r.RelyingParty, s.tokens.RefreshToken, "", ""); err == nil {
		t.Errorf("%s: refresh token still works", when)
	}
	if p := admLoginForm(t, o, s, s.b); p.status != http.StatusOK || !strings.Contains(p.body, `name="password"`) {
		t.Errorf("%s: authorize with the old SSO cookie = %d %q, want the login form", when, p.status, p.location())
	}
}

// E4: disabling an account ends everything it holds by the very next
// request (no cache, no grace), and the password no longer signs in.
// Enabling it again restores the account as it was.
func TestAdmin_E4_DisableEndsEverything(t *testing.T) {
	o := startOP(t)
	s := signIn(t, o)
	if !introspect(t, o, "profil", s.secret, s.tokens.AccessToken).Active {
		t.Fatal("access token inactive before the disable")
	}

	out := o.mustCLI("", "user", "disable", s.u.NIP)
	if want := "user " + s.u.NIP + " disabled; every session and token revoked\n"; out != want {
		t.Errorf("user disable printed %q, want %q", out, want)
	}
	wantNoAccess(t, o, s, "after disable")

	fresh := newBrowser(t)
	refused := fresh.submit(admLoginForm(t, o, s, fresh), "/login/", map[string]string{"nip": s.u.NIP, "password": s.u.Password})
	if refused.status != http.StatusUnauthorized || !strings.Contains(refused.body, `name="password"`) {
		t.Errorf("password login of a disabled account = %d, want 401 and the login form again", refused.status)
	}

	if out := o.mustCLI("", "user", "disable", s.u.NIP); !strings.Contains(out, "was already disabled") {
		t.Errorf("second disable printed %q", out)
	}
	if out := o.mustCLI("", "user", "enable", s.u.NIP); out != "user "+s.u.NIP+" enabled (state active)\n" {
		t.Errorf("user enable printed %q", out)
	}
	if _, err := o.cli("", "user", "enable", s.u.NIP); err == nil || !strings.Contains(err.Error(), "the account is not disabled") {
		t.Errorf("enable of an enabled account = %v", err)
	}
	// Password and authenticator were kept: the code page, not enrolment.
	b := newBrowser(t)
	if p := o.password(b, admLoginForm(t, o, s, b), s.u); !strings.Contains(p.body, `action="/login/otp"`) {
		t.Errorf("after enable the password leads to %s, want the code page", p.url)
	}
}

// reset-mfa (lost phone): the authenticator is unbound, every session and
// token ends, and the next login enrols a new authenticator.
func TestAdmin_ResetMFA(t *testing.T) {
	o := startOP(t)
	s := signIn(t, o)
	oldSeed := o.seeds[s.u.NIP]

	out := o.mustCLI("", "user", "reset-mfa", s.u.NIP)
	if !strings.Contains(out, "authenticator of "+s.u.NIP+" removed; sessions ended and tokens revoked") {
		t.Errorf("user reset-mfa printed %q", out)
	}
	wantNoAccess(t, o, s, "after reset-mfa")
	// The notice (the log mail driver writes it to the log) carries a
	// "Bukan saya" link.
	if !notMeLink.MatchString(o.logs.String()) {
		t.Error("the reset-mfa notice has no \"Bukan saya\" link")
	}
	if show := o.mustCLI("", "user", "show", s.u.NIP); !strings.Contains(show, "authenticator bound:   no") || !strings.Contains(show, "state:                 password_set") {
		t.Errorf("user show after reset-mfa:\n%s", show)
	}

	b := newBrowser(t)
	factor := o.password(b, admLoginForm(t, o, s, b), s.u)
	if !strings.Contains(factor.body, `action="/login/enrol"`) {
		t.Fatalf("after reset-mfa the password leads to %s, want enrolment", factor.url)
	}
	done := o.secondFactor(b, factor, s.u)
	if _, state := codeFrom(t, b.follow(o.URL, done.location()), rpRedirect); state != "st" {
		t.Errorf("state after the new enrolment = %q", state)
	}
	if string(o.seeds[s.u.NIP]) == string(oldSeed) {
		t.Error("the new enrolment offered the old seed")
	}
	if _, err := o.cli("", "user", "reset-mfa", newNIP()); err == nil || !strings.Contains(err.Error(), "no account has this NIP") {
		t.Errorf("reset-mfa of an unknown NIP = %v", err)
	}
}

// change-nip keeps the sub, so relying parties keep their link; the new
// NIP signs in and travels in the claims, the old one no longer signs in.
func TestAdmin_ChangeNIPKeepsSub(t *testing.T) {
	o := startOP(t)
	s := signIn(t, o)
	sub := s.tokens.IDTokenClaims.Subject
	newU := testUser{NIP: newNIP(), Password: s.u.Password}

	out := o.mustCLI("", "user", "change-nip", s.u.NIP, newU.NIP)
	if want := "NIP changed to " + newU.NIP + " (sub " + sub + " unchanged)\n"; out != want {
		t.Errorf("change-nip printed %q, want %q", out, want)
	}
	o.mu.Lock()
	o.seeds[newU.NIP] = o.seeds[s.u.NIP] // the phone keeps its authenticator
	o.mu.Unlock()

	b := newBrowser(t)
	code, p := s.r.login(t, o, b, newU)
	tokens := s.r.exchange(t, code, p)
	if tokens.IDTokenClaims.Subject != sub {
		t.Errorf("sub after change-nip = %q, want %q", tokens.IDTokenClaims.Subject, sub)
	}
	info, err := rp.Userinfo[*oidc.UserInfo](t.Context(), tokens.AccessToken, oidc.BearerToken, sub, s.r.RelyingParty)
	if err != nil || info.Claims["nip"] != newU.NIP || info.PreferredUsername != newU.NIP {
		t.Errorf("userinfo after change-nip = %v %v, %v; want the new NIP", info.PreferredUsername, info.Claims["nip"], err)
	}
	old := newBrowser(t)
	refused := old.submit(admLoginForm(t, o, s, old), "/login/", map[string]string{"nip": s.u.NIP, "password": s.u.Password})
	if refused.status != http.StatusUnauthorized {
		t.Errorf("login with the old NIP = %d, want 401", refused.status)
	}
	if _, err := o.cli("", "user", "change-nip", newU.NIP, newU.NIP); err == nil {
		t.Error("change-nip to the same NIP succeeded")
	}
}

// unlock releases the progressive delay earned by wrong passwords. (The
// captcha that wrong passwords also bring on is switched off: it is
// tested with the login pages.)
func TestAdmin_UnlockAndShow(t *testing.T) {
	o := startOP(t, "ASNIDP_CAPTCHA_ENABLED=false")
	s := signIn(t, o)
	b := newBrowser(t)
	form := admLoginForm(t, o, s, b)
	for i := range o.cfg.Password.DelayAfter {
		p := b.submit(form, "/login/", map[string]string{"nip": s.u.NIP, "password": "salah sekali " + string(rune('a'+i))})
		if p.status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d = %d, want 401", i, p.status)
		}
		form = p
	}
	if p := b.submit(form, "/login/", map[string]string{"nip": s.u.NIP, "password": s.u.Password}); p.status != http.StatusUnauthorized {
		t.Fatalf("right password during the delay = %d, want 401", p.status)
	}
	show := o.mustCLI("", "user", "show", s.u.NIP)
	for _, want := range []string{"locked until:          until ", "failed passwords:      5", "authenticator bound:   yes", "state:                 active"} {
		if !strings.Contains(show, want) {
			t.Errorf("user show lacks %q:\n%s", want, show)
		}
	}
	if strings.Contains(show, "last login:            never") {
		t.Errorf("user show reports no login after one:\n%s", show)
	}

	if delayed := o.mustCLI("", "audit", "--nip", s.u.NIP, "--type", "login.delayed"); !strings.Contains(delayed, "consecutive password failures") {
		t.Errorf("no login.delayed audit row after %d wrong passwords:\n%s", o.cfg.Password.DelayAfter, delayed)
	}
	if out := o.mustCLI("", "user", "unlock", s.u.NIP); out != "user "+s.u.NIP+" unlocked\n" {
		t.Errorf("user unlock printed %q", out)
	}
	if p := o.password(b, admLoginForm(t, o, s, b), s.u); !strings.Contains(p.body, `action="/login/otp"`) {
		t.Errorf("after unlock the password leads to %s, want the code page", p.url)
	}
}

// The import path end to end: dry run, real run, same file again, a file
// with bad rows; then an imported employee signs in, and the activation
// report counts them.
func TestAdmin_ImportAndReport(t *testing.T) {
	o := startOP(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	a, b, c := newNIP(), newNIP(), newNIP()
	csv := write("pegawai.csv", "nip;nama;email;instansi;unit_kerja;jabatan;jenis_pegawai\n"+
		a+";Ani;ani@example.go.id;BKN;Biro SDM;Analis;PPPK Paruh Waktu\n"+
		b+";Bayu;bayu@example.go.id;BKN;Biro Umum;Guru;PPPK Paruh Waktu\n"+
		c+";Citra;citra@example.go.id;Kota Bandung;Dinas Pendidikan;Guru;PPPK Paruh Waktu\n")

	dry := o.mustCLI("", "user", "import", csv, "--dry-run")
	created := []string{a + "  Ani", b + "  Bayu", c + "  Citra"}
	slices.Sort(created) // the plan lists by NIP
	wantDry := "create   " + strings.Join(created, "\ncreate   ") + "\n" +
		"would create 3, update 0, leave 0 unchanged, disable 0 (dry run: nothing written)\n"
	if dry != wantDry {
		t.Errorf("dry run printed:\n%s\nwant:\n%s", dry, wantDry)
	}
	if _, err := o.cli("", "user", "show", a); err == nil {
		t.Error("the dry run created an account")
	}
	if out := o.mustCLI("", "user", "import", csv); out != "created 3, updated 0, unchanged 0, disabled 0\n" {
		t.Errorf("import printed %q", out)
	}
	if out := o.mustCLI("", "user", "import", csv); out != "created 0, updated 0, unchanged 3, disabled 0\n" {
		t.Errorf("second import printed %q, want nothing changed", out)
	}

	// A misspelt agency has no accounts: the leaver run is refused, dry run
	// or not, and changes nothing, not even the row the file changes.
	moved := write("bkn-moved.csv", "nip,nama,email,instansi,unit_kerja\n"+a+",Ani,ani@example.go.id,BKN,Biro Keuangan\n")
	for _, dryRun := range []bool{true, false} {
		args := []string{"user", "import", moved, "--disable-missing", "--instansi", "BNK"}
		if dryRun {
			args = append(args, "--dry-run")
		}
		out, err := o.cli("", args...)
		if err == nil || !strings.Contains(err.Error(), `no account has this instansi "BNK"`) || out != "" {
			t.Errorf("asnidp %s = %q, %v; want a refusal naming BNK and no output", strings.Join(args, " "), out, err)
		}
	}
	if out := o.mustCLI("", "user", "import", csv, "--dry-run"); !strings.HasSuffix(out, "would create 0, update 0, leave 3 unchanged, disable 0 (dry run: nothing written)\n") {
		t.Errorf("after the refused run, the first file is no longer all unchanged:\n%s", out)
	}

	// Bayu left BKN: the BKN file no longer lists him.
	bkn := write("bkn.jsonl", `{"nip":"`+a+`","nama":"Ani","email":"ani@example.go.id","instansi":"BKN"}`+"\n")
	dry = o.mustCLI("", "user", "import", bkn, "--dry-run", "--disable-missing", "--instansi", "BKN")
	if !strings.HasPrefix(dry, "disable  "+b+"  Bayu  (provisioned; no longer listed for instansi BKN)\n") {
		t.Errorf("leaver dry run does not start with the leaver:\n%s", dry)
	}
	out := o.mustCLI("", "user", "import", bkn, "--disable-missing", "--instansi", "BKN")
	if !strings.Contains(out, "disabled "+b) || !strings.HasSuffix(out, "created 0, updated 0, unchanged 1, disabled 1\n") {
		t.Errorf("leaver import printed %q", out)
	}
	if _, err := o.cli("", "user", "import", bkn, "--disable-missing"); err == nil {
		t.Error("--disable-missing without --instansi accepted")
	}

	bad := write("bad.csv", "nip,nama,email\n"+a+",Ani,ani@example.go.id\n12345,X,x@example.go.id\n"+newNIP()+",,y@example.go.id\n")
	_, err := o.cli("", "user", "import", bad)
	if err == nil || !strings.Contains(err.Error(), "2 bad rows in "+bad+"; nothing was imported") ||
		!strings.Contains(err.Error(), "line 3: nip: the NIP must have exactly 18 digits") || !strings.Contains(err.Error(), "line 4: nama: is empty") {
		t.Errorf("import of a file with bad rows = %v", err)
	}

	// An imported employee (given a password here; normally by the reset
	// pages) signs in like any other.
	o.mustCLI("kopi tubruk pagi hari sekali\n", "user", "set-password", a)
	secret := o.addClient("--id", "profil", "--redirect-uri", rpRedirect)
	r := newRelyingParty(t, o, "profil", secret)
	r.login(t, o, newBrowser(t), testUser{NIP: a, Password: "kopi tubruk pagi hari sekali"})

	report := o.mustCLI("", "report", "activation", "--by", "instansi", "--format", "csv")
	wantReport := "instansi,provisioned,password_set,active,disabled,total,activation_rate\n" +
		"BKN,0,0,1,1,2,1.0000\n" +
		"Kota Bandung,1,0,0,0,1,0.0000\n" +
		"TOTAL,1,0,1,1,3,0.5000\n"
	if report != wantReport {
		t.Errorf("activation report:\n%s\nwant:\n%s", report, wantReport)
	}
	pending := o.mustCLI("", "report", "activation", "--pending", "--format", "json")
	var p struct{ NIP, State string }
	if err := json.Unmarshal([]byte(pending), &p); err != nil || p.NIP != c || p.State != "provisioned" || strings.Count(pending, "\n") != 1 {
		t.Errorf("pending list = %q (%v), want only %s", pending, err, c)
	}
	if _, err := o.cli("", "report", "activation", "--by", "jabatan"); err == nil {
		t.Error("report --by jabatan accepted")
	}
}

// user add refuses a kind of employee relying parties would not know, and
// stores a known one in its canonical spelling.
func TestAdmin_UserAddJenisPegawai(t *testing.T) {
	o := startOP(t)
	bad := newNIP()
	_, err := o.cli("", "user", "add", "--nip", bad, "--name", "Budi", "--email", "budi@example.go.id", "--jenis-pegawai", "Honorer")
	if err == nil || !strings.Contains(err.Error(), `--jenis-pegawai "Honorer" is not one of "PNS", "PPPK", "PPPK Paruh Waktu"`) {
		t.Errorf("user add --jenis-pegawai Honorer = %v, want a refusal listing the kinds", err)
	}
	if _, err := o.cli("", "user", "show", bad); err == nil {
		t.Error("the refused user add created an account")
	}
	good := newNIP()
	o.mustCLI("", "user", "add", "--nip", good, "--name", "Siti", "--email", "siti@example.go.id", "--jenis-pegawai", "pns")
	if out := o.mustCLI("", "user", "show", good); !strings.Contains(out, "PNS") {
		t.Errorf("user show after --jenis-pegawai pns:\n%s\nwant PNS", out)
	}
}

// set-password --nip-file gives every listed test account the password,
// each audited, and refuses the whole file when one NIP is malformed.
func TestAdmin_SetPasswordNIPFile(t *testing.T) {
	o := startOP(t)
	a, b := o.addUser(false), o.addUser(false)
	file := filepath.Join(t.TempDir(), "nips.txt")
	if err := os.WriteFile(file, []byte(a.NIP+"\n\n"+b.NIP+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const pw = "kopi tubruk pagi hari sekali"
	if out := o.mustCLI(pw+"\n", "user", "set-password", "--nip-file", file); out != "password set for 2 accounts\n" {
		t.Errorf("set-password --nip-file printed %q", out)
	}
	for _, nip := range []string{a.NIP, b.NIP} {
		if rows := o.mustCLI("", "audit", "--nip", nip, "--type", "password.changed"); !strings.Contains(rows, "set by operator") {
			t.Errorf("no password audit row for %s:\n%s", nip, rows)
		}
	}
	secret := o.addClient("--id", "profil", "--redirect-uri", rpRedirect)
	newRelyingParty(t, o, "profil", secret).login(t, o, newBrowser(t), testUser{NIP: b.NIP, Password: pw})

	if _, err := o.cli(pw+"\n", "user", "set-password", a.NIP, "--nip-file", file); err == nil {
		t.Error("set-password with both a NIP and --nip-file accepted")
	}
	bad := filepath.Join(t.TempDir(), "bad.txt")
	if err := os.WriteFile(bad, []byte(a.NIP+"\n12345\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := o.cli(pw+"\n", "user", "set-password", "--nip-file", bad); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("set-password --nip-file with a bad NIP = %v, want the line named", err)
	}
}
