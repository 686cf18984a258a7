package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/asnidp/asnidp/internal/operator"
)

func operatorCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "operator",
		Short: "Grant, revoke and list the roles of the agency console",
		Long: `Operators sign in to the agency console with their own employee account. A role says what they
may do there: national (every agency), agency (one agency's accounts: funnel, pending list,
look-up, unlock, reset-mfa, disable, enable, import, audit) or helpdesk (one agency's accounts:
look-up, unlock, reset-mfa). Every change is audited.`,
	}
	cmd.AddCommand(operatorGrantCommand(e), operatorRevokeCommand(e), operatorListCommand(e))
	return cmd
}

// withOperators runs fn on the role administration of the configured
// instance, acting under this command's operator name.
func (e *env) withOperators(ctx context.Context, fn func(adm *operator.Admin) error) error {
	return e.withApp(ctx, func(a *app) error {
		return fn(&operator.Admin{Store: a.store, Audit: a.audit, Actor: e.actor(), Now: a.now})
	})
}

func operatorGrantCommand(e *env) *cobra.Command {
	var nipFlag, role, instansi string
	cmd := &cobra.Command{
		Use:   `grant --nip N --role national|agency|helpdesk [--instansi "…"]`,
		Short: "Give an account a console role (replacing the one it holds)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Checked before the database is opened: a bad role is
			// refused even where the database is unreachable.
			if _, err := operator.ParseRole(role); err != nil {
				return fmt.Errorf("--role: %w", err)
			}
			return e.withOperators(cmd.Context(), func(adm *operator.Admin) error {
				o, previous, changed, err := adm.Grant(cmd.Context(), nipFlag, role, instansi)
				if err != nil {
					return err
				}
				switch {
				case !changed:
					fmt.Fprintf(e.stdout, "%s already holds the role %s; nothing changed\n", o.NIP, operator.Describe(o))
				case previous != nil:
					fmt.Fprintf(e.stdout, "%s (%s) now holds the role %s, replacing %s\n", o.NIP, o.Name, operator.Describe(o), operator.Describe(previous))
				default:
					fmt.Fprintf(e.stdout, "%s (%s) now holds the role %s\n", o.NIP, o.Name, operator.Describe(o))
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&nipFlag, "nip", "", "NIP of the operator's own employee account (required)")
	f.StringVar(&role, "role", "", "national, agency or helpdesk (required)")
	f.StringVar(&instansi, "instansi", "", "the agency of an agency or helpdesk role, exactly as the accounts carry it")
	_ = cmd.MarkFlagRequired("nip")
	_ = cmd.MarkFlagRequired("role")
	return cmd
}

func operatorRevokeCommand(e *env) *cobra.Command {
	var nipFlag string
	cmd := &cobra.Command{
		Use:   "revoke --nip N",
		Short: "Take an account's console role away",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.withOperators(cmd.Context(), func(adm *operator.Admin) error {
				held, err := adm.Revoke(cmd.Context(), nipFlag)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%s no longer holds the role %s\n", held.NIP, operator.Describe(held))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&nipFlag, "nip", "", "NIP of the operator's account (required)")
	_ = cmd.MarkFlagRequired("nip")
	return cmd
}

func operatorListCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the operators and their roles",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.withOperators(cmd.Context(), func(adm *operator.Admin) error {
				list, err := adm.List(cmd.Context())
				if err != nil {
					return err
				}
				return operator.WriteList(e.stdout, list)
			})
		},
	}
}
