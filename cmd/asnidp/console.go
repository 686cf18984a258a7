package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/asnidp/asnidp/admin"
	"github.com/asnidp/asnidp/internal/access"
	"github.com/asnidp/asnidp/internal/alert"
	"github.com/asnidp/asnidp/internal/confirm"
	"github.com/asnidp/asnidp/internal/cookie"
	"github.com/asnidp/asnidp/internal/i18n"
	"github.com/asnidp/asnidp/internal/mail"
	"github.com/asnidp/asnidp/internal/useradmin"
	"github.com/asnidp/asnidp/op"
	"github.com/asnidp/asnidp/storage"
)

// consoleBaseURL is where operators reach the console: the issuer when it
// is served under /admin on the main listener, else admin.listen's
// address (adminAddr, the bound one) with the issuer's scheme.
func consoleBaseURL(issuer, adminAddr string) string {
	if adminAddr == "" {
		return strings.TrimRight(issuer, "/")
	}
	scheme := "http"
	if strings.HasPrefix(issuer, "https://") {
		scheme = "https"
	}
	return scheme + "://" + adminAddr
}

// consoleSecret is the console client's secret, derived from the master
// key: every process of one deployment agrees on it, and it is never
// written anywhere but as the client's hash.
func (a *app) consoleSecret() string {
	k := a.sealer.DeriveKey("console-client")
	return base64.RawURLEncoding.EncodeToString(k[:])
}

// registerConsoleClient registers the console at the OP as a confidential
// client with PKCE, redirecting to the console's callback only.
func registerConsoleClient(ctx context.Context, a *app, base string) error {
	c := &storage.Client{
		ID:                     admin.ClientID,
		Name:                   "Konsol Instansi",
		RedirectURIs:           []string{admin.RedirectURI(base)},
		PostLogoutRedirectURIs: []string{admin.HomeURL(base)},
		GrantTypes:             []string{op.GrantAuthorizationCode},
		Static:                 true,
	}
	if err := registerClient(ctx, a, c, a.consoleSecret(), true); err != nil {
		return fmt.Errorf("register the console's client: %w", err)
	}
	return nil
}

// accountAdmin is the account administration acting as actor, with the
// mail of an authenticator reset, for the CLI and the console alike.
func accountAdmin(a *app, mails *mail.Renderer, catalog *i18n.Catalog, actor string) *useradmin.Admin {
	return &useradmin.Admin{
		Store: a.store, Audit: a.audit, Actor: actor,
		Mail: a.mail, Mails: mails, Lang: catalog.Localizer(), Now: a.now,
		Links: &alert.Links{Store: a.store, MAC: a.secrets, Issuer: a.cfg.Issuer, Now: a.now},
	}
}

// newConsole builds the agency console; op is the OP's own handler, which
// the console's relying party reaches in-process.
func newConsole(a *app, jar cookie.Jar, base string, mails *mail.Renderer, catalog *i18n.Catalog, opHandler http.Handler) (*admin.Handler, error) {
	cfg := a.cfg
	proxies, err := trustedProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	issuer, err := url.Parse(cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	return admin.New(admin.Options{
		Issuer: cfg.Issuer, BaseURL: base, Cookies: jar, TrustedProxies: proxies,
		ClientSecret: a.consoleSecret(), StepUpACR: cfg.Login.StepUpACR, StepUp: cfg.Admin.StepUp,
		MaxUpload: int64(cfg.Admin.MaxUpload), ImportWait: importWait(cfg.Admin.ImportWait),
	}, admin.Deps{
		Store:   a.store,
		Guard:   access.New(a.store, a.audit),
		Confirm: confirm.New(a.sealer.DeriveKey("console-confirm"), a.store, confirm.Options{Now: a.now}),
		Accounts: func(actor string) *useradmin.Admin {
			return accountAdmin(a, mails, catalog, actor)
		},
		Audit:      a.audit,
		Sealer:     a.sealer,
		Catalog:    catalog,
		HTTPClient: &http.Client{Transport: inProcess{host: issuer.Host, handler: opHandler}, CheckRedirect: op.NoRedirects},
		Now:        a.now,
		Logger:     a.log,
	})
}

// inProcess serves the console's requests to the OP (discovery, keys,
// token) with the OP's handler in this process: no network hop, and the
// console works on a listener of its own that the issuer's address may
// not be reachable from. Requests to any other host are refused.
type inProcess struct {
	host    string
	handler http.Handler
}

func (t inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != t.host {
		return nil, errors.New("the console reaches its own OP only")
	}
	in := r.Clone(r.Context())
	in.RemoteAddr = "127.0.0.1:0"
	in.RequestURI = r.URL.RequestURI()
	in.Host = r.URL.Host
	if in.Body == nil {
		in.Body = http.NoBody
	}
	w := &recorder{header: http.Header{}, status: http.StatusOK}
	t.handler.ServeHTTP(w, in)
	return &http.Response{
		Status: fmt.Sprintf("%d %s", w.status, http.StatusText(w.status)), StatusCode: w.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header, Body: io.NopCloser(&w.body), ContentLength: int64(w.body.Len()), Request: r,
	}, nil
}

// recorder is the response of an in-process request.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(status int) {
	if !w.wrote {
		w.status, w.wrote = status, true
	}
}

func (w *recorder) Write(b []byte) (int, error) {
	w.wrote = true
	return w.body.Write(b)
}

// importWait is admin.import_wait for the console, where 0 means the
// default and a negative wait shows the progress at once.
func importWait(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
