package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"image"
	"image/png"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/asnidp/asnidp/internal/mail/mailtest"
	"github.com/asnidp/asnidp/internal/optest"
	"github.com/asnidp/asnidp/storage/sqlstore"
)

// The environment of the browser test. Without Chromium the test skips,
// unless requireBrowserEnv is "1" (CI), when it fails. With
// updateScreenshotsEnv "1" it rewrites docs/screenshots.
const (
	requireBrowserEnv    = "ASNIDP_TEST_REQUIRE_BROWSER"
	updateScreenshotsEnv = "ASNIDP_UPDATE_SCREENSHOTS"
	screenshotDir        = "../../docs/screenshots"
)

// viewports are the sizes every screenshot is taken at; the journey runs
// at the last one.
var viewports = []struct {
	name   string
	width  int64
	height int64
	mobile bool
}{
	{"phone", 360, 740, true},
	{"desktop", 1280, 800, false},
}

// rizky is a provisioned employee (PPPK Paruh Waktu) without a password:
// his first visit is an activation. His NIP has sample job history.
var rizky = optest.User{
	NIP:       "199512302024211003",
	Name:      "Rizky Pratama",
	Email:     "rizky.pratama@example.go.id",
	Instansi:  "Pemerintah Kota Bandung",
	UnitKerja: "Kecamatan Coblong",
	Jabatan:   "Operator Layanan Operasional",
}

