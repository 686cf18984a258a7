package main

// Start-up faults (docs/security.md H7, H8): `asnidp serve` refuses to
// start, with an error naming what is wrong, when its signing keys cannot
// be used or its configuration is unsafe or invalid. A refusal must come
// before the server listens: a test that sees the server start fails.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asnidp/asnidp/internal/config"
	"github.com/asnidp/asnidp/internal/seal"
)

// serveOutcome runs `asnidp serve` with the config file at cfgPath and
// environment env. It reports started (after stopping the server) if it
// came up and logged that it serves, or else the error it stopped with.
func serveOutcome(t *testing.T, cfgPath string, env ...string) (started bool, log string, err error) {
	t.Helper()
	// serve makes its logger the default one; put the test's back.
	old := slog.Default()
	defer slog.SetDefault(old)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stderr syncBuffer
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"--config", cfgPath, "serve"}, env, strings.NewReader(""), io.Discard, &stderr)
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	// Only a guard against hanging should serve start without saying so;
	// refusals come back at once.
	guard := time.NewTimer(30 * time.Second)
	defer guard.Stop()
	for {
		select {
		case err := <-errc:
			return false, stderr.String(), err
		case <-tick.C:
			if strings.Contains(stderr.String(), "asnidp serving") {
				cancel()
				<-errc
				return true, stderr.String(), nil
			}
		case <-guard.C:
			cancel()
			<-errc
			t.Fatalf("serve neither refused nor reported serving; log:\n%s", stderr.String())
		}
	}
}

