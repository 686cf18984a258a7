package provision

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/asnidp/asnidp/storage"
)

// knownDirectory: BKN 2 active, 1 password_set, 1 provisioned, 1 disabled;
// Kota Bandung 1 active, 2 provisioned; one agency name a spreadsheet
// would run as a formula.
func knownDirectory(t *testing.T, s storage.Store) {
	t.Helper()
	rows := []struct {
		instansi, unit string
		state          storage.UserState
	}{
		{"BKN", "Biro SDM", storage.StateActive},
		{"BKN", "Biro SDM", storage.StatePasswordSet},
		{"BKN", "Biro Umum", storage.StateActive},
		{"BKN", "Biro Umum", storage.StateProvisioned},
		{"BKN", "Biro Umum", storage.StateDisabled},
		{"Kota Bandung", "Dinas Pendidikan", storage.StateActive},
		{"Kota Bandung", "Dinas Pendidikan", storage.StateProvisioned},
		{"Kota Bandung", "Biro SDM", storage.StateProvisioned},
		{"=HYPERLINK(\"x\")", "", storage.StateProvisioned},
	}
	for i, r := range rows {
		u := &storage.User{ID: "u" + nipFor(i), NIP: nipFor(i), Name: "Pegawai " + nipFor(i)[14:], Instansi: r.instansi, UnitKerja: r.unit,
			State: r.state, CreatedAt: t0, UpdatedAt: t0}
		if err := s.CreateUser(t.Context(), u); err != nil {
			t.Fatal(err)
		}
	}
}

func report(t *testing.T, s storage.Store, f storage.UserFilter, by storage.Grouping, format ReportFormat) string {
	t.Helper()
	r, err := ActivationCounts(t.Context(), s, f, by)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.Write(&b, format); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestActivationReport(t *testing.T) {
	s := newStore(t)
	knownDirectory(t, s)
	tests := []struct {
		name   string
		filter storage.UserFilter
		by     storage.Grouping
		format ReportFormat
		want   string
	}{
		{"overall table", storage.UserFilter{}, storage.GroupNone, Table, "" +
			"PROVISIONED  PASSWORD_SET  ACTIVE  DISABLED  TOTAL  ACTIVATION\n" +
			"4            1             3       1         9      37.5%\n"},
		{"by instansi csv", storage.UserFilter{}, storage.GroupInstansi, CSVReport, "" +
			"instansi,provisioned,password_set,active,disabled,total,activation_rate\n" +
			"\"'=HYPERLINK(\"\"x\"\")\",1,0,0,0,1,0.0000\n" +
			"BKN,1,1,2,1,5,0.5000\n" +
			"Kota Bandung,2,0,1,0,3,0.3333\n" +
			"TOTAL,4,1,3,1,9,0.3750\n"},
		{"by unit kerja of one agency", storage.UserFilter{Instansi: "Kota Bandung"}, storage.GroupUnitKerja, Table, "" +
			"INSTANSI      UNIT_KERJA        PROVISIONED  PASSWORD_SET  ACTIVE  DISABLED  TOTAL  ACTIVATION\n" +
			"Kota Bandung  Biro SDM          1            0             0       0         1      0.0%\n" +
			"Kota Bandung  Dinas Pendidikan  1            0             1       0         2      50.0%\n" +
			"TOTAL         -                 2            0             1       0         3      33.3%\n"},
		{"unknown agency", storage.UserFilter{Instansi: "nobody"}, storage.GroupNone, Table, "" +
			"PROVISIONED  PASSWORD_SET  ACTIVE  DISABLED  TOTAL  ACTIVATION\n" +
			"0            0             0       0         0      -\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, report(t, s, tc.filter, tc.by, tc.format)); diff != "" {
				t.Errorf("report mismatch (-want +got):\n%s", diff)
			}
		})
	}

	var got ActivationReport
	if err := json.Unmarshal([]byte(report(t, s, storage.UserFilter{}, storage.GroupInstansi, JSON)), &got); err != nil {
		t.Fatal(err)
	}
	wantBKN := Activation{Instansi: "BKN", Provisioned: 1, PasswordSet: 1, Active: 2, Disabled: 1, Total: 5, Rate: 0.5}
	if len(got.Groups) != 3 || got.Groups[1] != wantBKN || got.Total.Total != 9 || got.Total.Rate != 0.375 {
		t.Errorf("JSON report = %+v, want BKN %+v and 9 in total at 0.375", got, wantBKN)
	}
}

func TestWritePending(t *testing.T) {
	s := newStore(t)
	knownDirectory(t, s)
	var b bytes.Buffer
	n, err := WritePending(t.Context(), s, "BKN", &b, CSVReport)
	if err != nil {
		t.Fatal(err)
	}
	want := "nip,nama,instansi,unit_kerja,state,provisioned_at\n" +
		nipFor(1) + ",Pegawai " + nipFor(1)[14:] + ",BKN,Biro SDM,password_set,2025-06-02\n" +
		nipFor(3) + ",Pegawai " + nipFor(3)[14:] + ",BKN,Biro Umum,provisioned,2025-06-02\n"
	if n != 2 || b.String() != want {
		t.Errorf("WritePending(BKN) = %d:\n%s\nwant 2:\n%s", n, b.String(), want)
	}

	b.Reset()
	n, err = WritePending(t.Context(), s, "", &b, JSON)
	if err != nil || n != 5 {
		t.Fatalf("WritePending(all, json) = %d, %v; want 5", n, err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	var first Pending
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || len(lines) != 5 || first.NIP != nipFor(1) || first.State != storage.StatePasswordSet {
		t.Errorf("JSON pending lines = %q (%v)", lines, err)
	}
}
