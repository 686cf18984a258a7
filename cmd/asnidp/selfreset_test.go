package main

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/asnidp/asnidp/internal/cookie"
	"github.com/asnidp/asnidp/storage"
)

// The tests in this file attack the employee's own reset of a lost
// authenticator (docs/security.md A12).

var eightDigits = regexp.MustCompile(`(?m)^([0-9]{8})\r?$`)

// selfResetCode reads the code of the self-reset mail to u.
func (r *recoveryOP) selfResetCode(t *testing.T, u testUser) string {
	t.Helper()
	m := r.nextMail(t, emailOf(u.NIP), "mail.self_reset_code.subject")
	found := eightDigits.FindStringSubmatch(m.Text)
	if found == nil {
		t.Fatalf("no 8-digit code in the self-reset mail:\n%s", m.Text)
	}
	return found[1]
}

// startSelfReset takes b from the code page to the mailed code's form.
func (r *recoveryOP) startSelfReset(t *testing.T, b *browser, u testUser) (*page, string) {
	t.Helper()
	codePage, id, _ := r.codePage(t, b, u)
	rec := r.recoveryPage(t, b, codePage)
	if !strings.Contains(rec.body, `id="self-reset"`) {
		t.Fatalf("the recovery page offers no self-reset:\n%s", rec.body)
	}
	offer := b.get(r.URL + "/login/selfreset?id=" + id)
	if offer.status != http.StatusOK || !strings.Contains(offer.body, `action="/login/selfreset/start"`) {
		t.Fatalf("self-reset page = %d:\n%s", offer.status, offer.body)
	}
	wantRedirect(t, "self-reset start", b.submit(offer, "/login/selfreset/start", nil), "/login/selfreset?id="+id)
	form := b.get(r.URL + "/login/selfreset?id=" + id)
	if !strings.Contains(form.body, `action="/login/selfreset/code"`) {
		t.Fatalf("after the start, want the code form:\n%s", form.body)
	}
	return form, id
}

