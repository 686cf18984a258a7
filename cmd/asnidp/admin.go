package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/asnidp/asnidp/internal/config"
)

type configClient = config.Client

// withApp runs fn with the database and keys of the configured instance.
// Operator commands log warnings only, to stderr.
func (e *env) withApp(ctx context.Context, fn func(a *app) error) error {
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	cfg.Log.Level = "warn"
	a, err := openApp(ctx, cfg, newLogger(e.stderr, cfg.Log), time.Now)
	if err != nil {
		return err
	}
	defer a.Close()
	return fn(a)
}

func migrateCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply database migrations and exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.loadConfig()
			if err != nil {
				return err
			}
			store, err := connect(cmd.Context(), cfg.Database, newLogger(e.stderr, config.Log{Level: "warn", Format: cfg.Log.Format}), time.Now)
			if err != nil {
				return err
			}
			defer store.Close()
			if err := store.Migrate(cmd.Context()); err != nil {
				return fmt.Errorf("migrate database: %w", err)
			}
			fmt.Fprintln(e.stdout, "database migrated")
			return nil
		},
	}
}
