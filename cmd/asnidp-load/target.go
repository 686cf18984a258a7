package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx driver, to create the run's schema
	_ "github.com/mattn/go-sqlite3"    // to count the rows of the run's SQLite file
)

// node is one asnidp serve process started by the tool.
type node struct {
	name    string
	url     string
	cmd     *exec.Cmd
	logPath string
	exited  chan error
	down    atomic.Bool
	proxy   *httputil.ReverseProxy
}

// target is the OP under load: processes the tool started (or an existing
// server), the config its CLI runs with, and how to read its database size.
type target struct {
	issuer  string
	bin     string
	cfgPath string
	environ []string
	nodes   []*node
	bal     *balancer
	dbSize  func(context.Context) (int64, error)
	// db reads the run's database, for its row counts.
	db    *sql.DB
	close []func()
}

// countedTables are the tables whose rows a long run must keep flat
// (pruned once expired, or ended by logout), and the audit log, which
// grows by design: audit rows are never pruned.
var countedTables = []string{"auth_requests", "access_tokens", "refresh_tokens", "sessions", "counters",
	"captchas", "reset_requests", "logout_deliveries", "known_devices", "audit_events"}

// rows counts the rows of countedTables.
func (t *target) rows(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for _, table := range countedTables {
		var n int64
		if err := t.db.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", table, err)
		}
		out[table] = n
	}
	return out, nil
}

// startTarget writes a config for a fresh database (a SQLite file in dir,
// or a new schema on the PostgreSQL server) and starts o.nodes processes,
// behind the tool's balancer when there are several.
func startTarget(ctx context.Context, o *options, dir string) (_ *target, err error) {
	t := &target{bin: o.bin}
	defer func() {
		if err != nil {
			t.stop()
		}
	}()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the issuer: %w", err)
	}
	t.issuer = "http://" + ln.Addr().String()
	dbYAML, err := t.database(ctx, o, dir)
	if err != nil {
		ln.Close()
		return nil, err
	}
	key := make([]byte, 32)
	rand.Read(key)
	t.cfgPath = filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf("issuer: %s\nlisten: %s\nmaster_key: %s\n%smail:\n  driver: log\nlog:\n  level: info\nclients: []\n",
		t.issuer, ln.Addr(), base64.StdEncoding.EncodeToString(key), dbYAML)
	if err := os.WriteFile(t.cfgPath, []byte(cfg), 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("write config: %w", err)
	}
	t.environ = append(cleanEnv(), o.serverEnv...)

	if o.nodes == 1 {
		ln.Close() // the one process listens on the issuer's address itself
		n, err := t.startNode(dir, "A", strings.TrimPrefix(t.issuer, "http://"))
		if err != nil {
			return nil, err
		}
		t.nodes = []*node{n}
	} else {
		for i := range o.nodes {
			addr, err := freeAddr()
			if err != nil {
				ln.Close()
				return nil, err
			}
			n, err := t.startNode(dir, string(rune('A'+i)), addr)
			if err != nil {
				ln.Close()
				return nil, err
			}
			t.nodes = append(t.nodes, n)
		}
		t.bal = newBalancer(t.nodes)
		srv := &http.Server{Handler: t.bal, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		t.close = append(t.close, func() { srv.Close() })
	}
	for _, n := range t.nodes {
		if err := waitReady(ctx, n); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// database returns the config's database section for a fresh database.
func (t *target) database(ctx context.Context, o *options, dir string) (string, error) {
	if o.db == "sqlite" {
		path := filepath.Join(dir, "asnidp.db")
		t.dbSize = func(context.Context) (int64, error) { return fileSizes(path, path+"-wal"), nil }
		// Read-only, beside the server: WAL lets readers in while it writes.
		db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
		if err != nil {
			return "", fmt.Errorf("open the run's SQLite file: %w", err)
		}
		t.db = db
		t.close = append(t.close, func() { db.Close() })
		return fmt.Sprintf("database:\n  driver: sqlite\n  dsn: %q\n", path), nil
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "asnidp_load_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", o.postgresDSN)
	if err != nil {
		return "", fmt.Errorf("open -postgres-dsn: %w", err)
	}
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		return "", fmt.Errorf("create schema %s: %w", schema, err)
	}
	t.dbSize = func(ctx context.Context) (int64, error) {
		var n sql.NullInt64
		err := admin.QueryRowContext(ctx, `SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c
			JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = $1 AND c.relkind = 'r'`, schema).Scan(&n)
		return n.Int64, err
	}
	t.close = append(t.close, func() {
		if !o.keep {
			admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		}
		admin.Close()
	})
	dsn, err := withSearchPath(o.postgresDSN, schema)
	if err != nil {
		return "", err
	}
	if t.db, err = sql.Open("pgx", dsn); err != nil {
		return "", fmt.Errorf("open the run's schema: %w", err)
	}
	db := t.db
	t.close = append(t.close, func() { db.Close() })
	return fmt.Sprintf("database:\n  driver: postgres\n  dsn: %q\n  max_open_conns: %d\n", dsn, o.pgConns), nil
}

func (t *target) startNode(dir, name, addr string) (*node, error) {
	n := &node{name: name, url: "http://" + addr, logPath: filepath.Join(dir, "node-"+name+".log"), exited: make(chan error, 1)}
	logFile, err := os.Create(n.logPath)
	if err != nil {
		return nil, fmt.Errorf("create node log: %w", err)
	}
	n.cmd = exec.Command(t.bin, "--config", t.cfgPath, "serve")
	n.cmd.Env = append(append([]string(nil), t.environ...), "ASNIDP_LISTEN="+addr)
	n.cmd.Stdout, n.cmd.Stderr = logFile, logFile
	if err := n.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start asnidp serve %s: %w", name, err)
	}
	go func() { n.exited <- n.cmd.Wait(); logFile.Close() }()
	return n, nil
}