// TestBrowserJourney drives Debian's Chromium, headless, through what an
// employee does on a phone or a desktop: activation of a provisioned
// account through the reset pages (the code read from a real mail over
// SMTP), enrolment of an authenticator from the QR code on the page
// (decoded as a phone camera would), Profil Pegawai, single sign-on into
// Riwayat Jabatan, "Keluar" in one ending both through back-channel
// logout, and signing in again with a code. Only loopback addresses are
// contacted, and no browser is ever downloaded.
func TestBrowserJourney(t *testing.T) {
	chromium := chromiumPath(t)
	mails := mailtest.Start(t)
	d := startDemo(t,
		"ASNIDP_MAIL_DRIVER=smtp",
		"ASNIDP_MAIL_SMTP_HOST="+mails.Host,
		"ASNIDP_MAIL_SMTP_PORT="+strconv.Itoa(mails.Port),
		"ASNIDP_MAIL_SMTP_TLS=none",
		"ASNIDP_MFA_SELF_RESET_DELAY=0s", // the self-reset's wait, which is a day in production
	)
	d.op.AddUser(t, rizky)
	j := newJourney(t, chromium)
	const newPassword = "sate padang pedas sekali"

	// Profil: no session anywhere, so the silent check ends on the
	// sign-in button.
	j.open(d.profilURL + "/")
	j.wantPage(d.profilURL, "/masuk")
	j.shot("01-profil-masuk")

	// asnidp's login page; the account has no password yet, so the
	// employee takes the reset (activation) link.
	j.click("#masuk")
	j.wantPage(d.op.URL, "/login/")
	j.shot("02-login")
	j.click(`a[href^="/login/reset"]`)

	// Step 1: NIP and captcha. The answer is read from the database
	// through a second handle, the way another node of the service
	// would check it.
	j.wantPage(d.op.URL, "/login/reset")
	j.fill("#nip", rizky.NIP)
	j.fill("#captcha", captchaAnswer(t, d.op, j.attr(`input[name="captcha_id"]`, "value")))
	j.shot("03-reset-nip")
	j.click(`form[action="/login/reset"] button[type="submit"]`)

	// Step 2: the registered email; the code goes out through the SMTP
	// driver to the test's mail server.
	j.wantPage(d.op.URL, "/login/reset/email")
	j.fill("#email", rizky.Email)
	j.shot("04-reset-email")
	j.click(`form[action="/login/reset/email"] button[type="submit"]`)

	// Step 3: the 8-digit code from the mail.
	j.wantPage(d.op.URL, "/login/reset/code")
	code := resetCodeFromMail(t, mails, rizky.Email)
	j.fill("#code", code)
	j.shot("05-reset-code")
	j.click(`form[action="/login/reset/code"] button[type="submit"]`)

	// Step 4: the new password, twice; then back to the login page of
	// the sign-in the employee started from Profil.
	j.wantPage(d.op.URL, "/login/reset/password")
	j.fill("#password", newPassword)
	j.fill("#confirm", newPassword)
	j.shot("06-reset-password")
	j.click(`form[action="/login/reset/password"] button[type="submit"]`)
	j.wantPage(d.op.URL, "/login/")
	j.fill("#nip", rizky.NIP)
	j.fill("#password", newPassword)
	j.shot("07-login-activated")
	j.click(`form[action="/login/"] button[type="submit"]`)

	// First sign-in: enrolment. The QR code is read twice, from the
	// screen as drawn and from the image the page carries, and must say
	// the same; the code typed is computed from what it says.
	j.wantPage(d.op.URL, "/login/enrol")
	j.shot("08-enrol")
	onScreen := decodeQR(t, j.screenshotOf("img.qr"))
	inPage := decodeQR(t, dataURIImage(t, j.attr("img.qr", "src")))
	if onScreen != inPage {
		t.Fatalf("the QR code on screen says %q, the page's image %q", onScreen, inPage)
	}
	auth := parseOTPAuth(t, onScreen)
	if !strings.Contains(auth.label, rizky.NIP) {
		t.Errorf("authenticator label %q does not name the NIP %s", auth.label, rizky.NIP)
	}
	j.fill("#code", auth.next(t))
	j.click(`form[action="/login/enrol"] button[type="submit"]`)

	// The recovery codes, shown once; the employee writes them down.
	if !strings.Contains(j.text("h1"), "Kode Pemulihan") {
		j.fatalf("after enrolment: %q, want the recovery codes page", j.text("h1"))
	}
	codes := recoveryCodePattern.FindAllString(j.text("#recovery-codes"), -1)
	if len(codes) != 10 {
		j.fatalf("recovery codes page shows %d codes (%q), want 10", len(codes), j.text("#recovery-codes"))
	}
	j.shot("08-recovery-codes")
	j.click("#codes-saved")

	// Profil Pegawai with the employee's own data.
	j.wantPage(d.profilURL, "/")
	for sel, want := range map[string]string{"#nama": rizky.Name, "#nip": rizky.NIP, "#instansi": rizky.Instansi, "#jabatan": rizky.Jabatan} {
		if got := j.text(sel); got != want {
			t.Errorf("Profil %s = %q, want %q", sel, got, want)
		}
	}
	j.shot("09-profil")

	// Riwayat Jabatan: signed in with no page of asnidp on the way.
	mark := j.requests.mark()
	j.click("#layanan-lain")
	j.wantPage(d.riwayatURL, "/")
	for _, u := range j.requests.since(mark) {
		if strings.HasPrefix(u, d.op.URL+"/login") {
			t.Errorf("SSO into Riwayat Jabatan showed asnidp's page %s", u)
		}
	}
	if got := j.text("#riwayat"); !strings.Contains(got, "Operator Layanan Operasional") || !strings.Contains(got, "TMT 2 Januari 2025") {
		t.Errorf("Riwayat Jabatan list = %q, want Rizky's sample history", got)
	}
	if got := j.text(".lead"); !strings.Contains(got, rizky.NIP) {
		t.Errorf("Riwayat Jabatan heading %q lacks the NIP", got)
	}
	j.shot("10-riwayat")

	// Keluar in Riwayat Jabatan ends it and the SSO session; Profil's
	// session ends by back-channel logout, which is delivered from a
	// queue: reload until it has arrived.
	j.click("form.logout button")
	j.wantPage(d.riwayatURL, "/masuk")
	j.shot("11-riwayat-keluar")
	deadline := time.Now().Add(15 * time.Second)
	for {
		j.open(d.profilURL + "/")
		if u := j.location(); u.Path == "/masuk" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Profil still signed in 15 s after Keluar in Riwayat Jabatan: at %s", j.location())
		}
		time.Sleep(250 * time.Millisecond)
	}
	j.wantPage(d.profilURL, "/masuk")

	// Signing in again asks for the password and then the code page.
	j.click("#masuk")
	j.wantPage(d.op.URL, "/login/")
	j.fill("#nip", rizky.NIP)
	j.fill("#password", newPassword)
	j.click(`form[action="/login/"] button[type="submit"]`)
	j.wantPage(d.op.URL, "/login/otp")
	j.fill("#code", auth.next(t))
	j.shot("12-otp")
	j.click(`form[action="/login/otp"] button[type="submit"]`)
	j.wantPage(d.profilURL, "/")
	if got := j.text("#nip"); got != rizky.NIP {
		t.Errorf("Profil after signing in again shows NIP %q, want %s", got, rizky.NIP)
	}

	// The phone is lost: sign in with a recovery code instead, then bind
	// the authenticator of the new phone before Profil opens.
	j.click("form.logout button")
	j.wantPage(d.profilURL, "/masuk")
	j.click("#masuk")
	j.wantPage(d.op.URL, "/login/")
	j.fill("#nip", rizky.NIP)
	j.fill("#password", newPassword)
	j.click(`form[action="/login/"] button[type="submit"]`)
	j.wantPage(d.op.URL, "/login/otp")
	j.click("#use-recovery")
	j.wantPage(d.op.URL, "/login/recovery")
	j.fill("#code", codes[0])
	j.shot("13-recovery")
	j.click(`form[action="/login/recovery"] button[type="submit"]`)
	j.wantPage(d.op.URL, "/login/enrol")
	j.shot("14-recovery-enrol")
	newPhone := parseOTPAuth(t, decodeQR(t, dataURIImage(t, j.attr("img.qr", "src"))))
	if string(newPhone.key) == string(auth.key) {
		t.Error("the new phone was offered the lost phone's key")
	}
	j.fill("#code", newPhone.next(t))
	j.click(`form[action="/login/enrol"] button[type="submit"]`)
	j.wantPage(d.profilURL, "/")
	waitMail(t, mails, rizky.Email, "Kode pemulihan dipakai")

	// That phone is lost too, and the codes with it: the self-reset by
	// password and a mailed code (no wait in this test), from a browser
	// the account has not used, which is mailed. (The browser forgets its
	// cookies without signing out: its session stays live, as on a phone
	// left behind.)
	clearCookies := func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
		return cdp.Call(ctx, target, network.ClearBrowserCookies, cdp.Empty{})
	}
	if err := chromedp.Do(j.ctx, clearCookies); err != nil {
		j.fatalf("clear cookies: %v", err)
	}
	j.open(d.profilURL + "/masuk")
	j.click("#masuk")
	j.wantPage(d.op.URL, "/login/")
	j.fill("#nip", rizky.NIP)
	j.fill("#password", newPassword)
	j.click(`form[action="/login/"] button[type="submit"]`)
	j.wantPage(d.op.URL, "/login/otp")
	j.click("#use-recovery")
	j.wantPage(d.op.URL, "/login/recovery")
	j.click("#self-reset")
	j.wantPage(d.op.URL, "/login/selfreset")
	j.shot("15-self-reset")
	j.click(`form[action="/login/selfreset/start"] button[type="submit"]`)
	j.wantPage(d.op.URL, "/login/selfreset")
	j.fill("#code", selfResetCodeFromMail(t, mails, rizky.Email))
	j.click(`form[action="/login/selfreset/code"] button[type="submit"]`)
	j.wantPage(d.op.URL, "/login/enrol")
	third := parseOTPAuth(t, decodeQR(t, dataURIImage(t, j.attr("img.qr", "src"))))
	j.fill("#code", third.next(t))
	j.click(`form[action="/login/enrol"] button[type="submit"]`)
	if got := len(recoveryCodePattern.FindAllString(j.text("#recovery-codes"), -1)); got != 10 {
		j.fatalf("after the self-reset: %d new recovery codes shown, want 10", got)
	}
	j.click("#codes-saved")
	j.wantPage(d.profilURL, "/")
	waitMail(t, mails, rizky.Email, "Masuk ke akun ASN Digital Anda dari perangkat baru")

	// Akun Saya lists both sessions and ends the one left behind.
	j.open(d.op.URL + "/login/account")
	j.wantPage(d.op.URL, "/login/account")
	if n := strings.Count(j.text("ul.sessions"), "Mulai"); n != 2 {
		j.fatalf("Akun Saya lists %d sessions, want this one and the one left behind:\n%s", n, j.text("ul.sessions"))
	}
	j.shot("16-akun-saya")
	j.click(`form[action="/login/account/sessions/others/end"] button[type="submit"]`)
	j.wantPage(d.op.URL, "/login/account")
	if n := strings.Count(j.text("ul.sessions"), "Mulai"); n != 1 {
		j.fatalf("after ending the others Akun Saya lists %d sessions, want 1:\n%s", n, j.text("ul.sessions"))
	}

	j.requests.checkLoopback(t)
}

