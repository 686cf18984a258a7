package main

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/asnidp/asnidp/internal/cookie"
)

// The tests in this file attack recovery codes (docs/security.md A10,
// A11, B2) through the real server, with mail going to an in-process SMTP
// server.

// recoveryOP is a test OP with mail and the relying party "profil".
type recoveryOP struct {
	*resetOP
	rp *relyingParty
}

func startRecoveryOP(t *testing.T, env ...string) *recoveryOP {
	t.Helper()
	r := startResetOP(t, env...)
	secret := r.addClient("--id", "profil", "--redirect-uri", rpRedirect)
	return &recoveryOP{resetOP: r, rp: newRelyingParty(t, r.testOP, "profil", secret)}
}

// enrolled provisions an employee and completes the first login; the
// seed and the recovery codes it was shown are then on record.
func (r *recoveryOP) enrolled(t *testing.T) testUser {
	t.Helper()
	u := r.addUser(true)
	b := newBrowser(t)
	start, _, _ := r.rp.start(t, r.testOP, b)
	passLogin(t, r.testOP, b, start, u)
	if len(r.codes(u)) != 10 {
		t.Fatalf("first login showed %d recovery codes, want 10", len(r.codes(u)))
	}
	r.nextMail(t, emailOf(u.NIP), "mail.authenticator_added.subject")
	return u
}

func (r *recoveryOP) codes(u testUser) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.recovery[u.NIP]
}

// codePage signs u in with the password in b and returns the code page
// and its auth request.
func (r *recoveryOP) codePage(t *testing.T, b *browser, u testUser) (*page, string, pkce) {
	t.Helper()
	start, pk, _ := r.rp.start(t, r.testOP, b)
	p := r.password(b, start, u)
	if !isCodePage(p) {
		t.Fatalf("after the password: got %s, want the code page:\n%s", p.url, p.body)
	}
	form, _ := parseForm(t, p, "/login/otp")
	return p, form.Get("id"), pk
}

// recoveryPage follows the code page's "cannot open the app" link.
func (r *recoveryOP) recoveryPage(t *testing.T, b *browser, codePage *page) *page {
	t.Helper()
	if !strings.Contains(codePage.body, `id="use-recovery"`) {
		t.Fatalf("the code page has no link to recovery codes:\n%s", codePage.body)
	}
	form, _ := parseForm(t, codePage, "/login/otp")
	p := b.get(r.URL + "/login/recovery?id=" + form.Get("id"))
	if p.status != http.StatusOK || !strings.Contains(p.body, `action="/login/recovery"`) {
		t.Fatalf("recovery page = %d:\n%s", p.status, p.body)
	}
	return p
}

func (r *recoveryOP) callback(b *browser, id string) *page {
	return b.get(r.URL + "/authorize/callback?id=" + id)
}

// A10: the codes of a new authenticator are shown once, not cached, and
// must be saved (not put off) before the login completes; until then no
// code reaches the service.
func TestRecovery_A10_ShownOnceAtEnrolment(t *testing.T) {
	r := startRecoveryOP(t)
	u := r.addUser(true)
	b := newBrowser(t)
	start, pk, _ := r.rp.start(t, r.testOP, b)
	enrol := r.password(b, start, u)
	form, _ := parseForm(t, enrol, "/login/enrol")
	id := form.Get("id")
	r.mu.Lock()
	r.seeds[u.NIP] = seedFromPage(t, enrol)
	r.mu.Unlock()
	shown := b.submit(enrol, "/login/enrol", map[string]string{"code": r.nextCode(u)})
	if shown.status != http.StatusOK || !strings.Contains(shown.body, `action="/login/recovery/codes"`) {
		t.Fatalf("after enrolment = %d, want the recovery codes page:\n%s", shown.status, shown.body)
	}
	saved := r.saveRecoveryCodes(b, shown, u)
	if got := shown.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("recovery codes page Cache-Control = %q, want no-store", got)
	}
	if strings.Contains(shown.body, `name="skip"`) {
		t.Error("the codes of a new authenticator can be put off")
	}
	for _, want := range []string{`download="kode-pemulihan-asn-digital.txt"`, `data-copy="recovery-codes"`, "Saya sudah menyimpan kode ini"} {
		if !strings.Contains(shown.body, want) {
			t.Errorf("recovery codes page lacks %s", want)
		}
	}
	if !strings.Contains(r.logs.String(), "type=mfa.recovery_issued") {
		t.Error("no audit event for the codes issued")
	}
	code, _ := codeFrom(t, b.follow(r.URL, saved.location()), rpRedirect)
	tokens := r.rp.exchange(t, code, pk)
	if got := tokens.IDTokenClaims.AuthenticationMethodsReferences; !slices.Equal(got, []string{"pwd", "otp", "mfa"}) {
		t.Errorf("amr after enrolment = %v, want [pwd otp mfa]", got)
	}
	left, err := r.db.RecoveryCodesLeft(t.Context(), r.user(t, u.NIP).ID)
	if err != nil || left != 10 {
		t.Errorf("codes stored = %d, %v; want 10", left, err)
	}
	// The confirmation replayed, or turned into a put-off, changes
	// nothing.
	for _, extra := range []map[string]string{{"id": id}, {"id": id, "skip": "1"}} {
		again := b.post(r.URL+"/login/recovery/codes", formOf(t, shown, "/login/recovery/codes", extra))
		if again.status == http.StatusSeeOther {
			t.Errorf("replayed confirmation %v = 303 %s, want a refusal", extra, again.location())
		}
	}
	if !r.user(t, u.NIP).RecoverySkippedAt.IsZero() {
		t.Error("a replayed put-off was recorded")
	}
}