func waitReady(ctx context.Context, n *node) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-n.exited:
			n.exited <- err
			return fmt.Errorf("asnidp serve %s exited before it was ready (%v); see %s", n.name, err, n.logPath)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if resp, err := client.Get(n.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("asnidp serve %s not ready within 60 s; see %s", n.name, n.logPath)
}

// kill ends n with SIGKILL, as a crashed machine would.
func (n *node) kill() error {
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill node %s: %w", n.name, err)
	}
	return nil
}

// stop ends every node gracefully (then by force) and removes what the
// run created outside its directory.
func (t *target) stop() {
	for _, n := range t.nodes {
		n.cmd.Process.Signal(os.Interrupt)
	}
	for _, n := range t.nodes {
		select {
		case err := <-n.exited:
			n.exited <- err
		case <-time.After(15 * time.Second):
			n.cmd.Process.Kill()
		}
	}
	for i := len(t.close) - 1; i >= 0; i-- {
		t.close[i]()
	}
}

// cli runs an asnidp command on the target's config.
func (t *target) cli(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, t.bin, append([]string{"--config", t.cfgPath}, args...)...)
	cmd.Env = t.environ
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("asnidp %s: %w: %s", strings.Join(args[:min(2, len(args))], " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// logCount counts lines containing s in every node's log.
func (t *target) logCount(s string) int {
	n := 0
	for _, nd := range t.nodes {
		data, err := os.ReadFile(nd.logPath)
		if err == nil {
			n += strings.Count(string(data), s)
		}
	}
	return n
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func fileSizes(paths ...string) int64 {
	var n int64
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// cleanEnv is the tool's environment without ASNIDP_ settings, which
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

// withSearchPath puts the connections of a postgres:// DSN in schema.
func withSearchPath(dsn, schema string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", errors.New("-postgres-dsn must be a postgres:// URL")
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
