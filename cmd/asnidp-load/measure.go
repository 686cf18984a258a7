package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"time"
)

// measure runs the whole measurement: calibration, server, provisioning,
// warm-up, the measured phase, the checks after it, and the report.
func measure(ctx context.Context, o *options, w io.Writer) (*result, error) {
	dir, err := outDir(o)
	if err != nil {
		return nil, err
	}
	stamp(w, "results in %s", dir)
	res := &result{Started: time.Now().UTC(), Settings: settings(o), PeakRSS: map[string]float64{}}

	if o.calibrate > 0 {
		stamp(w, "calibrating this machine (%d cores): argon2id and RS256 on every core, %v each", runtime.GOMAXPROCS(0), o.calibrate)
		l, err := calibrate(ctx, o.calibrate)
		if err != nil {
			return nil, err
		}
		res.Limits = &l
		stamp(w, "limits: argon2id %.1f hashes/s (%s; %.1f ms CPU each), RS256 %.0f signatures/s (%.2f ms CPU each)",
			l.Argon2idPerSec, l.Argon2idParams, l.Argon2idCPUMs, l.RS256PerSec, l.RS256CPUMs)
	}

	t, err := openTarget(ctx, o, dir, w)
	if err != nil {
		return nil, err
	}
	defer t.stop()

	transport := &http.Transport{MaxIdleConns: 0, MaxIdleConnsPerHost: 4096, IdleConnTimeout: 90 * time.Second}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: o.requestTimeout}
	ep, err := discover(ctx, client, t.issuer)
	if err != nil {
		return nil, err
	}
	n := o.employeeCount()
	start := time.Now()
	prov, err := provision(ctx, t, dir, n, transport)
	if err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	stamp(w, "provisioned %d employees (import, passwords) and client %s in %.1f s", n, prov.clientID, time.Since(start).Seconds())

	j := &journeys{ep: ep, clientID: prov.clientID, secret: prov.secret, redirectURI: loadRedirectURI, postLogout: loadPostLogout,
		verifier: &verifier{jwksURL: ep.JWKS, issuer: ep.Issuer, clientID: prov.clientID, client: client},
		client:   client, requestTimeout: o.requestTimeout, checkLogout: o.checkLogout, now: time.Now, sleep: sleepCtx}
	p := newPool(n)

	if o.warmup {
		conc := min(n, 4*runtime.GOMAXPROCS(0))
		stamp(w, "warm-up: every employee signs in once (enrolling the authenticator), %d at a time", conc)
		ph := &phase{name: "warm-up (first sign-in, enrolment)", j: j, rec: newRecorder(time.Now())}
		meter := cpuMeter{smp: nodeSampler(t, client, o)}
		begin, cpu0 := time.Now(), meter.read(ctx)
		ph.runEach(ctx, p, prov.employees, conc)
		wr := summarizePhase(ph.name, ph.rec, time.Since(begin), res.Limits)
		use := between(cpu0, meter.read(ctx), wr.OK)
		wr.CPU = &use
		wr.ShareArgonCPU = argonCPUShare(res.Limits, use)
		res.Phases = append(res.Phases, wr)
		printPhase(w, wr)
	} else {
		for _, e := range prov.employees {
			p.release(e)
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	mainPhase, err := runMain(ctx, o, t, j, p, res, w, client)
	if err != nil {
		return nil, err
	}
	res.DatabaseLocked = t.logCount("database is locked")
	for _, s := range res.Samples {
		res.PeakRSS[s.Node] = max(res.PeakRSS[s.Node], s.RSSBytes)
	}
	printPhase(w, mainPhase)
	for node, b := range res.PeakRSS {
		fmt.Fprintf(w, "peak RSS of process %s: %.0f MiB\n", node, b/(1<<20))
	}
	fmt.Fprintf(w, "\"database is locked\" in the server logs: %d\n", res.DatabaseLocked)
	if res.Kill != nil {
		fmt.Fprintf(w, "killed process %s at %.1f s; the balancer answered 502 to %d requests it had in flight\n",
			res.Kill.Node, res.Kill.AtS, res.Kill.BalancerFailed)
	}
	if res.Held != nil {
		fmt.Fprintf(w, "held sign-ins: %d; tokens checked on each live process: %v; failures: %d\n",
			res.Held.Held, res.Held.Checked, len(res.Held.Failures))
	}
	if err := writeJSON(filepath.Join(dir, "result.json"), res); err != nil {
		return nil, err
	}
	files, err := plots(dir, "", mainPhase, res.Samples, res.Rows)
	if err != nil {
		return nil, err
	}
	stamp(w, "wrote %s and %d plots", filepath.Join(dir, "result.json"), len(files))
	return res, nil
}

// openTarget starts the server, or describes the existing one.
func openTarget(ctx context.Context, o *options, dir string, w io.Writer) (*target, error) {
	if o.url != "" {
		if o.bin == "" {
			return nil, usageError{fmt.Errorf("-url needs -asnidp, the binary whose CLI provisions employees")}
		}
		return &target{issuer: o.url, bin: o.bin, cfgPath: o.config, environ: append(cleanEnv(), o.serverEnv...),
			nodes: []*node{{name: "A", url: o.url}}}, nil
	}
	if o.bin == "" {
		stamp(w, "building asnidp")
		bin, err := buildServer(ctx, dir)
		if err != nil {
			return nil, err
		}
		o.bin = bin
	}
	t, err := startTarget(ctx, o, dir)
	if err != nil {
		return nil, err
	}
	stamp(w, "asnidp serving at %s: %d process(es), %s", t.issuer, len(t.nodes), o.db)
	return t, nil
}

// nodeSampler is a sampler of the target's nodes (not yet running).
func nodeSampler(t *target, client *http.Client, o *options) *sampler {
	nodes := map[string]string{}
	for _, n := range t.nodes {
		nodes[n.name] = n.url
	}
	smp := &sampler{nodes: nodes, client: client, interval: o.sampleEvery, dbSize: t.dbSize}
	if t.db != nil {
		smp.rows, smp.rowsEvery = t.rows, int(max(1, 10*time.Second/o.sampleEvery))
	}
	return smp
}

func discover(ctx context.Context, client *http.Client, issuer string) (endpoints, error) {
	var ep endpoints
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, issuer+"/.well-known/openid-configuration", nil)
	if err != nil {
		return ep, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return ep, fmt.Errorf("discovery: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ep, fmt.Errorf("discovery: status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&ep); err != nil {
		return ep, fmt.Errorf("decode discovery: %w", err)
	}
	if ep.Issuer != issuer || ep.Token == "" || ep.EndSession == "" {
		return ep, fmt.Errorf("discovery names issuer %q and no token or end_session endpoint", ep.Issuer)
	}
	return ep, nil
}

func settings(o *options) map[string]any {
	s := map[string]any{"duration_s": o.duration.Seconds(), "employees": o.employeeCount(), "db": o.db,
		"nodes": o.nodes, "warmup": o.warmup, "server_env": o.serverEnv, "cores": runtime.GOMAXPROCS(0)}
	if o.rate > 0 {
		s["mode"], s["rate_per_s"] = "rate", o.rate
	} else {
		s["mode"], s["concurrency"] = "concurrency", o.concurrency
	}
	if o.killAfter > 0 {
		s["kill_after_s"] = o.killAfter.Seconds()
	}
	if o.url != "" {
		s["url"] = o.url
	}
	return s
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