// wantRefusal fails unless serve refused to start with an error that
// contains every one of want.
func wantRefusal(t *testing.T, cfgPath string, env []string, want ...string) error {
	t.Helper()
	started, log, err := serveOutcome(t, cfgPath, env...)
	if started {
		t.Fatalf("serve started; want a refusal naming %q. Log:\n%s", want, log)
	}
	if err == nil {
		t.Fatalf("serve returned no error; want one naming %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("serve error = %q, want it to name %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "goroutine ") || strings.Contains(err.Error(), ".go:") {
		t.Errorf("serve error carries a stack trace: %q", err)
	}
	return err
}

// minimalConfig is a valid config for a loopback development run in dir,
// as top-level YAML keys and values; cases replace whole values.
func minimalConfig(dir string) map[string]string {
	key := make([]byte, 32)
	rand.Read(key)
	return map[string]string{
		"issuer":     "http://127.0.0.1:9",
		"listen":     "127.0.0.1:0",
		"master_key": base64.StdEncoding.EncodeToString(key),
		"database":   "\n  driver: sqlite\n  dsn: " + filepath.Join(dir, "asnidp.db"),
		"log":        "\n  level: info",
	}
}

// writeConfig writes the top-level keys of cfg (and any raw YAML in
// extra) as config.yaml in dir.
func writeConfig(t *testing.T, dir string, cfg map[string]string, extra string) string {
	t.Helper()
	var b bytes.Buffer
	for _, k := range []string{"issuer", "listen", "master_key", "database", "log"} {
		if v, ok := cfg[k]; ok {
			b.WriteString(k + ": " + v + "\n")
		}
	}
	b.WriteString(extra)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestStartup_H7_SigningKeyFaults: a stored signing key that cannot be
// unsealed or parsed, or a master key that is not the one it was sealed
// under, stops start-up with an error naming the key; no new key is
// made in its place.
func TestStartup_H7_SigningKeyFaults(t *testing.T) {
	o := startOP(t)
	o.stop()
	o.stop = nil
	masterKey, err := seal.ParseMasterKey(o.cfg.MasterKey)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := seal.New(masterKey)
	if err != nil {
		t.Fatal(err)
	}
	original := o.cfg.Database.DSN
	var kid string
	withDB(t, original, func(db *sql.DB) {
		// One RS256 key, as a store from before the ES256 series: the
		// intact case then also starts by adding the ES256 key, and no
		// refused case adds it.
		if _, err := db.Exec(`DELETE FROM signing_keys WHERE algorithm <> 'RS256'`); err != nil {
			t.Fatalf("keep the RS256 key only: %v", err)
		}
		if err := db.QueryRow(`SELECT id FROM signing_keys`).Scan(&kid); err != nil {
			t.Fatalf("read the signing key: %v", err)
		}
	})
	smallKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallDER, _ := x509.MarshalPKCS8PrivateKey(smallKey)
	sealedFor := func(plain []byte, aadKID string) []byte {
		out, err := sealer.Seal(plain, []byte("signing_keys.private:"+aadKID))
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	cases := []struct {
		name   string
		env    []string
		alter  string
		arg    any
		reject bool
	}{
		{name: "intact key starts", reject: false},
		{name: "wrong master key", env: []string{"ASNIDP_MASTER_KEY=" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))}, reject: true},
		{name: "flipped byte", alter: `UPDATE signing_keys SET private_sealed = substr(private_sealed, 1, length(private_sealed) - 1) || x'00'`, reject: true},
		{name: "truncated", alter: `UPDATE signing_keys SET private_sealed = substr(private_sealed, 1, 20)`, reject: true},
		{name: "missing private key", alter: `UPDATE signing_keys SET private_sealed = x''`, reject: true},
		{name: "sealed garbage", alter: `UPDATE signing_keys SET private_sealed = ?`, arg: sealedFor([]byte("not a key"), kid), reject: true},
		{name: "sealed for another row", alter: `UPDATE signing_keys SET private_sealed = ?`, arg: sealedFor(smallDER, "other-kid"), reject: true},
		{name: "key below 2048 bits", alter: `UPDATE signing_keys SET private_sealed = ?`, arg: sealedFor(smallDER, kid), reject: true},
		{name: "public part swapped", alter: `UPDATE signing_keys SET public_jwk = ?`, arg: []byte(`{"kty":"RSA","kid":"` + kid + `","n":"` +
			base64.RawURLEncoding.EncodeToString(smallKey.N.Bytes()) + `","e":"AQAB"}`), reject: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			dsn := copyDB(t, original, dir)
			if tc.alter != "" {
				withDB(t, dsn, func(db *sql.DB) {
					var args []any
					if tc.arg != nil {
						args = append(args, tc.arg)
					}
					if _, err := db.Exec(tc.alter, args...); err != nil {
						t.Fatalf("alter the key: %v", err)
					}
				})
			}
			cfg := minimalConfig(dir)
			cfg["master_key"] = o.cfg.MasterKey
			cfg["database"] = "\n  driver: sqlite\n  dsn: " + dsn
			path := writeConfig(t, dir, cfg, "")
			if !tc.reject {
				if started, log, err := serveOutcome(t, path, tc.env...); !started {
					t.Fatalf("serve with the intact key did not start: %v\n%s", err, log)
				}
				return
			}
			wantRefusal(t, path, tc.env, "signing key", kid)
			withDB(t, dsn, func(db *sql.DB) {
				var n int
				if err := db.QueryRow(`SELECT count(*) FROM signing_keys`).Scan(&n); err != nil || n != 1 {
					t.Errorf("signing keys after the refusal = %d (%v), want the 1 there was: no key of its own", n, err)
				}
			})
		})
	}
}

