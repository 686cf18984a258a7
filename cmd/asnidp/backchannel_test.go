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
	calls    atomic.Int32 // POSTs received, failed ones included

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
	r.calls.Add(1)
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

// waitWithin polls until cond holds and fails the test when it takes
// longer than d.
func waitWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s did not happen within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A session that ends in the serving process has its logout tokens sent
// at once, not at the next look at the queue: with the queue looked at
// only every minute, both an RP-initiated logout and a logout on the OP's
// own page reach the other service within a couple of seconds. An
// endpoint that is down gets that one immediate attempt and stays queued.
func TestBackchannelLogout_SentAtOnce(t *testing.T) {
	old := backchannelInterval
	backchannelInterval = time.Minute
	t.Cleanup(func() { backchannelInterval = old })
	const within = 3 * time.Second

	o := startOP(t)
	profil := newLogoutReceiver(t, o, "profil")
	riwayat := newLogoutReceiver(t, o, "riwayat")
	riwayat.failures.Store(1)
	secretP := o.addClient("--id", "profil", "--redirect-uri", rpRedirect, "--post-logout-redirect-uri", rpPostLogout,
		"--backchannel-logout-uri", profil.srv.URL+"/backchannel-logout")
	secretR := o.addClient("--id", "riwayat", "--redirect-uri", rpRedirect,
		"--backchannel-logout-uri", riwayat.srv.URL+"/backchannel-logout")
	u := o.addUser(true)
	rpP := newRelyingParty(t, o, "profil", secretP)
	rpR := newRelyingParty(t, o, "riwayat", secretR)

	t.Run("RP-initiated logout", func(t *testing.T) {
		b := newBrowser(t)
		code, p := rpP.login(t, o, b, u)
		tokens := rpP.exchange(t, code, p)
		code, p = rpR.silent(t, o, b)
		rpR.exchange(t, code, p)
		sid, _ := tokens.IDTokenClaims.Claims["sid"].(string)

		out := b.get(o.URL + "/end_session?" + url.Values{"id_token_hint": {tokens.IDToken}, "post_logout_redirect_uri": {rpPostLogout}}.Encode())
		if out.status != http.StatusFound {
			t.Fatalf("end_session = %d", out.status)
		}
		waitWithin(t, within, "profil's logout token", func() bool { return len(profil.received()) == 1 })
		if got := profil.received()[0]["sid"]; got != sid {
			t.Errorf("profil's logout token sid = %v, want %s", got, sid)
		}
		waitWithin(t, within, "the attempt at riwayat's endpoint while it is down", func() bool { return riwayat.calls.Load() == 1 })
		time.Sleep(500 * time.Millisecond)
		if n, calls := len(riwayat.received()), riwayat.calls.Load(); n != 0 || calls != 1 {
			t.Errorf("riwayat while down: %d tokens accepted, %d attempts; want 0 and 1 (the rest is the queue's retry)", n, calls)
		}
	})

	t.Run("logout on the OP's page", func(t *testing.T) {
		before := len(profil.received())
		b := newBrowser(t)
		code, p := rpP.login(t, o, b, u)
		rpP.exchange(t, code, p)
		done := b.submit(b.get(o.URL+"/login/logout"), "/login/logout", nil)
		if done.status != http.StatusSeeOther {
			t.Fatalf("logout POST = %d, want 303", done.status)
		}
		waitWithin(t, within, "profil's logout token", func() bool { return len(profil.received()) == before+1 })
	})
}
