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

// importedUser is a record as a personnel import writes it.
func importedUser(id, nip, instansi, unit string) *storage.User {
	return &storage.User{
		ID:           id,
		NIP:          nip,
		Name:         "Pegawai " + id,
		Email:        id + "@example.go.id",
		Instansi:     instansi,
		UnitKerja:    unit,
		Jabatan:      "Guru Ahli Pertama",
		JenisPegawai: "PPPK Paruh Waktu",
		State:        storage.StateProvisioned,
	}
}

// seqNIP is the i-th of a run of distinct NIP-shaped strings.
func seqNIP(i int) string { return fmt.Sprintf("19900101202203%04d", i) }

func testUpsertUserProfiles(t *testing.T, s storage.Store) {
	ctx := t.Context()
	// An active account with credentials, as the web pages leave it.
	active := newUser("u-active", "198609262015051001")
	must(t, s.CreateUser(ctx, active))
	unchanged := importedUser("u-same", "199001012022032002", "BKN", "Biro SDM")
	must(t, s.UpsertUserProfiles(ctx, []*storage.User{unchanged}, nil, t0))

	later := t0.Add(time.Hour)
	changed := *active
	changed.ID = "ignored-new-id"
	changed.Name, changed.Email, changed.Jabatan = "Siti Aminah, S.Kom.", "siti.baru@example.go.id", "Pranata Komputer Ahli Muda"
	changed.State = storage.StateProvisioned // must not reset the account
	fresh := importedUser("u-new", "199505052022212003", "BKN", "Biro Umum")
	same := *unchanged
	same.ID = "another-id"
	must(t, s.UpsertUserProfiles(ctx, []*storage.User{&changed, fresh, &same}, nil, later))

	want := *active
	want.Name, want.Email, want.Jabatan = changed.Name, changed.Email, changed.Jabatan
	want.EmailVerified = false // the new address was never verified
	want.UpdatedAt = later
	if diff := cmp.Diff(&want, getUser(t, s, "u-active"), cmpOpts...); diff != "" {
		t.Errorf("existing NIP after upsert mismatch (-want +got):\n%s", diff)
	}
	wantFresh := *fresh
	wantFresh.CreatedAt, wantFresh.UpdatedAt = later, later
	if diff := cmp.Diff(&wantFresh, getUser(t, s, "u-new"), cmpOpts...); diff != "" {
		t.Errorf("new NIP after upsert mismatch (-want +got):\n%s", diff)
	}
	gotSame := getUser(t, s, "u-same")
	if !gotSame.UpdatedAt.Equal(t0) {
		t.Errorf("unchanged row UpdatedAt = %v, want %v (not written)", gotSame.UpdatedAt, t0)
	}
	if _, err := s.UserByID(ctx, "another-id"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("UserByID(another-id) = %v, want ErrNotFound: an existing NIP keeps its ID", err)
	}

	// Same email, other field changed: the verification stays.
	verified := newUser("u-verified", "199202022019031004")
	must(t, s.CreateUser(ctx, verified))
	moved := *verified
	moved.UnitKerja = "Direktorat Baru"
	must(t, s.UpsertUserProfiles(ctx, []*storage.User{&moved}, nil, later))
	if got := getUser(t, s, "u-verified"); !got.EmailVerified || got.UnitKerja != "Direktorat Baru" {
		t.Errorf("after a unit change EmailVerified, UnitKerja = %v, %q; want true, %q", got.EmailVerified, got.UnitKerja, "Direktorat Baru")
	}

	// A batch larger than one statement.
	var many []*storage.User
	for i := range 450 {
		many = append(many, importedUser(fmt.Sprintf("bulk-%d", i), seqNIP(i), "Kota Bandung", "Dinas Pendidikan"))
	}
	must(t, s.UpsertUserProfiles(ctx, many, nil, later))
	for _, i := range []int{0, 199, 200, 449} {
		if got := getUser(t, s, fmt.Sprintf("bulk-%d", i)); got.NIP != seqNIP(i) {
			t.Errorf("bulk user %d NIP = %q, want %q", i, got.NIP, seqNIP(i))
		}
	}

	// A batch naming one NIP twice is refused as a whole.
	dup := []*storage.User{importedUser("d1", "198001012005011001", "", ""), importedUser("d2", "198001012005011001", "", "")}
	if err := s.UpsertUserProfiles(ctx, dup, nil, later); err == nil {
		t.Error("UpsertUserProfiles with a NIP twice = nil, want an error")
	}
	_, err := s.UserByNIP(ctx, "198001012005011001")
	wantErr(t, "UserByNIP after the refused batch", err, storage.ErrNotFound)

	// The batch's audit rows commit with it, and a batch whose audit row
	// cannot be written leaves neither the rows nor the accounts.
	audited := importedUser("u-audited", "198101012006011001", "BKN", "")
	must(t, s.UpsertUserProfiles(ctx, []*storage.User{audited},
		[]*storage.AuditEvent{{Time: later, Type: "user.created", NIP: audited.NIP, UserID: audited.ID, Actor: "operator:test"}}, later))
	events, err := s.AuditEvents(ctx, storage.AuditFilter{NIP: audited.NIP})
	must(t, err)
	if len(events) != 1 || events[0].Type != "user.created" || events[0].UserID != audited.ID || events[0].ID == "" {
		t.Errorf("audit rows of the batch = %+v, want its one user.created row", events)
	}
	lost := importedUser("u-lost", "198201012007011001", "BKN", "")
	if err := s.UpsertUserProfiles(ctx, []*storage.User{lost},
		[]*storage.AuditEvent{{Time: later, NIP: lost.NIP}}, later); err == nil {
		t.Error("UpsertUserProfiles with an audit row without type = nil, want an error")
	}
	_, err = s.UserByNIP(ctx, lost.NIP)
	wantErr(t, "UserByNIP after the batch whose audit row failed", err, storage.ErrNotFound)
}