// copyDB copies the SQLite file at src (closed, so checkpointed) into dir.
func copyDB(t *testing.T, src, dir string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "asnidp.db")
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if b, err := os.ReadFile(src + suffix); err == nil {
			if err := os.WriteFile(dst+suffix, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dst
}

func withDB(t *testing.T, path string, fn func(*sql.DB)) {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fn(db)
}

// TestStartup_H8_UnsafeConfiguration: an http issuer off loopback, a weak
// or development master key in production, and a static client whose
// redirect URI is a wildcard or plain http stop start-up with a message
// naming the key.
func TestStartup_H8_UnsafeConfiguration(t *testing.T) {
	short := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 16))
	almost := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 31))
	client := func(field, uri string) string {
		c := "clients:\n  - id: rp\n    secret: 0123456789abcdef0123\n    redirect_uris: [\"https://rp.example.go.id/cb\"]\n"
		if field == "redirect_uris" {
			c = strings.Replace(c, `["https://rp.example.go.id/cb"]`, `["https://rp.example.go.id/ok", "`+uri+`"]`, 1)
		} else {
			c += "    " + field + ": [\"" + uri + "\"]\n"
		}
		return c
	}
	cases := []struct {
		name  string
		set   map[string]string
		extra string
		env   []string
		want  []string
	}{
		{name: "http issuer on a public host", set: map[string]string{"issuer": "http://sso.example.go.id"}, want: []string{"issuer"}},
		{name: "http issuer on a private address", set: map[string]string{"issuer": "http://10.1.2.3:8080"}, want: []string{"issuer"}},
		{name: "http issuer on a loopback look-alike", set: map[string]string{"issuer": "http://127.0.0.1.nip.io:8080"}, want: []string{"issuer"}},
		{name: "http issuer on localhost subdomain", set: map[string]string{"issuer": "http://localhost.example.go.id"}, want: []string{"issuer"}},
		{name: "http issuer from the environment", env: []string{"ASNIDP_ISSUER=http://sso.example.go.id"}, want: []string{"issuer"}},
		{name: "master key of 16 bytes", set: map[string]string{"master_key": short}, want: []string{"master_key", "32"}},
		{name: "master key of 31 bytes", set: map[string]string{"master_key": almost}, want: []string{"master_key", "32"}},
		{name: "master key of 16 bytes from the environment", env: []string{"ASNIDP_MASTER_KEY=" + short}, want: []string{"master_key"}},
		{name: "master key not base64", set: map[string]string{"master_key": "this is not base64!"}, want: []string{"master_key"}},
		{name: "master key empty", set: map[string]string{"master_key": `""`}, want: []string{"master_key"}},
		{name: "development master key with https", set: map[string]string{"issuer": "https://sso.example.go.id", "master_key": config.DevMasterKey}, want: []string{"master_key"}},
		{name: "redirect URI with a wildcard", extra: client("redirect_uris", "https://*.example.go.id/cb"), want: []string{"clients[0].redirect_uris[1]", "wildcard"}},
		{name: "redirect URI with a wildcard path", extra: client("redirect_uris", "https://rp.example.go.id/*"), want: []string{"clients[0].redirect_uris[1]"}},
		{name: "redirect URI over http", extra: client("redirect_uris", "http://rp.example.go.id/cb"), want: []string{"clients[0].redirect_uris[1]", "http"}},
		{name: "redirect URI over http on a private address", extra: client("redirect_uris", "http://192.168.1.10/cb"), want: []string{"clients[0].redirect_uris[1]"}},
		{name: "redirect URI with a custom scheme", extra: client("redirect_uris", "javascript:alert(1)"), want: []string{"clients[0].redirect_uris[1]"}},
		{name: "post-logout URI over http", extra: client("post_logout_redirect_uris", "http://rp.example.go.id/bye"), want: []string{"clients[0].post_logout_redirect_uris[0]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := minimalConfig(dir)
			for k, v := range tc.set {
				cfg[k] = v
			}
			wantRefusal(t, writeConfig(t, dir, cfg, tc.extra), tc.env, tc.want...)
		})
	}
	t.Run("loopback http and a loopback redirect URI are fine", func(t *testing.T) {
		dir := t.TempDir()
		extra := "clients:\n  - id: rp\n    secret: 0123456789abcdef0123\n    redirect_uris: [\"http://127.0.0.1:8400/cb\", \"http://localhost/cb\", \"https://rp.example.go.id/cb\"]\n"
		if started, log, err := serveOutcome(t, writeConfig(t, dir, minimalConfig(dir), extra)); !started {
			t.Fatalf("serve did not start: %v\n%s", err, log)
		}
	})
}