// A12: password, mailed code and the wait replace a lost authenticator;
// a wrong code, an early enrolment or a password-only sign-in before the
// wait change nothing; afterwards the old phone and the old recovery
// codes no longer work.
func TestSelfReset_A12_LostPhoneWithoutCodes(t *testing.T) {
	r := startRecoveryOP(t)
	u := r.enrolled(t)
	oldSeed, oldCodes := r.seeds[u.NIP], r.codes(u)
	b := newBrowser(t)
	form, id := r.startSelfReset(t, b, u)
	code := r.selfResetCode(t, u)

	wantMessage(t, "a wrong mailed code", b.submit(form, "/login/selfreset/code", map[string]string{"code": "00000000"}),
		http.StatusUnauthorized, "selfreset.wrong")
	wantRedirect(t, "the mailed code", b.submit(form, "/login/selfreset/code", map[string]string{"code": code}), "/login/selfreset?id="+id)
	started := r.nextMail(t, emailOf(u.NIP), "mail.self_reset_started.subject")
	notMeToken(t, started.Text)
	waiting := b.get(r.URL + "/login/selfreset?id=" + id)
	if !strings.Contains(waiting.body, `id="self-reset-waiting"`) || !strings.Contains(waiting.body, r.clock.Now().Add(24*time.Hour).In(time.FixedZone("WIB", 7*3600)).Format("02-01-2006")) {
		t.Fatalf("after the code, want the waiting page with the date:\n%s", waiting.body)
	}

	// Before the wait is over: the enrolment refuses this login and a new
	// sign-in, and nothing changes.
	enrol := b.get(r.URL + "/login/enrol?id=" + id)
	if enrol.status != http.StatusSeeOther || !strings.HasPrefix(enrol.location(), "/login/otp") {
		t.Errorf("enrolment before the wait = %d %q, want the code page", enrol.status, enrol.location())
	}
	forged := b.post(r.URL+"/login/enrol", url.Values{"csrf": {cookieValue(t, b, r.testOP, cookie.CSRF)}, "id": {id}, "code": {"123456"}})
	if forged.status != http.StatusSeeOther || !strings.HasPrefix(forged.location(), "/login/otp") {
		t.Errorf("an enrolment posted before the wait = %d %q, want the code page", forged.status, forged.location())
	}
	if !strings.Contains(r.logs.String(), `type=mfa.enrol_failed outcome=failure reason="an authenticator is bound"`) {
		t.Error("the early enrolment was not audited")
	}
	r.clock.Advance(23 * time.Hour)
	early := newBrowser(t)
	r.codePage(t, early, u) // a password-only sign-in still reaches the code page
	if got := r.user(t, u.NIP); string(got.TOTPSecret) == "" {
		t.Fatal("the authenticator was removed before the wait ended")
	}

	// After the wait: the next sign-in enrols the new phone.
	r.clock.Advance(time.Hour + time.Minute)
	nb := newBrowser(t)
	start, pk, _ := r.rp.start(t, r.testOP, nb)
	next := r.password(nb, start, u)
	if !strings.Contains(next.body, `id="secret"`) || !strings.Contains(next.body, "Waktu tunggu selesai") {
		t.Fatalf("the sign-in after the wait: want the enrolment of a new authenticator:\n%s", next.body)
	}
	r.mu.Lock()
	r.seeds[u.NIP] = seedFromPage(t, next)
	r.mu.Unlock()
	shown := nb.submit(next, "/login/enrol", map[string]string{"code": r.nextCode(u)})
	if !isRecoveryCodesPage(shown) || strings.Contains(shown.body, `name="skip"`) {
		t.Fatalf("after the new authenticator: want new recovery codes to save:\n%s", shown.body)
	}
	done := r.saveRecoveryCodes(nb, shown, u)
	rpCode, _ := codeFrom(t, nb.follow(r.URL, done.location()), rpRedirect)
	r.rp.exchange(t, rpCode, pk)

	// The old phone and the old recovery codes are done with; the reset
	// is used up.
	ob := newBrowser(t)
	p, _, _ := r.codePage(t, ob, u)
	wantMessage(t, "the old phone's code", ob.submit(p, "/login/otp", map[string]string{"code": rfc6238(oldSeed, r.clock.Now().Unix()/30)}),
		http.StatusUnauthorized, "otp.wrong")
	wantMessage(t, "an old recovery code", ob.submit(r.recoveryPage(t, ob, p), "/login/recovery", map[string]string{"code": oldCodes[0]}),
		http.StatusUnauthorized, "recovery.wrong")
	if _, err := r.db.ActiveSelfReset(t.Context(), r.user(t, u.NIP).ID); err == nil {
		t.Error("the self-reset is still active after the new authenticator")
	}
	for _, secret := range []string{code} {
		if strings.Contains(r.logs.String(), secret) {
			t.Error("the mailed self-reset code appears in the log")
		}
	}
}

// A12: the "Bukan saya — batalkan" link of the started mail cancels the
// self-reset and ends every session; after the wait nothing is offered.
// Another account's link, or a tampered one, cancels nothing.
func TestSelfReset_A12_CancelledByTheOwner(t *testing.T) {
	r := startRecoveryOP(t)
	u := r.enrolled(t)
	other := r.enrolled(t)
	b := newBrowser(t)
	form, _ := r.startSelfReset(t, b, u)
	b.submit(form, "/login/selfreset/code", map[string]string{"code": r.selfResetCode(t, u)})
	token := notMeToken(t, r.nextMail(t, emailOf(u.NIP), "mail.self_reset_started.subject").Text)

	// The other account's own not-me link works on the other account only.
	ob := newBrowser(t)
	otherForm, _ := r.startSelfReset(t, ob, other)
	ob.submit(otherForm, "/login/selfreset/code", map[string]string{"code": r.selfResetCode(t, other)})
	otherToken := notMeToken(t, r.nextMail(t, emailOf(other.NIP), "mail.self_reset_started.subject").Text)
	anyone := newBrowser(t)
	anyone.submit(anyone.get(r.URL+"/login/not-me?t="+url.QueryEscape(otherToken)), "/login/not-me", nil)
	if _, err := r.db.ActiveSelfReset(t.Context(), r.user(t, u.NIP).ID); err != nil {
		t.Fatalf("another account's link cancelled this self-reset: %v", err)
	}

	owner := newBrowser(t)
	done := owner.submit(owner.get(r.URL+"/login/not-me?t="+url.QueryEscape(token)), "/login/not-me", nil)
	if done.status != http.StatusOK || !strings.Contains(done.body, `id="not-me-done"`) {
		t.Fatalf("cancel = %d:\n%s", done.status, done.body)
	}
	r.clock.Advance(25 * time.Hour)
	p, _, _ := r.codePage(t, newBrowser(t), u)
	if strings.Contains(p.body, `id="secret"`) {
		t.Error("a cancelled self-reset still enrols a new authenticator")
	}
}

