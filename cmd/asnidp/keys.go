package main

import (
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/keys"
	"github.com/asnidp/asnidp/storage"
)

func keysCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "List and rotate token signing keys"}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List signing keys (next, current, retired)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.withApp(cmd.Context(), func(a *app) error {
				list, err := a.keys.List(cmd.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "KID\tALG\tSTATUS\tCREATED\tSIGNS FROM")
				for _, k := range list {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, k.Status,
						k.CreatedAt.UTC().Format(time.RFC3339), k.ActiveAt.UTC().Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}, rotateCommand(e))
	return cmd
}

func rotateCommand(e *env) *cobra.Command {
	var alg string
	cmd := &cobra.Command{
		Use:   "rotate [--alg RS256|ES256]",
		Short: "Add the next signing key of one algorithm: published in JWKS now, signing after keys.publish_lead",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(keys.Algorithms, jose.SignatureAlgorithm(alg)) {
				return fmt.Errorf("--alg %q: want one of %v", alg, keys.Algorithms)
			}
			return e.withApp(cmd.Context(), func(a *app) error {
				k, err := a.keys.Rotate(cmd.Context(), jose.SignatureAlgorithm(alg))
				if err != nil {
					return err
				}
				e.recordAdmin(cmd.Context(), a, storage.AuditEvent{Type: audit.KeyRotated, Detail: "kid=" + k.ID + " alg=" + k.Algorithm})
				fmt.Fprintf(e.stdout, "key %s (%s) published; it signs from %s\n", k.ID, k.Algorithm, k.ActiveAt.UTC().Format(time.RFC3339))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&alg, "alg", string(jose.RS256), "the key series to rotate: RS256 or ES256")
	return cmd
}