// recoveryCodePattern is one recovery code as the page shows it.
var recoveryCodePattern = regexp.MustCompile(`[0-9]{4} [0-9]{4} [0-9]{4}`)

// chromiumPath finds Debian's Chromium, or skips (fails when CI asks for
// the browser).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "Chromium not found (apt-get install chromium); the browser test needs it"
	if os.Getenv(requireBrowserEnv) == "1" {
		t.Fatalf("%s, and %s=1", msg, requireBrowserEnv)
	}
	t.Skip(msg)
	return ""
}

// journey is one browser tab and what it did.
type journey struct {
	t        *testing.T
	ctx      context.Context
	update   bool
	requests *requestLog
}

// newJourney starts a headless Chromium with a fresh profile, on the
// journey's viewport, logging every request it makes.
func newJourney(t *testing.T, chromium string) *journey {
	t.Helper()
	profile := t.TempDir()
	var out syncWriter
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(profile),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("safebrowsing-disable-auto-update", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("force-color-profile", "srgb"),
		// No name resolves: whatever might try to reach beyond the
		// loopback address fails at once.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.Flag("accept-lang", "id-ID,id"),
		chromedp.WindowSize(1280, 800),
		chromedp.CombinedOutput(&out),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	log := &requestLog{}
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(log.listen))
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
		if t.Failed() {
			t.Logf("chromium output (without its complaints about a missing D-Bus):\n%s", withoutDBus(out.String()))
		}
	})
	j := &journey{t: t, ctx: ctx, update: os.Getenv(updateScreenshotsEnv) == "1", requests: log}
	last := viewports[len(viewports)-1]
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(last.width, last.height)); err != nil {
		t.Fatalf("start chromium: %v\n%s", err, out.String())
	}
	return j
}

