package main

// The password reset, which is also how provisioned accounts are
// activated (docs/security.md), attacked through the real server
// (docs/security.md A6, B4, B6, B7, C1–C8, F2, F4, H5). Mail goes over
// loopback to an in-process SMTP server, where the tests read the codes;
// captcha answers are read from the database through a second store
// handle, as only a person looking at the picture could know them.

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/asnidp/asnidp/internal/i18n"
	"github.com/asnidp/asnidp/internal/mail/mailtest"
	"github.com/asnidp/asnidp/storage"
	"github.com/asnidp/asnidp/storage/sqlstore"
)

// resetOP is a test OP whose mail goes by SMTP to an in-process server,
// with a second handle on its database.
type resetOP struct {
	*testOP
	mail *mailtest.Server
	db   *sqlstore.Store
}

// startResetOP starts the OP with the smtp mail driver; env adds or
// overrides ASNIDP_ settings.
func startResetOP(t *testing.T, env ...string) *resetOP {
	t.Helper()
	srv := mailtest.Start(t)
	base := []string{
		"ASNIDP_MAIL_DRIVER=smtp",
		"ASNIDP_MAIL_SMTP_HOST=" + srv.Host,
		"ASNIDP_MAIL_SMTP_PORT=" + strconv.Itoa(srv.Port),
		"ASNIDP_MAIL_SMTP_TLS=none",
		"ASNIDP_MAIL_SMTP_TIMEOUT=5s",
		"ASNIDP_MAIL_FROM=ASN Digital <no-reply@asn.example.go.id>",
		"ASNIDP_MAIL_RETRY_DELAY=20ms",
		"ASNIDP_MAIL_PROBE_INTERVAL=20ms",
	}
	o := startOP(t, append(base, env...)...)
	db, err := sqlstore.Open(t.Context(), sqlstore.Options{Driver: sqlstore.DriverSQLite, DSN: o.cfg.Database.DSN})
	if err != nil {
		t.Fatalf("open a second store on the test database: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return &resetOP{testOP: o, mail: srv, db: db}
}

// emailOf is the registered address addUser gives an employee.
func emailOf(nip string) string { return "siti." + nip + "@example.go.id" }

// mailWait bounds how long a test waits for a mail that should come.
const mailWait = 20 * time.Second

// captchaAnswer reads the answer to the captcha shown on p.
func (r *resetOP) captchaAnswer(t *testing.T, p *page) string {
	t.Helper()
	form, _ := parseForm(t, p, "")
	id := form.Get("captcha_id")
	if id == "" {
		t.Fatalf("no captcha on %s:\n%s", p.url, p.body)
	}
	ch, err := r.db.CaptchaByID(t.Context(), id, r.clock.Now())
	if err != nil {
		t.Fatalf("captcha %s: %v", id, err)
	}
	return ch.Answer
}

// hasCaptcha reports whether p shows a captcha.
func hasCaptcha(p *page) bool { return strings.Contains(p.body, `name="captcha_id"`) }

// resetStartURL is the reset page, continuing auth request arID if set.
func (r *resetOP) resetStartURL(arID string) string {
	if arID == "" {
		return r.URL + "/login/reset"
	}
	return r.URL + "/login/reset?id=" + url.QueryEscape(arID)
}

// submitNIP opens the reset page in b and submits nip, solving the
// captcha when one is shown.
func (r *resetOP) submitNIP(t *testing.T, b *browser, arID, nip string) *page {
	t.Helper()
	start := b.get(r.resetStartURL(arID))
	if start.status != http.StatusOK {
		t.Fatalf("reset page = %d:\n%s", start.status, start.body)
	}
	values := map[string]string{"nip": nip}
	if hasCaptcha(start) {
		values["captcha"] = r.captchaAnswer(t, start)
	}
	return b.submit(start, "/login/reset", values)
}

// step GETs a reset step page and posts its form with values.
func (r *resetOP) step(t *testing.T, b *browser, path string, values map[string]string) *page {
	t.Helper()
	pg := b.get(r.URL + path)
	if pg.status != http.StatusOK {
		t.Fatalf("GET %s = %d (Location %q):\n%s", path, pg.status, pg.location(), pg.body)
	}
	return b.submit(pg, path, values)
}

func (r *resetOP) submitEmail(t *testing.T, b *browser, email string) *page {
	t.Helper()
	return r.step(t, b, "/login/reset/email", map[string]string{"email": email})
}

func (r *resetOP) submitCode(t *testing.T, b *browser, code string) *page {
	t.Helper()
	return r.step(t, b, "/login/reset/code", map[string]string{"code": code})
}

func (r *resetOP) submitPassword(t *testing.T, b *browser, pw, confirm string) *page {
	t.Helper()
	return r.step(t, b, "/login/reset/password", map[string]string{"password": pw, "confirm": confirm})
}

var codePattern = regexp.MustCompile(`\b(\d{8})\b`)

// mailedCode waits for the next code mail to addr and returns the code.
func (r *resetOP) mailedCode(t *testing.T, addr string) (string, *mailtest.Message) {
	t.Helper()
	m := r.nextMail(t, addr, "mail.reset_code.subject")
	found := codePattern.FindStringSubmatch(m.Text)
	if found == nil {
		t.Fatalf("no 8-digit code in the mail to %s:\n%s", addr, m.Text)
	}
	return found[1], m
}

// nextMail waits for the next mail to addr whose subject is the message
// key subject, skipping other notices.
func (r *resetOP) nextMail(t *testing.T, addr, subject string) *mailtest.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), mailWait)
	defer cancel()
	want := html.UnescapeString(indonesian(t, subject))
	for {
		m, err := r.mail.Next(ctx, addr)
		if err != nil {
			t.Fatalf("waiting for %q: %v", want, err)
		}
		if m.Subject == want {
			return m
		}
	}
}