// Two imports of the same new NIPs at once both succeed, and every NIP
// has exactly one user.
func testUpsertUserProfilesRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const workers, size = 4, 50
	errs := race(workers, func(w int) error {
		var batch []*storage.User
		for i := range size {
			batch = append(batch, importedUser(fmt.Sprintf("w%d-%d", w, i), seqNIP(i), "BKN", ""))
		}
		return s.UpsertUserProfiles(ctx, batch, nil, t0)
	})
	wins, _ := tally(t, "UpsertUserProfiles", errs, storage.ErrConflict)
	if wins != workers {
		t.Errorf("%d of %d concurrent upserts succeeded, want all", wins, workers)
	}
	var nips []string
	for i := range size {
		nips = append(nips, seqNIP(i))
	}
	users, err := s.UsersByNIPs(ctx, nips)
	must(t, err)
	if len(users) != size {
		t.Errorf("UsersByNIPs after the race returned %d users, want %d", len(users), size)
	}
}

func testUsersByNIPs(t *testing.T, s storage.Store) {
	ctx := t.Context()
	var batch []*storage.User
	for i := range 600 {
		batch = append(batch, importedUser(fmt.Sprintf("u%d", i), seqNIP(i), "BKN", ""))
	}
	must(t, s.UpsertUserProfiles(ctx, batch, nil, t0))
	// Every second NIP of 0..1199: 600 asked, 300 exist.
	var ask []string
	for i := 0; i < 1200; i += 2 {
		ask = append(ask, seqNIP(i))
	}
	got, err := s.UsersByNIPs(ctx, ask)
	must(t, err)
	if len(got) != 300 {
		t.Errorf("UsersByNIPs(600 NIPs, 300 known) returned %d users, want 300", len(got))
	}
	for _, u := range got {
		var i int
		fmt.Sscanf(u.NIP[14:], "%d", &i)
		if i%2 != 0 || i >= 600 || u.ID != fmt.Sprintf("u%d", i) {
			t.Errorf("UsersByNIPs returned %s (NIP %s), which was not asked for or is wrong", u.ID, u.NIP)
		}
	}
	none, err := s.UsersByNIPs(ctx, nil)
	if err != nil || len(none) != 0 {
		t.Errorf("UsersByNIPs(nil) = %v, %v; want nothing, nil", none, err)
	}
}

// directory is a known data set: three agencies, every state.
func directory(t *testing.T, s storage.Store) {
	t.Helper()
	ctx := t.Context()
	rows := []struct {
		id, instansi, unit string
		state              storage.UserState
	}{
		{"a1", "BKN", "Biro SDM", storage.StateActive},
		{"a2", "BKN", "Biro SDM", storage.StateProvisioned},
		{"a3", "BKN", "Biro Umum", storage.StateActive},
		{"a4", "BKN", "Biro Umum", storage.StatePasswordSet},
		{"b1", "Kota Bandung", "Biro SDM", storage.StateProvisioned},
		{"b2", "Kota Bandung", "Dinas Pendidikan", storage.StateDisabled},
		{"c1", "Kemenkes", "", storage.StateActive},
	}
	for i, r := range rows {
		u := importedUser(r.id, seqNIP(100-i), r.instansi, r.unit)
		u.State = r.state
		u.CreatedAt, u.UpdatedAt = t0, t0
		must(t, s.CreateUser(ctx, u))
	}
}