// A10, A11: a recovery code stands in for the lost phone once; a new
// authenticator must be bound before any token, the old one stops working,
// the employee is mailed, and the ID token says "rec".
func TestRecovery_A10_A11_SignInThenReenrol(t *testing.T) {
	r := startRecoveryOP(t)
	u := r.enrolled(t)
	oldSeed := r.seeds[u.NIP]
	codes := r.codes(u)

	b := newBrowser(t)
	codePage, id, pk := r.codePage(t, b, u)
	nonce := r.rp.nonce // the relying party checks the latest login's
	rec := r.recoveryPage(t, b, codePage)
	accepted := b.submit(rec, "/login/recovery", map[string]string{"code": codes[3]})
	wantRedirect(t, "a valid recovery code", accepted, "/login/enrol?id="+id)
	mail := r.nextMail(t, emailOf(u.NIP), "mail.recovery_used.subject")
	if strings.Contains(mail.Text, strings.ReplaceAll(codes[3], " ", "")) || strings.Contains(mail.Text, codes[3]) {
		t.Error("the mail quotes the recovery code")
	}

	// A11: the code alone completes nothing.
	wantNoCode(t, "callback after the recovery code alone", r.callback(b, id))
	if ar, err := r.db.AuthRequestByID(t.Context(), id, r.clock.Now()); err != nil || !ar.OTPAt.IsZero() || ar.RecoveryAt.IsZero() {
		t.Fatalf("auth request after the recovery code: %+v, %v; want RecoveryAt set and no OTPAt", ar, err)
	}
	// A recovery code at the enrolment step is no code of the new seed.
	enrol := b.follow(r.URL, accepted.location())
	if !strings.Contains(enrol.body, "Kode pemulihan diterima") || !strings.Contains(enrol.body, `id="secret"`) {
		t.Fatalf("enrolment after a recovery code:\n%s", enrol.body)
	}
	refused := b.submit(enrol, "/login/enrol", map[string]string{"code": strings.ReplaceAll(codes[4], " ", "")})
	wantMessage(t, "a recovery code as the new authenticator's code", refused, http.StatusUnauthorized, "enrol.wrong")

	// Abandoned here, the old authenticator still works and no enrolment
	// is offered to a password-only login.
	other := newBrowser(t)
	p, _, _ := r.codePage(t, other, u)
	if strings.Contains(p.body, `id="secret"`) {
		t.Fatal("a password-only login was offered an enrolment after a recovery code")
	}

	newSeed := seedFromPage(t, enrol)
	r.mu.Lock()
	r.seeds[u.NIP] = newSeed
	r.mu.Unlock()
	done := b.submit(enrol, "/login/enrol", map[string]string{"code": r.nextCode(u)})
	if done.status != http.StatusSeeOther {
		t.Fatalf("new authenticator confirmed = %d, want 303 (nine codes left, none shown):\n%s", done.status, done.body)
	}
	code, _ := codeFrom(t, b.follow(r.URL, done.location()), rpRedirect)
	r.rp.nonce = nonce
	tokens := r.rp.exchange(t, code, pk)
	if got := tokens.IDTokenClaims.AuthenticationMethodsReferences; !slices.Equal(got, []string{"pwd", "rec", "mfa"}) {
		t.Errorf("amr after a recovery code = %v, want [pwd rec mfa]", got)
	}

	// The old phone's codes no longer work; the new phone's do.
	r.clock.Advance(totpPeriod)
	stale := newBrowser(t)
	p, _, _ = r.codePage(t, stale, u)
	wantMessage(t, "the old authenticator's code", stale.submit(p, "/login/otp", map[string]string{"code": rfc6238(oldSeed, r.clock.Now().Unix()/30)}),
		http.StatusUnauthorized, "otp.wrong")
	if got := r.secondFactor(stale, p, u); !strings.Contains(got.location(), "/authorize/callback") {
		t.Errorf("the new authenticator's code = %d %q, want the callback", got.status, got.location())
	}
	// A10: the used code is spent.
	again := newBrowser(t)
	p, _, _ = r.codePage(t, again, u)
	wantMessage(t, "the used recovery code again", again.submit(r.recoveryPage(t, again, p), "/login/recovery", map[string]string{"code": codes[3]}),
		http.StatusUnauthorized, "recovery.wrong")
	if n, _ := r.db.RecoveryCodesLeft(t.Context(), r.user(t, u.NIP).ID); n != 9 {
		t.Errorf("%d codes left, want 9", n)
	}
	if !strings.Contains(r.logs.String(), "type=mfa.recovery_used") {
		t.Error("no audit event for the recovery code used")
	}
	for _, c := range codes {
		if strings.Contains(r.logs.String(), c) || strings.Contains(r.logs.String(), strings.ReplaceAll(c, " ", "")) {
			t.Errorf("a recovery code appears in the log")
		}
	}
}

