package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/asnidp/asnidp/storage/sqlstore/sqlstoretest"
)

// cluster is two real asnidp processes (the built binary) on one
// PostgreSQL schema behind a round-robin load balancer that holds the
// issuer address. No state lives only in one process.
type cluster struct {
	t       *testing.T
	URL     string // the load balancer = the issuer
	cfgPath string
	bin     string
	environ []string
	nodes   []*node
	next    atomic.Uint64
}

type node struct {
	name string
	URL  string
	cmd  *exec.Cmd
	logs *syncBuffer
	dead atomic.Bool
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "asnidp")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	dsn := sqlstoretest.NewPostgresSchema(t)
	bin := buildBinary(t)
	lb, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, URL: "http://" + lb.Addr().String()}
	key := make([]byte, 32)
	rand.Read(key)
	c.cfgPath = filepath.Join(t.TempDir(), "config.yaml")
	cfg := fmt.Sprintf("issuer: %s\nmaster_key: %s\ndatabase:\n  driver: postgres\n  dsn: %q\n  max_open_conns: 8\n",
		c.URL, base64.StdEncoding.EncodeToString(key), dsn)
	if err := os.WriteFile(c.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// Keys are re-read every second and published 3 s before they sign,
	// so a rotation reaches both nodes well within the test's patience.
	c.environ = []string{"ASNIDP_KEYS_REFRESH_INTERVAL=1s", "ASNIDP_KEYS_PUBLISH_LEAD=3s", "ASNIDP_LOG_LEVEL=debug",
		"ASNIDP_CAPTCHA_ENABLED=false"} // the lockout itself is under test here, not the captcha before it

	// Both nodes start at once: migrations run exactly once (I5).
	c.bin = bin
	var wg sync.WaitGroup
	for _, name := range []string{"A", "B"} {
		n := c.startNode(name)
		c.nodes = append(c.nodes, n)
		wg.Go(func() { waitHTTP(t, n.URL+"/readyz") })
	}
	wg.Wait()

	srv := &http.Server{Handler: c}
	go srv.Serve(lb)
	t.Cleanup(func() { srv.Close() })
	return c
}

// startNode starts one more asnidp process on the cluster's database; it
// takes no traffic from the balancer unless added to c.nodes.
func (c *cluster) startNode(name string) *node {
	t := c.t
	n := &node{name: name, logs: &syncBuffer{}}
	addr := freeAddr(t)
	n.URL = "http://" + addr
	n.cmd = exec.Command(c.bin, "serve", "--config", c.cfgPath)
	n.cmd.Env = append(os.Environ(), append(c.environ, "ASNIDP_LISTEN="+addr)...)
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start node %s: %v", name, err)
	}
	t.Cleanup(func() {
		if !n.dead.Load() {
			n.cmd.Process.Signal(syscall.SIGTERM)
		}
		n.cmd.Wait()
		if t.Failed() {
			t.Logf("node %s log:\n%s", n.name, n.logs.String())
		}
	})
	return n
}

func waitHTTP(t *testing.T, u string) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("%s did not become ready", u)
}

// ServeHTTP is the load balancer: plain round robin over live nodes, no
// stickiness, the Host header of the issuer kept.
func (c *cluster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for range len(c.nodes) {
		n := c.nodes[c.next.Add(1)%uint64(len(c.nodes))]
		if n.dead.Load() {
			continue
		}
		target, _ := url.Parse(n.URL)
		proxy := httputil.NewSingleHostReverseProxy(target)
		proxy.ServeHTTP(w, r)
		return
	}
	http.Error(w, "no live node", http.StatusBadGateway)
}