// fatalf stops the test with where the browser is and what it shows.
func (j *journey) fatalf(format string, args ...any) {
	j.t.Helper()
	where, _ := chromedp.Run(j.ctx, chromedp.Location())
	body, _ := chromedp.Run(j.ctx, chromedp.Text(chromedp.CSS("body")))
	j.t.Fatalf("%s\nat %s:\n%s\nbrowser messages:\n%s", fmt.Sprintf(format, args...), where, body, j.requests.messages())
}

// open navigates to u and waits for the page that ends its redirects.
func (j *journey) open(u string) {
	j.t.Helper()
	if err := chromedp.Do(j.ctx, chromedp.Navigate(u)); err != nil {
		j.fatalf("open %s: %v", u, err)
	}
}

// click clicks the element sel and waits for the page it leads to.
func (j *journey) click(sel string) {
	j.t.Helper()
	resp, err := chromedp.RunResponse(j.ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		j.fatalf("click %s: %v", sel, err)
	}
	if resp == nil || resp.Status != 200 {
		status := int64(0)
		if resp != nil {
			status = resp.Status
		}
		j.fatalf("click %s: the page it led to answered %d, want 200", sel, status)
	}
}

// fill types v into the field sel, replacing what it held. The text goes
// in as typed text (input events, as a keyboard sends) through the focused
// field: chromedp's SendKeys reads the node's attributes while its event
// loop may be updating them, a data race the race detector reports.
func (j *journey) fill(sel, v string) {
	j.t.Helper()
	insert := func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
		return cdp.Call(ctx, target, input.InsertText, input.InsertTextParams{Text: v})
	}
	if err := chromedp.Do(j.ctx, chromedp.Clear(chromedp.CSS(sel)), chromedp.Focus(chromedp.CSS(sel)), insert); err != nil {
		j.fatalf("type into %s: %v", sel, err)
	}
}

