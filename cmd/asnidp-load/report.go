package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"time"
)

// result is everything one run measured; it is written as result.json.
type result struct {
	Started  time.Time          `json:"started"`
	Settings map[string]any     `json:"settings"`
	Limits   *limits            `json:"limits,omitempty"`
	Phases   []phaseResult      `json:"phases"`
	Samples  []sample           `json:"samples"`
	Rows     []rowSample        `json:"rows,omitempty"`
	PeakRSS  map[string]float64 `json:"peak_rss_bytes"`
	// DatabaseLocked counts "database is locked" in the servers' logs.
	DatabaseLocked int         `json:"database_locked_log_lines"`
	Kill           *killResult `json:"kill,omitempty"`
	Held           *heldResult `json:"held,omitempty"`
}

type phaseResult struct {
	Name      string  `json:"name"`
	DurationS float64 `json:"duration_s"`
	// OK journeys went from authorize to logout with every check passed;
	// Busy got the designed 503 with Retry-After; Errors are the rest.
	OK         int                    `json:"ok"`
	Busy       int                    `json:"busy"`
	Errors     map[string]int         `json:"errors"`
	FailedAt   map[string]int         `json:"failed_at"` // step/kind
	Examples   map[string]string      `json:"error_examples,omitempty"`
	NotSent    map[string]int         `json:"not_sent,omitempty"`
	TOTPWaits  int                    `json:"totp_waits"`
	PerSecond  float64                `json:"sign_ins_per_s"`
	Journey    latency                `json:"journey"`
	NonHashing latency                `json:"non_hashing_steps"`
	Steps      map[string]stepSummary `json:"steps"`
	ShareArgon float64                `json:"share_of_argon2id_limit,omitempty"`
	ShareRS256 float64                `json:"share_of_rs256_limit,omitempty"`
	CPU        *cpuUse                `json:"cpu,omitempty"`
	// ShareArgonCPU is the argon2id share by CPU time: one hash's CPU over
	// the server's CPU per sign-in, the share a machine given to the
	// server alone would reach. It holds on a shared machine.
	ShareArgonCPU float64       `json:"share_of_argon2id_by_cpu,omitempty"`
	Series        []seriesPoint `json:"series"`
}

type stepSummary struct {
	latency
	PerSecond float64 `json:"per_s"`
}

// seriesPoint is one second of a phase.
type seriesPoint struct {
	T          int     `json:"t_s"`
	OK         int     `json:"ok"`
	Busy       int     `json:"busy"`
	Failed     int     `json:"failed"`
	P50        float64 `json:"journey_p50_ms"`
	P99        float64 `json:"journey_p99_ms"`
	NonHashP99 float64 `json:"non_hashing_p99_ms"`
}

type killResult struct {
	Node string  `json:"node"`
	AtS  float64 `json:"at_s"`
	// BalancerFailed is requests the balancer answered 502 because their
	// process died under them.
	BalancerFailed int64 `json:"balancer_failed_requests"`
}

type heldResult struct {
	Held     int            `json:"held"`
	Checked  map[string]int `json:"checked_ok_by_node"`
	Failures []string       `json:"failures,omitempty"`
}