// A10, G2: one recovery code submitted from two browsers at once wins
// once.
func TestRecovery_A10_ParallelUse(t *testing.T) {
	r := startRecoveryOP(t)
	u := r.enrolled(t)
	code := r.codes(u)[0]
	browsers := []*browser{newBrowser(t), newBrowser(t), newBrowser(t)}
	pages := make([]*page, len(browsers))
	for i, b := range browsers {
		p, _, _ := r.codePage(t, b, u)
		pages[i] = r.recoveryPage(t, b, p)
	}
	results := make([]*page, len(browsers))
	var wg sync.WaitGroup
	for i, b := range browsers {
		wg.Go(func() { results[i] = b.submit(pages[i], "/login/recovery", map[string]string{"code": code}) })
	}
	wg.Wait()
	won := 0
	for _, p := range results {
		if p.status == http.StatusSeeOther && strings.HasPrefix(p.location(), "/login/enrol") {
			won++
		}
	}
	if won != 1 {
		t.Errorf("%d of %d simultaneous uses of one recovery code were accepted, want 1", won, len(results))
	}
}

// B2: wrong recovery codes share the TOTP budgets: five end the pending
// login, and the account's cap locks the authenticator, after which even
// a right recovery code is refused.
func TestRecovery_B2_GuessingLocks(t *testing.T) {
	r := startRecoveryOP(t, "ASNIDP_LOGIN_TOTP_LOCK_AFTER=8")
	u := r.enrolled(t)
	b := newBrowser(t)
	codePage, id, _ := r.codePage(t, b, u)
	wantMessage(t, "a wrong TOTP code", b.submit(codePage, "/login/otp", map[string]string{"code": "000000"}), http.StatusUnauthorized, "otp.wrong")
	rec := r.recoveryPage(t, b, codePage)
	var last *page
	for i := range 4 {
		last = b.submit(rec, "/login/recovery", map[string]string{"code": "1234 5678 901" + string(rune('0'+i))})
	}
	wantRedirect(t, "the fifth wrong code of one login", last, "/login/?id="+id+"&notice=otp_too_many")

	b2 := newBrowser(t)
	codePage, _, _ = r.codePage(t, b2, u)
	rec = r.recoveryPage(t, b2, codePage)
	for i := range 3 {
		last = b2.submit(rec, "/login/recovery", map[string]string{"code": "2234 5678 901" + string(rune('0'+i))})
	}
	wantMessage(t, "the eighth wrong code of the account", last, http.StatusForbidden, "otp.locked")
	if !r.user(t, u.NIP).TOTPLocked {
		t.Fatal("wrong recovery codes did not lock the authenticator")
	}
	r.nextMail(t, emailOf(u.NIP), "mail.totp_locked.subject")
	b3 := newBrowser(t)
	codePage, _, _ = r.codePage(t, b3, u)
	wantMessage(t, "a right recovery code on a locked authenticator",
		b3.submit(r.recoveryPage(t, b3, codePage), "/login/recovery", map[string]string{"code": r.codes(u)[0]}),
		http.StatusForbidden, "otp.locked")
	if n, _ := r.db.RecoveryCodesLeft(t.Context(), r.user(t, u.NIP).ID); n != 10 {
		t.Errorf("a refused attempt burned a code: %d left", n)
	}
}