// TestStartup_ConfigErrorsNameTheKey: every kind of configuration error
// (unknown key, wrong type, out of range, bad list item, bad environment
// override, YAML syntax, missing file) stops serve with a message that
// names the key (or the file and line), all problems at once.
func TestStartup_ConfigErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		name  string
		set   map[string]string
		extra string
		env   []string
		want  []string
	}{
		{name: "unknown top-level key", extra: "tokenz:\n  code: 60s\n", want: []string{"tokenz"}},
		{name: "unknown nested key", extra: "tokens:\n  cod: 60s\n", want: []string{"cod"}},
		{name: "wrong type", extra: "tokens:\n  code: soon\n", want: []string{"tokens.code"}},
		{name: "number expected", extra: "password:\n  workers: many\n", want: []string{"password.workers"}},
		{name: "out of range", extra: "tokens:\n  code: 1h\n", want: []string{"tokens.code"}},
		{name: "bad choice", set: map[string]string{"database": "\n  driver: mysql\n  dsn: x"}, want: []string{"database.driver"}},
		{name: "bad list item", extra: "trusted_proxies: [\"10.0.0.0/8\", \"proxy.internal\"]\n", want: []string{"trusted_proxies[1]"}},
		{name: "list of the wrong type", extra: "clients: 5\n", want: []string{"clients"}},
		{name: "duplicate client", extra: "clients:\n  - id: rp\n    secret: 0123456789abcdef0123\n    redirect_uris: [\"https://a.example/cb\"]\n  - id: rp\n    secret: 0123456789abcdef0123\n    redirect_uris: [\"https://a.example/cb\"]\n", want: []string{"clients[1].id"}},
		{name: "short client secret", extra: "clients:\n  - id: rp\n    secret: short\n    redirect_uris: [\"https://a.example/cb\"]\n", want: []string{"clients[0].secret"}},
		{name: "bad environment value", env: []string{"ASNIDP_TOKENS_ACCESS_TOKEN=forever"}, want: []string{"tokens.access_token"}},
		{name: "unknown environment variable", env: []string{"ASNIDP_TOKENS_ACCESTOKEN=10m"}, want: []string{"ASNIDP_TOKENS_ACCESTOKEN"}},
		{name: "invalid listen address", set: map[string]string{"listen": "8080"}, want: []string{"listen"}},
		{name: "YAML syntax", extra: "log:\n  level: [info\n", want: []string{"config.yaml", "line"}},
		{name: "every problem at once", extra: "tokens:\n  code: 1h\n  id_token: 0s\nmail:\n  driver: pigeon\n",
			want: []string{"tokens.code", "tokens.id_token", "mail.driver"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := minimalConfig(dir)
			for k, v := range tc.set {
				cfg[k] = v
			}
			if strings.Contains(tc.extra, "log:") {
				delete(cfg, "log")
			}
			wantRefusal(t, writeConfig(t, dir, cfg, tc.extra), tc.env, tc.want...)
		})
	}

	t.Run("missing config file", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "nowhere", "config.yaml")
		err := wantRefusal(t, missing, nil, missing)
		if !errors.Is(err, os.ErrNotExist) && !strings.Contains(err.Error(), "no such file") {
			t.Errorf("serve error = %q, want it to say the file does not exist", err)
		}
		// The file named by ASNIDP_CONFIG_FILE when --config is absent.
		var stderr bytes.Buffer
		err = run(t.Context(), []string{"serve"}, []string{config.EnvConfigFile + "=" + missing}, strings.NewReader(""), io.Discard, &stderr)
		if err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("serve with %s = %v, want an error naming %s", config.EnvConfigFile, err, missing)
		}
	})
}
