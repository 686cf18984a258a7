// Package optest runs the real asnidp server, built from this module, for
// the tests of programs outside cmd/asnidp: the demo relying parties and the
// integrator examples. It also drives the hosted login pages the way an
// employee with a phone would: a cookie-keeping browser that fills the
// forms it is served, and an authenticator that reads the enrolment key off
// the page and computes its codes independently of the server.
//
// Everything it starts listens on 127.0.0.1 and is stopped when the test
// ends. Only _test.go files import it.
package optest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Client is a relying party declared in the server's config.yaml.
type Client struct {
	ID     string
	Secret string // empty for a public client
	// RedirectURIs, PostLogoutRedirectURIs and BackchannelLogoutURI are
	// registered exactly as given.
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	BackchannelLogoutURI   string
	PKCEOptional           bool
	// JWKSFile registers the client's public keys (a confidential client
	// without a secret: private_key_jwt); RequirePAR makes it push its
	// authorization requests.
	JWKSFile   string
	RequirePAR bool
	// IDTokenAlg is id_token_signed_response_alg (RS256 when empty);
	// AccessTokenJWT gives the client RFC 9068 JWT access tokens.
	IDTokenAlg     string
	AccessTokenJWT bool
}

// User is a provisioned employee.
type User struct {
	NIP       string
	Name      string
	Email     string
	Instansi  string
	UnitKerja string
	Jabatan   string
	// Password is set with `user set-password` when not empty.
	Password string
}

// OP is a running asnidp server process.
type OP struct {
	// URL is the issuer, http://127.0.0.1:port.
	URL string

	t       testing.TB
	bin     string
	cfgPath string
	dbPath  string
	environ []string
	logs    *SyncBuffer

	mu    sync.Mutex
	seeds map[string][]byte // authenticator seeds by NIP, as a phone holds them
	// recovery holds the recovery codes last shown, by NIP, as an
	// employee writes them down.
	recovery map[string][]string
	steps    map[string]int64 // last TOTP step used by NIP
}

// Binary builds cmd/asnidp into t's temporary directory and returns its
// path. Go's build cache makes every build after the first a link step.
func Binary(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "asnidp")
	cmd := exec.Command(goTool(), "build", "-o", bin, "github.com/asnidp/asnidp/cmd/asnidp")
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build asnidp: %v\n%s", err, out)
	}
	return bin
}

// goTool is the go command of the toolchain running the test.
func goTool() string {
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return "go"
}

// FreeAddr returns a loopback address with a port that was free a moment
// ago, for programs that must be told their port before they start.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Start builds and runs asnidp serve with a fresh SQLite database in a
// temporary directory, mail to the log, and clients declared in its
// config.yaml. It returns once /readyz answers.
func Start(t testing.TB, clients ...Client) *OP {
	t.Helper()
	return StartEnv(t, nil, clients...)
}

// StartEnv is Start with environment settings, such as
// "ASNIDP_MAIL_DRIVER=smtp", that override the generated config for the
// server and for every command run through CLI.
func StartEnv(t testing.TB, env []string, clients ...Client) *OP {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	addr := FreeAddr(t)
	key := make([]byte, 32)
	rand.Read(key)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "issuer: http://%s\nlisten: %s\nmaster_key: %s\n", addr, addr, base64.StdEncoding.EncodeToString(key))
	dbPath := filepath.Join(dir, "asnidp.db")
	fmt.Fprintf(&cfg, "database:\n  driver: sqlite\n  dsn: %q\n", dbPath)
	cfg.WriteString("mail:\n  driver: log\nlog:\n  level: info\n")
	cfg.WriteString(clientsYAML(clients))
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	o := &OP{
		URL: "http://" + addr, t: t, bin: bin, cfgPath: cfgPath, dbPath: dbPath, environ: append(cleanEnv(), env...),
		logs: &SyncBuffer{}, seeds: map[string][]byte{}, steps: map[string]int64{},
		recovery: map[string][]string{},
	}
	cmd := exec.Command(bin, "--config", cfgPath, "serve")
	cmd.Env = o.environ
	cmd.Stdout, cmd.Stderr = o.logs, o.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start asnidp: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("asnidp log:\n%s", o.logs.String())
		}
	})
	o.waitReady(exited)
	return o
}