// wantRedirect fails unless p is a 303 to want.
func wantRedirect(t *testing.T, what string, p *page, want string) {
	t.Helper()
	if p.status != http.StatusSeeOther || p.location() != want {
		t.Fatalf("%s = %d Location %q, want 303 to %s; body:\n%s", what, p.status, p.location(), want, p.body)
	}
}

// wantMessage fails unless p has status and shows the catalog message key
// (in Indonesian, the default language).
func wantMessage(t *testing.T, what string, p *page, status int, key string) {
	t.Helper()
	msg := indonesian(t, key)
	if p.status != status || !strings.Contains(p.body, msg) {
		t.Errorf("%s = %d, want %d with %q; body:\n%s", what, p.status, status, msg, p.body)
	}
}

// resetPassword walks the whole reset for u in b (continuing auth request
// arID when set) and returns the answer to the new password.
func (r *resetOP) resetPassword(t *testing.T, b *browser, arID string, u testUser, newPassword string) *page {
	t.Helper()
	wantRedirect(t, "NIP step", r.submitNIP(t, b, arID, u.NIP), "/login/reset/email")
	wantRedirect(t, "email step", r.submitEmail(t, b, emailOf(u.NIP)), "/login/reset/code")
	code, _ := r.mailedCode(t, emailOf(u.NIP))
	wantRedirect(t, "code step", r.submitCode(t, b, code), "/login/reset/password")
	return r.submitPassword(t, b, newPassword, newPassword)
}

func (r *resetOP) user(t *testing.T, nip string) *storage.User {
	t.Helper()
	u, err := r.db.UserByNIP(t.Context(), nip)
	if err != nil {
		t.Fatalf("UserByNIP(%s): %v", nip, err)
	}
	return u
}

// newPassphrase is a password the policy accepts.
func newPassphrase() string {
	return "sawah hijau di lereng merapi " + strings.ToLower(newPKCE().verifier[:6])
}

