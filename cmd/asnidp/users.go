package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/nip"
	"github.com/asnidp/asnidp/internal/password"
	"github.com/asnidp/asnidp/internal/provision"
	"github.com/asnidp/asnidp/storage"
)

func userCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Provision and administer employee accounts"}
	cmd.AddCommand(userAddCommand(e), userSetPasswordCommand(e), userImportCommand(e), userShowCommand(e),
		userDisableCommand(e), userEnableCommand(e), userUnlockCommand(e), userResetMFACommand(e), userChangeNIPCommand(e))
	return cmd
}

func userAddCommand(e *env) *cobra.Command {
	var u storage.User
	cmd := &cobra.Command{
		Use:   "add --nip N --name NAME --email EMAIL [--instansi ...]",
		Short: "Provision an account (no password: the employee activates it by reset)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			canonical, err := nip.Normalize(u.NIP)
			if err != nil {
				return fmt.Errorf("--nip: %w", err)
			}
			u.NIP = canonical
			if strings.TrimSpace(u.Name) == "" {
				return errors.New("--name is required")
			}
			if err := validEmail(u.Email); err != nil {
				return fmt.Errorf("--email: %w", err)
			}
			kind, err := provision.NormalizeJenisPegawai(u.JenisPegawai)
			if err != nil {
				return fmt.Errorf("--jenis-pegawai %q %w", u.JenisPegawai, err)
			}
			u.JenisPegawai = kind
			return e.withApp(cmd.Context(), func(a *app) error {
				now := a.now()
				u.ID = uuid.NewString()
				u.State = storage.StateProvisioned
				u.CreatedAt, u.UpdatedAt = now, now
				err := a.store.CreateUser(cmd.Context(), &u)
				if errors.Is(err, storage.ErrAlreadyExists) {
					return fmt.Errorf("a user with NIP %s already exists", u.NIP)
				}
				if err != nil {
					return err
				}
				e.recordAdmin(cmd.Context(), a, storage.AuditEvent{Type: audit.UserCreated, NIP: u.NIP, UserID: u.ID})
				fmt.Fprintf(e.stdout, "user %s provisioned (sub %s, state %s)\n", u.NIP, u.ID, u.State)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&u.NIP, "nip", "", "18-digit NIP (required)")
	f.StringVar(&u.Name, "name", "", "full name (required)")
	f.StringVar(&u.Email, "email", "", "registered email (required)")
	f.StringVar(&u.Instansi, "instansi", "", "agency")
	f.StringVar(&u.UnitKerja, "unit-kerja", "", "work unit")
	f.StringVar(&u.Jabatan, "jabatan", "", "position")
	f.StringVar(&u.JenisPegawai, "jenis-pegawai", "PPPK Paruh Waktu", "employee type")
	_ = cmd.MarkFlagRequired("nip")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("email")
	return cmd
}

// validEmail accepts one plain address: no display name, no header
// injection, at most 254 characters (C5).
func validEmail(s string) error {
	if len(s) > 254 || strings.ContainsAny(s, "\r\n,;<> \t") {
		return fmt.Errorf("%q is not a single plain email address", s)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return fmt.Errorf("%q is not a single plain email address", s)
	}
	return nil
}

func userSetPasswordCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "set-password NIP",
		Short: "Set a password read from standard input (one line), under the password policy",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			canonical, err := nip.Normalize(args[0])
			if err != nil {
				return fmt.Errorf("NIP: %w", err)
			}
			pw, err := readPassword(e.stdin)
			if err != nil {
				return err
			}
			return e.withApp(cmd.Context(), func(a *app) error {
				ctx := cmd.Context()
				u, err := a.store.UserByNIP(ctx, canonical)
				if errors.Is(err, storage.ErrNotFound) {
					return fmt.Errorf("no user with NIP %s", canonical)
				}
				if err != nil {
					return err
				}
				policy := password.Policy{MinLength: a.cfg.Password.MinLength, MaxLength: 128}
				if err := policy.Check(pw, password.Context{NIP: u.NIP, Name: u.Name, Instansi: u.Instansi}); err != nil {
					return fmt.Errorf("password refused: %w", err)
				}
				hash, err := a.hasher.Hash(ctx, pw)
				if err != nil {
					return err
				}
				if err := a.store.SetPassword(ctx, u.ID, hash, a.now()); err != nil {
					return err
				}
				e.recordAdmin(ctx, a, storage.AuditEvent{Type: audit.PasswordChanged, NIP: u.NIP, UserID: u.ID, Reason: "set by operator"})
				fmt.Fprintf(e.stdout, "password set for %s\n", u.NIP)
				return nil
			})
		},
	}
}

// readPassword takes the first line of r, without its line ending.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input")
	}
	return line, nil
}