func (o *OP) waitReady(exited <-chan error) {
	o.t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	for range 400 {
		select {
		case err := <-exited:
			o.t.Fatalf("asnidp serve exited: %v\n%s", err, o.logs.String())
		default:
		}
		resp, err := client.Get(o.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	o.t.Fatalf("asnidp did not become ready:\n%s", o.logs.String())
}

// DatabasePath is the server's SQLite file, for a test that opens a
// second handle on the database as another node of the service would.
func (o *OP) DatabasePath() string { return o.dbPath }

// Logs returns what the server wrote so far.
func (o *OP) Logs() string { return o.logs.String() }

// CLI runs an asnidp command against the server's config and returns its
// standard output.
func (o *OP) CLI(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.bin, append([]string{"--config", o.cfgPath}, args...)...)
	cmd.Env = o.environ
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("asnidp %s: %w (stderr: %s)", args[0], err, stderr.String())
	}
	return stdout.String(), nil
}

// AddUser provisions u and, when u.Password is set, gives it that
// password, as an operator would for development.
func (o *OP) AddUser(t testing.TB, u User) {
	t.Helper()
	args := []string{"user", "add", "--nip", u.NIP, "--name", u.Name, "--email", u.Email}
	for _, f := range []struct{ flag, v string }{{"--instansi", u.Instansi}, {"--unit-kerja", u.UnitKerja}, {"--jabatan", u.Jabatan}} {
		if f.v != "" {
			args = append(args, f.flag, f.v)
		}
	}
	if _, err := o.CLI("", args...); err != nil {
		t.Fatal(err)
	}
	if u.Password != "" {
		if _, err := o.CLI(u.Password+"\n", "user", "set-password", u.NIP); err != nil {
			t.Fatal(err)
		}
	}
}

// cleanEnv is the test's environment without ASNIDP_ settings, which
// would override the generated config.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ASNIDP_") {
			out = append(out, kv)
		}
	}
	return out
}

func clientsYAML(clients []Client) string {
	if len(clients) == 0 {
		return "clients: []\n"
	}
	var b strings.Builder
	b.WriteString("clients:\n")
	list := func(key string, v []string) {
		if len(v) == 0 {
			return
		}
		fmt.Fprintf(&b, "    %s:\n", key)
		for _, s := range v {
			fmt.Fprintf(&b, "      - %q\n", s)
		}
	}
	for _, c := range clients {
		fmt.Fprintf(&b, "  - id: %q\n", c.ID)
		switch {
		case c.JWKSFile != "":
			fmt.Fprintf(&b, "    jwks_file: %q\n", c.JWKSFile)
		case c.Secret == "":
			b.WriteString("    public: true\n")
		default:
			fmt.Fprintf(&b, "    secret: %q\n", c.Secret)
		}
		list("redirect_uris", c.RedirectURIs)
		list("post_logout_redirect_uris", c.PostLogoutRedirectURIs)
		if c.BackchannelLogoutURI != "" {
			fmt.Fprintf(&b, "    backchannel_logout_uri: %q\n", c.BackchannelLogoutURI)
		}
		if c.PKCEOptional {
			b.WriteString("    pkce: optional\n")
		}
		if c.RequirePAR {
			b.WriteString("    require_par: true\n")
		}
		if c.IDTokenAlg != "" {
			fmt.Fprintf(&b, "    id_token_signed_response_alg: %q\n", c.IDTokenAlg)
		}
		if c.AccessTokenJWT {
			b.WriteString("    access_token: jwt\n")
		}
	}
	return b.String()
}

// SyncBuffer collects output from many goroutines.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