func (j *journey) text(sel string) string {
	j.t.Helper()
	s, err := chromedp.Run(j.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		j.fatalf("read %s: %v", sel, err)
	}
	return strings.Join(strings.Fields(s), " ")
}

func (j *journey) attr(sel, name string) string {
	j.t.Helper()
	a, err := chromedp.Run(j.ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil || !a.Exists {
		j.fatalf("read %s[%s]: %v", sel, name, err)
	}
	return a.Value
}

func (j *journey) location() *url.URL {
	j.t.Helper()
	s, err := chromedp.Run(j.ctx, chromedp.Location())
	if err != nil {
		j.fatalf("read location: %v", err)
	}
	u, err := url.Parse(s)
	if err != nil {
		j.fatalf("parse location %q: %v", s, err)
	}
	return u
}

// wantPage checks that the browser shows a page of base at path, in
// Indonesian.
func (j *journey) wantPage(base, path string) {
	j.t.Helper()
	u := j.location()
	if got := u.Scheme + "://" + u.Host; got != base || u.Path != path {
		j.fatalf("browser at %s, want %s%s", u, base, path)
	}
	if lang := j.attr("html", "lang"); lang != "id" {
		j.fatalf("page language %q, want id", lang)
	}
}

// screenshotOf returns the element sel as drawn on the screen.
func (j *journey) screenshotOf(sel string) image.Image {
	j.t.Helper()
	b, err := chromedp.Run(j.ctx, chromedp.Screenshot(chromedp.CSS(sel)))
	if err != nil {
		j.fatalf("screenshot %s: %v", sel, err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		j.t.Fatalf("decode screenshot of %s: %v", sel, err)
	}
	return img
}

// shot saves the page at every viewport as docs/screenshots/name-*.png,
// when asked to, and returns to the journey's viewport.
func (j *journey) shot(name string) {
	j.t.Helper()
	if !j.update {
		return
	}
	for _, vp := range viewports {
		var opts []chromedp.EmulateViewportOption
		if vp.mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
		}
		if err := chromedp.Do(j.ctx, chromedp.EmulateViewport(vp.width, vp.height, opts...)); err != nil {
			j.fatalf("set viewport %s: %v", vp.name, err)
		}
		b, err := chromedp.Run(j.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			j.fatalf("screenshot %s at %s: %v", name, vp.name, err)
		}
		if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
			j.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(screenshotDir, name+"-"+vp.name+".png"), b, 0o644); err != nil {
			j.t.Fatal(err)
		}
	}
}

// requestLog keeps the URL of every request the tab made, and what the
// browser said about the pages (such as a Content Security Policy
// refusing a form's redirect).
type requestLog struct {
	mu      sync.Mutex
	urls    []string
	console []string
}

