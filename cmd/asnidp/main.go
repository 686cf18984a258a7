// Command asnidp runs the ASN Digital OpenID Provider and its operator
// tools. main only wires: each command parses its flags and calls into a
// package.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/asnidp/asnidp/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "asnidp:", err)
		os.Exit(1)
	}
}

// env is what one invocation sees of the outside world.
type env struct {
	environ []string
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	config  string
}

// run executes one command line.
func run(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{environ: environ, stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "asnidp",
		Short:         "ASN Digital OpenID Provider with mandatory TOTP",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&e.config, "config", envOr(environ, config.EnvConfigFile, "config.yaml"), "path of config.yaml")
	root.AddCommand(
		serveCommand(e),
		migrateCommand(e),
		userCommand(e),
		clientCommand(e),
		keysCommand(e),
		reportCommand(e),
		auditCommand(e),
		operatorCommand(e),
	)
	return root.ExecuteContext(ctx)
}

func envOr(environ []string, key, fallback string) string {
	for _, kv := range environ {
		if len(kv) > len(key) && kv[:len(key)] == key && kv[len(key)] == '=' {
			return kv[len(key)+1:]
		}
	}
	return fallback
}