// TestReset_ActivationJourney_A6 is the announced journey: a provisioned
// employee follows the reset link from a service's login, activates the
// account by email, signs in, must enrol an authenticator (no automatic
// login, the second factor is not skipped), and lands at the service with
// its original state.
func TestReset_ActivationJourney_A6(t *testing.T) {
	r := startResetOP(t, "ASNIDP_CAPTCHA_ENABLED=true")
	secret := r.addClient("--id", "profil", "--redirect-uri", rpRedirect)
	u := r.addUser(false)
	rpc := newRelyingParty(t, r.testOP, "profil", secret)
	b := newBrowser(t)

	loginPage, p, state := rpc.start(t, r.testOP, b)
	if loginPage.status != http.StatusOK || !strings.Contains(loginPage.body, `href="/login/reset?id=`) {
		t.Fatalf("login page has no reset link (status %d):\n%s", loginPage.status, loginPage.body)
	}
	form, _ := parseForm(t, loginPage, "/login/")
	arID := form.Get("id")

	// Step 1 shows the announcement's words and a captcha with audio.
	start := b.get(r.resetStartURL(arID))
	for _, want := range []string{">CEK</button>", `name="captcha"`, `/login/captcha/audio?c=`, `src="data:image/png;base64,`} {
		if !strings.Contains(start.body, want) {
			t.Errorf("reset page lacks %q", want)
		}
	}
	audio := b.get(r.URL + regexp.MustCompile(`/login/captcha/audio\?c=[A-Z0-9]+`).FindString(start.body))
	if audio.status != http.StatusOK || audio.header.Get("Content-Type") != "audio/wav" || !strings.HasPrefix(audio.body, "RIFF") {
		t.Errorf("captcha audio = %d %q, want a WAV file", audio.status, audio.header.Get("Content-Type"))
	}
	done := b.submit(start, "/login/reset", map[string]string{"nip": u.NIP, "captcha": r.captchaAnswer(t, start)})
	wantRedirect(t, "NIP step", done, "/login/reset/email")
	emailPage := b.get(r.URL + "/login/reset/email")
	if !strings.Contains(emailPage.body, ">Kirim Kode</button>") || strings.Contains(emailPage.body, emailOf(u.NIP)) {
		t.Errorf("email page: want the Kirim Kode button and never the registered address:\n%s", emailPage.body)
	}
	wantRedirect(t, "email step", b.submit(emailPage, "/login/reset/email", map[string]string{"email": " " + strings.ToUpper(emailOf(u.NIP)) + " "}), "/login/reset/code")

	code, m := r.mailedCode(t, emailOf(u.NIP))
	if !strings.Contains(m.HTML, code) || !strings.Contains(m.Text, "Siti Rahmawati") {
		t.Errorf("code mail: HTML with the code %v, text:\n%s", strings.Contains(m.HTML, code), m.Text)
	}
	codePage := b.get(r.URL + "/login/reset/code")
	if !strings.Contains(codePage.body, `autocomplete="one-time-code"`) || !strings.Contains(codePage.body, indonesian(t, "reset.code_sent")) {
		t.Errorf("code page lacks the one-time-code field or the notice:\n%s", codePage.body)
	}
	// A wrong code says how many tries the code has left.
	wrong := b.submit(codePage, "/login/reset/code", map[string]string{"code": "00000000"})
	if !strings.Contains(wrong.body, `id="tries-left"`) || !strings.Contains(wrong.body, indonesianWith(t, "reset.tries_left", "N", r.cfg.Reset.CodeAttempts-1)) {
		t.Errorf("wrong code page does not say the tries left:\n%s", wrong.body)
	}
	wantRedirect(t, "code step", b.submit(codePage, "/login/reset/code", map[string]string{"code": code[:4] + " " + code[4:]}), "/login/reset/password")
	pwPage := b.get(r.URL + "/login/reset/password")
	if strings.Count(pwPage.body, `autocomplete="new-password"`) != 2 || !strings.Contains(pwPage.body, ">Reset Password</button>") {
		t.Errorf("password page: want two new-password fields and the Reset Password button:\n%s", pwPage.body)
	}
	u.Password = newPassphrase()
	done = b.submit(pwPage, "/login/reset/password", map[string]string{"password": u.Password, "confirm": u.Password})
	wantRedirect(t, "new password", done, "/login/?id="+arID+"&notice=reset")
	// The first password is an activation: the mail says so, and that
	// the authenticator comes next, not that it is unchanged.
	activated := r.nextMail(t, emailOf(u.NIP), "mail.account_activated.subject")
	if !strings.Contains(activated.Text, "Siti Rahmawati") || !strings.Contains(activated.Text, html.UnescapeString(indonesian(t, "mail.enrol_next"))) ||
		strings.Contains(activated.Text, "tidak berubah") || strings.Contains(activated.Text, "diubah") {
		t.Errorf("activation notice:\n%s", activated.Text)
	}

	// A6: back at the login page, no session: the password, then the
	// mandatory enrolment, then the service.
	back := b.get(r.URL + done.location())
	if back.status != http.StatusOK || !strings.Contains(back.body, indonesian(t, "login.success_reset")) {
		t.Fatalf("login page after the reset = %d without the success notice:\n%s", back.status, back.body)
	}
	if !strings.Contains(back.body, `value="`+u.NIP+`"`) {
		t.Errorf("login page after the reset does not show the NIP %s:\n%s", u.NIP, back.body)
	}
	if got := r.user(t, u.NIP); got.State != storage.StatePasswordSet || !got.EmailVerified || got.HasAuthenticator() {
		t.Errorf("after activation: state %s, email verified %v, authenticator %v; want password_set, true, false", got.State, got.EmailVerified, got.HasAuthenticator())
	}
	factor := r.password(b, back, u)
	if !strings.Contains(factor.body, `action="/login/enrol"`) {
		t.Fatalf("after the first password, want the enrolment page, got %s:\n%s", factor.url, factor.body)
	}
	final := b.follow(r.URL, r.secondFactor(b, factor, u).location())
	rpCode, gotState := codeFrom(t, final, rpRedirect)
	if gotState != state {
		t.Errorf("state = %q, want the original %q", gotState, state)
	}
	tokens := rpc.exchange(t, rpCode, p)
	if !slices.Equal(tokens.IDTokenClaims.AuthenticationMethodsReferences, []string{"pwd", "otp", "mfa"}) {
		t.Errorf("amr = %v, want pwd and otp", tokens.IDTokenClaims.AuthenticationMethodsReferences)
	}
	if got := r.user(t, u.NIP); got.State != storage.StateActive {
		t.Errorf("state after enrolment = %s, want active", got.State)
	}
}

