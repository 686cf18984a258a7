package main

import (
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/asnidp/asnidp/internal/config"
	"github.com/asnidp/asnidp/internal/nip"
)

// The demo's defaults must match the clients of the checked-in
// config.yaml, or a newcomer's first run fails at the callback.
func TestDefaults_MatchCheckedInConfig(t *testing.T) {
	opCfg, err := config.Load("../../config.yaml", nil)
	if err != nil {
		t.Fatalf("load config.yaml: %v", err)
	}
	cfg, err := parseConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatalf("parseConfig(defaults): %v", err)
	}
	if cfg.Issuer != opCfg.Issuer {
		t.Errorf("demo issuer %q, config.yaml issuer %q", cfg.Issuer, opCfg.Issuer)
	}
	for _, a := range cfg.Apps {
		i := slices.IndexFunc(opCfg.Clients, func(c config.Client) bool { return c.ID == a.ID })
		if i < 0 {
			t.Errorf("config.yaml has no client %q", a.ID)
			continue
		}
		c := opCfg.Clients[i]
		if c.Secret != a.Secret || c.Public {
			t.Errorf("client %s: config.yaml secret/public do not match the demo's confidential default", a.ID)
		}
		if !strings.Contains(c.Secret, "DEVELOPMENT") {
			t.Errorf("client %s: the secret is not marked as a development value", a.ID)
		}
		if !slices.Equal(c.RedirectURIs, []string{a.RedirectURI()}) {
			t.Errorf("client %s: redirect_uris %v, want [%s]", a.ID, c.RedirectURIs, a.RedirectURI())
		}
		if !slices.Equal(c.PostLogoutRedirectURIs, []string{a.PostLogoutURI()}) {
			t.Errorf("client %s: post_logout_redirect_uris %v, want [%s]", a.ID, c.PostLogoutRedirectURIs, a.PostLogoutURI())
		}
		if want := a.URL + "/backchannel-logout"; c.BackchannelLogoutURI != want {
			t.Errorf("client %s: backchannel_logout_uri %q, want %q", a.ID, c.BackchannelLogoutURI, want)
		}
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{
			name: "defaults",
			check: func(t *testing.T, c Config) {
				if got := []string{c.Apps[0].Listen, c.Apps[0].URL, c.Apps[1].Listen, c.Apps[1].URL}; !slices.Equal(got, []string{"127.0.0.1:8081", "http://localhost:8081", "127.0.0.1:8082", "http://localhost:8082"}) {
					t.Errorf("listen/url = %v", got)
				}
				if len(c.CookieSecret) != 32 || c.RequireACR != "urn:asn:loa:mfa" {
					t.Errorf("cookie secret %d bytes, acr %q; want 32 random bytes and urn:asn:loa:mfa", len(c.CookieSecret), c.RequireACR)
				}
				if c.Apps[0].OtherURL != "http://localhost:8082/" || c.Apps[1].OtherURL != "http://localhost:8081/" {
					t.Errorf("other URLs %q, %q", c.Apps[0].OtherURL, c.Apps[1].OtherURL)
				}
			},
		},
		{
			name: "environment, then flags win",
			args: []string{"--profil-url", "https://profil.example.go.id/"},
			env:  map[string]string{"DEMO_RP_ISSUER": "https://sso.example.go.id", "DEMO_RP_PROFIL_URL": "http://ignored", "DEMO_RP_RIWAYAT_SECRET": "from-env-secret-123"},
			check: func(t *testing.T, c Config) {
				if c.Issuer != "https://sso.example.go.id" || c.Apps[0].URL != "https://profil.example.go.id" || c.Apps[1].Secret != "from-env-secret-123" {
					t.Errorf("issuer %q, profil url %q, riwayat secret from env: %v", c.Issuer, c.Apps[0].URL, c.Apps[1].Secret == "from-env-secret-123")
				}
				if c.Apps[0].RedirectURI() != "https://profil.example.go.id/callback" {
					t.Errorf("redirect URI %q", c.Apps[0].RedirectURI())
				}
			},
		},
		{name: "bad issuer", args: []string{"--issuer", "localhost:8080"}, wantErr: "--issuer"},
		{name: "short cookie secret", args: []string{"--cookie-secret", "c2hvcnQ="}, wantErr: "--cookie-secret"},
		{name: "same client ids", args: []string{"--riwayat-client-id", "profil"}, wantErr: "must differ"},
		{name: "empty secret", args: []string{"--profil-secret", ""}, wantErr: "--profil-secret"},
		{name: "stray argument", args: []string{"serve"}, wantErr: "unexpected argument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseConfig(%v) error = %v, want one naming %q", tc.args, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseConfig(%v): %v", tc.args, err)
			}
			tc.check(t, c)
		})
	}
}

func TestSampleHistory(t *testing.T) {
	h, err := loadHistory()
	if err != nil {
		t.Fatalf("loadHistory: %v", err)
	}
	if len(h) < 3 {
		t.Errorf("sample data has %d NIPs, want a few", len(h))
	}
	for n, jobs := range h {
		if got, err := nip.Normalize(n); err != nil || got != n {
			t.Errorf("sample NIP %q: Normalize = %q, %v; want itself", n, got, err)
		}
		if len(jobs) == 0 {
			t.Errorf("NIP %s has an empty history", n)
		}
		for i := 1; i < len(jobs); i++ {
			if jobs[i].TMT.After(jobs[i-1].TMT) {
				t.Errorf("NIP %s: history not newest first at %d", n, i)
			}
		}
		for _, j := range jobs {
			if j.Jabatan == "" || j.Instansi == "" || j.SK == "" || j.TMT.IsZero() {
				t.Errorf("NIP %s: incomplete entry %+v", n, j)
			}
		}
	}
}
