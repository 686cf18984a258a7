// Package monitor turns security events into Prometheus metrics and
// raises an alert when one kind of failure becomes frequent across every
// OP process: a TOTP failure rate that points at a server clock drifting
// (H6), refresh-token or code reuse (stolen tokens), authenticator locks.
//
// Rates are counted in the database (CounterStore), not in memory, so N
// processes behind a load balancer alert once, on their sum.
package monitor

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/asnidp/asnidp/storage"
)

// Rule raises alert Name when Threshold events of Type with Outcome (any
// outcome when empty) happen within one Window.
type Rule struct {
	Name      string
	Type      string
	Outcome   string
	Window    time.Duration
	Threshold int
	// Hint tells the operator what the alert usually means.
	Hint string
}

// DefaultRules are the alerts asnidp raises out of the box.
var DefaultRules = []Rule{
	{Name: "totp_failure_rate", Type: "mfa.failed", Window: 10 * time.Minute, Threshold: 200,
		Hint: "many wrong authenticator codes: check the servers' clocks (NTP) before suspecting an attack"},
	{Name: "token_reuse", Type: "token.reuse_detected", Window: time.Hour, Threshold: 1,
		Hint: "a redeemed code or a rotated refresh token was presented again: a token may have been stolen"},
	{Name: "authenticator_locks", Type: "mfa.locked", Window: time.Hour, Threshold: 5,
		Hint: "several authenticators locked after 100 wrong codes: a guessing campaign or a clock fault"},
}

// Monitor counts events and evaluates rules.
type Monitor struct {
	store  storage.CounterStore
	rules  []Rule
	log    *slog.Logger
	now    func() time.Time
	reg    *prometheus.Registry
	events *prometheus.CounterVec
	alerts *prometheus.CounterVec
}

// New returns a monitor with its own registry (Go runtime and process
// metrics included).
func New(store storage.CounterStore, rules []Rule, log *slog.Logger, now func() time.Time) *Monitor {
	m := &Monitor{
		store: store, rules: rules, log: log, now: now,
		reg: prometheus.NewRegistry(),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asnidp_security_events_total",
			Help: "Security events by type and outcome, as recorded in the audit log.",
		}, []string{"type", "outcome"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asnidp_alerts_total",
			Help: "Alerts raised by this process.",
		}, []string{"alert"}),
	}
	m.reg.MustRegister(m.events, m.alerts,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Observe counts one event and raises the alerts it completes. A counter
// that cannot be written is logged: monitoring never fails a request.
func (m *Monitor) Observe(ctx context.Context, eventType, outcome string) {
	m.events.WithLabelValues(eventType, outcome).Inc()
	for _, r := range m.rules {
		if r.Type != eventType || (r.Outcome != "" && r.Outcome != outcome) {
			continue
		}
		n, err := m.store.IncrementCounter(context.WithoutCancel(ctx), "alert:"+r.Name, r.Window, m.now())
		if err != nil {
			m.log.WarnContext(ctx, "count event for alert", "alert", r.Name, "err", err)
			continue
		}
		// Exactly at the threshold: one alert per window across all
		// processes, however many events follow.
		if n == r.Threshold {
			m.alerts.WithLabelValues(r.Name).Inc()
			m.log.ErrorContext(ctx, "ALERT: "+r.Hint, "alert", r.Name, "events", n, "window", r.Window)
		}
	}
}

// Handler serves the metrics in the Prometheus text format.
func (m *Monitor) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
