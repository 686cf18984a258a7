package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// runMain runs the measured phase with the sampler, the progress lines
// and the planned kill, then checks the held sign-ins on every live node.
func runMain(ctx context.Context, o *options, t *target, j *journeys, p *pool, res *result, w io.Writer, client *http.Client) (phaseResult, error) {
	mode := fmt.Sprintf("%d employees at once", o.concurrency)
	if o.rate > 0 {
		mode = fmt.Sprintf("%.1f sign-ins/s arriving", o.rate)
	}
	name := fmt.Sprintf("measured: %s for %v", mode, o.duration)
	stamp(w, "%s", name)
	start := time.Now()
	ph := &phase{name: name, j: j, rec: newRecorder(start)}
	ph.holdLeft.Store(int64(o.hold))

	smp := nodeSampler(t, client, o)
	meter := cpuMeter{smp: smp}
	cpu0 := meter.read(ctx)
	sctx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() { smp.run(sctx, start); close(sampled) }()
	go progress(sctx, w, ph, smp, start, o.progressEvery)

	if o.killAfter > 0 {
		victim := t.nodes[len(t.nodes)-1]
		kill := time.AfterFunc(o.killAfter, func() {
			if err := victim.kill(); err != nil {
				stamp(w, "%v", err)
				return
			}
			stamp(w, "killed process %s (kill -9)", victim.name)
		})
		defer kill.Stop()
		res.Kill = &killResult{Node: victim.name, AtS: o.killAfter.Seconds()}
	}

	ph.run(ctx, p, load{rate: o.rate, concurrency: o.concurrency, duration: o.duration, maxInFlight: o.maxInFlight})
	cpu1 := meter.read(ctx)
	stopSampling()
	<-sampled
	res.Samples = smp.all()
	res.Rows = smp.rowCounts()
	if res.Kill != nil && t.bal != nil {
		res.Kill.BalancerFailed = t.bal.failed.Load()
	}
	if len(ph.held) > 0 {
		res.Held = checkHeld(ctx, t, j, ph.held)
	}
	pr := summarizePhase(name, ph.rec, o.duration, res.Limits)
	// A killed process takes its CPU time with it: no CPU figures then.
	if res.Kill == nil {
		use := between(cpu0, cpu1, pr.OK)
		pr.CPU = &use
		pr.ShareArgonCPU = argonCPUShare(res.Limits, use)
	}
	res.Phases = append(res.Phases, pr)
	return pr, ctx.Err()
}

// progress prints a line every interval until ctx ends.
func progress(ctx context.Context, w io.Writer, ph *phase, smp *sampler, start time.Time, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	lastOK := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ph.rec.mu.Lock()
		ok, busy, failed := ph.rec.kinds[kindOK], ph.rec.kinds[kindBusy], 0
		for k, n := range ph.rec.kinds {
			if k != kindOK && k != kindBusy {
				failed += n
			}
		}
		ph.rec.mu.Unlock()
		var rss []string
		samples := smp.all()
		seen := map[string]bool{}
		for i := len(samples) - 1; i >= 0; i-- {
			s := samples[i]
			if !seen[s.Node] {
				seen[s.Node] = true
				rss = append(rss, fmt.Sprintf("%s %.0f MiB/%.0f gor", s.Node, s.RSSBytes/(1<<20), s.Goroutines))
			}
		}
		stamp(w, "t=%3.0fs  ok %d (%.1f/s now)  busy %d  errors %d  in flight %d  %s",
			time.Since(start).Seconds(), ok, float64(ok-lastOK)/every.Seconds(), busy, failed, ph.inFlight.Load(), strings.Join(rss, ", "))
		lastOK = ok
	}
}

// checkHeld checks that every held sign-in's tokens still work on every
// live process: userinfo on each, then one refresh (which rotates).
func checkHeld(ctx context.Context, t *target, j *journeys, held []*heldTokens) *heldResult {
	out := &heldResult{Held: len(held), Checked: map[string]int{}}
	var live []*node
	for _, n := range t.nodes {
		if n.cmd != nil {
			select {
			case err := <-n.exited:
				n.exited <- err
				continue
			default:
			}
		}
		live = append(live, n)
	}
	for _, h := range held {
		for _, n := range live {
			nj := *j
			nj.ep.Userinfo = strings.Replace(j.ep.Userinfo, j.ep.Issuer, n.url, 1)
			nj.ep.Token = strings.Replace(j.ep.Token, j.ep.Issuer, n.url, 1)
			if err := nj.userinfo(ctx, h.access, h.sub, h.nip); err != nil {
				out.Failures = append(out.Failures, fmt.Sprintf("userinfo on %s: %v", n.name, err))
				continue
			}
			out.Checked[n.name]++
		}
		if len(live) > 0 {
			nj := *j
			nj.ep.Token = strings.Replace(j.ep.Token, j.ep.Issuer, live[0].url, 1)
			if _, err := nj.tokenRequest(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {h.refresh}}); err != nil {
				out.Failures = append(out.Failures, fmt.Sprintf("refresh on %s: %v", live[0].name, err))
			}
		}
	}
	return out
}
