package main

import (
	"net/http"
	"strings"
	"testing"
)

// signedInEmployee starts an OP with one service, and signs an employee
// in to it in browser b (enrolling the authenticator).
func signedInEmployee(t *testing.T) (*testOP, *relyingParty, *browser, testUser) {
	t.Helper()
	o := startOP(t)
	secret := o.addClient("--id", "profil", "--redirect-uri", rpRedirect)
	u := o.addUser(true)
	r := newRelyingParty(t, o, "profil", secret)
	b := newBrowser(t)
	code, p := r.login(t, o, b, u)
	r.exchange(t, code, p)
	return o, r, b, u
}

// A4: a bound authenticator is replaced only by an employee with a live
// session who proves the current one; the old seed then stops working and
// the employee is mailed.
func TestAccount_A4_ChangeAuthenticator(t *testing.T) {
	o, r, b, u := signedInEmployee(t)
	oldSeed := o.seeds[u.NIP]

	if got := newBrowser(t).get(o.URL + "/login/account"); got.status != http.StatusUnauthorized {
		t.Errorf("account page without a session = %d, want 401", got.status)
	}
	account := b.get(o.URL + "/login/account")
	if account.status != http.StatusOK {
		t.Fatalf("account page = %d:\n%s", account.status, account.body)
	}

	// A wrong current code changes nothing.
	wrong := b.submit(account, "/login/account/authenticator", map[string]string{"code": "000000"})
	if wrong.status != http.StatusUnauthorized || strings.Contains(wrong.body, `id="secret"`) {
		t.Fatalf("wrong current code = %d; want 401 and no new seed", wrong.status)
	}

	offer := b.submit(account, "/login/account/authenticator", map[string]string{"code": o.nextCode(u)})
	if offer.status != http.StatusOK {
		t.Fatalf("correct current code = %d:\n%s", offer.status, offer.body)
	}
	newSeed := seedFromPage(t, offer)

	// The offer is bound to this session: another browser cannot confirm it.
	if got := newBrowser(t).submit(offer, "/login/account/authenticator/confirm", map[string]string{"code": "123456"}); got.status == http.StatusSeeOther {
		t.Error("another browser confirmed the offered authenticator")
	}
	// A code of the old seed does not confirm the new one.
	o.clock.Advance(totpPeriod)
	if got := b.submit(offer, "/login/account/authenticator/confirm", map[string]string{"code": rfc6238(oldSeed, o.clock.Now().Unix()/30)}); got.status != http.StatusUnauthorized {
		t.Errorf("old seed's code as confirmation = %d, want 401", got.status)
	}
	done := b.submit(offer, "/login/account/authenticator/confirm", map[string]string{"code": rfc6238(newSeed, o.clock.Now().Unix()/30)})
	if done.status != http.StatusSeeOther {
		t.Fatalf("confirm new authenticator = %d:\n%s", done.status, done.body)
	}
	if got := strings.Count(o.logs.String(), `reason="authenticator changed"`); got != 1 {
		t.Errorf("%d audit events for the change, want 1", got)
	}
	// One mail for the first enrolment, one for the change.
	if got := strings.Count(o.logs.String(), `subject="Authenticator ditambahkan ke akun ASN Digital Anda"`); got != 2 {
		t.Errorf("%d mails about an added authenticator, want 2 (enrolment and change)", got)
	}

	// The next login accepts the new seed and refuses the old one.
	o.mu.Lock()
	o.seeds[u.NIP] = oldSeed
	o.mu.Unlock()
	nb := newBrowser(t)
	loginPage, _, _ := r.start(t, o, nb)
	otpPage := o.password(nb, loginPage, u)
	if res := nb.submit(otpPage, "/login/otp", map[string]string{"code": o.nextCode(u)}); res.status == http.StatusSeeOther {
		t.Fatal("a code of the replaced authenticator was accepted")
	}
	o.mu.Lock()
	o.seeds[u.NIP] = newSeed
	o.mu.Unlock()
	if res := nb.submit(otpPage, "/login/otp", map[string]string{"code": o.nextCode(u)}); res.status != http.StatusSeeOther {
		t.Errorf("a code of the new authenticator = %d, want 303", res.status)
	}
}
