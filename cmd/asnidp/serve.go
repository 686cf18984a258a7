package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/asnidp/asnidp/admin"
	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/config"
	"github.com/asnidp/asnidp/internal/cookie"
	"github.com/asnidp/asnidp/internal/i18n"
	"github.com/asnidp/asnidp/internal/mail"
	"github.com/asnidp/asnidp/login"
	"github.com/asnidp/asnidp/op"
	"github.com/asnidp/asnidp/templates"
)

// shutdownGrace bounds a graceful stop after SIGTERM.
const shutdownGrace = 10 * time.Second

// backchannelInterval is how often the back-channel logout queue is
// looked at for retries and for notices queued by other processes; a
// session ended in this process has its notices sent at once.
var backchannelInterval = 2 * time.Second

func serveCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the OpenID Provider (migrates the database on start)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.loadConfig()
			if err != nil {
				return err
			}
			log := newLogger(e.stderr, cfg.Log)
			slog.SetDefault(log) // the libraries log through the default logger
			ln, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				return fmt.Errorf("listen: %w", err)
			}
			return serve(cmd.Context(), cfg, log, ln, time.Now)
		},
	}
}

// serve runs the OP on ln until ctx ends, then drains for up to
// shutdownGrace.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger, ln net.Listener, now func() time.Time) error {
	warnDevelopment(cfg, log)
	if _, err := staticClients(cfg.Clients); err != nil {
		ln.Close()
		return err
	}
	var adminLn net.Listener
	if cfg.Admin.Listen != "" {
		var err error
		if adminLn, err = net.Listen("tcp", cfg.Admin.Listen); err != nil {
			ln.Close()
			return fmt.Errorf("admin.listen: %w", err)
		}
	}
	closeAll := func() {
		ln.Close()
		if adminLn != nil {
			adminLn.Close()
		}
	}
	a, err := openApp(ctx, cfg, log, now)
	if err != nil {
		closeAll()
		return err
	}
	defer a.Close()
	if adminLn != nil {
		a.consoleAddr = adminLn.Addr().String()
	}
	if err := syncStaticClients(ctx, a); err != nil {
		closeAll()
		return err
	}
	if err := registerConsoleClient(ctx, a, consoleBaseURL(cfg.Issuer, a.consoleAddr)); err != nil {
		closeAll()
		return err
	}
	handler, err := a.handler()
	if err != nil {
		closeAll()
		return err
	}

	bg, stopBackground := context.WithCancel(ctx)
	defer stopBackground()
	go a.keys.Run(bg, time.Minute)
	go a.pruneLoop(bg)
	logouts := a.provider.LogoutSender(&http.Client{Timeout: 5 * time.Second, CheckRedirect: op.NoRedirects})
	a.store.OnLogoutQueued(logouts.Wake)
	go logouts.Run(bg, backchannelInterval)

	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("asnidp serving", "issuer", cfg.Issuer, "listen", ln.Addr().String(), "database", cfg.Database.Driver)
	var consoleSrv *http.Server
	if adminLn != nil {
		consoleSrv = &http.Server{
			Handler: a.consoleOnly, ReadHeaderTimeout: srv.ReadHeaderTimeout, ReadTimeout: 5 * time.Minute,
			WriteTimeout: 5 * time.Minute, IdleTimeout: srv.IdleTimeout, MaxHeaderBytes: srv.MaxHeaderBytes, ErrorLog: srv.ErrorLog,
		}
		go func() { errc <- consoleSrv.Serve(adminLn) }()
		log.Info("agency console serving on its own listener", "listen", a.consoleAddr, "url", consoleBaseURL(cfg.Issuer, a.consoleAddr)+"/admin/")
	}

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", shutdownGrace)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if consoleSrv != nil {
		if err := consoleSrv.Shutdown(shutdownCtx); err != nil {
			return fmt.Errorf("shutdown the console: %w", err)
		}
	}
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// handler composes the OP, the login pages, static files and probes.
func (a *app) handler() (http.Handler, error) {
	cfg := a.cfg
	jar := cookie.Jar{Secure: strings.HasPrefix(cfg.Issuer, "https://")}
	browsers := newBrowsers(cfg, a, jar)
	// The provider shows its refusals on the pages, which are built below
	// from the provider's callback URL; no request is served before both.
	var pages *login.Handler
	opCfg := opOptions(cfg, a, jar, browsers)
	opCfg.ShowError = func(w http.ResponseWriter, r *http.Request, e op.ErrorPage) {
		pages.ServeProtocolError(w, r, login.ProtocolError{Status: e.Status, Message: e.Reason,
			Code: e.Error, Description: e.Description, Back: e.Back, UILocales: e.UILocales})
	}
	provider, err := op.New(opCfg, a.store, a.keys, a.secrets)
	if err != nil {
		return nil, err
	}
	a.provider = provider
	catalog, err := i18n.New()
	if err != nil {
		return nil, err
	}
	proxies, err := trustedProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	mails, err := mail.NewRenderer(templates.FS, cfg.Login.IssuerName, cfg.Issuer)
	if err != nil {
		return nil, err
	}
	a.outbox = mail.NewOutbox(a.mail, mail.OutboxOptions{
		QueueSize:      cfg.Mail.QueueSize,
		Attempts:       cfg.Mail.Attempts,
		RetryDelay:     cfg.Mail.RetryDelay,
		AttemptTimeout: 2 * cfg.Mail.SMTP.Timeout,
		ProbeInterval:  cfg.Mail.ProbeInterval,
		Now:            a.now,
		Log:            a.log,
	})
	pages, err = login.New(loginOptions(cfg, jar, proxies), login.Deps{
		Store:       a.store,
		Hasher:      a.hasher,
		MAC:         a.secrets,
		Catalog:     catalog,
		Browsers:    browsers,
		MFA:         newAuthenticators(cfg, a),
		CallbackURL: provider.CallbackURL,
		Mail:        a.mail,
		Mails:       mails,
		Outbox:      a.outbox,
		Audit:       a.audit,
		Now:         a.now,
		Logger:      a.log,
	})
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.Handle(login.Path, pages)
	static := http.StripPrefix("/static/", cacheFor(time.Hour, http.FileServerFS(templates.Static())))
	mux.Handle("GET /static/", static)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", a.ready)
	mux.Handle("GET /metrics", a.monitor.Handler())
	mux.Handle("/", provider.Handler())
	main := originHeaders(jar.Secure, audit.Middleware(proxies, mux))

	console, err := newConsole(a, jar, consoleBaseURL(cfg.Issuer, a.consoleAddr), mails, catalog, main)
	if err != nil {
		return nil, err
	}
	if a.consoleAddr == "" {
		mux.Handle(admin.Path, console)
		mux.Handle(admin.Path+"/", console)
		return main, nil
	}
	// On its own listener the console is all there is, and the main
	// listener does not serve it.
	own := http.NewServeMux()
	own.Handle(admin.Path+"/", console)
	own.Handle("GET /static/", static)
	own.Handle("GET /{$}", http.RedirectHandler(admin.Path+"/", http.StatusSeeOther))
	a.consoleOnly = originHeaders(jar.Secure, audit.Middleware(proxies, own))
	return main, nil
}

