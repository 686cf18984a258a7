package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// options are the command line, checked before anything starts.
type options struct {
	rate        float64
	concurrency int
	duration    time.Duration
	employees   int
	warmup      bool
	maxInFlight int

	url, config string // an existing server and its config.yaml, instead of starting one
	bin         string
	db          string
	postgresDSN string
	pgConns     int
	nodes       int
	killAfter   time.Duration
	hold        int
	serverEnv   []string

	out            string
	calibrate      time.Duration
	sampleEvery    time.Duration
	progressEvery  time.Duration
	requestTimeout time.Duration
	checkLogout    bool
	keep           bool
	replot         string
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("asnidp-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `asnidp-load drives whole sign-ins (authorize with PKCE, NIP + password, authenticator
code, callback, code exchange, userinfo, refresh, logout) over real HTTP against asnidp, and
reports throughput, latency percentiles and errors per step, with the server's RSS and
goroutines over time, a JSON result and PNG plots.

Usage: asnidp-load (-rate R | -concurrency C) -duration D [flags]

`)
		fs.PrintDefaults()
	}
	fs.Float64Var(&o.rate, "rate", 0, "target arrival rate: journeys started per second")
	fs.IntVar(&o.concurrency, "concurrency", 0, "fixed concurrency: employees signing in at once")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "how long the measured phase sends journeys")
	fs.IntVar(&o.employees, "employees", 0, "virtual employees to provision (0: with -rate enough that none waits for an authenticator code; with -concurrency 1800 or 3 per slot)")
	fs.BoolVar(&o.warmup, "warmup", true, "sign every employee in once first (enrolling the authenticator), reported apart")
	fs.IntVar(&o.maxInFlight, "max-in-flight", 5000, "with -rate: journeys in flight at most; arrivals beyond are counted as not sent")
	fs.StringVar(&o.url, "url", "", "load an existing asnidp at this issuer URL instead of starting one (needs -config)")
	fs.StringVar(&o.config, "config", "", "with -url: the server's config.yaml, for provisioning through its CLI")
	fs.StringVar(&o.bin, "asnidp", "", "asnidp binary (default: built from this module with go build)")
	fs.StringVar(&o.db, "db", "sqlite", "database of a started server: sqlite or postgres")
	fs.StringVar(&o.postgresDSN, "postgres-dsn", "", "with -db postgres: server URL; the run gets a schema of its own")
	fs.IntVar(&o.pgConns, "pg-conns", 16, "with -db postgres: database.max_open_conns of each process")
	fs.IntVar(&o.nodes, "nodes", 1, "asnidp serve processes to start; more than one sit behind the tool's round-robin balancer")
	fs.DurationVar(&o.killAfter, "kill-after", 0, "with -nodes 2 or more: kill -9 the last process this long into the measured phase")
	fs.IntVar(&o.hold, "hold", 0, "keep the tokens of the first N completed sign-ins (no logout) and check them on every live process at the end")
	fs.Var((*stringList)(&o.serverEnv), "server-env", "ASNIDP_KEY=value for the started server and its CLI (repeatable), e.g. ASNIDP_DATABASE_PRUNE_INTERVAL=1m")
	fs.StringVar(&o.out, "out", "", "directory for result.json, the plots and the server's logs (default: a new temporary directory)")
	fs.DurationVar(&o.calibrate, "calibrate", 3*time.Second, "time for each calibration (argon2id, RS256); 0 skips it")
	fs.DurationVar(&o.sampleEvery, "sample-every", time.Second, "how often /metrics and the database size are read")
	fs.DurationVar(&o.progressEvery, "progress-every", 5*time.Second, "how often a progress line is printed")
	fs.DurationVar(&o.requestTimeout, "request-timeout", 30*time.Second, "deadline of each step")
	fs.BoolVar(&o.checkLogout, "check-logout", false, "after each logout, check that the refresh token no longer works (one more request)")
	fs.BoolVar(&o.keep, "keep", false, "keep the PostgreSQL schema of the run")
	fs.StringVar(&o.replot, "replot", "", "draw the plots of an earlier run's result.json again (into -out, or beside it) and stop")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags only; -h lists them)", fs.Arg(0))
	}
	if o.replot != "" {
		return o, nil
	}
	return o, o.validate()
}

func (o *options) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch {
	case o.rate < 0 || o.concurrency < 0:
		bad("-rate and -concurrency must not be negative")
	case (o.rate > 0) == (o.concurrency > 0):
		bad("give exactly one of -rate or -concurrency")
	}
	if o.duration <= 0 {
		bad("-duration must be positive")
	}
	if o.employees < 0 {
		bad("-employees must not be negative")
	}
	if o.db != "sqlite" && o.db != "postgres" {
		bad("-db must be sqlite or postgres, got %q", o.db)
	}
	if o.db == "postgres" && o.postgresDSN == "" && o.url == "" {
		bad("-db postgres needs -postgres-dsn")
	}
	if o.url != "" && o.config == "" {
		bad("-url needs -config (the server's config.yaml) to provision employees")
	}
	if o.url != "" && (o.nodes != 1 || o.killAfter > 0) {
		bad("-nodes and -kill-after only apply to a server the tool starts")
	}
	if o.nodes < 1 || o.nodes > 8 {
		bad("-nodes must be 1 to 8")
	}
	if o.killAfter < 0 || (o.killAfter > 0 && o.nodes < 2) {
		bad("-kill-after needs -nodes 2 or more (a survivor)")
	}
	if o.killAfter >= o.duration && o.killAfter > 0 {
		bad("-kill-after must fall inside -duration")
	}
	if o.hold < 0 || o.pgConns < 1 || o.maxInFlight < 0 {
		bad("-hold, -max-in-flight must not be negative and -pg-conns must be positive")
	}
	if o.sampleEvery <= 0 || o.progressEvery <= 0 || o.requestTimeout <= 0 || o.calibrate < 0 {
		bad("-sample-every, -progress-every and -request-timeout must be positive, -calibrate not negative")
	}
	for _, kv := range o.serverEnv {
		if k, _, ok := strings.Cut(kv, "="); !ok || !strings.HasPrefix(k, "ASNIDP_") {
			bad("-server-env %q is not ASNIDP_KEY=value", kv)
		}
	}
	return errors.Join(errs...)
}

// employeeCount is -employees, or enough that at the target rate (or
// concurrency) every arrival finds an employee whose authenticator has an
// unused code: each can sign in about once per 30-second step.
func (o *options) employeeCount() int {
	if o.employees > 0 {
		return o.employees
	}
	if o.rate > 0 {
		return max(10, int(o.rate*36)+o.hold)
	}
	return max(3*o.concurrency, 1800) + o.hold
}