// A6, C8: resetting an account that has an authenticator leaves it bound:
// the next login still asks for its code, from the same authenticator.
func TestReset_A6_C8_AuthenticatorKept(t *testing.T) {
	r := startResetOP(t)
	secret := r.addClient("--id", "profil", "--redirect-uri", rpRedirect)
	u := r.addUser(true)
	rpc := newRelyingParty(t, r.testOP, "profil", secret, oidc.ScopeOpenID)
	rpc.login(t, r.testOP, newBrowser(t), u) // enrols
	before := r.user(t, u.NIP)

	b := newBrowser(t)
	u.Password = newPassphrase()
	wantRedirect(t, "reset without a pending login", r.resetPassword(t, b, "", u, u.Password), "/login/reset/done")
	if done := b.get(r.URL + "/login/reset/done"); !strings.Contains(done.body, indonesian(t, "reset.done")) {
		t.Errorf("done page:\n%s", done.body)
	}
	after := r.user(t, u.NIP)
	if string(after.TOTPSecret) != string(before.TOTPSecret) || after.TOTPLastStep != before.TOTPLastStep || after.State != storage.StateActive {
		t.Errorf("the reset touched the authenticator: state %s, seed changed %v, last step %d → %d",
			after.State, string(after.TOTPSecret) != string(before.TOTPSecret), before.TOTPLastStep, after.TOTPLastStep)
	}
	loginPage, _, _ := rpc.start(t, r.testOP, b)
	if loginPage.status != http.StatusOK || !strings.Contains(loginPage.body, `name="password"`) {
		t.Fatalf("after the reset, authorize = %d; want the login form (no automatic login)", loginPage.status)
	}
	factor := r.password(b, loginPage, u)
	if !strings.Contains(factor.body, `action="/login/otp"`) {
		t.Fatalf("after the password, want the code page of the bound authenticator, got %s", factor.url)
	}
	codeFrom(t, b.follow(r.URL, r.secondFactor(b, factor, u).location()), rpRedirect)
}

