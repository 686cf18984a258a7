package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asnidp/asnidp/internal/optest"
)

// captured is a slog handler that keeps every record, debug included.
type captured struct {
	mu      sync.Mutex
	records []slog.Record
}

func (c *captured) Enabled(context.Context, slog.Level) bool { return true }
func (c *captured) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *captured) WithGroup(string) slog.Handler            { return c }
func (c *captured) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.records = append(c.records, r.Clone())
	return nil
}

// find returns the level of the first record whose message is msg.
func (c *captured) find(msg string) (slog.Level, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.IndexFunc(c.records, func(r slog.Record) bool { return r.Message == msg })
	if i < 0 {
		return 0, false
	}
	return c.records[i].Level, true
}

func (c *captured) atLeast(level slog.Level) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, r := range c.records {
		if r.Level >= level {
			out = append(out, r.Level.String()+" "+r.Message)
		}
	}
	return out
}

// A visitor without a session comes back from the silent sign-in check
// with login_required; that is the normal way in, so the demo logs it at
// debug level. An error answered to an interactive sign-in stays a
// warning.
func TestCallback_SilentLoginRequiredIsNoWarning(t *testing.T) {
	tests := []struct {
		name      string
		silent    bool
		error     string
		wantMsg   string
		wantLevel slog.Level
		wantTo    string
	}{
		{"silent check, not signed in", true, "login_required", "silent sign-in declined by the provider", slog.LevelDebug, "/masuk"},
		{"interactive sign-in refused", false, "access_denied", "sign-in refused by the provider", slog.LevelWarn, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig(nil, func(string) string { return "" }, io.Discard)
			if err != nil {
				t.Fatalf("parseConfig: %v", err)
			}
			logs := &captured{}
			a, err := newApp(cfg, cfg.Apps[0], slog.New(logs), time.Now)
			if err != nil {
				t.Fatalf("newApp: %v", err)
			}
			p, _ := json.Marshal(pending{State: "st-1", Nonce: "n", Verifier: "v", Silent: tc.silent})
			set := httptest.NewRecorder()
			if err := a.pendingCookies.SetCookie(set, a.pendingCookie(), string(p)); err != nil {
				t.Fatalf("SetCookie: %v", err)
			}
			req := httptest.NewRequest(http.MethodGet, "/callback?"+url.Values{"state": {"st-1"}, "error": {tc.error}}.Encode(), nil)
			for _, c := range set.Result().Cookies() {
				req.AddCookie(c)
			}
			rec := httptest.NewRecorder()
			a.ServeHTTP(rec, req)

			if tc.wantTo != "" && (rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != tc.wantTo) {
				t.Errorf("callback = %d to %q, want 303 to %s", rec.Code, rec.Header().Get("Location"), tc.wantTo)
			}
			level, ok := logs.find(tc.wantMsg)
			if !ok || level != tc.wantLevel {
				t.Errorf("log record %q: found %v at %v, want it at %v", tc.wantMsg, ok, level, tc.wantLevel)
			}
			if tc.wantLevel < slog.LevelWarn {
				if loud := logs.atLeast(slog.LevelWarn); len(loud) > 0 {
					t.Errorf("records at WARN or above: %q, want none", loud)
				}
			}
		})
	}
}

// testSignedOutVisitLogsNoWarning: the OP answers the silent check of a
// signed-out visitor with login_required without a warning in its log,
// where the development mail lines are read.
func testSignedOutVisitLogsNoWarning(t *testing.T, d *demo) {
	b := optest.NewBrowser(t)
	landing, trail := b.Follow(d.riwayatURL + "/")
	if landing.URL.Path != "/masuk" || !trailHas(trail, "error=login_required") {
		t.Fatalf("signed-out visit ended at %s, trail %v; want /masuk after login_required", landing.URL, trail)
	}
	for _, line := range strings.Split(d.op.Logs(), "\n") {
		if strings.Contains(line, "login_required") && (strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR")) {
			t.Errorf("asnidp logged the silent check's login_required as a problem:\n%s", line)
		}
	}
}
