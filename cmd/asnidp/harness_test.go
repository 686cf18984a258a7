package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/asnidp/asnidp/internal/config"
	"github.com/asnidp/asnidp/internal/optest"
)

// clock is a controllable time source shared by the server under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuffer collects log output from many goroutines.
type syncBuffer = optest.SyncBuffer

// testOP is a real asnidp server on 127.0.0.1 with a SQLite file in a
// temporary directory, driven by an injected clock.
type testOP struct {
	t       *testing.T
	URL     string
	cfgPath string
	environ []string
	clock   *clock
	logs    *syncBuffer
	cfg     config.Config
	stop    func()

	mu    sync.Mutex
	seeds map[string][]byte // authenticator seeds by NIP, as a phone holds them
	// recovery holds the recovery codes last shown, by NIP, as an
	// employee writes them down.
	recovery map[string][]string
}

const testConfig = `issuer: %s
listen: 127.0.0.1:0
master_key: %s
database:
  driver: sqlite
  dsn: %s
log:
  level: debug
# Flows that do not test the captcha run without it; captcha tests set
# ASNIDP_CAPTCHA_ENABLED=true and read answers from the database.
captcha:
  enabled: false
`

// startOP starts a server; env adds ASNIDP_ overrides (KEY=value).
func startOP(t *testing.T, env ...string) *testOP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	issuer := "http://" + ln.Addr().String()
	key := make([]byte, 32)
	rand.Read(key)
	cfgPath := filepath.Join(dir, "config.yaml")
	body := fmt.Sprintf(testConfig, issuer, base64.StdEncoding.EncodeToString(key), filepath.Join(dir, "asnidp.db"))
	if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	o := &testOP{t: t, URL: issuer, cfgPath: cfgPath, environ: env, clock: newClock(), logs: &syncBuffer{}, seeds: map[string][]byte{}, recovery: map[string][]string{}}
	o.cfg, err = config.Load(cfgPath, env)
	if err != nil {
		t.Fatalf("load test config: %v", err)
	}
	o.serve(ln)
	return o
}

// serve runs the server on ln until the test ends or restart is called.
func (o *testOP) serve(ln net.Listener) {
	o.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(io.MultiWriter(o.logs, o.t.Output()), &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() { done <- serve(ctx, o.cfg, log, ln, o.clock.Now) }()
	o.stop = func() {
		cancel()
		if err := <-done; err != nil {
			o.t.Errorf("serve: %v", err)
		}
	}
	o.t.Cleanup(func() {
		if o.stop != nil {
			o.stop()
			o.stop = nil
		}
	})
	o.waitReady()
}

// restart stops the server and starts it again on the same address and
// database file.
func (o *testOP) restart() {
	o.t.Helper()
	o.stop()
	o.stop = nil
	u, _ := url.Parse(o.URL)
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", u.Host); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		o.t.Fatalf("listen again: %v", err)
	}
	o.serve(ln)
}

