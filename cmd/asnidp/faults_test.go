package main

import (
	"database/sql"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asnidp/asnidp/storage/sqlstore/sqlstoretest"
)

// tcpProxy stands between the OP and PostgreSQL so a test can cut the
// database off and bring it back, as a network partition or a database
// restart would.
type tcpProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		upstream, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, upstream)
		p.mu.Unlock()
		go func() { io.Copy(upstream, c); upstream.Close() }()
		go func() { io.Copy(c, upstream); c.Close() }()
	}
}

// cut drops every connection and refuses new ones.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *tcpProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// H4: the database goes away in the middle of a flow. /authorize shows an
// error and never redirects with a code, /token answers server_error, the
// readiness probe goes red, and everything recovers without a restart once
// the database is back.
func TestFault_DatabaseUnavailable_H4(t *testing.T) {
	dsn := sqlstoretest.NewPostgresSchema(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	o := startOP(t, "ASNIDP_DATABASE_DRIVER=postgres", "ASNIDP_DATABASE_DSN="+u.String(), "ASNIDP_DATABASE_CONNECT_TIMEOUT=2s")
	secret := o.addClient("--id", "profil", "--redirect-uri", rpRedirect)
	user := o.addUser(true)
	r := newRelyingParty(t, o, "profil", secret)

	// A flow is under way when the database disappears.
	b := newBrowser(t)
	loginPage, p, _ := r.start(t, o, b)
	proxy.cut()

	if st := fetchStatus(t, o.URL+"/readyz"); st != http.StatusServiceUnavailable {
		t.Errorf("readyz with the database down = %d, want 503", st)
	}
	res := b.submit(loginPage, "/login/", map[string]string{"nip": user.NIP, "password": user.Password})
	if res.status != http.StatusServiceUnavailable {
		t.Errorf("password step with the database down = %d, want 503", res.status)
	}
	auth := b.get(authorizeURL(o.URL, authorizeParams(p)))
	if loc := auth.location(); strings.Contains(loc, "code=") || strings.HasPrefix(loc, rpRedirect) {
		t.Errorf("authorize with the database down redirected to %q", loc)
	}
	if auth.status < 500 {
		t.Errorf("authorize with the database down = %d, want a 5xx error page", auth.status)
	}
	tok := tokenResponse(t, o.URL, "profil", secret, url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {rpRedirect}, "code_verifier": {p.verifier}})
	if tok.status < 500 || !strings.Contains(tok.body, "server_error") {
		t.Errorf("token with the database down = %d %s, want 5xx server_error", tok.status, tok.body)
	}

	proxy.restore()
	deadline := time.Now().Add(15 * time.Second)
	for fetchStatus(t, o.URL+"/readyz") != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("readyz did not recover after the database came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	code, pk := r.login(t, o, newBrowser(t), user)
	r.exchange(t, code, pk)
}

// tokenResponse posts to the token endpoint with client_secret_basic and
// returns status and body.
func tokenResponse(t *testing.T, base, clientID, secret string, form url.Values) *page {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return &page{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// smallDisk mounts a tmpfs of size bytes for the test, so the database can
// really run out of space. It needs root (CI runs as root and sets
// ASNIDP_TEST_REQUIRE_MOUNT so the test cannot be skipped there).
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		if os.Getenv("ASNIDP_TEST_REQUIRE_MOUNT") != "" {
			t.Fatalf("mount tmpfs: %v: %s", err, out)
		}
		t.Skipf("mounting a small tmpfs needs root (%v: %s); set ASNIDP_TEST_REQUIRE_MOUNT=1 to make this a failure", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes a file until the disk is full and returns its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	// Single bytes, so not even a page is left.
	for {
		if _, err := f.Write([]byte{0}); err != nil {
			return path
		}
	}
}

// H3: the disk is full. A login that cannot record its failure count, its
// TOTP step or its session fails closed with 503: never a free guess, never
// a session without its record. Reads that need no write keep working, and
// the service recovers once there is space again.
func TestFault_DiskFull_H3(t *testing.T) {
	disk := smallDisk(t, "8m")
	dbPath := filepath.Join(disk, "asnidp.db")
	o := startOP(t, "ASNIDP_DATABASE_DSN="+dbPath)
	secret := o.addClient("--id", "profil", "--redirect-uri", rpRedirect)
	user := o.addUser(true)
	r := newRelyingParty(t, o, "profil", secret)
	code, p := r.login(t, o, newBrowser(t), user) // enrols the authenticator
	r.exchange(t, code, p)

	b := newBrowser(t)
	loginPage, _, _ := r.start(t, o, b)
	otpPage := o.password(b, loginPage, user)
	wrongPage, _, _ := r.start(t, o, newBrowser(t))
	truncateWAL(t, dbPath)
	filler := fillDisk(t, disk)

	res := b.submit(otpPage, "/login/otp", map[string]string{"code": o.nextCode(user)})
	if res.status != http.StatusServiceUnavailable {
		t.Errorf("TOTP with a full disk = %d, want 503 (the step cannot be recorded)", res.status)
	}
	res = b.submit(wrongPage, "/login/", map[string]string{"nip": user.NIP, "password": "not the password at all"})
	if res.status == http.StatusUnauthorized || res.status == http.StatusSeeOther {
		t.Errorf("password check with a full disk = %d: it was evaluated without its failure being recorded", res.status)
	}
	if st := fetchStatus(t, o.URL+"/.well-known/openid-configuration"); st != http.StatusOK {
		t.Errorf("discovery with a full disk = %d, want 200", st)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	code, p = r.login(t, o, newBrowser(t), user)
	r.exchange(t, code, p)
}

// truncateWAL checkpoints the database and empties its write-ahead log, so
// the next write must grow a file.
func truncateWAL(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite3", path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
}

// A4, H3: the write that swaps the authenticator fails (here a database
// trigger aborts it, as a full disk or a lost connection would). The
// account must keep its old authenticator: the old phone still signs in,
// the new seed does not, and no login is ever offered a fresh enrolment,
// which would let whoever holds the password bind a phone of their own.
func TestFault_AuthenticatorSwapFails_A4_H3(t *testing.T) {
	o, r, b, u := signedInEmployee(t)
	oldSeed := o.seeds[u.NIP]

	account := b.get(o.URL + "/login/account")
	offer := b.submit(account, "/login/account/authenticator", map[string]string{"code": o.nextCode(u)})
	if offer.status != http.StatusOK {
		t.Fatalf("correct current code = %d:\n%s", offer.status, offer.body)
	}
	newSeed := seedFromPage(t, offer)

	db, err := sql.Open("sqlite3", o.cfg.Database.DSN+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TRIGGER fail_seed_write BEFORE UPDATE OF totp_secret ON users
		WHEN NEW.totp_secret IS NOT NULL BEGIN SELECT RAISE(ABORT, 'injected write failure'); END`); err != nil {
		t.Fatal(err)
	}
	o.clock.Advance(totpPeriod)
	res := b.submit(offer, "/login/account/authenticator/confirm", map[string]string{"code": rfc6238(newSeed, o.clock.Now().Unix()/30)})
	if res.status != http.StatusServiceUnavailable {
		t.Errorf("confirm while the write fails = %d, want 503", res.status)
	}
	if _, err := db.Exec(`DROP TRIGGER fail_seed_write`); err != nil {
		t.Fatal(err)
	}

	// The next login asks for a code, never for an enrolment, and only the
	// old seed's code counts.
	nb := newBrowser(t)
	loginPage, _, _ := r.start(t, o, nb)
	next := o.password(nb, loginPage, u)
	if isEnrolPage(next) || !isCodePage(next) {
		t.Fatalf("login after the failed swap went to %s, want the code page (no enrolment)", next.url)
	}
	o.clock.Advance(totpPeriod)
	if res := nb.submit(next, "/login/otp", map[string]string{"code": rfc6238(newSeed, o.clock.Now().Unix()/30)}); res.status == http.StatusSeeOther {
		t.Fatal("a code of the seed whose binding failed was accepted")
	}
	o.mu.Lock()
	o.seeds[u.NIP] = oldSeed
	o.mu.Unlock()
	if res := nb.submit(next, "/login/otp", map[string]string{"code": o.nextCode(u)}); res.status != http.StatusSeeOther {
		t.Errorf("a code of the old authenticator after the failed swap = %d, want 303", res.status)
	}
}
