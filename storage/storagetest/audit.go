package storagetest

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/asnidp/asnidp/storage"
)

func testAuditAppendAndQuery(t *testing.T, s storage.Store) {
	ctx := t.Context()
	full := &storage.AuditEvent{
		Time:      t0,
		Type:      "login.password",
		Outcome:   storage.OutcomeFailure,
		Reason:    "wrong password",
		NIP:       "198609262015051001",
		UserID:    "u1",
		ClientID:  "profil",
		IP:        "203.0.113.7",
		UserAgent: "Mozilla/5.0 (Android 14) ✓",
		Actor:     "",
		Detail:    "auth_request=ar_1",
	}
	must(t, s.AppendAudit(ctx, full))
	if full.ID == "" {
		t.Fatal("AppendAudit left the ID empty, want one assigned")
	}
	events := []*storage.AuditEvent{
		{Time: t0.Add(1 * time.Minute), Type: "login.password", Outcome: storage.OutcomeSuccess, NIP: "198609262015051001", UserID: "u1"},
		{Time: t0.Add(2 * time.Minute), Type: "mfa.verified", Outcome: storage.OutcomeSuccess, UserID: "u1"},
		{Time: t0.Add(3 * time.Minute), Type: "mfa.reset", Outcome: storage.OutcomeSuccess, NIP: "198609262024211001", UserID: "u1", Actor: "operator:budi"},
		{Time: t0.Add(4 * time.Minute), Type: "mfa_x.odd", Outcome: storage.OutcomeSuccess, UserID: "u2"},
		{Time: t0.Add(5 * time.Minute), Type: "login.password", Outcome: storage.OutcomeFailure, NIP: "199001012022032002", UserID: "u2"},
		{ID: "fixed-id", Time: t0.Add(5 * time.Minute), Type: "token.revoked", Outcome: storage.OutcomeSuccess, UserID: "u2", ClientID: "profil"},
	}
	for _, e := range events {
		must(t, s.AppendAudit(ctx, e))
	}

	all, err := s.AuditEvents(ctx, storage.AuditFilter{})
	must(t, err)
	if len(all) != 7 {
		t.Fatalf("AuditEvents() returned %d events, want 7", len(all))
	}
	if diff := cmp.Diff(full, all[0], cmpOpts...); diff != "" {
		t.Errorf("first event read back mismatch (-want +got):\n%s", diff)
	}

	ids := func(list []*storage.AuditEvent) []time.Duration {
		var out []time.Duration
		for _, e := range list {
			out = append(out, e.Time.Sub(t0)/time.Minute)
		}
		return out
	}
	tests := []struct {
		name   string
		filter storage.AuditFilter
		want   []time.Duration // minutes after t0, oldest first
	}{
		{"by NIP", storage.AuditFilter{NIP: "198609262015051001"}, []time.Duration{0, 1}},
		{"by user", storage.AuditFilter{UserID: "u1"}, []time.Duration{0, 1, 2, 3}},
		{"by NIP or user: an old NIP found through the sub", storage.AuditFilter{NIP: "198609262024211001", UserID: "u1"}, []time.Duration{0, 1, 2, 3}},
		{"exact type", storage.AuditFilter{Type: "login.password"}, []time.Duration{0, 1, 5}},
		{"type family", storage.AuditFilter{Type: "mfa"}, []time.Duration{2, 3}},
		{"any of several types and families", storage.AuditFilter{Types: []string{"mfa", "token.revoked"}}, []time.Duration{2, 3, 5}},
		{"types with a user and a limit", storage.AuditFilter{UserID: "u1", Types: []string{"login.password", "mfa.reset"}, Limit: 2}, []time.Duration{1, 3}},
		{"types are exact or families, nothing else", storage.AuditFilter{Types: []string{"mfa_", "%", "token.rev"}}, nil},
		{"type and types together", storage.AuditFilter{Type: "login", Types: []string{"mfa", "login.password"}}, []time.Duration{0, 1, 5}},
		{"family is not a prefix of other words", storage.AuditFilter{Type: "mfa_"}, nil},
		{"wildcards are inert", storage.AuditFilter{Type: "%"}, nil},
		{"since", storage.AuditFilter{Since: t0.Add(4 * time.Minute)}, []time.Duration{4, 5, 5}},
		{"limit keeps the most recent, oldest first", storage.AuditFilter{UserID: "u1", Limit: 2}, []time.Duration{2, 3}},
		{"combined", storage.AuditFilter{UserID: "u2", Type: "token", Since: t0}, []time.Duration{5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.AuditEvents(ctx, tc.filter)
			must(t, err)
			if !slices.Equal(ids(got), tc.want) {
				t.Errorf("AuditEvents(%+v) minutes = %v, want %v", tc.filter, ids(got), tc.want)
			}
		})
	}

	// Same microsecond: the order of writing is kept (IDs are time-ordered).
	last, err := s.AuditEvents(ctx, storage.AuditFilter{UserID: "u2", Since: t0.Add(5 * time.Minute)})
	must(t, err)
	if len(last) != 2 || last[0].Type != "login.password" || last[1].ID != "fixed-id" {
		t.Errorf("events of one microsecond = %v, want login.password then token.revoked", last)
	}

	if err := s.AppendAudit(ctx, &storage.AuditEvent{Time: t0}); err == nil {
		t.Error("AppendAudit without a type = nil, want an error")
	}
}
