package sqlstore

import (
	"strings"
	"testing"

	"github.com/asnidp/asnidp/storage"
)

// The funnel's queries read their own indexes on SQLite even without
// ANALYZE statistics (a deployment's file has none): never the table
// from end to end, never a sort of the pending list. A query edited so
// that it no longer matches a partial index's condition fails here.
func TestSQLite_FunnelQueryPlans(t *testing.T) {
	s := newSQLiteStore(t)
	pending := func(f storage.PendingFilter) (string, []any) {
		q, args, err := pendingQuery(f, "", 50)
		if err != nil {
			t.Fatal(err)
		}
		return q, args
	}
	tests := []struct {
		name  string
		query func() (string, []any)
		want  string
	}{
		{"national funnel", func() (string, []any) { return funnelQuery(storage.FunnelFilter{}) }, "COVERING INDEX users_funnel"},
		{"agency funnel", func() (string, []any) { return funnelQuery(storage.FunnelFilter{Instansi: "BKN"}) }, "COVERING INDEX users_funnel"},
		{"national trend", func() (string, []any) { return trendQuery("", 1, 2) }, "INDEX users_activated"},
		{"agency trend", func() (string, []any) { return trendQuery("BKN", 1, 2) }, "INDEX users_instansi_activated"},
		{"agency pending", func() (string, []any) { return pending(storage.PendingFilter{Instansi: "BKN"}) }, "INDEX users_pending "},
		{"unit pending", func() (string, []any) {
			return pending(storage.PendingFilter{Instansi: "BKN", UnitKerja: "Biro SDM"})
		}, "INDEX users_pending_unit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			query, args := tc.query()
			rows, err := s.db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			all := strings.Join(plan, "; ")
			if !strings.Contains(all+" ", tc.want) {
				t.Errorf("plan %q, want it to use %s", all, tc.want)
			}
			if strings.Contains(all, "TEMP B-TREE FOR ORDER BY") {
				t.Errorf("plan %q sorts: the index should give the order", all)
			}
		})
	}
}
