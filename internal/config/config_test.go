package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoad_DefaultsFileAndEnvironment(t *testing.T) {
	path := writeConfig(t, "issuer: https://sso.example.go.id\nmaster_key: x\ndatabase:\n  dsn: /var/lib/asnidp.db\n")
	c, err := Load(path, []string{"ASNIDP_DATABASE_DSN=/srv/asnidp.db", "ASNIDP_SESSION_IDLE=15m",
		"ASNIDP_TRUSTED_PROXIES=10.0.0.0/8, 192.168.1.1", "ASNIDP_TEST_POSTGRES_DSN=ignored", "PATH=/bin"})
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	if c.Issuer != "https://sso.example.go.id" || c.Database.DSN != "/srv/asnidp.db" || c.Session.Idle != 15*time.Minute {
		t.Errorf("Load: issuer %q dsn %q idle %v; want the file's issuer and the environment's dsn and idle", c.Issuer, c.Database.DSN, c.Session.Idle)
	}
	if len(c.TrustedProxies) != 2 || c.TrustedProxies[1] != "192.168.1.1" {
		t.Errorf("trusted_proxies = %q, want two entries from the comma list", c.TrustedProxies)
	}
	if c.Password.MinLength != 12 || c.Tokens.Code != time.Minute {
		t.Errorf("defaults lost: min_length %d, code %v", c.Password.MinLength, c.Tokens.Code)
	}
}

// Every problem is reported at once, each starting with its key.
func TestLoad_ReportsEveryBadKey(t *testing.T) {
	path := writeConfig(t, `issuer: http://sso.example.go.id
master_key: ""
database:
  driver: mysql
  max_open_conns: many
session:
  idle: 13h
typo_key: 1
`)
	_, err := Load(path, []string{"ASNIDP_NOT_A_KEY=1"})
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Load = %v, want *Error", err)
	}
	for _, want := range []string{"issuer:", "master_key:", "database.driver:", "max_open_conns", "session.idle:", "typo_key", "ASNIDP_NOT_A_KEY"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q:\n%v", want, err)
		}
	}
}

// A misspelt key, at any depth, is named with the key that was meant; a
// duration that does not parse is quoted once, without the range check's
// misleading "got 0s".
func TestLoad_MisspeltKeysAndDurations(t *testing.T) {
	path := writeConfig(t, `isuer: https://sso.example.go.id
master_key: x
tokens:
  code: 10 minutes
  acces_token: 5m
clients:
  - id: rp
    secret: 0123456789abcdef0123
    redirect_uri: ["https://rp.example.go.id/cb"]
colour: blue
`)
	_, err := Load(path, nil)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Load = %v, want *Error", err)
	}
	for _, want := range []string{
		"unknown key `isuer` (did you mean `issuer`?)",
		"unknown key `tokens.acces_token` (did you mean `tokens.access_token`?)",
		"unknown key `clients[0].redirect_uri` (did you mean `clients[0].redirect_uris`?)",
		"unknown key `colour`",
		`tokens.code: "10 minutes" is not a duration (write it like 90s, 10m or 1h30m)`,
	} {
		if !slices.Contains(ce.Problems, want) {
			t.Errorf("problems lack %q:\n%s", want, strings.Join(ce.Problems, "\n"))
		}
	}
	all := strings.Join(ce.Problems, "\n")
	for _, noise := range []string{"invalid keys", "got 0s", "colour` (did you mean", "unknown unit"} {
		if strings.Contains(all, noise) {
			t.Errorf("problems contain %q:\n%s", noise, all)
		}
	}
	if n := strings.Count(all, "10 minutes"); n != 1 {
		t.Errorf("the bad duration is quoted %d times, want once:\n%s", n, all)
	}
}

func TestLoad_DevelopmentKeyOnlyOnLoopback(t *testing.T) {
	for _, tc := range []struct {
		issuer string
		ok     bool
	}{
		{"http://localhost:8080", true},
		{"http://127.0.0.1:9000", true},
		{"https://sso.example.go.id", false},
	} {
		path := writeConfig(t, "issuer: "+tc.issuer+"\nmaster_key: "+DevMasterKey+"\n")
		_, err := Load(path, nil)
		if (err == nil) != tc.ok {
			t.Errorf("issuer %s with the development key: err = %v, want ok=%v", tc.issuer, err, tc.ok)
		}
	}
}

func TestLoad_MissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), nil)
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("Load(missing) = %v, want an error naming the file", err)
	}
}

// The step-up level must exist and differ from the default one: a client
// asking for it would otherwise get the default silently.
func TestLoad_StepUpACR(t *testing.T) {
	base := "issuer: https://sso.example.go.id\nmaster_key: x\ndatabase:\n  dsn: /var/lib/asnidp.db\nlogin:\n  acr: urn:asn:loa:mfa\n"
	for _, tc := range []struct{ name, value, want string }{
		{"empty", `""`, "login.step_up_acr: must be set"},
		{"same as acr", "urn:asn:loa:mfa", "login.step_up_acr: must differ from login.acr"},
	} {
		_, err := Load(writeConfig(t, base+"  step_up_acr: "+tc.value+"\n"), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Load = %v, want %q", tc.name, err, tc.want)
		}
	}
	c, err := Load(writeConfig(t, base), nil)
	if err != nil || c.Login.StepUpACR != "urn:asn:loa:mfa-fresh" {
		t.Errorf("default: Load = %v, step_up_acr %q; want urn:asn:loa:mfa-fresh", err, c.Login.StepUpACR)
	}
}
