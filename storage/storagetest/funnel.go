package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/asnidp/asnidp/storage"
)

// funnelPopulation creates accounts through the store's own operations, as
// the pages and the CLI leave them, and returns the time the "recent"
// sign-ins are counted from. Per agency:
//
//	BKN:        2 provisioned, 1 password_set (signed in recently, no
//	            authenticator), 3 active (1 signed in recently, 1 long
//	            ago, 1 exactly at the boundary), 1 disabled (signed in
//	            recently), 1 reset back to password_set (signed in
//	            recently)
//	Kemenkes:   1 active, never signed in
//	Zeta, bkn:  1 provisioned each (byte order: "BKN" < "Kemenkes" <
//	            "Zeta" < "bkn")
func funnelPopulation(t *testing.T, s storage.Store) time.Time {
	t.Helper()
	ctx := t.Context()
	since := t0.Add(-30 * 24 * time.Hour)
	n := 0
	add := func(instansi string, steps ...func(id string)) {
		n++
		id := fmt.Sprintf("f%02d", n)
		must(t, s.CreateUser(ctx, importedUser(id, seqNIP(n), instansi, "Biro SDM")))
		for _, step := range steps {
			step(id)
		}
	}
	password := func(id string) { must(t, s.SetPassword(ctx, id, "$argon2id$"+id, t0.Add(-40*24*time.Hour))) }
	bind := func(id string) { must(t, s.BindTOTP(ctx, id, []byte("seed-"+id), 1, t0.Add(-35*24*time.Hour))) }
	login := func(at time.Time) func(string) {
		return func(id string) { must(t, s.RecordLogin(ctx, id, at)) }
	}
	recent := login(t0.Add(-time.Hour))
	add("BKN")
	add("BKN")
	add("BKN", password, recent)
	add("BKN", password, bind, recent)
	add("BKN", password, bind, login(since.Add(-time.Second)))
	add("BKN", password, bind, login(since))
	add("BKN", password, bind, recent, func(id string) { must(t, s.DisableUser(ctx, id, t0)) })
	add("BKN", password, bind, recent, func(id string) { must(t, s.ResetTOTP(ctx, id, t0)) })
	add("Kemenkes", password, bind)
	add("Zeta")
	add("bkn")
	return since
}

func testActivationFunnel(t *testing.T, s storage.Store) {
	ctx := t.Context()
	since := funnelPopulation(t, s)
	type st = storage.StateTally
	bkn := storage.Funnel{Instansi: "BKN", StateTally: st{Provisioned: 2, PasswordSet: 2, Active: 3, Disabled: 1}, SignedIn: 2}
	kemenkes := storage.Funnel{Instansi: "Kemenkes", StateTally: st{Active: 1}}
	zeta := storage.Funnel{Instansi: "Zeta", StateTally: st{Provisioned: 1}}
	lower := storage.Funnel{Instansi: "bkn", StateTally: st{Provisioned: 1}}
	tests := []struct {
		name   string
		filter storage.FunnelFilter
		want   []storage.Funnel
	}{
		{"every agency", storage.FunnelFilter{SignedInSince: since}, []storage.Funnel{bkn, kemenkes, zeta, lower}},
		{"one agency", storage.FunnelFilter{Instansi: "BKN", SignedInSince: since}, []storage.Funnel{bkn}},
		{"agency names are exact", storage.FunnelFilter{Instansi: "bkn", SignedInSince: since}, []storage.Funnel{lower}},
		{"a later boundary", storage.FunnelFilter{Instansi: "BKN", SignedInSince: since.Add(time.Second)},
			[]storage.Funnel{{Instansi: "BKN", StateTally: bkn.StateTally, SignedIn: 1}}},
		{"no boundary: every active account that signed in", storage.FunnelFilter{Instansi: "BKN"},
			[]storage.Funnel{{Instansi: "BKN", StateTally: bkn.StateTally, SignedIn: 3}}},
		{"unknown agency", storage.FunnelFilter{Instansi: "nobody", SignedInSince: since}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ActivationFunnel(ctx, tc.filter)
			must(t, err)
			if diff := cmp.Diff(tc.want, got, cmpOpts...); diff != "" {
				t.Errorf("ActivationFunnel(%+v) mismatch (-want +got):\n%s", tc.filter, diff)
			}
		})
	}

	// The state counts are CountUsers' counts.
	counts, err := s.CountUsers(ctx, storage.UserFilter{}, storage.GroupInstansi)
	must(t, err)
	fromCounts := map[string]storage.StateTally{}
	for _, c := range counts {
		tally := fromCounts[c.Instansi]
		tally.Add(c.State, c.Count)
		fromCounts[c.Instansi] = tally
	}
	funnel, err := s.ActivationFunnel(ctx, storage.FunnelFilter{})
	must(t, err)
	fromFunnel := map[string]storage.StateTally{}
	for _, f := range funnel {
		fromFunnel[f.Instansi] = f.StateTally
	}
	if diff := cmp.Diff(fromCounts, fromFunnel); diff != "" {
		t.Errorf("ActivationFunnel states differ from CountUsers (-CountUsers +ActivationFunnel):\n%s", diff)
	}

	var total storage.Funnel
	for _, f := range funnel {
		total = total.Plus(f)
	}
	if total.Total() != 11 || total.InService() != 10 || total.WithPassword() != 6 || total.Active != 4 || total.Pending() != 6 {
		t.Errorf("national total = %+v: total %d, in service %d, with password %d, pending %d; want 11, 10, 6, 4 active, 6",
			total, total.Total(), total.InService(), total.WithPassword(), total.Pending())
	}
}