// C7: a new password ends every session and token of the account, mails a
// notice, and the old password and the used code stop working.
func TestReset_C7_RevokesEverything(t *testing.T) {
	r := startResetOP(t)
	secret := r.addClient("--id", "profil", "--redirect-uri", rpRedirect)
	u := r.addUser(true)
	rpc := newRelyingParty(t, r.testOP, "profil", secret)
	victim := newBrowser(t)
	code, p := rpc.login(t, r.testOP, victim, u)
	tokens := rpc.exchange(t, code, p)
	if tokens.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	oldPassword := u.Password

	b := newBrowser(t)
	wantRedirect(t, "NIP step", r.submitNIP(t, b, "", u.NIP), "/login/reset/email")
	wantRedirect(t, "email step", r.submitEmail(t, b, emailOf(u.NIP)), "/login/reset/code")
	resetCode, _ := r.mailedCode(t, emailOf(u.NIP))
	wantRedirect(t, "code step", r.submitCode(t, b, resetCode), "/login/reset/password")
	pwPage := b.get(r.URL + "/login/reset/password")
	u.Password = newPassphrase()
	wantRedirect(t, "new password", b.submit(pwPage, "/login/reset/password", map[string]string{"password": u.Password, "confirm": u.Password}), "/login/reset/done")
	changed := r.nextMail(t, emailOf(u.NIP), "mail.password_changed.subject")
	if !strings.Contains(changed.Text, html.UnescapeString(indonesian(t, "mail.password_changed.totp"))) {
		t.Errorf("the change notice of an account with an authenticator does not say it is unchanged:\n%s", changed.Text)
	}
	notMeToken(t, changed.Text) // E4: a "Bukan saya" link

	rpc.nonce = ""
	if _, err := rp.RefreshTokens[*oidc.IDTokenClaims](t.Context(), rpc.RelyingParty, tokens.RefreshToken, "", ""); err == nil {
		t.Error("refresh token still works after the reset")
	}
	if introspect(t, r.testOP, "profil", secret, tokens.AccessToken).Active {
		t.Error("access token still active after the reset")
	}
	again, _, _ := rpc.start(t, r.testOP, victim)
	if again.status != http.StatusOK || !strings.Contains(again.body, `name="password"`) {
		t.Errorf("the SSO session survived the reset: authorize = %d %q", again.status, again.location())
	}
	if res := victim.submit(again, "/login/", map[string]string{"nip": u.NIP, "password": oldPassword}); res.status != http.StatusUnauthorized {
		t.Errorf("old password after the reset = %d, want 401", res.status)
	}
	// The used code, replayed in the finished flow, opens nothing.
	if res := b.submit(pwPage, "/login/reset/password", map[string]string{"password": "lagi lagi lagi lagi", "confirm": "lagi lagi lagi lagi"}); res.location() != "/login/reset?expired=1" {
		t.Errorf("password step after completion = %d %q, want back to the start", res.status, res.location())
	}
	codePage := b.get(r.URL + "/login/reset/code")
	wantRedirect(t, "code page after completion", codePage, "/login/reset?expired=1")
	rpc.login(t, r.testOP, newBrowser(t), u) // the new password works, with the code
}