func (c *cluster) cli(args ...string) string {
	c.t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(c.t.Context(), append([]string{"--config", c.cfgPath}, args...), c.environ, strings.NewReader(""), &stdout, &stderr)
	if err != nil {
		c.t.Fatalf("asnidp %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// kill ends a node with SIGKILL: no graceful anything.
func (n *node) kill(t *testing.T) {
	t.Helper()
	n.dead.Store(true)
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill node %s: %v", n.name, err)
	}
}

func TestCluster_TwoProcessesOnePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two processes; skipped with -short")
	}
	c := startCluster(t)
	a, b := c.nodes[0], c.nodes[1]

	out := c.cli("client", "add", "--id", "profil", "--redirect-uri", rpRedirect, "--post-logout-redirect-uri", rpPostLogout)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	secret := lines[len(lines)-1]
	pw := "nasi goreng kampung " + rand.Text()[:6]
	nip, lockedNIP, raceNIP, killNIP, resetNIP := c.addUser(pw), c.addUser(pw), c.addUser(pw), c.addUser(pw), c.addUser(pw)

	var raceSeed []byte // the authenticator of raceNIP, enrolled in the I4 subtest

	t.Run("I5 identical discovery and JWKS", func(t *testing.T) {
		for _, path := range []string{"/.well-known/openid-configuration", "/keys"} {
			ga, gb := fetch(t, a.URL+path), fetch(t, b.URL+path)
			if ga != gb {
				t.Errorf("%s differs between nodes:\nA: %s\nB: %s", path, ga, gb)
			}
		}
	})

	relying, err := rp.NewRelyingPartyOIDC(t.Context(), c.URL, "profil", secret, rpRedirect,
		[]string{"openid", "profile", "offline_access", "asn"}, rp.WithHTTPClient(&http.Client{}))
	if err != nil {
		t.Fatalf("discovery through the load balancer: %v", err)
	}
	// I1: every request of the flow goes through the round-robin balancer,
	// so consecutive steps land on different processes.
	br := newBrowser(t)
	p := newPKCE()
	login := br.follow(c.URL, rp.AuthURL("st", relying, rp.WithCodeChallenge(p.challenge)))
	done := br.submit(login, "/login/", map[string]string{"nip": nip, "password": pw})
	enrol := br.follow(c.URL, done.location())
	seed := seedFromPage(t, enrol)
	bound := pastRecoveryCodes(br, br.submit(enrol, "/login/enrol", map[string]string{"code": rfc6238(seed, time.Now().Unix()/30)}))
	code, _ := codeFrom(t, br.follow(c.URL, bound.location()), rpRedirect)
	tokens, err := rp.CodeExchange[*oidc.IDTokenClaims](t.Context(), code, relying, rp.WithCodeVerifier(p.verifier))
	if err != nil {
		t.Fatalf("I1 code exchange through the balancer: %v", err)
	}
	refreshed, err := rp.RefreshTokens[*oidc.IDTokenClaims](t.Context(), relying, tokens.RefreshToken, "", "")
	if err != nil {
		t.Fatalf("I1 refresh through the balancer: %v", err)
	}

	t.Run("I1 session ended on B is refused by A", func(t *testing.T) {
		if st := userinfoStatus(t, a.URL, refreshed.AccessToken); st != http.StatusOK {
			t.Fatalf("userinfo on A before logout = %d, want 200", st)
		}
		q := url.Values{"id_token_hint": {refreshed.IDToken}, "post_logout_redirect_uri": {rpPostLogout}}
		if out := br.get(b.URL + "/end_session?" + q.Encode()); out.status != http.StatusFound {
			t.Fatalf("end_session on B = %d", out.status)
		}
		if st := userinfoStatus(t, a.URL, refreshed.AccessToken); st == http.StatusOK {
			t.Error("A still accepts an access token of a session ended on B")
		}
		if tokenStatus(t, a.URL, "profil", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshed.RefreshToken}}) == http.StatusOK {
			t.Error("A still refreshes a token of a session ended on B")
		}
	})

	t.Run("I2 lockout earned on A holds on B", func(t *testing.T) {
		bad := newBrowser(t)
		for i := range 5 {
			page := bad.follow(c.URL, strings.Replace(rp.AuthURL("x", relying, rp.WithCodeChallenge(newPKCE().challenge)), c.URL, a.URL, 1))
			res := bad.submit(page, "/login/", map[string]string{"nip": lockedNIP, "password": "wrong password " + fmt.Sprint(i)})
			if res.status != http.StatusUnauthorized {
				t.Fatalf("wrong password %d on A = %d, want 401", i+1, res.status)
			}
		}
		page := bad.follow(c.URL, strings.Replace(rp.AuthURL("x", relying, rp.WithCodeChallenge(newPKCE().challenge)), c.URL, b.URL, 1))
		res := bad.submit(page, "/login/", map[string]string{"nip": lockedNIP, "password": pw})
		if res.status != http.StatusUnauthorized || res.header.Get("Retry-After") == "" {
			t.Errorf("correct password on B during A's lockout = %d (Retry-After %q), want 401 with Retry-After", res.status, res.header.Get("Retry-After"))
		}
	})

	t.Run("I5 key rotation reaches both nodes", func(t *testing.T) {
		out := c.cli("keys", "rotate")
		kid := strings.Fields(out)[1]
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			if strings.Contains(fetch(t, a.URL+"/keys"), kid) && strings.Contains(fetch(t, b.URL+"/keys"), kid) {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Errorf("key %s not published by both nodes within 15 s", kid)
	})

	t.Run("I4 code redeemed on both nodes at once gives one token set", func(t *testing.T) {
		nb := newBrowser(t)
		p := newPKCE()
		login := nb.follow(c.URL, rp.AuthURL("st", relying, rp.WithCodeChallenge(p.challenge)))
		enrol := nb.follow(c.URL, nb.submit(login, "/login/", map[string]string{"nip": raceNIP, "password": pw}).location())
		raceSeed = seedFromPage(t, enrol)
		bound := pastRecoveryCodes(nb, nb.submit(enrol, "/login/enrol", map[string]string{"code": rfc6238(raceSeed, time.Now().Unix()/30)}))
		code, _ := codeFrom(t, nb.follow(c.URL, bound.location()), rpRedirect)
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect}, "code_verifier": {p.verifier}}
		var wins atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if tokenStatus(t, c.nodes[i%2].URL, "profil", secret, form) == http.StatusOK {
					wins.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 {
			t.Errorf("%d redemptions succeeded across the nodes, want exactly 1", wins.Load())
		}
	})

	t.Run("I3 one TOTP code through A then B: one success", func(t *testing.T) {
		pending := func(n *node) (*browser, *page) {
			br := newBrowser(t)
			onNode := func(u string) string { return strings.Replace(strings.Replace(u, c.URL, n.URL, 1), a.URL, n.URL, 1) }
			start := br.get(onNode(rp.AuthURL("st", relying, rp.WithCodeChallenge(newPKCE().challenge))))
			login := br.get(onNode(start.location()))
			form, action := parseForm(t, login, "/login/")
			form.Set("nip", nip)
			form.Set("password", pw)
			res := br.post(onNode(action), form)
			return br, br.get(onNode(n.URL + res.location()))
		}
		brA, otpA := pending(a)
		brB, otpB := pending(b)
		code := rfc6238(seed, time.Now().Unix()/30+1)
		first := brA.submit(otpA, "/login/otp", map[string]string{"code": code})
		second := brB.submit(otpB, "/login/otp", map[string]string{"code": code})
		if first.status != http.StatusSeeOther || second.status == http.StatusSeeOther {
			t.Errorf("same code on A then B = %d then %d, want 303 then a refusal", first.status, second.status)
		}
	})

	t.Run("H2 kill -9 during refresh rotation issues nothing twice", func(t *testing.T) {
		// A fresh refresh token, then a burst of rotations of it on a third
		// process that is killed while they run.
		nb := newBrowser(t)
		p := newPKCE()
		login := nb.follow(c.URL, rp.AuthURL("st", relying, rp.WithCodeChallenge(p.challenge)))
		otp := nb.follow(c.URL, nb.submit(login, "/login/", map[string]string{"nip": raceNIP, "password": pw}).location())
		done := nb.submit(otp, "/login/otp", map[string]string{"code": rfc6238(raceSeed, time.Now().Unix()/30+1)})
		code, _ := codeFrom(t, nb.follow(c.URL, done.location()), rpRedirect)
		tok, err := rp.CodeExchange[*oidc.IDTokenClaims](t.Context(), code, relying, rp.WithCodeVerifier(p.verifier))
		if err != nil {
			t.Fatalf("code exchange: %v", err)
		}
		victim := c.startNode("C")
		waitHTTP(t, victim.URL+"/readyz")
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
		var ok atomic.Int32
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				// Requests cut by the kill fail on the wire: no answer, no tokens.
				if resp := tryToken(victim.URL, "profil", secret, form); resp == http.StatusOK {
					ok.Add(1)
				}
			})
		}
		time.Sleep(5 * time.Millisecond)
		victim.kill(t)
		wg.Wait()
		// The client retries on a surviving process: a rotation that
		// committed before the kill makes this a reuse (refused); one that
		// did not lets exactly this retry through.
		retry := tokenStatus(t, b.URL, "profil", secret, form)
		if retry == http.StatusOK {
			ok.Add(1)
		}
		if ok.Load() > 1 {
			t.Errorf("%d token sets issued for one refresh token across a kill -9, want at most 1", ok.Load())
		}
		if retry != http.StatusOK && retry != http.StatusBadRequest {
			t.Errorf("retry on B = %d, want 200 or 400 invalid_grant", retry)
		}
		// Nothing of the family may still be usable after a reuse.
		if retry == http.StatusBadRequest && tokenStatus(t, b.URL, "profil", secret, form) == http.StatusOK {
			t.Error("the reused refresh token worked on a second retry")
		}
	})

	t.Run("H1 kill -9 during the reset commit: old or new password, never a mix", func(t *testing.T) {
		victim := c.startNode("R")
		waitHTTP(t, victim.URL+"/readyz")
		email := "budi." + resetNIP + "@example.go.id"
		br := newBrowser(t)
		page := br.get(victim.URL + "/login/reset")
		page = br.submit(page, "/login/reset", map[string]string{"nip": resetNIP})
		page = br.follow(victim.URL, page.location())
		page = br.submit(page, "/login/reset/email", map[string]string{"email": email})
		page = br.follow(victim.URL, page.location())
		code := waitForMailCode(t, victim, email)
		page = br.submit(page, "/login/reset/code", map[string]string{"code": code})
		page = br.follow(victim.URL, page.location())
		form, action := parseForm(t, page, "/login/reset/password")
		newPW := "sate ayam madura " + rand.Text()[:6]
		form.Set("password", newPW)
		form.Set("confirm", newPW)

		// Kill the process while it commits the new password.
		done := make(chan struct{})
		go func() {
			defer close(done)
			req, _ := http.NewRequest(http.MethodPost, action, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			br.client.Do(req)
		}()
		time.Sleep(time.Duration(time.Now().UnixNano()%20) * time.Millisecond)
		victim.kill(t)
		<-done

		passwordWorks := func(pw string) bool {
			lb := newBrowser(t)
			start := lb.get(strings.Replace(rp.AuthURL("st", relying, rp.WithCodeChallenge(newPKCE().challenge)), c.URL, b.URL, 1))
			login := lb.get(strings.Replace(start.location(), c.URL, b.URL, 1))
			f, act := parseForm(t, login, "/login/")
			f.Set("nip", resetNIP)
			f.Set("password", pw)
			return lb.post(strings.Replace(act, c.URL, b.URL, 1), f).status == http.StatusSeeOther
		}
		oldOK, newOK := passwordWorks(pw), passwordWorks(newPW)
		if oldOK == newOK {
			t.Errorf("after kill -9 during the reset commit: old password works %v, new password works %v; want exactly one", oldOK, newOK)
		}
	})

	t.Run("kill -9 of A loses nothing B needs", func(t *testing.T) {
		nb := newBrowser(t)
		p := newPKCE()
		onB := func(u string) string { return strings.Replace(strings.Replace(u, c.URL, b.URL, 1), a.URL, b.URL, 1) }
		// The flow starts on A (A stores the auth request and binds it) ...
		started := nb.get(strings.Replace(rp.AuthURL("st", relying, rp.WithCodeChallenge(p.challenge)), c.URL, a.URL, 1))
		if started.status != http.StatusFound {
			t.Fatalf("authorize on A = %d", started.status)
		}
		a.kill(t)
		// ... and finishes on B after A is gone: password, code, callback.
		login := nb.get(onB(started.location()))
		if login.status != http.StatusOK {
			t.Fatalf("login page on B = %d:\n%s", login.status, login.body)
		}
		form, action := parseForm(t, login, "/login/")
		form.Set("nip", killNIP) // a first login: enrolment happens on B too
		form.Set("password", pw)
		res := nb.post(onB(action), form)
		if res.status != http.StatusSeeOther {
			t.Fatalf("password on B after A died = %d:\n%s", res.status, res.body)
		}
		enrol := nb.follow(b.URL, res.location())
		form, action = parseForm(t, enrol, "/login/enrol")
		form.Set("code", rfc6238(seedFromPage(t, enrol), time.Now().Unix()/30))
		res = nb.post(onB(action), form)
		if isRecoveryCodesPage(res) {
			form, action = parseForm(t, res, "/login/recovery/codes")
			res = nb.post(onB(action), form)
		}
		if res.status != http.StatusSeeOther {
			t.Fatalf("code on B = %d:\n%s", res.status, res.body)
		}
		code, _ := codeFrom(t, nb.follow(b.URL, onB(res.location())), rpRedirect)
		form = url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect}, "code_verifier": {p.verifier}}
		if st := tokenStatus(t, b.URL, "profil", secret, form); st != http.StatusOK {
			t.Errorf("code exchange on B after A died = %d", st)
		}
		if st := fetchStatus(t, b.URL+"/readyz"); st != http.StatusOK {
			t.Errorf("B readyz = %d after A died", st)
		}
	})
}

