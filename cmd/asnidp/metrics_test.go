package main

import (
	"strings"
	"testing"
)

// Operators scrape /metrics: security events of a login show up there.
func TestMetrics_CountLoginEvents(t *testing.T) {
	o := startOP(t)
	secret := o.addClient("--id", "profil", "--redirect-uri", rpRedirect)
	u := o.addUser(true)
	r := newRelyingParty(t, o, "profil", secret)
	code, p := r.login(t, o, newBrowser(t), u)
	r.exchange(t, code, p)

	body := fetch(t, o.URL+"/metrics")
	for _, want := range []string{
		`asnidp_security_events_total{outcome="success",type="login.succeeded"} 1`,
		`asnidp_security_events_total{outcome="success",type="mfa.enrolled"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
