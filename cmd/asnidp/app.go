package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/config"
	"github.com/asnidp/asnidp/internal/mail"
	"github.com/asnidp/asnidp/internal/monitor"
	"github.com/asnidp/asnidp/internal/password"
	"github.com/asnidp/asnidp/internal/seal"
	"github.com/asnidp/asnidp/internal/secret"
	"github.com/asnidp/asnidp/keys"
	"github.com/asnidp/asnidp/op"
	"github.com/asnidp/asnidp/storage/sqlstore"
)

// app is the wiring every command shares: configuration, database,
// sealing, hashing and keys.
type app struct {
	cfg     config.Config
	log     *slog.Logger
	now     func() time.Time
	store   *sqlstore.Store
	sealer  *seal.Sealer
	secrets *secret.MAC
	hasher  *password.Hasher
	keys    *keys.Manager
	mail    mail.Sender
	// outbox sends the pages' mail in the background; set by handler.
	outbox *mail.Outbox
	// audit records security events to the database and the log.
	audit   *audit.Recorder
	monitor *monitor.Monitor
	// provider is set by handler; background work needs it.
	provider *op.Provider
	// consoleAddr is admin.listen's bound address when the console has a
	// listener of its own; consoleOnly, set by handler, serves it there.
	consoleAddr string
	consoleOnly http.Handler
}

// loadConfig reads the config file and environment; every problem is in
// the one error.
func (e *env) loadConfig() (config.Config, error) {
	return config.Load(e.config, e.environ)
}

func newLogger(w io.Writer, c config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openApp connects to the database (waiting for it up to
// database.connect_timeout), migrates it, and loads the keys.
func openApp(ctx context.Context, cfg config.Config, log *slog.Logger, now func() time.Time) (*app, error) {
	masterKey, err := masterKey(cfg)
	if err != nil {
		return nil, err
	}
	sealer, err := seal.New(masterKey)
	if err != nil {
		return nil, fmt.Errorf("master_key: %w", err)
	}
	store, err := connect(ctx, cfg.Database, log, now)
	if err != nil {
		return nil, err
	}
	if err := store.Migrate(ctx); err != nil {
		store.Close()
		return nil, fmt.Errorf("migrate database: %w", err)
	}
	a := &app{
		cfg:     cfg,
		log:     log,
		now:     now,
		store:   store,
		sealer:  sealer,
		secrets: secret.NewMAC(sealer.DeriveKey("secret-hash")),
		hasher: password.NewHasher(password.Params{
			Memory:       cfg.Password.MemoryKiB,
			Time:         cfg.Password.Iterations,
			Threads:      1,
			Workers:      cfg.Password.Workers,
			QueueTimeout: cfg.Password.QueueTimeout,
		}),
		keys: keys.NewManager(store, sealer, keys.Options{
			RotationPeriod:  cfg.Keys.RotationPeriod,
			PublishLead:     cfg.Keys.PublishLead,
			Retention:       cfg.Keys.Retention,
			RefreshInterval: cfg.Keys.RefreshInterval,
			Now:             now,
		}),
	}
	if a.mail, err = mailSender(cfg, log); err != nil {
		store.Close()
		return nil, err
	}
	a.monitor = monitor.New(store, monitor.DefaultRules, log, now)
	a.audit = audit.New(store, log, now).WithObserver(a.monitor)
	if err := a.keys.Init(ctx); err != nil {
		store.Close()
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	return a, nil
}

func (a *app) Close() error {
	if a.outbox != nil {
		a.outbox.Close()
	}
	return a.store.Close()
}

// mailSender is the configured mail driver.
func mailSender(cfg config.Config, log *slog.Logger) (mail.Sender, error) {
	if cfg.Mail.Driver != "smtp" {
		return mail.LogSender{Log: log}, nil
	}
	s := cfg.Mail.SMTP
	sender, err := mail.NewSMTPSender(mail.SMTPConfig{Host: s.Host, Port: s.Port, Username: s.Username,
		Password: s.Password, TLS: s.TLS, From: cfg.Mail.From, Timeout: s.Timeout})
	if err != nil {
		return nil, fmt.Errorf("mail.smtp: %w", err)
	}
	return sender, nil
}

// masterKey decodes master_key; the development key of the checked-in
// config (allowed only with a loopback http issuer) maps to a fixed value.
func masterKey(cfg config.Config) ([]byte, error) {
	if cfg.MasterKey == config.DevMasterKey {
		return []byte(config.DevMasterKey)[:32], nil
	}
	k, err := seal.ParseMasterKey(cfg.MasterKey)
	if err != nil {
		return nil, fmt.Errorf("master_key: %w", err)
	}
	return k, nil
}

// connect opens the database, retrying with a growing pause until
// connectTimeout: the database may start after us.
func connect(ctx context.Context, db config.Database, log *slog.Logger, now func() time.Time) (*sqlstore.Store, error) {
	deadline := time.Now().Add(db.ConnectTimeout)
	pause := 250 * time.Millisecond
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		store, err := sqlstore.Open(attemptCtx, sqlstore.Options{
			Driver:          db.Driver,
			DSN:             db.DSN,
			MaxOpenConns:    db.MaxOpenConns,
			MaxIdleConns:    db.MaxIdleConns,
			ConnMaxLifetime: db.ConnMaxLifetime,
			// The CLI changes clients in its own process; a serving
			// process sees the change within this bound.
			ClientCacheBound: db.ClientCache,
			Now:              now,
		})
		cancel()
		if err == nil {
			return store, nil
		}
		if time.Now().Add(pause).After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("database %s unreachable after %s: %w", db.Driver, db.ConnectTimeout, errors.Join(err, ctx.Err()))
		}
		log.Warn("database not reachable yet; retrying", "driver", db.Driver, "in", pause, "err", err)
		select {
		case <-time.After(pause):
		case <-ctx.Done():
		}
		pause = min(pause*2, 5*time.Second)
	}
}
