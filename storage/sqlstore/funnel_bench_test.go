package sqlstore_test

import (
	"testing"
	"time"

	"github.com/asnidp/asnidp/storage"
	"github.com/asnidp/asnidp/storage/sqlstore"
	"github.com/asnidp/asnidp/storage/sqlstore/sqlstoretest"
)

// The console's funnel pages on the national campaign (1,000,000
// accounts, 500 agencies; see sqlstoretest.FunnelSQLite). Each page reads
// the funnel and the 30-day activation trend; the target is under 300 ms
// a page. The first run seeds the campaign, later runs reuse it:
//
//	go test ./storage/sqlstore -run '^$' -bench Funnel -benchtime 20x
func BenchmarkFunnel(b *testing.B) {
	for _, e := range sqlstoretest.FunnelStores {
		b.Run(e.Name, func(b *testing.B) {
			s := e.Open(b)
			checkCampaign(b, s)
			since := sqlstoretest.FunnelNow.Add(-30 * 24 * time.Hour)
			page := func(b *testing.B, instansi string) {
				for b.Loop() {
					if _, err := s.ActivationFunnel(b.Context(), storage.FunnelFilter{Instansi: instansi, SignedInSince: since}); err != nil {
						b.Fatal(err)
					}
					if _, err := s.ActivationTrend(b.Context(), storage.TrendFilter{Instansi: instansi, From: since, Days: 30}); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.Run("national_page", func(b *testing.B) { page(b, "") })
			b.Run("biggest_agency_page", func(b *testing.B) { page(b, sqlstoretest.FunnelBigAgency) })
			b.Run("agency_page", func(b *testing.B) { page(b, sqlstoretest.FunnelAgency(250)) })
			b.Run("pending_page", func(b *testing.B) {
				// Half way down the biggest agency's list: keyset pages cost
				// the same at any depth.
				half := pendingAt(b, s, sqlstoretest.FunnelBigPending/2)
				for b.Loop() {
					if _, err := s.PendingUsers(b.Context(), storage.PendingFilter{Instansi: sqlstoretest.FunnelBigAgency}, half, 50); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("pending_unit_page", func(b *testing.B) {
				for b.Loop() {
					if _, err := s.PendingUsers(b.Context(), storage.PendingFilter{Instansi: sqlstoretest.FunnelBigAgency,
						UnitKerja: "Unit Kerja 07"}, "", 50); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// checkCampaign stops a benchmark that would time a store without the
// campaign in it.
func checkCampaign(b *testing.B, s *sqlstore.Store) {
	b.Helper()
	agencies, err := s.ActivationFunnel(b.Context(), storage.FunnelFilter{})
	if err != nil {
		b.Fatal(err)
	}
	var total storage.Funnel
	for _, a := range agencies {
		total = total.Plus(a)
	}
	if len(agencies) != sqlstoretest.FunnelAgencies || total.Total() != sqlstoretest.FunnelAccounts {
		b.Fatalf("campaign store holds %d agencies, %d accounts; want %d, %d",
			len(agencies), total.Total(), sqlstoretest.FunnelAgencies, sqlstoretest.FunnelAccounts)
	}
}

// pendingAt is the NIP of the n-th pending account of the biggest agency.
func pendingAt(b *testing.B, s *sqlstore.Store, n int) string {
	b.Helper()
	after := ""
	for n > 0 {
		page, err := s.PendingUsers(b.Context(), storage.PendingFilter{Instansi: sqlstoretest.FunnelBigAgency}, after, min(n, storage.MaxPendingPage))
		if err != nil || len(page) == 0 {
			b.Fatalf("PendingUsers = %d accounts, %v", len(page), err)
		}
		after, n = page[len(page)-1].NIP, n-len(page)
	}
	return after
}