// originHeaders sets what holds for every response of the origin, the
// protocol endpoints' JSON and redirects included: no MIME sniffing and,
// with an https issuer, HSTS (E6). The login pages add their own on top.
func originHeaders(hsts bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if hsts {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

func cacheFor(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(d.Seconds())))
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// ready reports whether the database answers.
func (a *app) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.store.Ping(ctx); err != nil {
		a.log.Warn("readiness: database unreachable", "err", err)
		http.Error(w, "database unreachable", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

// pruneLoop deletes expired rows so the database stays flat on long runs.
func (a *app) pruneLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.Database.PruneInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := a.store.Prune(ctx, a.now())
			if err == nil {
				var resets int64
				resets, err = a.store.PruneResets(ctx, a.now())
				n += resets
			}
			if err != nil && !errors.Is(err, context.Canceled) {
				a.log.Error("prune expired rows", "err", err)
			} else if n > 0 {
				a.log.Info("pruned expired rows", "rows", n)
			}
		}
	}
}

func trustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		addr, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted_proxies[%d]: %q is not an IP or CIDR", i, s)
		}
		out = append(out, netip.PrefixFrom(addr, addr.BitLen()))
	}
	return out, nil
}

// warnDevelopment says loudly what a first run relies on that production
// must not.
func warnDevelopment(cfg config.Config, log *slog.Logger) {
	if cfg.MasterKey == config.DevMasterKey {
		log.Warn("DEVELOPMENT master key in use: anyone can decrypt this database; set ASNIDP_MASTER_KEY (openssl rand -base64 32) before real use")
	}
	if cfg.Mail.Driver == "log" {
		log.Warn("mail.driver is log: mails, codes included, are written to this log; for development only")
	}
	if !cfg.Captcha.Enabled {
		log.Warn("captcha.enabled is false: the reset page and repeated failed logins are not protected by a captcha; only for tests or behind other bot protection")
	}
}