func (o *testOP) waitReady() {
	o.t.Helper()
	for range 200 {
		resp, err := http.Get(o.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	o.t.Fatal("server did not become ready")
}

// cli runs an asnidp command against the test server's config and
// returns its standard output.
func (o *testOP) cli(stdin string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	all := append([]string{"--config", o.cfgPath}, args...)
	err := run(o.t.Context(), all, o.environ, strings.NewReader(stdin), &stdout, &stderr)
	if err != nil {
		return stdout.String(), fmt.Errorf("%w (stderr: %s)", err, stderr.String())
	}
	return stdout.String(), nil
}

func (o *testOP) mustCLI(stdin string, args ...string) string {
	o.t.Helper()
	out, err := o.cli(stdin, args...)
	if err != nil {
		o.t.Fatalf("asnidp %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// addClient registers a client and returns its secret (empty if public).
func (o *testOP) addClient(args ...string) string {
	o.t.Helper()
	out := strings.TrimSpace(o.mustCLI("", append([]string{"client", "add"}, args...)...))
	lines := strings.Split(out, "\n")
	last := lines[len(lines)-1]
	if strings.Contains(out, "secret") {
		return last
	}
	return ""
}

// testUser is a provisioned employee with a password.
type testUser struct {
	NIP      string
	Password string
}

var nipCounter struct {
	sync.Mutex
	n int
}

// newNIP returns a valid NIP not used before in this test binary.
func newNIP() string {
	nipCounter.Lock()
	defer nipCounter.Unlock()
	nipCounter.n++
	return fmt.Sprintf("19860926201505%d%03d", 1+nipCounter.n%2, nipCounter.n%999+1)
}

func (o *testOP) addUser(withPassword bool) testUser {
	o.t.Helper()
	u := testUser{NIP: newNIP(), Password: "kopi tubruk pagi hari " + rand.Text()[:6]}
	o.mustCLI("", "user", "add", "--nip", u.NIP, "--name", "Siti Rahmawati", "--email", "siti."+u.NIP+"@example.go.id",
		"--instansi", "Pemerintah Kota Bandung", "--unit-kerja", "Dinas Pendidikan", "--jabatan", "Guru Ahli Pertama")
	if withPassword {
		o.mustCLI(u.Password+"\n", "user", "set-password", u.NIP)
	}
	return u
}

// browser is a cookie-keeping HTTP client that never follows redirects,
// so every step of a flow is visible.
type browser struct {
	t      *testing.T
	client *http.Client
	// language, when set, is sent as Accept-Language on every request.
	language string
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, client: &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// page is a fetched response with its body read.
type page struct {
	status int
	header http.Header
	url    *url.URL
	body   string
}

func (p *page) location() string { return p.header.Get("Location") }

func (b *browser) do(req *http.Request) *page {
	b.t.Helper()
	if b.language != "" && req.Header.Get("Accept-Language") == "" {
		req.Header.Set("Accept-Language", b.language)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return &page{status: resp.StatusCode, header: resp.Header, url: req.URL, body: string(body)}
}

func (b *browser) get(u string) *page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) *page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// follow GETs u and follows redirects until a page is served or the
// redirect leaves the OP (to a relying party); it returns the last page.
func (b *browser) follow(opURL, u string) *page {
	b.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = opURL + u
	}
	return b.followOn(u, opURL)
}

// followOn GETs u and follows redirects while they stay on one of
// origins; it returns the last page.
func (b *browser) followOn(u string, origins ...string) *page {
	b.t.Helper()
	for range 10 {
		p := b.get(u)
		loc := p.location()
		if p.status < 300 || p.status > 399 || loc == "" {
			return p
		}
		next, err := p.url.Parse(loc)
		if err != nil {
			b.t.Fatalf("bad Location %q: %v", loc, err)
		}
		if !slices.ContainsFunc(origins, func(o string) bool { return strings.HasPrefix(next.String(), o) }) {
			return p
		}
		u = next.String()
	}
	b.t.Fatal("too many redirects")
	return nil
}

// submit fills the page's form (the first, or the one whose action
// contains action) with its hidden fields plus values, and posts it.
func (b *browser) submit(p *page, action string, values map[string]string) *page {
	b.t.Helper()
	form, target := parseForm(b.t, p, action)
	for k, v := range values {
		form.Set(k, v)
	}
	return b.post(target, form)
}

// parseForm returns the hidden and pre-filled fields of a form and the
// absolute URL it posts to.
func parseForm(t *testing.T, p *page, action string) (url.Values, string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.body))
	if err != nil {
		t.Fatalf("parse page: %v", err)
	}
	var found *html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if found != nil {
			return
		}
		if n.Type == html.ElementNode && n.Data == "form" && strings.Contains(attr(n, "action"), action) {
			found = n
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if found == nil {
		t.Fatalf("no form with action %q on page %s (status %d):\n%s", action, p.url, p.status, p.body)
	}
	values := url.Values{}
	var inputs func(*html.Node)
	inputs = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" && attr(n, "name") != "" {
			values.Set(attr(n, "name"), attr(n, "value"))
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			inputs(c)
		}
	}
	inputs(found)
	target, err := p.url.Parse(attr(found, "action"))
	if err != nil {
		t.Fatalf("bad form action: %v", err)
	}
	return values, target.String()
}

func attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

// pkce is one PKCE verifier with its S256 challenge.
type pkce struct{ verifier, challenge string }

func newPKCE() pkce {
	v := rand.Text() + rand.Text() // 52 characters
	sum := sha256.Sum256([]byte(v))
	return pkce{verifier: v, challenge: base64.RawURLEncoding.EncodeToString(sum[:])}
}

// authorizeURL builds an authorization request by hand, so tests can send
// exactly the parameters they mean to.
func authorizeURL(issuer string, params map[string]string) string {
	q := url.Values{}
	for k, v := range params {
		q.Set(k, v)
	}
	return issuer + "/authorize?" + q.Encode()
}

// codeFrom extracts code and state from a redirect to the client, or
// fails with what the OP sent instead.
func codeFrom(t *testing.T, p *page, redirectURI string) (code, state string) {
	t.Helper()
	loc := p.location()
	if !strings.HasPrefix(loc, redirectURI) {
		t.Fatalf("expected a redirect to %s, got status %d Location %q body:\n%s", redirectURI, p.status, loc, p.body)
	}
	u, _ := url.Parse(loc)
	if e := u.Query().Get("error"); e != "" {
		t.Fatalf("authorization error %s: %s", e, u.Query().Get("error_description"))
	}
	code = u.Query().Get("code")
	if code == "" {
		t.Fatalf("no code in %s", loc)
	}
	return code, u.Query().Get("state")
}

// password submits NIP and password on a login page and follows to the
// second-factor page.
func (o *testOP) password(b *browser, loginPage *page, u testUser) *page {
	o.t.Helper()
	done := b.submit(loginPage, "/login/", map[string]string{"nip": u.NIP, "password": u.Password})
	if done.status != http.StatusSeeOther {
		o.t.Fatalf("password POST = %d, want 303; body:\n%s", done.status, done.body)
	}
	next := b.follow(o.URL, done.location())
	if next.status != http.StatusOK {
		o.t.Fatalf("after password: status %d at %s:\n%s", next.status, next.url, next.body)
	}
	return next
}

// secondFactor completes the enrolment or code page with a fresh code,
// reading the seed from the enrolment page the way a person would, and
// returns the redirect to the OP callback.
func (o *testOP) secondFactor(b *browser, factor *page, u testUser) *page {
	o.t.Helper()
	var action string
	switch {
	case strings.Contains(factor.body, `action="/login/enrol"`):
		o.mu.Lock()
		o.seeds[u.NIP] = seedFromPage(o.t, factor)
		o.mu.Unlock()
		action = "/login/enrol"
	case strings.Contains(factor.body, `action="/login/otp"`):
		action = "/login/otp"
	default:
		o.t.Fatalf("expected the enrolment or code page, got %s:\n%s", factor.url, factor.body)
	}
	done := b.submit(factor, action, map[string]string{"code": o.nextCode(u)})
	done = o.saveRecoveryCodes(b, done, u)
	if done.status != http.StatusSeeOther {
		o.t.Fatalf("%s POST = %d, want 303; body:\n%s", action, done.status, done.body)
	}
	return done
}

// saveRecoveryCodes writes down the codes p shows, if it is the recovery
// codes page, and confirms them; it returns what the confirmation (or p,
// for any other page) answered.
func (o *testOP) saveRecoveryCodes(b *browser, p *page, u testUser) *page {
	o.t.Helper()
	if !isRecoveryCodesPage(p) {
		return p
	}
	codes := optest.RecoveryCodes(p.body)
	if len(codes) != 10 {
		o.t.Fatalf("recovery codes page shows %d codes, want 10:\n%s", len(codes), p.body)
	}
	o.mu.Lock()
	o.recovery[u.NIP] = codes
	o.mu.Unlock()
	return b.submit(p, "/login/recovery/codes", nil)
}

func isRecoveryCodesPage(p *page) bool {
	return p.status == http.StatusOK && strings.Contains(p.body, `action="/login/recovery/codes"`)
}

// pastRecoveryCodes confirms the recovery codes page p, if it is one,
// and returns the answer; any other page is returned as it is.
func pastRecoveryCodes(b *browser, p *page) *page {
	if !isRecoveryCodesPage(p) {
		return p
	}
	return b.submit(p, "/login/recovery/codes", nil)
}

// nextCode moves the clock into a step no code was used in yet and
// returns the code a phone would show for u.
func (o *testOP) nextCode(u testUser) string {
	o.t.Helper()
	o.clock.Advance(totpPeriod)
	o.mu.Lock()
	seed := o.seeds[u.NIP]
	o.mu.Unlock()
	if seed == nil {
		o.t.Fatalf("no authenticator seed for %s", u.NIP)
	}
	return rfc6238(seed, o.clock.Now().Unix()/30)
}

// seedFromPage reads the manual-entry key from the enrolment page.
func seedFromPage(t *testing.T, p *page) []byte {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	var text string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && attr(n, "id") == "secret" && n.FirstChild != nil {
			text = n.FirstChild.Data
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	seed, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(strings.TrimSpace(text), " ", ""))
	if err != nil || len(seed) != 20 {
		t.Fatalf("enrolment page secret %q is not a 160-bit base32 key: %v", text, err)
	}
	return seed
}

const totpPeriod = 30 * time.Second

// rfc6238 computes a 6-digit TOTP (SHA-1) independently of the server's
// implementation; TestRFC6238Vectors pins it to the RFC's test vectors.
var rfc6238 = optest.TOTP

// completeLogin submits every login page for u (password, then the
// enrolment or code page), starting from the login page the OP sent b
// to, and returns the OP URL the last one redirects to: the
// authorization callback.
func completeLogin(t *testing.T, o *testOP, b *browser, loginPage *page, u testUser) string {
	t.Helper()
	if loginPage.status != http.StatusOK {
		t.Fatalf("expected the login page, got status %d Location %q body:\n%s", loginPage.status, loginPage.location(), loginPage.body)
	}
	done := o.secondFactor(b, o.password(b, loginPage, u), u)
	next, err := done.url.Parse(done.location())
	if err != nil {
		t.Fatalf("bad Location %q: %v", done.location(), err)
	}
	return next.String()
}

// passLogin is completeLogin followed by the OP's redirects; it returns
// the last page, normally the redirect to the client carrying the code.
func passLogin(t *testing.T, o *testOP, b *browser, loginPage *page, u testUser) *page {
	t.Helper()
	return b.follow(o.URL, completeLogin(t, o, b, loginPage, u))
}

// oauthResponse is a protocol endpoint's JSON answer: tokens, an
// introspection result or an OAuth error.
type oauthResponse struct {
	status int
	header http.Header
	body   string

	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	Active       bool   `json:"active"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// oauthPost posts form to the OP's path, with HTTP Basic client
// authentication when clientID is set. It is safe for concurrent use.
func oauthPost(ctx context.Context, o *testOP, path, clientID, secret string, form url.Values) (*oauthResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if clientID != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := &oauthResponse{status: resp.StatusCode, header: resp.Header, body: string(body)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(body, out); err != nil {
			return nil, fmt.Errorf("decode %s answer %q: %w", path, body, err)
		}
	}
	return out, nil
}

// mustOAuthPost is oauthPost for the test goroutine.
func mustOAuthPost(t *testing.T, o *testOP, path, clientID, secret string, form url.Values) *oauthResponse {
	t.Helper()
	resp, err := oauthPost(t.Context(), o, path, clientID, secret, form)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return resp
}
