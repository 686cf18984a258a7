package provision

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/storage"
	"github.com/asnidp/asnidp/storage/sqlstore"
)

var t0 = time.Date(2025, time.June, 2, 8, 0, 0, 0, time.UTC)

func newStore(t testing.TB) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(t.Context(), sqlstore.Options{Driver: sqlstore.DriverSQLite, DSN: filepath.Join(t.TempDir(), "asnidp.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

// testImporter imports into s with a clock starting at t0 that moves a
// minute per call, and sequential subs.
func testImporter(s *sqlstore.Store) *Importer {
	now, n := t0, 0
	return &Importer{
		Store:  s,
		Audit:  audit.New(s, slog.New(slog.DiscardHandler), func() time.Time { return now }),
		Actor:  "operator:test",
		Source: "pegawai.csv",
		Now: func() time.Time {
			now = now.Add(time.Minute)
			return now
		},
		NewID: func() string {
			n++
			return fmt.Sprintf("sub-%03d", n)
		},
	}
}

// csvOf builds a full export of rows "nip|nama|email|instansi|unit|jabatan".
func csvOf(rows ...string) string {
	var b strings.Builder
	b.WriteString("nip,nama,email,instansi,unit_kerja,jabatan,jenis_pegawai\n")
	for _, r := range rows {
		b.WriteString(strings.ReplaceAll(r, "|", ",") + ",PPPK Paruh Waktu\n")
	}
	return b.String()
}

// importFile parses body and applies it unless dryRun; it returns the plan.
func importFile(t *testing.T, im *Importer, body string, leaversOf string, dryRun bool) *Plan {
	t.Helper()
	f := parseString(t, CSV, body)
	if len(f.Errors) > 0 {
		t.Fatalf("file has bad rows: %v", f.Errors)
	}
	p, err := im.Plan(t.Context(), f, leaversOf)
	if err != nil {
		t.Fatalf("Plan = %v", err)
	}
	if !dryRun {
		if err := im.Apply(t.Context(), p); err != nil {
			t.Fatalf("Apply = %v", err)
		}
	}
	return p
}

func dump(t *testing.T, s storage.Store) map[string]storage.User {
	t.Helper()
	out := map[string]storage.User{}
	err := s.ForEachUser(t.Context(), storage.UserFilter{}, func(u *storage.User) error {
		out[u.NIP] = *u
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func planLines(t *testing.T, p *Plan) string {
	t.Helper()
	var b bytes.Buffer
	if err := p.WriteDetails(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

var (
	siti = nipFor(1)
	budi = nipFor(2)
	rina = nipFor(3)
	joko = nipFor(4)
)

func TestImport_CreatesProvisionedAccounts(t *testing.T) {
	s := newStore(t)
	im := testImporter(s)
	p := importFile(t, im, csvOf(
		siti+"|Siti Aminah|siti@example.go.id|BKN|Biro SDM|Analis SDM",
		budi+"|Budi Santoso|budi@example.go.id|BKN|Biro Umum|Pranata Komputer",
	), "", false)
	if p.Summary(true) != "created 2, updated 0, unchanged 0, disabled 0" {
		t.Errorf("Summary = %q", p.Summary(true))
	}
	got, err := s.UserByNIP(t.Context(), siti)
	if err != nil {
		t.Fatal(err)
	}
	want := &storage.User{
		ID: "sub-001", NIP: siti, Name: "Siti Aminah", Email: "siti@example.go.id", Instansi: "BKN",
		UnitKerja: "Biro SDM", Jabatan: "Analis SDM", JenisPegawai: "PPPK Paruh Waktu",
		State: storage.StateProvisioned, CreatedAt: t0.Add(time.Minute), UpdatedAt: t0.Add(time.Minute),
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("imported account mismatch (-want +got):\n%s", diff)
	}
	events, err := s.AuditEvents(t.Context(), storage.AuditFilter{Type: audit.UserImported})
	if err != nil || len(events) != 1 || events[0].Detail != "source=pegawai.csv created=2 updated=0 unchanged=0 disabled=0" || events[0].Actor != "operator:test" {
		t.Errorf("import audit events = %+v, %v; want one summary by operator:test", events, err)
	}
}

// Every account an import creates or updates has its own audit row, by
// the operator, naming what changed, so an employee's history shows the
// import that touched it; an unchanged account gets none.
func TestImport_AuditsEachAccount(t *testing.T) {
	s := newStore(t)
	im := testImporter(s)
	im.BatchSize = 2 // rows of several transactions
	importFile(t, im, csvOf(
		siti+"|Siti Aminah|siti@example.go.id|BKN|Biro SDM|Analis SDM",
		budi+"|Budi Santoso|budi@example.go.id|BKN|Biro Umum|Pranata Komputer",
		rina+"|Rina|rina@example.go.id|BKN|Biro Umum|Guru",
	), "", false)
	importFile(t, im, csvOf(
		siti+"|Siti Aminah|siti@example.go.id|BKN|Biro SDM|Analis SDM Ahli Muda",
		budi+"|Budi Santoso|budi@example.go.id|BKN|Biro Umum|Pranata Komputer",
		rina+"|Rina|rina@example.go.id|BKN|Biro Umum|Guru",
	), "", false)

	type row struct{ Type, NIP, UserID, Actor, Detail string }
	var got []row
	events, err := s.AuditEvents(t.Context(), storage.AuditFilter{Type: "user"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.Type != audit.UserImported {
			got = append(got, row{e.Type, e.NIP, e.UserID, e.Actor, e.Detail})
		}
	}
	byNIP := dump(t, s)
	want := []row{
		{audit.UserCreated, siti, byNIP[siti].ID, "operator:test", "source=pegawai.csv"},
		{audit.UserCreated, budi, byNIP[budi].ID, "operator:test", "source=pegawai.csv"},
		{audit.UserCreated, rina, byNIP[rina].ID, "operator:test", "source=pegawai.csv"},
		{audit.UserUpdated, siti, byNIP[siti].ID, "operator:test", "source=pegawai.csv fields=jabatan"},
	}
	less := func(a, b row) int { return strings.Compare(a.Type+a.NIP, b.Type+b.NIP) }
	slices.SortFunc(got, less)
	slices.SortFunc(want, less)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("per-account audit rows (-want +got):\n%s", diff)
	}
}

// The same file twice changes nothing: no row is written again.
func TestImport_Idempotent(t *testing.T) {
	s := newStore(t)
	im := testImporter(s)
	body := csvOf(
		siti+"|Siti Aminah|siti@example.go.id|BKN|Biro SDM|Analis SDM",
		budi+"|Budi Santoso|budi@example.go.id|BKN|Biro Umum|Pranata Komputer",
	)
	importFile(t, im, body, "", false)
	before := dump(t, s)
	again := importFile(t, im, body, "BKN", false)
	if again.Summary(true) != "created 0, updated 0, unchanged 2, disabled 0" {
		t.Errorf("second run Summary = %q, want everything unchanged", again.Summary(true))
	}
	if diff := cmp.Diff(before, dump(t, s)); diff != "" {
		t.Errorf("second run changed the accounts (-before +after):\n%s", diff)
	}
}

// An update rewrites personnel fields only: the password, authenticator,
// counters, lock and state the employee earned stay.
func TestImport_UpdateKeepsCredentials(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	active := &storage.User{
		ID: "sub-active", NIP: siti, Name: "Siti", Email: "siti@example.go.id", EmailVerified: true,
		Instansi: "BKN", UnitKerja: "Biro SDM", Jabatan: "Analis SDM", JenisPegawai: "PPPK Paruh Waktu",
		State: storage.StateActive, PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
		TOTPSecret: []byte("sealed"), TOTPLastStep: 58000000, FailedPasswords: 3, TOTPLocked: true,
		LastLoginAt: t0, CreatedAt: t0, UpdatedAt: t0,
	}
	if err := s.CreateUser(ctx, active); err != nil {
		t.Fatal(err)
	}
	im := testImporter(s)
	p := importFile(t, im, csvOf(siti+`|"Siti Aminah, S.Kom."|`+"siti.baru@example.go.id|BKN|Biro SDM|Analis SDM Ahli Muda"), "", false)
	if got := planLines(t, p); got != "update   "+siti+"  Siti Aminah, S.Kom.  (nama, email, jabatan)\n" {
		t.Errorf("plan = %q", got)
	}
	got, err := s.UserByNIP(ctx, siti)
	if err != nil {
		t.Fatal(err)
	}
	want := *active
	want.Name, want.Email, want.Jabatan = "Siti Aminah, S.Kom.", "siti.baru@example.go.id", "Analis SDM Ahli Muda"
	want.EmailVerified = false
	want.UpdatedAt = t0.Add(time.Minute)
	if diff := cmp.Diff(&want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("updated account mismatch (-want +got):\n%s", diff)
	}
}

// A column the file does not have keeps the stored value.
func TestImport_AbsentColumnKeepsValue(t *testing.T) {
	s := newStore(t)
	im := testImporter(s)
	importFile(t, im, csvOf(siti+"|Siti Aminah|siti@example.go.id|BKN|Biro SDM|Analis SDM"), "", false)
	p := importFile(t, im, "nip,nama,email,jabatan\n"+siti+",Siti Aminah,siti@example.go.id,Analis SDM Ahli Muda\n", "", false)
	if len(p.Update) != 1 || !cmp.Equal(p.Update[0].Fields, []string{"jabatan"}) {
		t.Errorf("plan updates = %+v, want jabatan only", p.Update)
	}
	u, err := s.UserByNIP(t.Context(), siti)
	if err != nil {
		t.Fatal(err)
	}
	if u.Instansi != "BKN" || u.UnitKerja != "Biro SDM" || u.JenisPegawai != "PPPK Paruh Waktu" || u.Jabatan != "Analis SDM Ahli Muda" {
		t.Errorf("after a partial file: instansi %q unit %q jenis %q jabatan %q", u.Instansi, u.UnitKerja, u.JenisPegawai, u.Jabatan)
	}
}

// A dry run plans (leavers first) and writes nothing.
func TestImport_DryRunChangesNothing(t *testing.T) {
	s := newStore(t)
	im := testImporter(s)
	importFile(t, im, csvOf(
		siti+"|Siti Aminah|siti@example.go.id|BKN|Biro SDM|Analis SDM",
		budi+"|Budi Santoso|budi@example.go.id|BKN|Biro Umum|Pranata Komputer",
		rina+"|Rina|rina@example.go.id|BKN|Biro Umum|Guru",
	), "", false)
	before := dump(t, s)
	eventsBefore, _ := s.AuditEvents(t.Context(), storage.AuditFilter{})

	p := importFile(t, im, csvOf(
		siti+"|Siti Aminah|siti@example.go.id|BKN|Biro SDM|Analis SDM",
		budi+"|Budi Santoso|budi@example.go.id|BKN|Biro Keuangan|Pranata Komputer",
		joko+"|Joko|joko@example.go.id|BKN|Biro SDM|Arsiparis",
	), "BKN", true)

	wantLines := "disable  " + rina + "  Rina  (provisioned; no longer listed for instansi BKN)\n" +
		"create   " + joko + "  Joko\n" +
		"update   " + budi + "  Budi Santoso  (unit_kerja)\n"
	if got := planLines(t, p); got != wantLines {
		t.Errorf("dry-run plan:\n%s\nwant:\n%s", got, wantLines)
	}
	if got := p.Summary(false); got != "would create 1, update 1, leave 1 unchanged, disable 1" {
		t.Errorf("dry-run summary = %q", got)
	}
	if diff := cmp.Diff(before, dump(t, s)); diff != "" {
		t.Errorf("dry run changed the accounts (-before +after):\n%s", diff)
	}
	eventsAfter, _ := s.AuditEvents(t.Context(), storage.AuditFilter{})
	if len(eventsAfter) != len(eventsBefore) {
		t.Errorf("dry run wrote %d audit events", len(eventsAfter)-len(eventsBefore))
	}
}

// E4 for leavers: --disable-missing switches off the agency's accounts
// the file no longer lists, with their sessions and tokens, and nobody
// else's.
func TestImport_DisableMissingLeavers_E4(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	im := testImporter(s)
	importFile(t, im, csvOf(
		siti+"|Siti Aminah|siti@example.go.id|BKN|Biro SDM|Analis SDM",
		rina+"|Rina|rina@example.go.id|BKN|Biro Umum|Guru",
		joko+"|Joko|joko@example.go.id|Kota Bandung|Dinas Pendidikan|Guru",
	), "", false)
	rinaUser, _ := s.UserByNIP(ctx, rina)
	if err := s.CreateSession(ctx, &storage.Session{ID: "sess-rina", TokenHash: "h", UserID: rinaUser.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateClient(ctx, &storage.Client{ID: "rp"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRefreshToken(ctx, &storage.RefreshToken{ID: "rt", TokenHash: "rt-h", FamilyID: "f", ClientID: "rp", UserID: rinaUser.ID, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	// Rina left BKN; Joko (another agency) is not in this BKN file either.
	p := importFile(t, im, csvOf(siti+"|Siti Aminah|siti@example.go.id|BKN|Biro SDM|Analis SDM"), "BKN", false)
	if p.Summary(true) != "created 0, updated 0, unchanged 1, disabled 1" {
		t.Errorf("Summary = %q", p.Summary(true))
	}
	states := map[string]storage.UserState{}
	for nip, u := range dump(t, s) {
		states[nip] = u.State
	}
	want := map[string]storage.UserState{siti: storage.StateProvisioned, rina: storage.StateDisabled, joko: storage.StateProvisioned}
	if diff := cmp.Diff(want, states); diff != "" {
		t.Errorf("states after the leaver run (-want +got):\n%s", diff)
	}
	if sess, _ := s.SessionByID(ctx, "sess-rina"); sess == nil || sess.RevokedAt.IsZero() {
		t.Error("leaver's session not revoked")
	}
	if rt, _ := s.RefreshTokenByHash(ctx, "rt-h"); rt == nil || rt.RevokedAt.IsZero() {
		t.Error("leaver's refresh token not revoked")
	}
	events, err := s.AuditEvents(ctx, storage.AuditFilter{Type: audit.UserDisabled})
	if err != nil || len(events) != 1 || events[0].NIP != rina || events[0].UserID != rinaUser.ID ||
		events[0].Reason != "leaver: not in the import file of instansi BKN" {
		t.Errorf("leaver audit events = %+v, %v", events, err)
	}

	// Listed again later: the import does not enable the account again.
	p = importFile(t, im, csvOf(
		siti+"|Siti Aminah|siti@example.go.id|BKN|Biro SDM|Analis SDM",
		rina+"|Rina|rina@example.go.id|BKN|Biro Umum|Guru Ahli Muda",
	), "BKN", false)
	if got := planLines(t, p); !strings.Contains(got, "note     "+rina+"  Rina  is listed but disabled") {
		t.Errorf("plan does not point out the disabled account it lists:\n%s", got)
	}
	if u, _ := s.UserByNIP(ctx, rina); u.State != storage.StateDisabled || u.Jabatan != "Guru Ahli Muda" {
		t.Errorf("re-listed leaver state %q jabatan %q, want disabled with the new jabatan", u.State, u.Jabatan)
	}
}

// A file without a single row for the agency would disable all of it:
// that is a wrong file or a misspelt agency, and it is refused.
func TestImport_DisableMissingRefusesForeignFile(t *testing.T) {
	s := newStore(t)
	im := testImporter(s)
	importFile(t, im, csvOf(siti+"|Siti Aminah|siti@example.go.id|BKN|Biro SDM|Analis SDM"), "", false)
	f := parseString(t, CSV, csvOf(joko+"|Joko|joko@example.go.id|Kota Bandung|Dinas Pendidikan|Guru"))
	_, err := im.Plan(t.Context(), f, "BKN")
	if !errors.Is(err, ErrNoAgencyRows) {
		t.Errorf("Plan with a file listing nobody of BKN = %v, want ErrNoAgencyRows", err)
	}
}

// An agency no account has is a misspelt --instansi (or one not imported
// yet): a leaver run for it is refused, dry run or not, whatever the file
// lists, and nothing is written.
func TestImport_DisableMissingRefusesUnknownAgency(t *testing.T) {
	s := newStore(t)
	im := testImporter(s)
	body := csvOf(
		siti+"|Siti Aminah|siti@example.go.id|BKN|Biro SDM|Analis SDM",
		rina+"|Rina|rina@example.go.id|BKN|Biro Umum|Guru",
	)
	importFile(t, im, body, "", false)
	before := dump(t, s)
	eventsBefore, _ := s.AuditEvents(t.Context(), storage.AuditFilter{})

	changed := csvOf(
		siti+"|Siti Aminah|siti@example.go.id|BKN|Biro Keuangan|Analis SDM",
		joko+"|Joko|joko@example.go.id|Kota Bandung|Dinas Pendidikan|Guru",
	)
	for _, agency := range []string{"BNK", "bkn", "Kota Bandung"} {
		_, err := im.Plan(t.Context(), parseString(t, CSV, changed), agency)
		if !errors.Is(err, ErrUnknownAgency) || !strings.Contains(err.Error(), `instansi "`+agency+`"`) {
			t.Errorf("Plan(--instansi %q) = %v, want ErrUnknownAgency naming the agency", agency, err)
		}
	}
	if diff := cmp.Diff(before, dump(t, s)); diff != "" {
		t.Errorf("a refused leaver run changed the accounts (-before +after):\n%s", diff)
	}
	eventsAfter, _ := s.AuditEvents(t.Context(), storage.AuditFilter{})
	if len(eventsAfter) != len(eventsBefore) {
		t.Errorf("a refused leaver run wrote %d audit events", len(eventsAfter)-len(eventsBefore))
	}
	// An agency whose every account is disabled is known: nothing is left
	// to disable, and the run goes ahead.
	for _, u := range dump(t, s) {
		if err := s.DisableUser(t.Context(), u.ID, t0); err != nil {
			t.Fatal(err)
		}
	}
	p := importFile(t, im, csvOf(joko+"|Joko|joko@example.go.id|BKN|Biro SDM|Guru"), "BKN", false)
	if p.Summary(true) != "created 1, updated 0, unchanged 0, disabled 0" {
		t.Errorf("leaver run for an agency of disabled accounts: Summary = %q", p.Summary(true))
	}
}

func TestImport_RefusesFileWithBadRows(t *testing.T) {
	s := newStore(t)
	f := parseString(t, CSV, csvOf(siti+"|Siti|siti@example.go.id|BKN|Biro SDM|Analis", "123|Budi|budi@example.go.id|BKN|Biro SDM|Analis"))
	if _, err := testImporter(s).Plan(t.Context(), f, ""); err == nil {
		t.Error("Plan of a file with a bad row = nil, want an error")
	}
	if n := len(dump(t, s)); n != 0 {
		t.Errorf("%d accounts written from a file with a bad row", n)
	}
}

// Batches: many transactions, progress reported per tenth.
func TestImport_BatchesAndProgress(t *testing.T) {
	s := newStore(t)
	im := testImporter(s)
	im.BatchSize = 7
	var progress bytes.Buffer
	im.Progress = NewProgress(&progress, false, "import")
	var rows []string
	for i := range 100 {
		rows = append(rows, fmt.Sprintf("%s|Pegawai %d|p%d@example.go.id|BKN|Unit %d|Guru", nipFor(i+10), i, i, i%3))
	}
	importFile(t, im, csvOf(rows...), "", false)
	if n := len(dump(t, s)); n != 100 {
		t.Errorf("%d accounts after importing 100 rows in batches of 7", n)
	}
	lines := strings.Split(strings.TrimSpace(progress.String()), "\n")
	if len(lines) < 5 || lines[len(lines)-1] != "import: 100 of 100 rows (100%)" {
		t.Errorf("progress lines:\n%s\nwant about ten, ending with 100 of 100", progress.String())
	}
}