func (l *requestLog) listen(ev any) {
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		l.mu.Lock()
		l.urls = append(l.urls, ev.Request.URL)
		l.mu.Unlock()
	case *cdplog.EventEntryAdded:
		l.mu.Lock()
		l.console = append(l.console, fmt.Sprintf("%s %s: %s (%s)", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
		l.mu.Unlock()
	}
}

func (l *requestLog) messages() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.console, "\n")
}

func (l *requestLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.urls)
}

func (l *requestLog) since(mark int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.urls[mark:]...)
}

// checkLoopback fails the test for any request beyond the loopback
// address (data: URIs are the page's own images).
func (l *requestLog) checkLoopback(t *testing.T) {
	t.Helper()
	urls := l.since(0)
	if len(urls) == 0 {
		t.Fatal("no request of the browser was seen")
	}
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			t.Errorf("the browser requested the unparsable %q", raw)
			continue
		}
		if u.Scheme == "data" {
			continue
		}
		if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
			t.Errorf("the browser requested %s, beyond the loopback address", raw)
		}
	}
}

// captchaAnswer reads the answer of the captcha id from the server's
// database.
func captchaAnswer(t *testing.T, op *optest.OP, id string) string {
	t.Helper()
	st, err := sqlstore.Open(t.Context(), sqlstore.Options{Driver: sqlstore.DriverSQLite, DSN: op.DatabasePath()})
	if err != nil {
		t.Fatalf("open the server's database: %v", err)
	}
	defer st.Close()
	ch, err := st.CaptchaByID(t.Context(), id, time.Now())
	if err != nil {
		t.Fatalf("captcha %s: %v", id, err)
	}
	return ch.Answer
}

var resetCodeLine = regexp.MustCompile(`(?m)^\s*([0-9]{8})\s*$`)

// resetCodeFromMail waits for the reset mail to addr and returns its
// 8-digit code.
// waitMail waits for a mail to addr whose subject starts with subject,
// skipping other notices.
func waitMail(t *testing.T, mails *mailtest.Server, addr, subject string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		m, err := mails.Next(ctx, addr)
		if err != nil {
			t.Fatalf("waiting for a mail %q: %v", subject, err)
		}
		if strings.HasPrefix(m.Subject, subject) {
			return
		}
	}
}

// selfResetCodeFromMail waits for the self-reset mail to addr and reads
// its 8-digit code.
func selfResetCodeFromMail(t *testing.T, mails *mailtest.Server, addr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		m, err := mails.Next(ctx, addr)
		if err != nil {
			t.Fatalf("waiting for the self-reset code: %v", err)
		}
		if strings.HasPrefix(m.Subject, "Kode untuk memasang ulang") {
			if match := regexp.MustCompile(`(?m)^([0-9]{8})\r?$`).FindStringSubmatch(m.Text); match != nil {
				return match[1]
			}
			t.Fatalf("self-reset mail has no 8-digit code line:\n%s", m.Text)
		}
	}
}

