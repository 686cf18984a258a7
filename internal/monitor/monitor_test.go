package monitor

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asnidp/asnidp/internal/optest"
	"github.com/asnidp/asnidp/storage/sqlstore/sqlstoretest"
)

// H6: a burst of wrong TOTP codes (a server clock two minutes off makes
// every code wrong) raises one alert, counted across processes: two
// monitors on one database share the count.
func TestMonitor_TOTPFailureRateAlert_H6(t *testing.T) {
	store := sqlstoretest.New(t)
	var logs optest.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	now := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	rules := []Rule{{Name: "totp_failure_rate", Type: "mfa.failed", Window: 10 * time.Minute, Threshold: 20, Hint: "check the clocks"}}
	nodeA, nodeB := New(store, rules, log, clock), New(store, rules, log, clock)

	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			node := nodeA
			if i%2 == 1 {
				node = nodeB
			}
			node.Observe(t.Context(), "mfa.failed", "failure")
		})
	}
	wg.Wait()
	nodeA.Observe(t.Context(), "mfa.verified", "success")

	if got := strings.Count(logs.String(), "ALERT: check the clocks"); got != 1 {
		t.Errorf("alerts logged = %d, want exactly 1 for 30 failures over a threshold of 20:\n%s", got, logs.String())
	}
	var metrics strings.Builder
	for _, node := range []*Monitor{nodeA, nodeB} {
		rec := httptest.NewRecorder()
		node.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		b, _ := io.ReadAll(rec.Body)
		metrics.Write(b)
	}
	for _, want := range []string{
		`asnidp_security_events_total{outcome="failure",type="mfa.failed"} 15`,
		`asnidp_alerts_total{alert="totp_failure_rate"} 1`,
		`asnidp_security_events_total{outcome="success",type="mfa.verified"} 1`,
	} {
		if !strings.Contains(metrics.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// A new window starts a new count.
	now = now.Add(10 * time.Minute)
	for range 19 {
		nodeA.Observe(t.Context(), "mfa.failed", "failure")
	}
	if got := strings.Count(logs.String(), "ALERT"); got != 1 {
		t.Errorf("alerts after 19 failures in a fresh window = %d, want still 1", got)
	}
}
