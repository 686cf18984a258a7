package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"os"
	"strings"
	"sync"

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
	var nipFile string
	cmd := &cobra.Command{
		Use:   "set-password NIP | --nip-file FILE",
		Short: "Set a password read from standard input (one line), under the password policy",
		Long: `Set a password read from standard input (one line), under the password policy.
--nip-file FILE gives the same password to every NIP listed in FILE (one a line), each hashed
with its own salt and audited on its own: for test and load accounts, never for employees.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 1) == (nipFile != "") {
				return errors.New("give one NIP or --nip-file, not both")
			}
			return cobra.MaximumNArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			nips, err := setPasswordNIPs(args, nipFile)
			if err != nil {
				return err
			}
			pw, err := readPassword(e.stdin)
			if err != nil {
				return err
			}
			return e.withApp(cmd.Context(), func(a *app) error {
				if len(nips) == 1 && nipFile == "" {
					if err := e.setPassword(cmd.Context(), a, nips[0], pw); err != nil {
						return err
					}
					fmt.Fprintf(e.stdout, "password set for %s\n", nips[0])
					return nil
				}
				if err := e.setPasswords(cmd.Context(), a, nips, pw); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "password set for %d accounts\n", len(nips))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&nipFile, "nip-file", "", "set the password of every NIP in this file (one a line)")
	return cmd
}

// setPasswordNIPs returns the canonical NIPs the command is about: its
// argument or every non-empty line of file.
func setPasswordNIPs(args []string, file string) ([]string, error) {
	if file == "" {
		canonical, err := nip.Normalize(args[0])
		if err != nil {
			return nil, fmt.Errorf("NIP: %w", err)
		}
		return []string{canonical}, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read --nip-file: %w", err)
	}
	var nips []string
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		canonical, err := nip.Normalize(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", file, i+1, err)
		}
		nips = append(nips, canonical)
	}
	if len(nips) == 0 {
		return nil, fmt.Errorf("%s lists no NIP", file)
	}
	return nips, nil
}

// setPasswords sets pw for every NIP, hashing on as many goroutines as the
// hasher has workers so that none waits past its queue timeout.
func (e *env) setPasswords(ctx context.Context, a *app, nips []string, pw string) error {
	work := make(chan string)
	errs := make(chan error, len(nips))
	var wg sync.WaitGroup
	for range a.hasher.Params().Workers {
		wg.Go(func() {
			for n := range work {
				errs <- e.setPassword(ctx, a, n, pw)
			}
		})
	}
	for _, n := range nips {
		work <- n
	}
	close(work)
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		if err != nil {
			all = append(all, err)
		}
	}
	return errors.Join(all...)
}

// setPassword checks pw against the policy for the account of canonical,
// hashes it, stores it and audits the operator's action.
func (e *env) setPassword(ctx context.Context, a *app, canonical, pw string) error {
	u, err := a.store.UserByNIP(ctx, canonical)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("no user with NIP %s", canonical)
	}
	if err != nil {
		return err
	}
	policy := password.Policy{MinLength: a.cfg.Password.MinLength, MaxLength: 128}
	if err := policy.Check(pw, password.Context{NIP: u.NIP, Name: u.Name, Instansi: u.Instansi}); err != nil {
		return fmt.Errorf("password refused for %s: %w", u.NIP, err)
	}
	hash, err := a.hasher.Hash(ctx, pw)
	if err != nil {
		return fmt.Errorf("hash password of %s: %w", u.NIP, err)
	}
	if err := a.store.SetPassword(ctx, u.ID, hash, a.now()); err != nil {
		return fmt.Errorf("set password of %s: %w", u.NIP, err)
	}
	e.recordAdmin(ctx, a, storage.AuditEvent{Type: audit.PasswordChanged, NIP: u.NIP, UserID: u.ID, Reason: "set by operator"})
	return nil
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
