package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// Development secrets of the two demo clients. They are public (they are
// also in the checked-in config.yaml) and only fit a demo on localhost.
const (
	devProfilSecret  = "profil-DEVELOPMENT-secret-not-for-production"
	devRiwayatSecret = "riwayat-DEVELOPMENT-secret-not-for-production"
)

// Kinds of app this binary serves.
const (
	kindProfil  = "profil"
	kindRiwayat = "riwayat"
)

// Config is the whole demo: one issuer, two apps.
type Config struct {
	// Issuer is asnidp's issuer URL; discovery is fetched from it.
	Issuer string
	// CookieSecret derives each app's cookie keys.
	CookieSecret []byte
	// RequireACR, when set, is the acr every ID token must carry.
	RequireACR string
	Apps       []AppConfig
}

// AppConfig is one relying party.
type AppConfig struct {
	Kind   string // kindProfil or kindRiwayat
	ID     string // client_id, also the prefix of the app's cookies
	Name   string
	Listen string
	// URL is the app's public base URL without a trailing slash; the
	// redirect URI is URL+"/callback", the post-logout URI URL+"/".
	URL    string
	Secret string
	// Other is the sibling app, linked from every page to show SSO.
	OtherName string
	OtherURL  string
}

// RedirectURI is where asnidp sends the authorization response.
func (a AppConfig) RedirectURI() string { return a.URL + "/callback" }

// PostLogoutURI is where asnidp sends the browser after logout.
func (a AppConfig) PostLogoutURI() string { return a.URL + "/" }

// cookieKeys derives the app's securecookie hash (HMAC) and block (AES-256)
// keys from the shared secret, so that one app's cookies mean nothing to
// the other.
func (c Config) cookieKeys(appID string) (hash, block []byte) {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, c.CookieSecret)
		m.Write([]byte(appID + "/" + label))
		return m.Sum(nil)
	}
	return derive("hash"), derive("block")
}

var errHelp = errors.New("help requested")

// parseConfig reads flags, each defaulting to an environment variable and
// then to a value that fits `go run ./cmd/asnidp serve` with the
// checked-in config.yaml.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	env := func(key, fallback string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return fallback
	}
	fs := flag.NewFlagSet("demo-rp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	issuer := fs.String("issuer", env("DEMO_RP_ISSUER", "http://localhost:8080"), "asnidp issuer URL (env DEMO_RP_ISSUER)")
	cookieSecret := fs.String("cookie-secret", env("DEMO_RP_COOKIE_SECRET", ""), "base64 secret (>= 32 bytes) for the cookie keys; random at start when empty (env DEMO_RP_COOKIE_SECRET)")
	acr := fs.String("require-acr", env("DEMO_RP_REQUIRE_ACR", "urn:asn:loa:mfa"), "acr every ID token must carry; empty accepts any (env DEMO_RP_REQUIRE_ACR)")
	profil := AppConfig{Kind: kindProfil, ID: "profil", Name: "Profil Pegawai"}
	riwayat := AppConfig{Kind: kindRiwayat, ID: "riwayat", Name: "Riwayat Jabatan"}
	for _, a := range []struct {
		app             *AppConfig
		port, secret, e string
	}{
		{&profil, "8081", devProfilSecret, "PROFIL"},
		{&riwayat, "8082", devRiwayatSecret, "RIWAYAT"},
	} {
		p := a.app.ID
		fs.StringVar(&a.app.ID, p+"-client-id", env("DEMO_RP_"+a.e+"_CLIENT_ID", a.app.ID), "client_id of "+a.app.Name+" (env DEMO_RP_"+a.e+"_CLIENT_ID)")
		fs.StringVar(&a.app.Listen, p+"-listen", env("DEMO_RP_"+a.e+"_LISTEN", "127.0.0.1:"+a.port), "listen address of "+a.app.Name+" (env DEMO_RP_"+a.e+"_LISTEN)")
		fs.StringVar(&a.app.URL, p+"-url", env("DEMO_RP_"+a.e+"_URL", "http://localhost:"+a.port), "public base URL of "+a.app.Name+" (env DEMO_RP_"+a.e+"_URL)")
		fs.StringVar(&a.app.Secret, p+"-secret", env("DEMO_RP_"+a.e+"_SECRET", a.secret), "client secret of "+a.app.Name+" (env DEMO_RP_"+a.e+"_SECRET)")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, errHelp
		}
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	var errs []error
	cfg := Config{Issuer: strings.TrimRight(*issuer, "/"), RequireACR: *acr}
	if err := checkBaseURL(cfg.Issuer); err != nil {
		errs = append(errs, fmt.Errorf("--issuer: %w", err))
	}
	if *cookieSecret == "" {
		cfg.CookieSecret = make([]byte, 32)
		rand.Read(cfg.CookieSecret)
	} else {
		b, err := base64.StdEncoding.DecodeString(*cookieSecret)
		if err != nil || len(b) < 32 {
			errs = append(errs, errors.New("--cookie-secret: must be base64 of at least 32 bytes (openssl rand -base64 32)"))
		}
		cfg.CookieSecret = b
	}
	for _, a := range []*AppConfig{&profil, &riwayat} {
		a.URL = strings.TrimRight(a.URL, "/")
		if err := checkBaseURL(a.URL); err != nil {
			errs = append(errs, fmt.Errorf("--%s-url: %w", a.Kind, err))
		}
		if a.ID == "" {
			errs = append(errs, fmt.Errorf("--%s-client-id: must be set", a.Kind))
		}
		if a.Secret == "" {
			errs = append(errs, fmt.Errorf("--%s-secret: must be set", a.Kind))
		}
	}
	if profil.ID == riwayat.ID {
		errs = append(errs, errors.New("--profil-client-id and --riwayat-client-id must differ"))
	}
	profil.OtherName, profil.OtherURL = riwayat.Name, riwayat.URL+"/"
	riwayat.OtherName, riwayat.OtherURL = profil.Name, profil.URL+"/"
	cfg.Apps = []AppConfig{profil, riwayat}
	return cfg, errors.Join(errs...)
}

// checkBaseURL accepts an absolute http(s) URL without query or fragment.
func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}