func testActivationTrend(t *testing.T, s storage.Store) {
	ctx := t.Context()
	wib := time.FixedZone("WIB", 7*3600)
	day := func(d, h, m int) time.Time { return time.Date(2025, time.May, d, h, m, 0, 0, wib) }
	n := 0
	activate := func(instansi string, at time.Time) string {
		n++
		id := fmt.Sprintf("t%02d", n)
		must(t, s.CreateUser(ctx, importedUser(id, seqNIP(n), instansi, "Biro SDM")))
		must(t, s.SetPassword(ctx, id, "$argon2id$"+id, at.Add(-time.Minute)))
		must(t, s.BindTOTP(ctx, id, []byte("seed-"+id), 1, at))
		return id
	}
	activate("BKN", day(9, 23, 59))  // before the window
	activate("BKN", day(10, 0, 0))   // its first instant
	activate("BKN", day(10, 23, 59)) // 16:59 UTC: still the 10th in WIB
	activate("BKN", day(11, 0, 1))   // 17:01 UTC on the 10th: the 11th in WIB
	activate("Kemenkes", day(11, 12, 0))
	reset := activate("BKN", day(13, 8, 0))
	must(t, s.ResetTOTP(ctx, reset, day(14, 8, 0)))
	must(t, s.BindTOTP(ctx, reset, []byte("seed-again"), 2, day(14, 9, 0))) // counts on the 13th only
	disabled := activate("BKN", day(13, 9, 0))
	must(t, s.DisableUser(ctx, disabled, day(14, 0, 0))) // still activated on the 13th
	activate("BKN", day(15, 0, 0))                       // after the window
	must(t, s.CreateUser(ctx, importedUser("never", seqNIP(99), "BKN", "Biro SDM")))

	counts := func(from time.Time, c ...int) []storage.DayCount {
		out := make([]storage.DayCount, len(c))
		for i := range c {
			out[i] = storage.DayCount{Day: from.AddDate(0, 0, i), Count: c[i]}
		}
		return out
	}
	tests := []struct {
		name   string
		filter storage.TrendFilter
		want   []storage.DayCount
	}{
		{"every agency", storage.TrendFilter{From: day(10, 0, 0), Days: 5}, counts(day(10, 0, 0), 2, 2, 0, 2, 0)},
		{"one agency", storage.TrendFilter{Instansi: "BKN", From: day(10, 0, 0), Days: 5}, counts(day(10, 0, 0), 2, 1, 0, 2, 0)},
		{"from inside a day starts at its midnight", storage.TrendFilter{From: day(11, 15, 30), Days: 1}, counts(day(11, 0, 0), 2)},
		{"the same instants in UTC", storage.TrendFilter{Instansi: "BKN", From: time.Date(2025, time.May, 10, 0, 0, 0, 0, time.UTC), Days: 1},
			counts(time.Date(2025, time.May, 10, 0, 0, 0, 0, time.UTC), 2)},
		{"unknown agency", storage.TrendFilter{Instansi: "nobody", From: day(10, 0, 0), Days: 2}, counts(day(10, 0, 0), 0, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ActivationTrend(ctx, tc.filter)
			must(t, err)
			if diff := cmp.Diff(tc.want, got, cmpOpts...); diff != "" {
				t.Errorf("ActivationTrend(%+v) mismatch (-want +got):\n%s", tc.filter, diff)
			}
			for i, d := range got {
				if d.Day.Location() != tc.filter.From.Location() {
					t.Errorf("day %d is in %v, want %v", i, d.Day.Location(), tc.filter.From.Location())
				}
			}
		})
	}
	for _, days := range []int{0, -1, 100000} {
		if _, err := s.ActivationTrend(ctx, storage.TrendFilter{From: day(10, 0, 0), Days: days}); err == nil {
			t.Errorf("ActivationTrend(%d days) = nil error, want an error", days)
		}
	}
}

