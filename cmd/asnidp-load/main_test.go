package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asnidp/asnidp/storage/sqlstore/sqlstoretest"
)

var built struct {
	once sync.Once
	bin  string
	err  error
}

// serverBinary builds cmd/asnidp once for every test of the package.
func serverBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "asnidp-load-test-")
		if err != nil {
			built.err = err
			return
		}
		built.bin = filepath.Join(dir, "asnidp")
		gotool := filepath.Join(runtime.GOROOT(), "bin", "go")
		out, err := exec.Command(gotool, "build", "-o", built.bin, "github.com/asnidp/asnidp/cmd/asnidp").CombinedOutput()
		if err != nil {
			built.err = errors.New(string(out))
		}
	})
	if built.err != nil {
		t.Fatalf("go build asnidp: %v", built.err)
	}
	return built.bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.bin != "" {
		os.RemoveAll(filepath.Dir(built.bin))
	}
	os.Exit(code)
}

// runTool runs the tool's command line with args, writing into out, and
// returns its result.json and what it printed.
func runTool(t *testing.T, out string, args ...string) (*result, *bytes.Buffer) {
	t.Helper()
	args = append(args, "-out", out, "-asnidp", serverBinary(t))
	var log bytes.Buffer
	if err := run(t.Context(), args, &log, &log); err != nil {
		t.Fatalf("asnidp-load %s: %v\n%s", strings.Join(args, " "), err, log.String())
	}
	data, err := os.ReadFile(filepath.Join(out, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res result
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatalf("result.json: %v", err)
	}
	return &res, &log
}

// smoke runs the tool as its command line does, with a few employees for
// a few seconds, and checks the journey's correctness from result.json:
// every step of every sign-in succeeded (enrolment on the first, a plain
// code on the second), logout ended the session (the refresh token is
// refused after it, and the next authorize asks for the password again),
// and a sign-in kept open has tokens that still work after the run. It
// asserts nothing about speed.
func smoke(t *testing.T, extra ...string) {
	out := t.TempDir()
	res, log := runTool(t, out, append([]string{"-concurrency", "2", "-employees", "3", "-duration", "3s", "-calibrate", "200ms",
		"-check-logout", "-hold", "1", "-sample-every", "500ms"}, extra...)...)
	if len(res.Phases) != 2 {
		t.Fatalf("result has %d phases, want warm-up and measured\n%s", len(res.Phases), log.String())
	}
	warm, main := res.Phases[0], res.Phases[1]
	if warm.OK != 3 || len(warm.Errors) != 0 || warm.Busy != 0 {
		t.Errorf("warm-up: ok %d busy %d errors %v (%v), want 3 sign-ins and nothing else", warm.OK, warm.Busy, warm.Errors, warm.Examples)
	}
	for _, step := range []string{stepAuthorize, stepPassword, stepEnrol, stepRecoveryCodes, stepCallback, stepToken, stepUserinfo, stepRefresh, stepLogout, stepLogoutCheck} {
		if got := warm.Steps[step].Count; got != 3 {
			t.Errorf("warm-up step %s succeeded %d times, want 3", step, got)
		}
	}
	// Each employee's second sign-in takes the authenticator's next step.
	if main.OK < 3 || len(main.Errors) != 0 || main.Busy != 0 {
		t.Errorf("measured: ok %d busy %d errors %v (%v), want at least 3 sign-ins and nothing else", main.OK, main.Busy, main.Errors, main.Examples)
	}
	if got := main.Steps[stepOTP].Count; got != main.OK || main.Steps[stepEnrol].Count != 0 {
		t.Errorf("measured: %d code steps and %d enrolments for %d sign-ins, want a code each and no enrolment", got, main.Steps[stepEnrol].Count, main.OK)
	}
	if got := main.Steps[stepLogoutCheck].Count; got != main.OK-1 {
		t.Errorf("measured: logout checked %d times, want %d (every sign-in but the held one)", got, main.OK-1)
	}
	if res.Held == nil || res.Held.Held != 1 || res.Held.Checked["A"] != 1 || len(res.Held.Failures) != 0 {
		t.Errorf("held sign-in = %+v, want 1 whose tokens work on process A after the run", res.Held)
	}
	if len(res.Samples) == 0 || res.Samples[0].RSSBytes <= 0 || res.Samples[0].Goroutines <= 0 || res.Samples[0].DBBytes <= 0 {
		t.Errorf("samples = %+v, want RSS, goroutines and database size", res.Samples)
	}
	if len(res.Rows) == 0 || res.Rows[0].Rows["audit_events"] == 0 {
		t.Errorf("row counts = %+v, want the tables counted", res.Rows)
	}
	if res.Limits == nil || res.Limits.Argon2idPerSec <= 0 || res.Limits.RS256PerSec <= 0 || main.ShareArgon <= 0 {
		t.Errorf("limits %+v, share %v: want both limits measured and the share computed", res.Limits, main.ShareArgon)
	}
	if res.DatabaseLocked != 0 {
		t.Errorf("%d \"database is locked\" lines in the server log", res.DatabaseLocked)
	}
	for _, f := range []string{"throughput.png", "latency.png", "rss.png", "goroutines.png", "rows.png"} {
		if b, err := os.ReadFile(filepath.Join(out, f)); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("%s is not a PNG: %v", f, err)
		}
	}
	// Nothing secret in what the tool printed or kept: the logs of the run
	// name no password (the one password is in the employees' hands only).
	if strings.Contains(log.String(), "beban uji ") {
		t.Error("the tool's output contains the employees' password")
	}
}

func TestSmoke_SQLite(t *testing.T) {
	t.Parallel()
	smoke(t)
}

