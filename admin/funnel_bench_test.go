package admin

import (
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/access"
	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/confirm"
	"github.com/asnidp/asnidp/internal/i18n"
	"github.com/asnidp/asnidp/internal/seal"
	"github.com/asnidp/asnidp/internal/useradmin"
	"github.com/asnidp/asnidp/storage"
	"github.com/asnidp/asnidp/storage/sqlstore/sqlstoretest"
)

// BenchmarkFunnelPage renders the console's funnel pages whole (queries,
// rows, sorting, the trend chart, the template) on the national campaign
// of 1,000,000 accounts over 500 agencies, as a national operator. The
// target is under 300 ms a page on each engine. The first run seeds the
// campaign (see sqlstoretest.FunnelSQLite), later runs reuse it:
//
//	go test ./admin -run '^$' -bench FunnelPage -benchtime 10x
func BenchmarkFunnelPage(b *testing.B) {
	for _, e := range sqlstoretest.FunnelStores {
		b.Run(e.Name, func(b *testing.B) {
			s := e.Open(b)
			h, op := funnelBenchHandler(b, s)
			page := func(b *testing.B, target string, serve func(echo.Context) error) {
				for b.Loop() {
					rec := httptest.NewRecorder()
					c := h.echo.NewContext(httptest.NewRequest(http.MethodGet, target, nil), rec)
					c.Set(operatorKey, op)
					if err := serve(c); err != nil || rec.Code != http.StatusOK || rec.Body.Len() < 1000 {
						b.Fatalf("%s = %d (%d bytes), %v", target, rec.Code, rec.Body.Len(), err)
					}
				}
			}
			b.Run("national_page", func(b *testing.B) { page(b, Path+"/?sort=rate&desc=true", h.home) })
			b.Run("biggest_agency_page", func(b *testing.B) {
				page(b, Path+"/agency?instansi="+urlQuery(sqlstoretest.FunnelBigAgency), h.agency)
			})
		})
	}
}

// funnelBenchHandler builds the console over s with a national operator
// (granted to one of the campaign's accounts; the grant is idempotent).
func funnelBenchHandler(b *testing.B, s storage.Store) (*Handler, *storage.Operator) {
	b.Helper()
	ctx := b.Context()
	key := make([]byte, 32)
	rand.Read(key)
	sealer, err := seal.New(key)
	if err != nil {
		b.Fatal(err)
	}
	catalog, err := i18n.New()
	if err != nil {
		b.Fatal(err)
	}
	now := func() time.Time { return sqlstoretest.FunnelNow }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rec := audit.New(s, log, now)
	h, err := New(Options{Issuer: "http://127.0.0.1:8080", BaseURL: "http://127.0.0.1:8080" + Path}, Deps{
		Store: s, Guard: access.New(s, rec), Confirm: confirm.New(sealer.DeriveKey("console-confirm"), s, confirm.Options{Now: now}),
		Accounts: func(string) *useradmin.Admin { return nil }, Audit: rec, Sealer: sealer, Catalog: catalog, Now: now, Logger: log,
	})
	if err != nil {
		b.Fatal(err)
	}
	users, err := s.PendingUsers(ctx, storage.PendingFilter{Instansi: sqlstoretest.FunnelBigAgency}, "", 1)
	if err != nil || len(users) != 1 {
		b.Fatalf("a campaign account: %v, %v", users, err)
	}
	op := &storage.Operator{UserID: users[0].ID, Role: storage.RoleNational}
	if got, err := s.OperatorByUserID(ctx, op.UserID); err != nil || got.Role != storage.RoleNational {
		if err := s.GrantOperator(ctx, op, &storage.AuditEvent{Type: audit.OperatorGranted, Time: now(), UserID: op.UserID}); err != nil {
			b.Fatal(err)
		}
	}
	return h, op
}
