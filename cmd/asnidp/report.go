package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/asnidp/asnidp/internal/provision"
	"github.com/asnidp/asnidp/storage"
)

func reportCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "report", Short: "Reports for operators"}
	cmd.AddCommand(reportActivationCommand(e))
	return cmd
}

func reportActivationCommand(e *env) *cobra.Command {
	var (
		by, format, instansi string
		pending              bool
	)
	cmd := &cobra.Command{
		Use:   "activation [--by instansi|unit_kerja] [--format table|csv|json] [--pending]",
		Short: "Accounts per state (provisioned, password_set, active, disabled) and the activation rate",
		Long: `Count accounts per state, overall or per agency (--by instansi) or work unit (--by unit_kerja).
The activation rate is the share of accounts not disabled that are active (password set and
authenticator bound). --pending lists instead the NIPs not yet active.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			group, err := provision.ParseGrouping(by)
			if err != nil {
				return fmt.Errorf("--by: %w", err)
			}
			out, err := provision.ParseReportFormat(format)
			if err != nil {
				return fmt.Errorf("--format: %w", err)
			}
			return e.withApp(cmd.Context(), func(a *app) error {
				if pending {
					_, err := provision.WritePending(cmd.Context(), a.store, instansi, e.stdout, out)
					return err
				}
				r, err := provision.ActivationCounts(cmd.Context(), a.store, storage.UserFilter{Instansi: instansi}, group)
				if err != nil {
					return err
				}
				return r.Write(e.stdout, out)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&by, "by", "", "group by instansi or unit_kerja")
	f.StringVar(&format, "format", "table", "table, csv or json")
	f.StringVar(&instansi, "instansi", "", "only this agency")
	f.BoolVar(&pending, "pending", false, "list the accounts not yet active instead of counting")
	return cmd
}
