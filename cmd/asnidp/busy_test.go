package main

import (
	"net/http"
	"testing"
	"time"
)

// A busy answer is no password failure: an employee sent the busy page
// again and again while the hasher is saturated keeps a clean ladder, so
// the next attempt needs no captcha and meets no delay; and an unknown NIP
// gets the same busy page (no enumeration under load). The only hashing
// worker is held by another employee's slow hash meanwhile.
func TestLogin_BusyIsNoPasswordFailure(t *testing.T) {
	o := startOP(t, "ASNIDP_PASSWORD_WORKERS=1", "ASNIDP_PASSWORD_QUEUE_TIMEOUT=1ms",
		"ASNIDP_PASSWORD_MEMORY_KIB=131072", "ASNIDP_PASSWORD_ITERATIONS=12", "ASNIDP_CAPTCHA_ENABLED=true")
	secret := o.addClient("--id", "profil", "--redirect-uri", rpRedirect)
	r := newRelyingParty(t, o, "profil", secret)
	holder, u := o.addUser(true), o.addUser(true)

	hb := newBrowser(t)
	holderPage, _, _ := r.start(t, o, hb)
	b := newBrowser(t)
	loginPage, _, _ := r.start(t, o, b)

	held := make(chan int, 1)
	go func() {
		held <- hb.submit(holderPage, "/login/", map[string]string{"nip": holder.NIP, "password": holder.Password}).status
	}()
	time.Sleep(150 * time.Millisecond) // the holder's hash has the worker
	for i := range 3 {
		p := b.submit(loginPage, "/login/", map[string]string{"nip": u.NIP, "password": u.Password})
		if p.status != http.StatusServiceUnavailable || p.header.Get("Retry-After") == "" {
			t.Fatalf("attempt %d while the worker is held = %d (Retry-After %q), want the busy page; the holder's hash was too quick",
				i+1, p.status, p.header.Get("Retry-After"))
		}
	}
	// An unknown NIP is told the same, so the answer under load does not
	// say which NIPs exist.
	unknown := b.submit(loginPage, "/login/", map[string]string{"nip": newNIP(), "password": u.Password})
	if unknown.status != http.StatusServiceUnavailable || unknown.header.Get("Retry-After") == "" {
		t.Errorf("unknown NIP while the worker is held = %d (Retry-After %q), want the busy page as for a known one",
			unknown.status, unknown.header.Get("Retry-After"))
	}
	if st := <-held; st != http.StatusSeeOther {
		t.Fatalf("holder's password step = %d, want 303", st)
	}
	// Three counted failures would ask for a captcha now (captcha.login_after: 3).
	if p := b.submit(loginPage, "/login/", map[string]string{"nip": u.NIP, "password": u.Password}); p.status != http.StatusSeeOther {
		t.Errorf("password step after three busy pages = %d, want 303 (no captcha, no delay):\n%s", p.status, p.body)
	}
}