func resetCodeFromMail(t *testing.T, mails *mailtest.Server, addr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	m, err := mails.Next(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	match := resetCodeLine.FindStringSubmatch(m.Text)
	if match == nil {
		t.Fatalf("reset mail %q has no 8-digit code line", m.Subject)
	}
	return match[1]
}

// dataURIImage decodes a data:image/png;base64 URI.
func dataURIImage(t *testing.T, uri string) image.Image {
	t.Helper()
	b64, ok := strings.CutPrefix(uri, "data:image/png;base64,")
	if !ok {
		t.Fatalf("QR image source %.40q… is not a PNG data URI", uri)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("QR data URI: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("QR data URI: %v", err)
	}
	return img
}

// decodeQR reads the text of the QR code in img.
func decodeQR(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatalf("QR bitmap: %v", err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("decode QR code (%v image): %v", img.Bounds().Size(), err)
	}
	return res.GetText()
}

// otpAuth is an authenticator entry, as an app stores it from an
// otpauth://totp/ URI, with the last time step it showed a code for.
type otpAuth struct {
	label    string
	key      []byte
	newHash  func() hash.Hash
	digits   int
	period   int64
	lastStep int64
}

// parseOTPAuth reads an otpauth://totp/ URI with its defaults (SHA1, 6
// digits, 30 s), as authenticator apps do.
func parseOTPAuth(t *testing.T, raw string) *otpAuth {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" {
		t.Fatalf("QR code %q is not an otpauth://totp/ URI (%v)", raw, err)
	}
	q := u.Query()
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.TrimRight(q.Get("secret"), "=")))
	if err != nil || len(key) == 0 {
		t.Fatalf("otpauth secret does not decode: %v", err)
	}
	a := &otpAuth{label: strings.TrimPrefix(u.Path, "/"), key: key, newHash: sha1.New, digits: 6, period: 30}
	switch alg := strings.ToUpper(q.Get("algorithm")); alg {
	case "", "SHA1":
	case "SHA256":
		a.newHash = sha256.New
	case "SHA512":
		a.newHash = sha512.New
	default:
		t.Fatalf("otpauth algorithm %q unknown", alg)
	}
	if s := q.Get("digits"); s != "" {
		if a.digits, err = strconv.Atoi(s); err != nil || a.digits < 6 || a.digits > 8 {
			t.Fatalf("otpauth digits %q", s)
		}
	}
	if s := q.Get("period"); s != "" {
		if a.period, err = strconv.ParseInt(s, 10, 64); err != nil || a.period <= 0 {
			t.Fatalf("otpauth period %q", s)
		}
	}
	return a
}

// next returns the code of a time step not used before: the current one,
// or the one after the last used (the server accepts the next step too).
func (a *otpAuth) next(t *testing.T) string {
	t.Helper()
	now := time.Now().Unix() / a.period
	step := max(now, a.lastStep+1)
	if step > now+1 {
		time.Sleep(time.Until(time.Unix((step-1)*a.period, 0)))
	}
	a.lastStep = step
	return hotp(a.newHash, a.key, step, a.digits)
}

// hotp is RFC 4226's HOTP, which RFC 6238 evaluates at a time step.
func hotp(newHash func() hash.Hash, key []byte, counter int64, digits int) string {
	mac := hmac.New(newHash, key)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(counter))
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, bin%mod)
}

// TestHOTPVectors pins the test's authenticator to RFC 6238 appendix B.
func TestHOTPVectors(t *testing.T) {
	keys := map[string][]byte{
		"SHA1":   []byte("12345678901234567890"),
		"SHA256": []byte("12345678901234567890123456789012"),
		"SHA512": []byte("1234567890123456789012345678901234567890123456789012345678901234"),
	}
	hashes := map[string]func() hash.Hash{"SHA1": sha1.New, "SHA256": sha256.New, "SHA512": sha512.New}
	tests := []struct {
		unix int64
		alg  string
		want string
	}{
		{59, "SHA1", "94287082"},
		{59, "SHA256", "46119246"},
		{59, "SHA512", "90693936"},
		{1111111109, "SHA1", "07081804"},
		{1234567890, "SHA256", "91819424"},
		{2000000000, "SHA512", "38618901"},
		{20000000000, "SHA1", "65353130"},
	}
	for _, tc := range tests {
		if got := hotp(hashes[tc.alg], keys[tc.alg], tc.unix/30, 8); got != tc.want {
			t.Errorf("TOTP %s at %d = %s, want %s", tc.alg, tc.unix, got, tc.want)
		}
	}
}

// withoutDBus drops the lines in which Chromium says it found no D-Bus,
// which a container or CI machine does not run.
func withoutDBus(s string) string {
	var keep []string
	for line := range strings.Lines(s) {
		if !strings.Contains(line, "dbus") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "")
}

// syncWriter collects the browser's output from its goroutines.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