// A12: with no wait configured the same sign-in goes on to the new
// authenticator; an expired mailed code is refused; a sign-in with the
// old phone cancels a pending self-reset.
func TestSelfReset_A12_NoDelayExpiryAndFoundPhone(t *testing.T) {
	// The pending login outlives the mailed code, so the code's own expiry
	// is what is tested.
	r := startRecoveryOP(t, "ASNIDP_MFA_SELF_RESET_DELAY=0s", "ASNIDP_SESSION_ENROLMENT=30m")
	u := r.enrolled(t)
	b := newBrowser(t)
	form, id := r.startSelfReset(t, b, u)
	wantRedirect(t, "the mailed code without a wait", b.submit(form, "/login/selfreset/code", map[string]string{"code": r.selfResetCode(t, u)}),
		"/login/enrol?id="+id)

	found := r.enrolled(t)
	fb := newBrowser(t)
	form, _ = r.startSelfReset(t, fb, found)
	code := r.selfResetCode(t, found)
	r.clock.Advance(11 * time.Minute)
	wantMessage(t, "an expired mailed code", fb.submit(form, "/login/selfreset/code", map[string]string{"code": code}),
		http.StatusUnauthorized, "selfreset.expired")

	// A self-reset confirmed, then the old phone turns up: signing in
	// with it cancels the reset.
	fb2 := newBrowser(t)
	form2, id2 := r.startSelfReset(t, fb2, found)
	wantRedirect(t, "the second mailed code", fb2.submit(form2, "/login/selfreset/code", map[string]string{"code": r.selfResetCode(t, found)}),
		"/login/enrol?id="+id2)
	pb := newBrowser(t)
	start, _, _ := r.rp.start(t, r.testOP, pb)
	enrol := r.password(pb, start, found) // the reset is due: the new phone is asked for
	pform, _ := parseForm(t, enrol, "/login/enrol")
	p := pb.get(r.URL + "/login/otp?id=" + pform.Get("id")) // but the old one turned up
	if !isCodePage(p) {
		t.Fatalf("the code page of a login whose self-reset is due = %d:\n%s", p.status, p.body)
	}
	if got := r.secondFactor(pb, p, found); !strings.Contains(got.location(), "/authorize/callback") {
		t.Fatalf("sign-in with the old phone = %d %q", got.status, got.location())
	}
	if _, err := r.db.ActiveSelfReset(t.Context(), r.user(t, found.NIP).ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("ActiveSelfReset after a sign-in with the old phone = %v, want ErrNotFound", err)
	}
	if e := fb2.get(r.URL + "/login/enrol?id=" + id2); e.status != http.StatusSeeOther || !strings.HasPrefix(e.location(), "/login/otp") {
		t.Errorf("enrolment after the reset was cancelled = %d %q, want the code page", e.status, e.location())
	}
}

// With mfa.self_reset off there is no such path: no link, no pages.
func TestSelfReset_Disabled(t *testing.T) {
	r := startRecoveryOP(t, "ASNIDP_MFA_SELF_RESET=false")
	u := r.enrolled(t)
	b := newBrowser(t)
	codePage, id, _ := r.codePage(t, b, u)
	if rec := r.recoveryPage(t, b, codePage); strings.Contains(rec.body, `id="self-reset"`) {
		t.Error("the recovery page offers a disabled self-reset")
	}
	if p := b.get(r.URL + "/login/selfreset?id=" + id); p.status != http.StatusNotFound {
		t.Errorf("self-reset page when disabled = %d, want 404", p.status)
	}
}