func testForEachUser(t *testing.T, s storage.Store) {
	ctx := t.Context()
	directory(t, s)
	tests := []struct {
		name   string
		filter storage.UserFilter
		want   []string
	}{
		{"all, by NIP", storage.UserFilter{}, []string{"c1", "b2", "b1", "a4", "a3", "a2", "a1"}},
		{"one agency", storage.UserFilter{Instansi: "BKN"}, []string{"a4", "a3", "a2", "a1"}},
		{"pending", storage.UserFilter{States: []storage.UserState{storage.StateProvisioned, storage.StatePasswordSet}},
			[]string{"b1", "a4", "a2"}},
		{"pending in one agency", storage.UserFilter{Instansi: "Kota Bandung", States: []storage.UserState{storage.StateProvisioned}},
			[]string{"b1"}},
		{"LIKE metacharacters are inert", storage.UserFilter{Instansi: "%"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := s.ForEachUser(ctx, tc.filter, func(u *storage.User) error {
				got = append(got, u.ID)
				return nil
			})
			must(t, err)
			if !slices.Equal(got, tc.want) {
				t.Errorf("ForEachUser(%+v) = %v, want %v", tc.filter, got, tc.want)
			}
		})
	}
	stop := errors.New("stop")
	n := 0
	err := s.ForEachUser(ctx, storage.UserFilter{}, func(*storage.User) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("ForEachUser with fn failing = %v after %d calls, want the fn's error after 1", err, n)
	}
	err = s.ForEachUser(ctx, storage.UserFilter{States: []storage.UserState{"gone"}}, func(*storage.User) error { return nil })
	if err == nil {
		t.Error("ForEachUser with an unknown state = nil, want an error")
	}
}

func testCountUsers(t *testing.T, s storage.Store) {
	ctx := t.Context()
	directory(t, s)
	type c = storage.StateCount
	tests := []struct {
		name   string
		filter storage.UserFilter
		by     storage.Grouping
		want   []c
	}{
		{"overall", storage.UserFilter{}, storage.GroupNone, []c{
			{State: "active", Count: 3}, {State: "disabled", Count: 1}, {State: "password_set", Count: 1}, {State: "provisioned", Count: 2},
		}},
		{"by instansi", storage.UserFilter{}, storage.GroupInstansi, []c{
			{Instansi: "BKN", State: "active", Count: 2}, {Instansi: "BKN", State: "password_set", Count: 1},
			{Instansi: "BKN", State: "provisioned", Count: 1},
			{Instansi: "Kemenkes", State: "active", Count: 1},
			{Instansi: "Kota Bandung", State: "disabled", Count: 1}, {Instansi: "Kota Bandung", State: "provisioned", Count: 1},
		}},
		{"by unit kerja within an agency", storage.UserFilter{Instansi: "BKN"}, storage.GroupUnitKerja, []c{
			{Instansi: "BKN", UnitKerja: "Biro SDM", State: "active", Count: 1}, {Instansi: "BKN", UnitKerja: "Biro SDM", State: "provisioned", Count: 1},
			{Instansi: "BKN", UnitKerja: "Biro Umum", State: "active", Count: 1}, {Instansi: "BKN", UnitKerja: "Biro Umum", State: "password_set", Count: 1},
		}},
		{"same unit name in two agencies stays apart", storage.UserFilter{States: []storage.UserState{"provisioned"}}, storage.GroupUnitKerja, []c{
			{Instansi: "BKN", UnitKerja: "Biro SDM", State: "provisioned", Count: 1},
			{Instansi: "Kota Bandung", UnitKerja: "Biro SDM", State: "provisioned", Count: 1},
		}},
		{"empty result", storage.UserFilter{Instansi: "nobody"}, storage.GroupNone, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.CountUsers(ctx, tc.filter, tc.by)
			must(t, err)
			if diff := cmp.Diff(tc.want, got, cmpOpts...); diff != "" {
				t.Errorf("CountUsers(%+v, %q) mismatch (-want +got):\n%s", tc.filter, tc.by, diff)
			}
		})
	}
	if _, err := s.CountUsers(ctx, storage.UserFilter{}, "nip; DROP TABLE users"); err == nil {
		t.Error("CountUsers with an unknown grouping = nil, want an error")
	}
}

