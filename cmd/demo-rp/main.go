// Command demo-rp runs two small government services that sign employees in
// through asnidp, to show what an agency gets from it: "Profil Pegawai"
// (the signed-in employee's data) and "Riwayat Jabatan" (a job history
// from sample data). Each is its own OIDC client on its own port, built on
// zitadel/oidc's rp package: authorization code flow with PKCE S256, state
// and nonce, ID token verification. Signing in to one and then opening the
// other gets in without any prompt (single sign-on); "Keluar" ends the
// session at asnidp (RP-initiated logout), and a logout token from asnidp
// ends the other service's session (back-channel logout).
//
// Sessions are kept in memory: this is a demo, and a restart signs
// everyone out.
//
//	go run ./cmd/demo-rp      # Profil on http://localhost:8081, Riwayat on :8082
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo-rp:", err)
		os.Exit(1)
	}
}

// run parses the flags, listens on both ports and serves until ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, errHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	var listeners []net.Listener
	for _, a := range cfg.Apps {
		ln, err := net.Listen("tcp", a.Listen)
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return fmt.Errorf("listen for %s: %w", a.Name, err)
		}
		listeners = append(listeners, ln)
		fmt.Fprintf(stdout, "%s: %s (listening on %s)\n", a.Name, a.URL, ln.Addr())
	}
	return serve(ctx, cfg, log, listeners, time.Now)
}

// serve runs one HTTP server per app, on listeners[i] for cfg.Apps[i],
// until ctx ends.
func serve(ctx context.Context, cfg Config, log *slog.Logger, listeners []net.Listener, now func() time.Time) error {
	var servers []*http.Server
	errc := make(chan error, len(listeners))
	for i, ac := range cfg.Apps {
		a, err := newApp(cfg, ac, log.With("app", ac.ID), now)
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return err
		}
		srv := &http.Server{
			Handler:           a,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		servers = append(servers, srv)
		go func(ln net.Listener) { errc <- srv.Serve(ln) }(listeners[i])
	}
	var err error
	select {
	case err = <-errc:
		err = fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		srv.Shutdown(shutdownCtx)
	}
	return err
}