// C8: a provisioned account has no password at all: nothing guessable
// lets anyone in, and its activation code works once.
func TestReset_C8_ProvisionedAccount(t *testing.T) {
	r := startResetOP(t)
	r.addClient("--id", "profil", "--redirect-uri", rpRedirect)
	u := r.addUser(false)
	b := newBrowser(t)
	loginPage := b.follow(r.URL, authorizeURL(r.URL, authorizeParams(newPKCE())))
	var bodies []string
	// Five tries: the progressive delay starts after the fifth.
	for _, pw := range []string{"", u.NIP, "default", "password", "123456"} {
		res := b.submit(loginPage, "/login/", map[string]string{"nip": u.NIP, "password": pw})
		if res.status != http.StatusUnauthorized || !strings.Contains(res.body, indonesian(t, "login.invalid_credentials")) {
			t.Errorf("password %q on a provisioned account = %d, want 401 with the generic message", pw, res.status)
		}
		bodies = append(bodies, scrub(res.body))
	}
	for i := 1; i < len(bodies); i++ {
		if bodies[i] != bodies[0] {
			t.Errorf("failure page %d differs from the first", i)
		}
	}

	u.Password = newPassphrase()
	wantRedirect(t, "NIP step", r.submitNIP(t, b, "", u.NIP), "/login/reset/email")
	wantRedirect(t, "email step", r.submitEmail(t, b, emailOf(u.NIP)), "/login/reset/code")
	code, _ := r.mailedCode(t, emailOf(u.NIP))
	wantRedirect(t, "code step", r.submitCode(t, b, code), "/login/reset/password")
	wantRedirect(t, "password", r.submitPassword(t, b, u.Password, u.Password), "/login/reset/done")

	// The same code in a new flow of the same NIP opens nothing.
	r.clock.Advance(time.Minute)
	b2 := newBrowser(t)
	wantRedirect(t, "second NIP step", r.submitNIP(t, b2, "", u.NIP), "/login/reset/email")
	wantRedirect(t, "second email step", r.submitEmail(t, b2, "someone.else@example.go.id"), "/login/reset/code")
	wantMessage(t, "the activation code after activation", r.submitCode(t, b2, code), http.StatusUnauthorized, "reset.code_wrong")
}

// scrub removes what differs between two renderings of one page for
// reasons other than the request: the CSRF token, captcha IDs and images.
func scrub(body string) string {
	for _, re := range scrubbers {
		body = re.ReplaceAllString(body, "…")
	}
	return body
}

var scrubbers = []*regexp.Regexp{
	regexp.MustCompile(`name="csrf" value="[^"]*"`),
	regexp.MustCompile(`name="captcha_id" value="[^"]*"`),
	regexp.MustCompile(`data:image/png;base64,[^"]*`),
	regexp.MustCompile(`audio\?c=[^"]*`),
	regexp.MustCompile(`captcha_old=[^&"]*`),
	regexp.MustCompile(`ar_[A-Z0-9]+`),
}

var resetCatalog = sync.OnceValues(i18n.New)

// indonesian is the Indonesian (default) text of a message key, escaped
// as a page shows it.
func indonesian(t *testing.T, key string) string {
	t.Helper()
	return indonesianWith(t, key)
}

// indonesianWith is indonesian with template data (name, value, ...).
func indonesianWith(t *testing.T, key string, data ...any) string {
	t.Helper()
	c, err := resetCatalog()
	if err != nil {
		t.Fatalf("load message catalog: %v", err)
	}
	return html.EscapeString(c.Localizer("id").T(key, data...))
}