// pendingDirectory creates n accounts in each of agencies A and B, with
// a mix of states and work units and NIPs in an order unlike the
// insertion's, and returns the NIPs expected on A's pending list, all and
// per unit, in NIP order.
func pendingDirectory(t *testing.T, s storage.Store, n int) (all []string, byUnit map[string][]string) {
	t.Helper()
	states := []storage.UserState{storage.StateProvisioned, storage.StatePasswordSet, storage.StateActive,
		storage.StateDisabled, storage.StateProvisioned}
	var batch []*storage.User
	byUnit = map[string][]string{}
	for i := range 2 * n {
		instansi := "A"
		if i%2 == 1 {
			instansi = "B"
		}
		u := importedUser(fmt.Sprintf("p%05d", i), seqNIP((i*7919)%(2*n)), instansi, fmt.Sprintf("Unit %d", i%3))
		u.State = states[i%len(states)]
		batch = append(batch, u)
		if instansi == "A" && (u.State == storage.StateProvisioned || u.State == storage.StatePasswordSet) {
			all = append(all, u.NIP)
			byUnit[u.UnitKerja] = append(byUnit[u.UnitKerja], u.NIP)
		}
	}
	must(t, s.UpsertUserProfiles(t.Context(), batch, nil, t0))
	slices.Sort(all)
	for _, l := range byUnit {
		slices.Sort(l)
	}
	return all, byUnit
}

// pageAll walks PendingUsers page by page and returns the NIPs.
func pageAll(t *testing.T, s storage.Store, f storage.PendingFilter, limit int) []string {
	t.Helper()
	var out []string
	after := ""
	for pages := 0; ; pages++ {
		page, err := s.PendingUsers(t.Context(), f, after, limit)
		must(t, err)
		if len(page) > limit {
			t.Fatalf("PendingUsers(%+v, %q, %d) returned %d accounts", f, after, limit, len(page))
		}
		for _, p := range page {
			out = append(out, p.NIP)
		}
		if len(page) < limit {
			return out
		}
		after = page[len(page)-1].NIP
		if pages > 1000 {
			t.Fatal("PendingUsers never ends")
		}
	}
}

