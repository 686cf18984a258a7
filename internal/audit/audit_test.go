package audit

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/asnidp/asnidp/storage"
	"github.com/asnidp/asnidp/storage/sqlstore/sqlstoretest"
)

var t0 = time.Date(2025, time.June, 2, 8, 0, 0, 0, time.UTC)

func TestRecorder_StoresAndLogs(t *testing.T) {
	store := sqlstoretest.New(t)
	var logs bytes.Buffer
	r := New(store, slog.New(slog.NewTextHandler(&logs, nil)), func() time.Time { return t0 })
	ctx := WithRequest(t.Context(), "203.0.113.7", "Mozilla/5.0 (Linux; Android 14)")

	r.Record(ctx, storage.AuditEvent{Type: LoginPassword, Outcome: Failure, Reason: "wrong password", NIP: "198609262015051001"})
	r.Record(ctx, storage.AuditEvent{Type: MFAVerified, UserID: "u1", IP: "198.51.100.1"})

	got, err := store.AuditEvents(t.Context(), storage.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []*storage.AuditEvent{
		{Time: t0, Type: LoginPassword, Outcome: Failure, Reason: "wrong password", NIP: "198609262015051001",
			IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (Linux; Android 14)"},
		// An IP set by the caller wins over the request's; the outcome
		// defaults to success.
		{Time: t0, Type: MFAVerified, Outcome: Success, UserID: "u1", IP: "198.51.100.1", UserAgent: "Mozilla/5.0 (Linux; Android 14)"},
	}
	opts := []cmp.Option{cmpopts.IgnoreFields(storage.AuditEvent{}, "ID"), cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })}
	if diff := cmp.Diff(want, got, opts...); diff != "" {
		t.Errorf("stored events mismatch (-want +got):\n%s", diff)
	}
	for _, line := range []string{
		`level=WARN msg=audit type=login.password outcome=failure reason="wrong password" nip=198609262015051001 ip=203.0.113.7`,
		`level=INFO msg=audit type=mfa.verified outcome=success sub=u1 ip=198.51.100.1`,
	} {
		if !strings.Contains(logs.String(), line) {
			t.Errorf("log lacks %q; log:\n%s", line, logs.String())
		}
	}
}

// A hostile user agent can neither forge a log line nor flood a row.
func TestRecorder_BoundsAndCleansFields(t *testing.T) {
	store := sqlstoretest.New(t)
	var logs bytes.Buffer
	r := New(store, slog.New(slog.NewTextHandler(&logs, nil)), func() time.Time { return t0 })
	ua := "evil\nlevel=INFO msg=audit type=login.succeeded\r\x00" + strings.Repeat("é", 400) + "\xff"
	r.Record(WithRequest(t.Context(), "203.0.113.7", ua), storage.AuditEvent{Type: LoginPassword, Reason: "x\ty"})

	got, err := store.AuditEvents(t.Context(), storage.AuditFilter{})
	if err != nil || len(got) != 1 {
		t.Fatalf("AuditEvents = %v, %v; want one event", got, err)
	}
	e := got[0]
	if strings.ContainsAny(e.UserAgent, "\n\r\x00\t") || strings.ContainsAny(e.Reason, "\t") {
		t.Errorf("stored fields keep control characters: %q, %q", e.UserAgent, e.Reason)
	}
	if len(e.UserAgent) > maxUserAgent || !strings.HasPrefix(e.UserAgent, "evillevel=INFO") {
		t.Errorf("stored user agent %q (%d bytes), want the cleaned value cut to at most %d bytes", e.UserAgent, len(e.UserAgent), maxUserAgent)
	}
	if strings.Count(logs.String(), "\n") != 1 {
		t.Errorf("one event logged as %d lines:\n%s", strings.Count(logs.String(), "\n"), logs.String())
	}
}

func TestRecorder_NilRecordsNothing(t *testing.T) {
	var r *Recorder
	r.Record(t.Context(), storage.AuditEvent{Type: LoginPassword}) // must not panic
}

// A failing store does not fail the caller; the failure is logged.
func TestRecorder_StoreFailureIsLogged(t *testing.T) {
	store := sqlstoretest.New(t)
	store.Close()
	var logs bytes.Buffer
	r := New(store, slog.New(slog.NewTextHandler(&logs, nil)), func() time.Time { return t0 })
	r.Record(context.Background(), storage.AuditEvent{Type: UserDisabled, NIP: "198609262015051001"})
	if !strings.Contains(logs.String(), `msg="write audit event" type=user.disabled`) {
		t.Errorf("store failure not logged; log:\n%s", logs.String())
	}
}

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"direct peer", "203.0.113.7:5555", nil, nil, "203.0.113.7"},
		{"forwarding header ignored without trusted proxies", "203.0.113.7:5555", []string{"1.2.3.4"}, nil, "203.0.113.7"},
		{"forwarding header from an untrusted peer ignored", "203.0.113.7:5555", []string{"1.2.3.4"}, trusted, "203.0.113.7"},
		{"trusted proxy: right-most untrusted hop", "10.0.0.1:443", []string{"1.2.3.4, 198.51.100.9, 10.0.0.2"}, trusted, "198.51.100.9"},
		{"several headers", "10.0.0.1:443", []string{"1.2.3.4", "198.51.100.9"}, trusted, "198.51.100.9"},
		{"garbled hop stops the walk", "10.0.0.1:443", []string{"198.51.100.9, garbage"}, trusted, "10.0.0.1"},
		{"IPv4-mapped IPv6 peer", "[::ffff:203.0.113.7]:5555", nil, nil, "203.0.113.7"},
		{"IPv6 peer", "[2001:db8::1]:5555", nil, nil, "2001:db8::1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := ClientIP(r, tc.trusted); got != tc.want {
				t.Errorf("ClientIP(remote %s, XFF %q) = %q, want %q", tc.remote, tc.xff, got, tc.want)
			}
		})
	}
}

func TestMiddleware_PutsRequestOnContext(t *testing.T) {
	store := sqlstoretest.New(t)
	r := New(store, slog.New(slog.DiscardHandler), func() time.Time { return t0 })
	h := Middleware(nil, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.Record(req.Context(), storage.AuditEvent{Type: TokenRevoked, ClientID: "profil"})
	}))
	req := httptest.NewRequest(http.MethodPost, "/revoke", nil)
	req.RemoteAddr = "198.51.100.4:1234"
	req.Header.Set("User-Agent", "rp-library/1.0")
	h.ServeHTTP(httptest.NewRecorder(), req)
	got, err := store.AuditEvents(t.Context(), storage.AuditFilter{Type: TokenRevoked})
	if err != nil || len(got) != 1 || got[0].IP != "198.51.100.4" || got[0].UserAgent != "rp-library/1.0" {
		t.Errorf("event recorded in a handler = %+v, %v; want IP 198.51.100.4 and the user agent", got, err)
	}
}

func TestOperator(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"budi", "operator:budi"},
		{"", "operator"},
		{" \n", "operator"},
	} {
		if got := Operator(tc.in); got != tc.want {
			t.Errorf("Operator(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