func testChangeNIP(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := newUser("u1", "198609262015051001")
	must(t, s.CreateUser(ctx, u))
	must(t, s.CreateUser(ctx, newUser("u2", "199001012022032002")))

	later := t0.Add(time.Hour)
	must(t, s.ChangeNIP(ctx, "u1", "198609262024211001", later))
	got, err := s.UserByNIP(ctx, "198609262024211001")
	must(t, err)
	want := *u
	want.NIP, want.UpdatedAt = "198609262024211001", later
	if diff := cmp.Diff(&want, got, cmpOpts...); diff != "" {
		t.Errorf("user after ChangeNIP mismatch (-want +got):\n%s", diff)
	}
	_, err = s.UserByNIP(ctx, "198609262015051001")
	wantErr(t, "UserByNIP(old NIP)", err, storage.ErrNotFound)

	wantErr(t, "ChangeNIP to a NIP held by another user", s.ChangeNIP(ctx, "u1", "199001012022032002", later), storage.ErrAlreadyExists)
	wantErr(t, "ChangeNIP of an unknown user", s.ChangeNIP(ctx, "nobody", "199505052022212003", later), storage.ErrNotFound)
	if got := getUser(t, s, "u2"); got.NIP != "199001012022032002" {
		t.Errorf("u2's NIP after the refused change = %q, want it unchanged", got.NIP)
	}
}

// E4: disabling an account ends every session and token it holds, and
// nobody else's.
func testDisableUser(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateClient(ctx, newClient("rp")))
	for _, id := range []string{"alice", "bob"} {
		must(t, s.CreateUser(ctx, newUser(id, map[string]string{"alice": "198609262015051001", "bob": "199001012022032002"}[id])))
		must(t, s.CreateSession(ctx, newSession("sess-"+id, id)))
		at := newAccessToken("at-"+id, "rp")
		at.UserID = id
		must(t, s.CreateAccessToken(ctx, at))
		rt := newRefreshToken("rt-"+id, "rp", "fam-"+id)
		rt.UserID, rt.SessionID = id, "sess-"+id
		rt.Scopes = []string{"openid", "offline_access"} // survives a logout, not a disable
		must(t, s.CreateRefreshToken(ctx, rt))
	}
	must(t, s.DisableUser(ctx, "alice", t0))

	if got := getUser(t, s, "alice").State; got != storage.StateDisabled {
		t.Errorf("state after DisableUser = %q, want disabled", got)
	}
	if got := getUser(t, s, "bob").State; got != storage.StateActive {
		t.Errorf("bob's state after DisableUser(alice) = %q, want active", got)
	}
	if got := getSession(t, s, "sess-alice"); got.RevokedAt.IsZero() {
		t.Error("alice's session not revoked by DisableUser")
	}
	if got := getSession(t, s, "sess-bob"); !got.RevokedAt.IsZero() {
		t.Error("bob's session revoked by DisableUser(alice)")
	}
	checkRevoked(t, s, "after DisableUser(alice)",
		map[string]bool{"at-alice": true, "at-bob": false},
		map[string]bool{"hash-rt-alice": true, "hash-rt-bob": false})

	// rp (with a back-channel logout URI) issued a token in alice's
	// session: it is told the session ended.
	deliveries, err := s.ClaimLogoutDeliveries(ctx, t0, time.Minute, 10)
	must(t, err)
	if len(deliveries) != 1 || deliveries[0].SessionID != "sess-alice" || deliveries[0].UserID != "alice" || deliveries[0].ClientID != "rp" {
		t.Errorf("logout deliveries after DisableUser(alice) = %+v, want one to rp for sess-alice", deliveries)
	}

	wantErr(t, "DisableUser again", s.DisableUser(ctx, "alice", t0.Add(time.Minute)), nil)
	wantErr(t, "DisableUser(unknown)", s.DisableUser(ctx, "nobody", t0), storage.ErrNotFound)
}

func testEnableUser(t *testing.T, s storage.Store) {
	ctx := t.Context()
	withBoth := newUser("both", "198609262015051001")
	withPassword := newUser("pw", "199001012022032002")
	withPassword.TOTPSecret = nil
	bare := newBareUser("bare", "199505052022212003")
	for _, u := range []*storage.User{withBoth, withPassword, bare} {
		must(t, s.CreateUser(ctx, u))
		must(t, s.DisableUser(ctx, u.ID, t0))
	}
	tests := []struct {
		id   string
		want storage.UserState
	}{
		{"both", storage.StateActive},
		{"pw", storage.StatePasswordSet},
		{"bare", storage.StateProvisioned},
	}
	for _, tc := range tests {
		got, err := s.EnableUser(ctx, tc.id, t0)
		if err != nil || got != tc.want {
			t.Errorf("EnableUser(%s) = %q, %v; want %q, nil", tc.id, got, err, tc.want)
		}
		if st := getUser(t, s, tc.id).State; st != tc.want {
			t.Errorf("stored state of %s after EnableUser = %q, want %q", tc.id, st, tc.want)
		}
	}
	_, err := s.EnableUser(ctx, "both", t0)
	wantErr(t, "EnableUser of an enabled user", err, storage.ErrConflict)
	_, err = s.EnableUser(ctx, "nobody", t0)
	wantErr(t, "EnableUser(unknown)", err, storage.ErrNotFound)
}