func testPendingUsers(t *testing.T, s storage.Store) {
	ctx := t.Context()
	want, byUnit := pendingDirectory(t, s, 30)
	if len(want) != 18 {
		t.Fatalf("setup: %d pending accounts in A, want 18", len(want))
	}
	for _, limit := range []int{1, 7, 17, 18, 19, storage.MaxPendingPage} {
		got := pageAll(t, s, storage.PendingFilter{Instansi: "A"}, limit)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("pages of %d of A's pending list mismatch (-want +got):\n%s", limit, diff)
		}
	}
	for unit, want := range byUnit {
		got := pageAll(t, s, storage.PendingFilter{Instansi: "A", UnitKerja: unit}, 4)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("pending list of A / %s mismatch (-want +got):\n%s", unit, diff)
		}
	}
	if got := pageAll(t, s, storage.PendingFilter{Instansi: "A", UnitKerja: "no such unit"}, 5); len(got) != 0 {
		t.Errorf("pending list of an unknown unit = %v, want none", got)
	}

	// The whole of one page, field by field.
	first, err := s.UserByNIP(ctx, want[0])
	must(t, err)
	must(t, s.RecordLogin(ctx, first.ID, t0.Add(time.Hour)))
	_, err = s.RecordPasswordFailure(ctx, first.ID, time.Time{}, true, t0.Add(2*time.Hour))
	must(t, err)
	page, err := s.PendingUsers(ctx, storage.PendingFilter{Instansi: "A"}, "", 1)
	must(t, err)
	wantFirst := []storage.PendingUser{{ID: first.ID, NIP: first.NIP, Name: first.Name, Instansi: "A", UnitKerja: first.UnitKerja,
		Jabatan: first.Jabatan, State: first.State, PasswordLocked: true, LastLoginAt: t0.Add(time.Hour), CreatedAt: t0}}
	if diff := cmp.Diff(wantFirst, page, cmpOpts...); diff != "" {
		t.Errorf("PendingUsers first page mismatch (-want +got):\n%s", diff)
	}

	// Every agency: the same accounts as ForEachUser's pending states.
	var wantAll []string
	must(t, s.ForEachUser(ctx, storage.UserFilter{States: []storage.UserState{storage.StateProvisioned, storage.StatePasswordSet}},
		func(u *storage.User) error { wantAll = append(wantAll, u.NIP); return nil }))
	if diff := cmp.Diff(wantAll, pageAll(t, s, storage.PendingFilter{}, 8)); diff != "" {
		t.Errorf("pending list of every agency mismatch (-ForEachUser +PendingUsers):\n%s", diff)
	}

	page, err = s.PendingUsers(ctx, storage.PendingFilter{Instansi: "A"}, want[len(want)-1], 10)
	if err != nil || len(page) != 0 {
		t.Errorf("PendingUsers after the last NIP = %v, %v; want nothing", page, err)
	}
	for _, tc := range []struct {
		name  string
		f     storage.PendingFilter
		limit int
	}{
		{"limit 0", storage.PendingFilter{Instansi: "A"}, 0},
		{"limit above the maximum", storage.PendingFilter{Instansi: "A"}, storage.MaxPendingPage + 1},
		{"unit without agency", storage.PendingFilter{UnitKerja: "Unit 1"}, 10},
	} {
		if _, err := s.PendingUsers(ctx, tc.f, "", tc.limit); err == nil {
			t.Errorf("PendingUsers, %s = nil error, want an error", tc.name)
		}
	}
}

func testForEachPendingUser(t *testing.T, s storage.Store) {
	ctx := t.Context()
	// More than two of the walk's pages: 3/5 of A's accounts are pending.
	want, byUnit := pendingDirectory(t, s, 3800)
	if len(want) <= 2*storage.MaxPendingPage {
		t.Fatalf("setup: %d pending accounts in A, want more than %d", len(want), 2*storage.MaxPendingPage)
	}
	walk := func(f storage.PendingFilter) []string {
		var got []string
		must(t, s.ForEachPendingUser(ctx, f, func(p *storage.PendingUser) error {
			got = append(got, p.NIP)
			return nil
		}))
		return got
	}
	got := walk(storage.PendingFilter{Instansi: "A"})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ForEachPendingUser(A) mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(byUnit["Unit 2"], walk(storage.PendingFilter{Instansi: "A", UnitKerja: "Unit 2"})); diff != "" {
		t.Errorf("ForEachPendingUser(A / Unit 2) mismatch (-want +got):\n%s", diff)
	}

	// fn may call the store: no query is open while it runs.
	calls := 0
	must(t, s.ForEachPendingUser(ctx, storage.PendingFilter{Instansi: "A", UnitKerja: "Unit 0"}, func(p *storage.PendingUser) error {
		calls++
		if calls%500 != 1 {
			return nil
		}
		return s.SetState(ctx, p.ID, storage.StateDisabled, t0)
	}))
	if calls != len(byUnit["Unit 0"]) {
		t.Errorf("ForEachPendingUser calling the store visited %d accounts, want %d", calls, len(byUnit["Unit 0"]))
	}

	stop := errors.New("stop")
	calls = 0
	err := s.ForEachPendingUser(ctx, storage.PendingFilter{Instansi: "A"}, func(*storage.PendingUser) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 3 {
		t.Errorf("ForEachPendingUser with fn failing on the 3rd = %v after %d calls, want %v after 3", err, calls, stop)
	}
	if err := s.ForEachPendingUser(ctx, storage.PendingFilter{UnitKerja: "Unit 1"}, func(*storage.PendingUser) error { return nil }); err == nil {
		t.Error("ForEachPendingUser(unit without agency) = nil error, want an error")
	}
}
