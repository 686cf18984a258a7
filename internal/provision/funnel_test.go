package provision

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/asnidp/asnidp/storage"
	"github.com/asnidp/asnidp/storage/sqlstore"
	"github.com/asnidp/asnidp/storage/sqlstore/sqlstoretest"
)

// campaign brings accounts to every state through the store's own
// operations, with the edge cases of a real campaign: a password without
// an authenticator (signed in or not), an authenticator reset, accounts
// disabled before and after activating, one enabled again, an
// authenticator bound while disabled, an agency whose accounts are all
// disabled, accounts without an agency, and a name a spreadsheet would
// run.
func campaign(t *testing.T, s *sqlstore.Store, now time.Time) {
	t.Helper()
	ctx := t.Context()
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	add := func(instansi string, steps ...func(id string)) {
		n++
		id := fmt.Sprintf("c%03d", n)
		check(s.UpsertUserProfiles(ctx, []*storage.User{{ID: id, NIP: nipFor(n), Name: "Pegawai " + id,
			Instansi: instansi, UnitKerja: "Unit " + fmt.Sprint(n%3), State: storage.StateProvisioned}}, nil, now.AddDate(0, -3, 0)))
		for _, step := range steps {
			step(id)
		}
	}
	password := func(id string) { check(s.SetPassword(ctx, id, "$argon2id$"+id, now.AddDate(0, -2, 0))) }
	bind := func(id string) { check(s.BindTOTP(ctx, id, []byte("seed-"+id), 1, now.AddDate(0, -2, 0))) }
	login := func(ago time.Duration) func(string) {
		return func(id string) { check(s.RecordLogin(ctx, id, now.Add(-ago))) }
	}
	disable := func(id string) { check(s.DisableUser(ctx, id, now)) }
	enable := func(id string) { _, err := s.EnableUser(ctx, id, now); check(err) }
	reset := func(id string) { check(s.ResetTOTP(ctx, id, now)) }
	lock := func(id string) { _, err := s.RecordPasswordFailure(ctx, id, time.Time{}, true, now); check(err) }
	day := 24 * time.Hour

	for range 3 {
		add("Pemerintah Kota Bandung")
	}
	add("Pemerintah Kota Bandung", password)
	add("Pemerintah Kota Bandung", password, login(time.Hour)) // past the password, no authenticator yet
	add("Pemerintah Kota Bandung", password, lock)
	add("Pemerintah Kota Bandung", password, bind, login(time.Hour))
	add("Pemerintah Kota Bandung", password, bind, login(29*day))
	add("Pemerintah Kota Bandung", password, bind, login(31*day))
	add("Pemerintah Kota Bandung", password, bind) // never signed in since
	add("Pemerintah Kota Bandung", password, bind, login(time.Hour), reset)
	add("Pemerintah Kota Bandung", password, bind, login(time.Hour), disable)
	add("Pemerintah Kota Bandung", disable)
	add("Pemerintah Kota Bandung", password, bind, disable, enable, login(2*day))
	add("Pemerintah Kota Bandung", password, disable, enable)
	add("Badan Kepegawaian Negara", password, bind, login(day))
	add("Badan Kepegawaian Negara", disable, password, bind) // bound while disabled: stays disabled
	add("Badan Kepegawaian Negara")
	add("Dinas Tutup", disable)
	add("Dinas Tutup", password, bind, disable)
	add("")
	add("", password, bind, login(day))
	add("=SUM(A1)", password)
}

// The funnel's counts are the activation report's, on the same data, for
// every agency, for one agency and in total; its pending counts are the
// lengths of the pending lists.
func testFunnelMatchesReport(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	now := time.Date(2025, time.June, 2, 8, 0, 0, 0, time.UTC)
	campaign(t, s, now)

	report, err := ActivationCounts(ctx, s, storage.UserFilter{}, storage.GroupInstansi)
	if err != nil {
		t.Fatal(err)
	}
	funnel, err := ActivationFunnel(ctx, s, "", now)
	if err != nil {
		t.Fatal(err)
	}
	var fromFunnel []Activation
	for _, a := range funnel.Agencies {
		fromFunnel = append(fromFunnel, activation(a.Instansi, "", a.StateTally))
	}
	if diff := cmp.Diff(report.Groups, fromFunnel); diff != "" {
		t.Errorf("funnel per agency differs from `report activation --by instansi` (-report +funnel):\n%s", diff)
	}
	if diff := cmp.Diff(report.Total, activation("", "", funnel.Total.StateTally)); diff != "" {
		t.Errorf("funnel total differs from the report's (-report +funnel):\n%s", diff)
	}
	if got := activation("", "", funnel.Total.StateTally); got.Total != 23 || got.Disabled != 5 || got.Active != 7 {
		t.Errorf("funnel total = %+v, want 23 accounts, 5 disabled, 7 active", got)
	}

	for _, g := range report.Groups {
		one, err := ActivationCounts(ctx, s, storage.UserFilter{Instansi: g.Instansi}, storage.GroupNone)
		if err != nil {
			t.Fatal(err)
		}
		f, err := ActivationFunnel(ctx, s, g.Instansi, now)
		if err != nil {
			t.Fatal(err)
		}
		if g.Instansi == "" {
			// An empty name asks for every agency; the group of accounts
			// without one is checked above.
			continue
		}
		if len(f.Agencies) != 1 {
			t.Fatalf("ActivationFunnel(%q) = %d agencies, want 1", g.Instansi, len(f.Agencies))
		}
		if diff := cmp.Diff(one.Total, activation("", "", f.Total.StateTally)); diff != "" {
			t.Errorf("%q: funnel differs from `report activation --instansi` (-report +funnel):\n%s", g.Instansi, diff)
		}
		var b bytes.Buffer
		listed, err := WritePending(ctx, s, g.Instansi, &b, CSVReport)
		if err != nil {
			t.Fatal(err)
		}
		if listed != f.Total.Pending() {
			t.Errorf("%q: `report activation --pending` lists %d, the funnel counts %d pending", g.Instansi, listed, f.Total.Pending())
		}
	}

	// The last step: active accounts signed in within 30 days, whatever
	// else signed in.
	bandung, err := ActivationFunnel(ctx, s, "Pemerintah Kota Bandung", now)
	if err != nil {
		t.Fatal(err)
	}
	want := storage.Funnel{Instansi: "Pemerintah Kota Bandung",
		StateTally: storage.StateTally{Provisioned: 3, PasswordSet: 5, Active: 5, Disabled: 2}, SignedIn: 3}
	if diff := cmp.Diff(want, bandung.Agencies[0]); diff != "" {
		t.Errorf("funnel of Bandung mismatch (-want +got):\n%s", diff)
	}
	if !bandung.Since.Equal(now.Add(-30 * 24 * time.Hour)) {
		t.Errorf("funnel Since = %v, want 30 days before %v", bandung.Since, now)
	}
}

func TestFunnelMatchesReport_SQLite(t *testing.T) { testFunnelMatchesReport(t, newStore(t)) }

func TestFunnelMatchesReport_Postgres(t *testing.T) {
	testFunnelMatchesReport(t, sqlstoretest.NewPostgres(t))
}
