package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// logoutReceiver is a relying party's back-channel logout endpoint on
// loopback: it verifies each logout token against the OP's JWKS the way
// OpenID Connect Back-Channel Logout 1.0 §2.6 asks, and records it.
type logoutReceiver struct {
	t        *testing.T
	srv      *httptest.Server
	issuer   string
	clientID string
	failures atomic.Int32 // answer 503 this many more times

	mu     sync.Mutex
	tokens []map[string]any
}

func newLogoutReceiver(t *testing.T, o *testOP, clientID string) *logoutReceiver {
	r := &logoutReceiver{t: t, issuer: o.URL, clientID: clientID}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *logoutReceiver) serve(w http.ResponseWriter, req *http.Request) {
	if r.failures.Add(-1) >= 0 {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	claims, err := r.verify(req.PostFormValue("logout_token"))
	if err != nil {
		r.t.Errorf("%s got an invalid logout token: %v", r.clientID, err)
		http.Error(w, "bad token", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.tokens = append(r.tokens, claims)
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (r *logoutReceiver) verify(raw string) (map[string]any, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	resp, err := http.Get(r.issuer + "/keys")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return nil, err
	}
	var std jwt.Claims
	claims := map[string]any{}
	if err := tok.Claims(set, &std, &claims); err != nil {
		return nil, err
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: r.issuer, AnyAudience: jwt.Audience{r.clientID}}, time.Hour); err != nil {
		return nil, err
	}
	return claims, nil
}

func (r *logoutReceiver) received() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]any(nil), r.tokens...)
}

// waitFor polls until cond holds (the OP's delivery worker runs every
// couple of seconds).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Logging out of one service ends the OP session and, through back-channel
// logout, the other service's session too; a receiver that is down gets
// its notice on a later attempt.
func TestBackchannelLogout(t *testing.T) {
	o := startOP(t)
	profil := newLogoutReceiver(t, o, "profil")
	riwayat := newLogoutReceiver(t, o, "riwayat")
	riwayat.failures.Store(1) // down for the first attempt
	secretP := o.addClient("--id", "profil", "--redirect-uri", rpRedirect, "--post-logout-redirect-uri", rpPostLogout,
		"--backchannel-logout-uri", profil.srv.URL+"/backchannel-logout")
	secretR := o.addClient("--id", "riwayat", "--redirect-uri", rpRedirect,
		"--backchannel-logout-uri", riwayat.srv.URL+"/backchannel-logout")
	u := o.addUser(true)
	b := newBrowser(t)

	rpP := newRelyingParty(t, o, "profil", secretP)
	code, p := rpP.login(t, o, b, u)
	tokens := rpP.exchange(t, code, p)
	rpR := newRelyingParty(t, o, "riwayat", secretR)
	code, p = rpR.silent(t, o, b) // SSO: no prompt
	rpR.exchange(t, code, p)
	sid, _ := tokens.IDTokenClaims.Claims["sid"].(string)

	out := b.get(o.URL + "/end_session?" + url.Values{"id_token_hint": {tokens.IDToken}, "post_logout_redirect_uri": {rpPostLogout}}.Encode())
	if out.status != http.StatusFound {
		t.Fatalf("end_session = %d", out.status)
	}
	waitFor(t, "profil's logout token", func() bool { return len(profil.received()) == 1 })
	o.clock.Advance(11 * time.Second) // past the first retry delay
	waitFor(t, "riwayat's logout token after its endpoint came back", func() bool { return len(riwayat.received()) == 1 })

	for name, r := range map[string]*logoutReceiver{"profil": profil, "riwayat": riwayat} {
		c := r.received()[0]
		events, _ := c["events"].(map[string]any)
		if _, ok := events["http://schemas.openid.net/event/backchannel-logout"]; !ok {
			t.Errorf("%s: logout token events = %v, want the back-channel logout event", name, c["events"])
		}
		if c["sid"] != sid || c["sub"] != tokens.IDTokenClaims.Subject || c["nonce"] != nil || c["jti"] == nil {
			t.Errorf("%s: logout token sid %v sub %v nonce %v jti %v; want sid %s, the subject, no nonce, a jti",
				name, c["sid"], c["sub"], c["nonce"], c["jti"], sid)
		}
	}
	time.Sleep(3 * time.Second) // another worker round: nothing is sent twice
	if n := len(profil.received()) + len(riwayat.received()); n != 2 {
		t.Errorf("%d logout tokens delivered in all, want exactly 2", n)
	}
}
