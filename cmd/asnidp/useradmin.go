package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/i18n"
	"github.com/asnidp/asnidp/internal/mail"
	"github.com/asnidp/asnidp/internal/useradmin"
	"github.com/asnidp/asnidp/storage"
	"github.com/asnidp/asnidp/templates"
)

// actor names the operator running this command in audit events: the
// user behind sudo, else the login name.
func (e *env) actor() string {
	return audit.Operator(envOr(e.environ, "SUDO_USER", envOr(e.environ, "USER", "")))
}

// accounts is the account administration of a.
func (e *env) accounts(a *app) (*useradmin.Admin, error) {
	mails, err := mail.NewRenderer(templates.FS, a.cfg.Login.IssuerName, a.cfg.Issuer)
	if err != nil {
		return nil, err
	}
	catalog, err := i18n.New()
	if err != nil {
		return nil, err
	}
	return accountAdmin(a, mails, catalog, e.actor()), nil
}

// accountCommand is a command taking NIPs that runs fn on the account
// administration.
func accountCommand(e *env, use, short string, nargs int, fn func(ctx context.Context, adm *useradmin.Admin, args []string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(nargs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withApp(cmd.Context(), func(a *app) error {
				adm, err := e.accounts(a)
				if err != nil {
					return err
				}
				return fn(cmd.Context(), adm, args)
			})
		},
	}
}

func userShowCommand(e *env) *cobra.Command {
	return accountCommand(e, "show NIP", "Show an account: state, authenticator, locks, last login", 1,
		func(ctx context.Context, adm *useradmin.Admin, args []string) error {
			u, err := adm.User(ctx, args[0])
			if err != nil {
				return err
			}
			return useradmin.WriteUser(e.stdout, u, adm.Now())
		})
}

func userDisableCommand(e *env) *cobra.Command {
	return accountCommand(e, "disable NIP", "Disable an account, ending every session and token it holds", 1,
		func(ctx context.Context, adm *useradmin.Admin, args []string) error {
			u, was, err := adm.Disable(ctx, args[0])
			if err != nil {
				return err
			}
			if was {
				fmt.Fprintf(e.stdout, "user %s was already disabled; its sessions and tokens are revoked again\n", u.NIP)
				return nil
			}
			fmt.Fprintf(e.stdout, "user %s disabled; every session and token revoked\n", u.NIP)
			return nil
		})
}

func userEnableCommand(e *env) *cobra.Command {
	return accountCommand(e, "enable NIP", "Enable a disabled account again", 1,
		func(ctx context.Context, adm *useradmin.Admin, args []string) error {
			u, state, err := adm.Enable(ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "user %s enabled (state %s)\n", u.NIP, state)
			return nil
		})
}

func userUnlockCommand(e *env) *cobra.Command {
	return accountCommand(e, "unlock NIP", "Clear the password delay, the password lock and the authenticator lock", 1,
		func(ctx context.Context, adm *useradmin.Admin, args []string) error {
			u, err := adm.Unlock(ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "user %s unlocked\n", u.NIP)
			return nil
		})
}

func userResetMFACommand(e *env) *cobra.Command {
	return accountCommand(e, "reset-mfa NIP", "Remove the authenticator (lost phone): ends sessions, revokes tokens, mails the employee", 1,
		func(ctx context.Context, adm *useradmin.Admin, args []string) error {
			u, mailErr, err := adm.ResetMFA(ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "authenticator of %s removed; sessions ended and tokens revoked; the employee enrols a new one at the next login\n", u.NIP)
			if mailErr != nil {
				fmt.Fprintf(e.stderr, "warning: the notice to %s could not be mailed (%v); tell the employee another way\n", u.Email, mailErr)
			}
			return nil
		})
}

func userChangeNIPCommand(e *env) *cobra.Command {
	return accountCommand(e, "change-nip OLD NEW", "Give an account a new NIP; its sub, and so every relying party's link, stays", 2,
		func(ctx context.Context, adm *useradmin.Admin, args []string) error {
			u, err := adm.ChangeNIP(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "NIP changed to %s (sub %s unchanged)\n", u.NIP, u.ID)
			return nil
		})
}

// recordAdmin records an operator action of this command.
func (e *env) recordAdmin(ctx context.Context, a *app, ev storage.AuditEvent) {
	ev.Actor = e.actor()
	a.audit.Record(ctx, ev)
}