// An account without codes (enrolled before they existed, or all used) is
// offered a set at its next sign-in; it can put them off once, then must
// save them. The put-off is refused where it was not offered.
func TestRecovery_OfferedToAccountsWithout(t *testing.T) {
	r := startRecoveryOP(t)
	u := r.enrolled(t)
	sub := r.user(t, u.NIP).ID
	if err := r.db.SetRecoveryCodes(t.Context(), sub, nil, r.clock.Now()); err != nil {
		t.Fatal(err)
	}
	signIn := func(b *browser) *page {
		t.Helper()
		p, _, _ := r.codePage(t, b, u)
		return b.submit(p, "/login/otp", map[string]string{"code": r.nextCode(u)})
	}
	b := newBrowser(t)
	offer := signIn(b)
	if offer.status != http.StatusOK || !strings.Contains(offer.body, `name="skip"`) {
		t.Fatalf("first sign-in without codes = %d, want the codes page with a put-off:\n%s", offer.status, offer.body)
	}
	skipped := b.submit(offer, "/login/recovery/codes", map[string]string{"skip": "1"})
	if skipped.status != http.StatusSeeOther || !strings.Contains(skipped.location(), "/authorize/callback") {
		t.Fatalf("put off = %d %q, want the callback", skipped.status, skipped.location())
	}
	if n, _ := r.db.RecoveryCodesLeft(t.Context(), sub); n != 0 || r.user(t, u.NIP).RecoverySkippedAt.IsZero() {
		t.Errorf("after the put-off: %d codes, skipped at %v; want none and a time", n, r.user(t, u.NIP).RecoverySkippedAt)
	}

	b2 := newBrowser(t)
	required := signIn(b2)
	if required.status != http.StatusOK || strings.Contains(required.body, `name="skip"`) || len(strings.Split(required.body, "<li>")) != 11 {
		t.Fatalf("second sign-in without codes = %d, want the codes page without a put-off:\n%s", required.status, required.body)
	}
	refused := b2.post(r.URL+"/login/recovery/codes", formOf(t, required, "/login/recovery/codes", map[string]string{"skip": "1"}))
	wantMessage(t, "a forged put-off", refused, http.StatusBadRequest, "recovery.must_save")
	saved := b2.submit(required, "/login/recovery/codes", nil)
	if saved.status != http.StatusSeeOther || !strings.Contains(saved.location(), "/authorize/callback") {
		t.Fatalf("saved = %d %q, want the callback", saved.status, saved.location())
	}
	if n, _ := r.db.RecoveryCodesLeft(t.Context(), sub); n != 10 {
		t.Errorf("%d codes after saving, want 10", n)
	}
	// E1: without the CSRF token the confirmation is refused.
	b3 := newBrowser(t)
	if err := r.db.SetRecoveryCodes(t.Context(), sub, nil, r.clock.Now()); err != nil {
		t.Fatal(err)
	}
	page3 := signIn(b3)
	form := formOf(t, page3, "/login/recovery/codes", nil)
	form.Set("csrf", "forged"+cookieValue(t, b3, r.testOP, cookie.CSRF))
	if p := b3.post(r.URL+"/login/recovery/codes", form); p.status != http.StatusForbidden {
		t.Errorf("confirmation with a forged CSRF token = %d, want 403", p.status)
	}
}

// formOf is the form of p posting to action, with the CSRF token and
// hidden fields it carries, overridden by values.
func formOf(t *testing.T, p *page, action string, values map[string]string) url.Values {
	t.Helper()
	form, _ := parseForm(t, p, action)
	for k, v := range values {
		form.Set(k, v)
	}
	return form
}
