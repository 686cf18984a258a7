// Command asnidp-load measures asnidp the way a national sign-in campaign
// uses it: virtual employees, provisioned through the CLI, each signing in
// through the whole journey over real HTTP (authorize with PKCE, NIP +
// password, authenticator code computed on their "phone", callback, code
// exchange, userinfo, refresh, logout), at a target arrival rate or a
// fixed concurrency. It measures the machine's argon2id and RS256 limits
// first and reports each result as a share of them, samples the servers'
// RSS and goroutines from /metrics, and writes result.json and PNG plots.
//
// It starts the server itself from the built binary, with a fresh SQLite
// file or PostgreSQL schema (several processes behind its own round-robin
// balancer, one of which it can kill -9 mid-run), or loads an existing one.
// It never logs passwords, codes or tokens.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		fmt.Fprintln(os.Stderr, "asnidp-load:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "asnidp-load:", err)
		os.Exit(1)
	}
}

// usageError is a bad command line.
type usageError struct{ error }

// errJourneysFailed means the run finished but some sign-ins failed with
// something other than the designed busy answer.
var errJourneysFailed = errors.New("some sign-ins failed; see the report")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return usageError{err}
	}
	if o.replot != "" {
		return replot(o.replot, o.out)
	}
	res, err := measure(ctx, o, stdout)
	if err != nil {
		return err
	}
	for _, p := range res.Phases {
		if sumValues(p.Errors) > 0 && o.killAfter == 0 {
			return errJourneysFailed
		}
	}
	return nil
}

// outDir returns o.out, created, or a new temporary directory.
func outDir(o *options) (string, error) {
	if o.out == "" {
		return os.MkdirTemp("", "asnidp-load-")
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return "", fmt.Errorf("create -out: %w", err)
	}
	return filepath.Abs(o.out)
}

// buildServer builds cmd/asnidp into dir with the go command on PATH.
func buildServer(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "asnidp")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/asnidp/asnidp/cmd/asnidp")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build asnidp (run from the module, or pass -asnidp): %w\n%s", err, out)
	}
	return bin, nil
}

func stamp(w io.Writer, format string, a ...any) {
	fmt.Fprintf(w, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}