// addUser provisions an account with password pw and returns its NIP.
func (c *cluster) addUser(pw string) string {
	c.t.Helper()
	nip := newNIP()
	c.cli("user", "add", "--nip", nip, "--name", "Budi Santoso", "--email", "budi."+nip+"@example.go.id")
	var stdout, stderr bytes.Buffer
	args := []string{"--config", c.cfgPath, "user", "set-password", nip}
	if err := run(c.t.Context(), args, c.environ, strings.NewReader(pw+"\n"), &stdout, &stderr); err != nil {
		c.t.Fatalf("set-password: %v\n%s", err, stderr.String())
	}
	return nip
}

func fetch(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return buf.String()
}

func fetchStatus(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func userinfoStatus(t *testing.T, base, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitForMailCode reads the 8-digit code of the latest mail to addr from
// a node's log (the log mail driver writes whole mails there).
func waitForMailCode(t *testing.T, n *node, addr string) string {
	t.Helper()
	re := regexp.MustCompile(`[^0-9]([0-9]{8})[^0-9]`)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(n.logs.String(), "\n") {
			if strings.Contains(line, "mail (log driver") && strings.Contains(line, "to="+addr) {
				if m := re.FindStringSubmatch(line); m != nil {
					return m[1]
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no mail with a code to %s in node %s's log", addr, n.name)
	return ""
}

// tryToken is tokenStatus for requests that may be cut off: 0 when no
// answer came.
func tryToken(base, clientID, secret string, form url.Values) int {
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func tokenStatus(t *testing.T, base, clientID, secret string, form url.Values) int {
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, base+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("token request: %v", err)
		return 0
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode
}
