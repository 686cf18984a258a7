package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/asnidp/asnidp/internal/provision"
)

// maxReportedRows bounds the bad rows printed: a file with a wrong
// delimiter has every row bad, and the first ones tell the story.
const maxReportedRows = 200

func userImportCommand(e *env) *cobra.Command {
	var (
		dryRun, disableMissing bool
		instansi, format       string
		batch                  int
	)
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Provision accounts from a personnel export (CSV with a header row, or JSON lines; - reads stdin)",
		Long: `Import a personnel export: columns nip, nama (or name), email, instansi, unit_kerja,
jabatan, jenis_pegawai. Every row is validated first; one bad row stops the import. Accounts
are upserted by NIP; passwords and authenticators are never touched, and importing the same
file again changes nothing. --disable-missing --instansi X also disables the accounts of
agency X that the file no longer lists (leavers), with their sessions and tokens; it refuses an
agency that no account has (a misspelt X) and a file that lists nobody of X.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if disableMissing != (instansi != "") {
				return errors.New("--disable-missing and --instansi go together")
			}
			file, err := readExport(e, args[0], format)
			if err != nil {
				return err
			}
			if n := len(file.Errors); n > 0 {
				for i, bad := range file.Errors {
					if i == maxReportedRows {
						fmt.Fprintf(e.stderr, "... and %d more\n", n-i)
						break
					}
					fmt.Fprintln(e.stderr, bad)
				}
				return fmt.Errorf("%d bad rows in %s; nothing was imported", n, args[0])
			}
			return e.withApp(cmd.Context(), func(a *app) error {
				im := &provision.Importer{
					Store: a.store, Audit: a.audit, Actor: e.actor(), Source: filepath.Base(args[0]),
					Now: a.now, BatchSize: batch,
					Progress: provision.NewProgress(e.stderr, isTerminal(e.stderr), "import"),
				}
				plan, err := im.Plan(cmd.Context(), file, instansi)
				if err != nil {
					return err
				}
				if dryRun {
					if err := plan.WriteDetails(e.stdout); err != nil {
						return err
					}
					fmt.Fprintln(e.stdout, plan.Summary(false)+" (dry run: nothing written)")
					return nil
				}
				if err := im.Apply(cmd.Context(), plan); err != nil {
					return err
				}
				for _, c := range plan.Disable {
					fmt.Fprintf(e.stdout, "disabled %s  %s (no longer listed for instansi %s)\n", c.NIP, c.Name, instansi)
				}
				fmt.Fprintln(e.stdout, plan.Summary(true))
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&dryRun, "dry-run", false, "print what would be created, updated, left alone and disabled; write nothing")
	f.StringVar(&format, "format", "", "csv or jsonl (default: from the file extension)")
	f.BoolVar(&disableMissing, "disable-missing", false, "disable the accounts of --instansi that the file does not list")
	f.StringVar(&instansi, "instansi", "", "the agency whose leavers --disable-missing disables")
	f.IntVar(&batch, "batch-size", provision.DefaultBatchSize, "rows per transaction")
	return cmd
}

// readExport parses the file at path ("-": standard input).
func readExport(e *env, path, format string) (*provision.File, error) {
	var (
		fmtOf provision.Format
		err   error
	)
	switch {
	case format != "":
		fmtOf, err = provision.ParseFormat(format)
	case path == "-":
		err = errors.New("reading standard input needs --format")
	default:
		fmtOf, err = provision.FormatOf(path)
	}
	if err != nil {
		return nil, err
	}
	var r io.Reader = e.stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("open export: %w", err)
		}
		defer f.Close()
		r = f
	}
	file, err := provision.Parse(r, fmtOf)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return file, nil
}

// isTerminal reports whether w is an interactive terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
