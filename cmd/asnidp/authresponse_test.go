package main

// What a browser gets back from /authorize: the issuer named in every
// response to the client (D14).

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// wantIss checks that a redirect to the client names the OP in exactly one
// iss parameter (RFC 9207 §2).
func wantIss(t *testing.T, what string, p *page, issuer string) {
	t.Helper()
	q := mustQuery(t, p.location())
	if got := q["iss"]; !slices.Equal(got, []string{issuer}) {
		t.Errorf("%s: Location %q has iss %q, want exactly [%s]", what, p.location(), got, issuer)
	}
}

// TestProtocol_D14_IssuerInEveryAuthorizationResponse: a code, after a
// login or silently from the SSO session, and every error sent to the
// client carry iss; discovery says so.
func TestProtocol_D14_IssuerInEveryAuthorizationResponse(t *testing.T) {
	f := startProtoOP(t)
	b := newBrowser(t)

	// prompt=none before any session: login_required at the client.
	params := authParams("profil", protoRedirect, newPKCE(), "prompt", "none")
	got := b.get(authorizeURL(f.URL, params))
	wantAuthorizeError(t, "prompt=none without a session", got, protoRedirect, "login_required")
	wantIss(t, "prompt=none without a session", got, f.URL)
	if q := mustQuery(t, got.location()); q.Get("state") != params["state"] {
		t.Errorf("login_required state = %q, want %q", q.Get("state"), params["state"])
	}

	// An error of the request itself, raised by the library's checks or ours.
	for _, kv := range [][]string{{"code_challenge_method", "plain"}, {"response_mode", "form_post"}, {"prompt", "none login"}} {
		got := b.get(authorizeURL(f.URL, authParams("app", appRedirect, newPKCE(), kv...)))
		if loc := got.location(); !strings.HasPrefix(loc, appRedirect+"?") || !mustQuery(t, loc).Has("error") {
			t.Errorf("%s=%s = %d %q, want an error at the client", kv[0], kv[1], got.status, loc)
			continue
		}
		wantIss(t, kv[0]+"="+kv[1], got, f.URL)
	}

	// A code after the login pages, then one silently from the session.
	for _, what := range []string{"code after login", "code from the SSO session"} {
		params := authParams("profil", protoRedirect, newPKCE())
		p := b.follow(f.URL, authorizeURL(f.URL, params))
		if p.status == http.StatusOK {
			if what != "code after login" {
				t.Fatalf("%s: the login page was shown", what)
			}
			p = passLogin(t, f.testOP, b, p, f.user)
		}
		codeFrom(t, p, protoRedirect)
		wantIss(t, what, p, f.URL)
	}

	// With the session, a silent request it cannot answer (max_age=0) is
	// login_required, with iss.
	got = b.get(authorizeURL(f.URL, authParams("profil", protoRedirect, newPKCE(), "prompt", "none", "max_age", "0")))
	wantAuthorizeError(t, "prompt=none max_age=0", got, protoRedirect, "login_required")
	wantIss(t, "prompt=none max_age=0", got, f.URL)

	var d map[string]any
	if err := json.Unmarshal([]byte(b.get(f.URL+"/.well-known/openid-configuration").body), &d); err != nil {
		t.Fatal(err)
	}
	if d["authorization_response_iss_parameter_supported"] != true {
		t.Errorf("discovery authorization_response_iss_parameter_supported = %v, want true", d["authorization_response_iss_parameter_supported"])
	}
}