// summarizePhase turns a recorder into its report; d is the phase's
// sending time, over which rates are taken.
func summarizePhase(name string, r *recorder, d time.Duration, l *limits) phaseResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := phaseResult{Name: name, DurationS: d.Seconds(), Errors: map[string]int{}, FailedAt: maps.Clone(r.failedAt),
		Examples: maps.Clone(r.examples), NotSent: maps.Clone(r.notStarted), TOTPWaits: r.totpWait, Steps: map[string]stepSummary{}}
	for k, n := range r.kinds {
		switch k {
		case kindOK:
			p.OK = n
		case kindBusy:
			p.Busy = n
		default:
			p.Errors[k] = n
		}
	}
	// The rate counts sign-ins that ended within the sending time, so the
	// tail of journeys still finishing does not dilute it.
	inWindow := 0
	var nonHashing []time.Duration
	for i, b := range r.buckets {
		if time.Duration(i)*time.Second < d {
			inWindow += b.ok
		}
		nonHashing = append(nonHashing, b.nonHashing...)
		sp := seriesPoint{T: i, OK: b.ok, Busy: b.busy, Failed: b.failed}
		if len(b.journey) > 0 {
			s := summarize(b.journey)
			sp.P50, sp.P99 = s.P50, s.P99
		}
		if len(b.nonHashing) > 0 {
			sp.NonHashP99 = summarize(b.nonHashing).P99
		}
		p.Series = append(p.Series, sp)
	}
	p.PerSecond = float64(inWindow) / d.Seconds()
	p.Journey = summarize(r.journeys)
	p.NonHashing = summarize(nonHashing)
	for name, ds := range r.steps {
		p.Steps[name] = stepSummary{latency: summarize(ds), PerSecond: float64(len(ds)) / d.Seconds()}
	}
	if l != nil && l.Argon2idPerSec > 0 {
		// One argon2id hash and two RS256 signatures (code exchange and
		// refresh) per sign-in.
		p.ShareArgon = p.PerSecond / l.Argon2idPerSec
		p.ShareRS256 = 2 * p.PerSecond / l.RS256PerSec
	}
	return p
}

func printPhase(w io.Writer, p phaseResult) {
	fmt.Fprintf(w, "\n== %s: %.1f s ==\n", p.Name, p.DurationS)
	fmt.Fprintf(w, "sign-ins ok %d (%.1f/s)   busy (503 + Retry-After) %d   errors %d\n", p.OK, p.PerSecond, p.Busy, sumValues(p.Errors))
	if p.ShareArgon > 0 {
		fmt.Fprintf(w, "share of this machine's limits: %.0f %% of argon2id, %.0f %% of RS256 (2 signatures a sign-in)\n",
			100*p.ShareArgon, 100*p.ShareRS256)
	}
	if p.ShareArgonCPU > 0 {
		fmt.Fprintf(w, "by CPU time: one argon2id hash is %.0f %% of the server's CPU per sign-in\n", 100*p.ShareArgonCPU)
	}
	if p.CPU != nil {
		fmt.Fprintf(w, "CPU: server %.2f cores (%.1f ms a sign-in), load generator %.2f cores (%.1f ms a sign-in), rest of the machine %.2f cores\n",
			p.CPU.ServerCores, p.CPU.ServerMsPerLogin, p.CPU.ToolCores, p.CPU.ToolMsPerLogin, p.CPU.OtherCores)
	}
	fmt.Fprintf(w, "%-15s %8s %8s %9s %9s %9s %9s\n", "step", "count", "per s", "p50 ms", "p95 ms", "p99 ms", "max ms")
	row := func(name string, l latency, perS float64) {
		fmt.Fprintf(w, "%-15s %8d %8.1f %9.1f %9.1f %9.1f %9.1f\n", name, l.Count, perS, l.P50, l.P95, l.P99, l.Max)
	}
	for _, name := range stepOrder {
		if s, ok := p.Steps[name]; ok {
			row(name, s.latency, s.PerSecond)
		}
	}
	row("non-hashing", p.NonHashing, float64(p.NonHashing.Count)/p.DurationS)
	row("journey", p.Journey, p.PerSecond)
	for _, k := range sortedKeys(p.FailedAt) {
		fmt.Fprintf(w, "  failed at %-32s %d\n", k, p.FailedAt[k])
		if ex := p.Examples[k]; ex != "" {
			fmt.Fprintf(w, "    e.g. %s\n", ex)
		}
	}
	for _, k := range sortedKeys(p.NotSent) {
		fmt.Fprintf(w, "  not sent (%s): %d\n", k, p.NotSent[k])
	}
	if p.TOTPWaits > 0 {
		fmt.Fprintf(w, "  %d sign-ins waited for the next authenticator step (not counted as latency)\n", p.TOTPWaits)
	}
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func sumValues(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func sortedKeys[V any](m map[string]V) []string {
	keys := slices.Collect(maps.Keys(m))
	sort.Strings(keys)
	return keys
}