func TestSmoke_PostgreSQL(t *testing.T) {
	t.Parallel()
	dsn := sqlstoretest.PostgresDSN(t)
	smoke(t, "-db", "postgres", "-postgres-dsn", dsn)
}

// The journey checks what it claims to: the sub it signs in with is the
// account's (as the CLI shows it), and a wrong password fails at the
// password step as a 401, not as a success or a panic.
func TestJourney_SubAndWrongPassword(t *testing.T) {
	t.Parallel()
	o := &options{bin: serverBinary(t), db: "sqlite", nodes: 1, pgConns: 1}
	dir := t.TempDir()
	tg, err := startTarget(t.Context(), o, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.stop()
	client := &http.Client{Timeout: 10 * time.Second}
	ep, err := discover(t.Context(), client, tg.issuer)
	if err != nil {
		t.Fatal(err)
	}
	prov, err := provision(t.Context(), tg, dir, 2, http.DefaultTransport)
	if err != nil {
		t.Fatal(err)
	}
	j := &journeys{ep: ep, clientID: prov.clientID, secret: prov.secret, redirectURI: loadRedirectURI, postLogout: loadPostLogout,
		verifier: &verifier{jwksURL: ep.JWKS, issuer: ep.Issuer, clientID: prov.clientID, client: client},
		client:   client, requestTimeout: 10 * time.Second, checkLogout: true, now: time.Now, sleep: sleepCtx}

	e := prov.employees[0]
	for i := range 2 {
		if r := j.run(t.Context(), e, false); r.kind != kindOK {
			t.Fatalf("sign-in %d: %s at %s: %v", i+1, r.kind, r.failedStep, r.err)
		}
	}
	show, err := tg.cli(t.Context(), "", "user", "show", e.nip)
	if err != nil {
		t.Fatal(err)
	}
	if e.sub == "" || !strings.Contains(show, e.sub) {
		t.Errorf("the ID token's sub %q is not the account's:\n%s", e.sub, show)
	}

	wrong := newEmployee(prov.employees[1].nip, "bukan kata sandinya sama sekali", http.DefaultTransport)
	r := j.run(t.Context(), wrong, false)
	if r.kind != "http_401" || r.failedStep != stepPassword {
		t.Errorf("wrong password: %s at %s (%v), want http_401 at the password step", r.kind, r.failedStep, r.err)
	}
	// From the account's third consecutive failure on, the page asks for a
	// captcha, which the report names as such.
	for range 2 {
		j.run(t.Context(), wrong, false)
	}
	if r := j.run(t.Context(), wrong, false); r.kind != "captcha_required" {
		t.Errorf("after 3 wrong passwords: %s (%v), want captcha_required", r.kind, r.err)
	}
}

func TestOptions_BadFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"neither mode", []string{"-duration", "1s"}, "exactly one of -rate or -concurrency"},
		{"both modes", []string{"-rate", "1", "-concurrency", "2"}, "exactly one of -rate or -concurrency"},
		{"unknown db", []string{"-rate", "1", "-db", "mysql"}, `-db must be sqlite or postgres, got "mysql"`},
		{"postgres without dsn", []string{"-rate", "1", "-db", "postgres"}, "-db postgres needs -postgres-dsn"},
		{"kill without survivor", []string{"-rate", "1", "-kill-after", "1s"}, "-kill-after needs -nodes 2"},
		{"bad server env", []string{"-rate", "1", "-server-env", "PATH=/"}, "is not ASNIDP_KEY=value"},
		{"stray argument", []string{"-rate", "1", "extra"}, `unexpected argument "extra"`},
		{"not a number", []string{"-rate", "fast"}, "invalid value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(t.Context(), tc.args, &stderr, &stderr)
			if err == nil || !strings.Contains(err.Error()+stderr.String(), tc.want) {
				t.Errorf("run(%q) = %v (stderr %q), want an error saying %q", tc.args, err, stderr.String(), tc.want)
			}
		})
	}
}

// Two processes on one PostgreSQL schema behind the tool's balancer; one
// is killed mid-run. Only requests it had in flight may fail, and the
// sign-ins kept open before the kill still work on the survivor.
func TestKill_PostgreSQL(t *testing.T) {
	t.Parallel()
	dsn := sqlstoretest.PostgresDSN(t)
	res, _ := runTool(t, t.TempDir(), "-db", "postgres", "-postgres-dsn", dsn, "-nodes", "2", "-rate", "4", "-duration", "6s",
		"-kill-after", "3s", "-hold", "3", "-employees", "40", "-calibrate", "0", "-sample-every", "500ms")
	main := res.Phases[len(res.Phases)-1]
	if res.Kill == nil || res.Kill.Node != "B" {
		t.Fatalf("kill = %+v, want process B killed", res.Kill)
	}
	for kind, n := range main.Errors {
		if kind != "http_502" {
			t.Errorf("%d sign-ins failed with %s (%v): only the killed process's in-flight requests may fail", n, kind, main.Examples)
		}
	}
	if failed := int64(main.Errors["http_502"]); failed > res.Kill.BalancerFailed {
		t.Errorf("%d sign-ins failed with 502 but the balancer lost only %d requests", failed, res.Kill.BalancerFailed)
	}
	if main.OK < 10 {
		t.Errorf("only %d sign-ins completed around the kill", main.OK)
	}
	if res.Held == nil || res.Held.Held != 3 || res.Held.Checked["A"] != 3 || len(res.Held.Failures) != 0 {
		t.Errorf("held = %+v, want 3 sign-ins whose tokens work on the survivor A", res.Held)
	}
}
