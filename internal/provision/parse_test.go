package provision

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// nipFor is the i-th of a run of distinct valid NIPs.
func nipFor(i int) string {
	birth := time.Date(1970, time.January, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i/1998)
	return fmt.Sprintf("%s201505%d%03d", birth.Format("20060102"), 1+(i/999)%2, i%999+1)
}

func parseString(t *testing.T, format Format, body string) *File {
	t.Helper()
	f, err := Parse(strings.NewReader(body), format)
	if err != nil {
		t.Fatalf("Parse(%s) = %v, want a file", format, err)
	}
	return f
}

func TestParse_ValidCSV(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"plain", "nip,nama,email,instansi,unit_kerja,jabatan,jenis_pegawai\n" +
			"198609262015051001,Siti Aminah,siti@example.go.id,BKN,Biro SDM,Analis SDM,PPPK Paruh Waktu\n"},
		{"spreadsheet export: BOM, semicolons, CRLF, titled headers", "\ufeffNIP;Nama;Email;Instansi;Unit Kerja;Jabatan;Jenis-Pegawai\r\n" +
			"19860926 201505 1 001;  Siti Aminah ;siti@example.go.id;BKN;Biro SDM;Analis SDM;PPPK Paruh Waktu\r\n"},
		{"name alias, other column order, quoted comma", "email,name,nip,jenis_pegawai,jabatan,unit_kerja,instansi\n" +
			`siti@example.go.id,"Siti Aminah",198609262015051001,PPPK Paruh Waktu,Analis SDM,Biro SDM,BKN` + "\n"},
		{"tabs", "nip\tnama\temail\tinstansi\tunit_kerja\tjabatan\tjenis_pegawai\n" +
			"198609262015051001\tSiti Aminah\tsiti@example.go.id\tBKN\tBiro SDM\tAnalis SDM\tPPPK Paruh Waktu\n"},
	}
	want := [numFields]string{"198609262015051001", "Siti Aminah", "siti@example.go.id", "BKN", "Biro SDM", "Analis SDM", "PPPK Paruh Waktu"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := parseString(t, CSV, tc.body)
			if len(f.Errors) > 0 || len(f.Records) != 1 {
				t.Fatalf("Parse = %d records, errors %v; want 1 record, no errors", len(f.Records), f.Errors)
			}
			if diff := cmp.Diff(want, f.Records[0].Values); diff != "" {
				t.Errorf("record mismatch (-want +got):\n%s", diff)
			}
			if f.Records[0].Line != 2 {
				t.Errorf("record line = %d, want 2", f.Records[0].Line)
			}
		})
	}
}

func TestParse_ValidJSONLines(t *testing.T) {
	body := `{"nip":"198609262015051001","nama":"Siti Aminah","email":"siti@example.go.id","instansi":"BKN"}` + "\n\n" +
		`{"name":"Budi","nip":"199001012022212002","email":"budi@example.go.id","unit_kerja":"Biro Umum","jabatan":"Guru","jenis_pegawai":"PPPK"}` + "\n"
	f := parseString(t, JSONLines, body)
	if len(f.Errors) > 0 || len(f.Records) != 2 {
		t.Fatalf("Parse = %d records, errors %v; want 2 records", len(f.Records), f.Errors)
	}
	if r := f.Records[1]; r.NIP() != "199001012022212002" || r.Line != 3 || r.Values[FieldName] != "Budi" || r.Values[FieldJenisPegawai] != "PPPK" {
		t.Errorf("second record = line %d %v", r.Line, r.Values)
	}
	// A key a line leaves out is not carried: the stored value stays.
	if r := f.Records[0]; r.has.has(FieldUnitKerja) || !r.has.has(FieldInstansi) {
		t.Errorf("first record carries unit_kerja %v, instansi %v; want false, true", r.has.has(FieldUnitKerja), r.has.has(FieldInstansi))
	}
}

// Every bad row is reported with its line and reason, and the good rows
// are still parsed, so an operator fixes the file in one pass.
func TestParse_BadRows(t *testing.T) {
	const header = "nip,nama,email,instansi\n"
	rows := []struct {
		row  string
		want string // the RowError text for that line
	}{
		{"198609262015051001,Siti,siti@example.go.id,BKN", ""},
		{"19860926201505100,Budi,budi@example.go.id,BKN", "nip: the NIP must have exactly 18 digits"},
		{"198613262015051001,Budi,budi@example.go.id,BKN", "nip: digits 1 to 8 of the NIP are not a plausible birth date"},
		{"198609262015131001,Budi,budi@example.go.id,BKN", "nip: digits 9 to 14 of the NIP are not a plausible appointment year and month"},
		{"198609262015053001,Budi,budi@example.go.id,BKN", "nip: digit 15 of the NIP must be 1 or 2"},
		{"198609262015051000,Budi,budi@example.go.id,BKN", "nip: digits 16 to 18 of the NIP must be a sequence number from 001 to 999"},
		{"1986092620150510%1,Budi,budi@example.go.id,BKN", "nip: the NIP may contain only digits, spaces, dashes and dots"},
		{",Budi,budi@example.go.id,BKN", "nip: is empty"},
		{"199001012022212002,,budi@example.go.id,BKN", "nama: is empty"},
		{"199001012022212002,Budi,,BKN", "email: is empty"},
		{"199001012022212002,Budi,budi@example.go.id;eve@example.com,BKN", "email: is not a single plain email address"},
		{"199001012022212002,Budi,Budi <budi@example.go.id>,BKN", "email: is not a single plain email address"},
		{"199001012022212002,Budi,budi@localhost,BKN", "email: is not a single plain email address"},
		{"199001012022212002,\"Bu\ndi\",budi@example.go.id,BKN", "nama: contains a control character"},
		{"199001012022212002,Budi,budi@example.go.id,\xff", "instansi: is not valid UTF-8"},
		{"199001012022212002,Budi,budi@example.go.id,BKN,extra", "wrong number of columns"},
		{"199001012022212002,Budi,budi@example.go.id," + strings.Repeat("x", 201), "instansi: is longer than 200 characters"},
		{"199001012022212002,Bu\"di,budi@example.go.id,BKN", "badly quoted field"},
		{"19860926 201505 1 001,Siti lagi,siti2@example.go.id,BKN", "nip: the same NIP is on line 2"},
	}
	var body strings.Builder
	body.WriteString(header)
	var want []string
	line := 2
	for _, r := range rows {
		body.WriteString(r.row + "\n")
		if r.want != "" {
			want = append(want, fmt.Sprintf("line %d: %s", line, r.want))
		}
		line += 1 + strings.Count(r.row, "\n")
	}
	f := parseString(t, CSV, body.String())
	var got []string
	for _, e := range f.Errors {
		got = append(got, e.Error())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("row errors mismatch (-want +got):\n%s", diff)
	}
	if len(f.Records) != 1 || f.Records[0].Values[FieldName] != "Siti" {
		t.Errorf("valid records = %d, want the one good row", len(f.Records))
	}
}

func TestParse_BadJSONLines(t *testing.T) {
	lines := []struct {
		line string
		want string
	}{
		{`{"nip":198609262015051001,"nama":"Siti","email":"siti@example.go.id"}`, "line 1: nip must be a JSON string"},
		{`["198609262015051001"]`, "line 2: not a JSON object"},
		{`{"nip":"198609262015051001","nama":"Siti","email":"siti@example.go.id","tanggal_lahir":"1986-09-26"}`, `line 3: key "tanggal_lahir" is not one of nip, nama, email, instansi, unit_kerja, jabatan, jenis_pegawai (or name)`},
		{`{"nip":"198609262015051001","nip":"199001012022212002","nama":"Siti","email":"siti@example.go.id"}`, `line 4: key "nip" repeats nip`},
		{`{"nip":"198609262015051001","nama":"Siti"}`, "line 5: email is missing"},
		{`{"nip":"198609262015051001","nama":"Siti","email":"siti@example.go.id"} {}`, "line 6: more than one JSON value on the line"},
		{`{"nip":"198609262015051001","nama":"Siti","email":"siti@example.go.id"`, "line 7: not a JSON object"},
	}
	var body strings.Builder
	var want []string
	for _, l := range lines {
		body.WriteString(l.line + "\n")
		want = append(want, l.want)
	}
	f := parseString(t, JSONLines, body.String())
	var got []string
	for _, e := range f.Errors {
		got = append(got, e.Error())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("row errors mismatch (-want +got):\n%s", diff)
	}
}

func TestParse_FileErrors(t *testing.T) {
	tests := []struct {
		name    string
		format  Format
		body    string
		wantErr error
		wantMsg string
	}{
		{"empty", CSV, "", ErrNoRows, ""},
		{"header only", CSV, "nip,nama,email\n", ErrNoRows, ""},
		{"empty json", JSONLines, "\n\n", ErrNoRows, ""},
		{"unknown column", CSV, "nip,nama,email,tanggal_lahir\n", ErrBadHeader, `column 4 "tanggal_lahir" is not one of`},
		{"repeated column", CSV, "nip,nama,name,email\n", ErrBadHeader, `column 3 "name" repeats nama`},
		{"missing required", CSV, "nip,nama\n", ErrBadHeader, "column email is missing"},
		{"json line too long", JSONLines, strings.Repeat(" ", maxLine+10) + "\n", nil, "line 1 is longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.body), tc.format)
			if err == nil {
				t.Fatalf("Parse = nil error, want %v", tc.wantErr)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("Parse = %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("Parse = %q, want it to contain %q", err, tc.wantMsg)
			}
		})
	}
}

func TestFormatOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		want Format
	}{
		{"pegawai.csv", CSV}, {"EXPORT.CSV", CSV}, {"pegawai.jsonl", JSONLines}, {"x.ndjson", JSONLines}, {"pegawai.xlsx", ""},
	} {
		got, err := FormatOf(tc.name)
		if got != tc.want || (tc.want == "") != (err != nil) {
			t.Errorf("FormatOf(%q) = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

// F1: whatever a file holds, parsing never panics, every accepted NIP is
// 18 ASCII digits, and SQL/LIKE metacharacters never survive into one.
func FuzzParse(f *testing.F) {
	f.Add("nip,nama,email\n198609262015051001,Siti,siti@example.go.id\n", false)
	f.Add("nip;nama;email\n1986-0926-2015-05-1-001;Siti;siti@example.go.id\n", false)
	f.Add("nip,nama,email\n1986092620150510%1,Siti,s@e.id\n\"unterminated", false)
	f.Add(`{"nip":"19860926 201505 1 001","nama":"Siti","email":"siti@example.go.id"}`+"\n", true)
	f.Add(`{"nip":"198609262015051001_","nama":"x","email":"a@b.c"}`, true)
	f.Fuzz(func(t *testing.T, body string, jsonLines bool) {
		format := CSV
		if jsonLines {
			format = JSONLines
		}
		file, err := Parse(strings.NewReader(body), format)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, r := range file.Records {
			n := r.NIP()
			if len(n) != 18 || strings.Trim(n, "0123456789") != "" {
				t.Fatalf("accepted NIP %q is not 18 ASCII digits", n)
			}
			if seen[n] {
				t.Fatalf("NIP %s accepted twice", n)
			}
			seen[n] = true
			if r.Values[FieldName] == "" || !validEmail(r.Values[FieldEmail]) {
				t.Fatalf("accepted record without a name or a valid email: %q", r.Values)
			}
		}
		for _, e := range file.Errors {
			if e.Line < 1 {
				t.Fatalf("row error without a line: %v", e)
			}
		}
	})
}

// jenis_pegawai is one of the kinds relying parties act on, whatever its
// case or spacing in the export; anything else is a bad row.
func TestParse_JenisPegawai(t *testing.T) {
	f := parseString(t, CSV, "nip,nama,email,jenis_pegawai\n"+
		"198609262015051001,Siti,siti@example.go.id,pppk  paruh waktu\n"+
		"199001012022212002,Budi,budi@example.go.id,PNS\n"+
		"199101012022212003,Rina,rina@example.go.id,Honorer\n"+
		"199201012022212004,Joko,joko@example.go.id,\n")
	var got []string
	for _, e := range f.Errors {
		got = append(got, e.Error())
	}
	want := []string{
		`line 4: jenis_pegawai: is not one of "PNS", "PPPK", "PPPK Paruh Waktu"`,
		`line 5: jenis_pegawai: is not one of "PNS", "PPPK", "PPPK Paruh Waktu"`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("row errors mismatch (-want +got):\n%s", diff)
	}
	kinds := map[string]string{}
	for _, r := range f.Records {
		kinds[r.NIP()] = r.Values[FieldJenisPegawai]
	}
	if diff := cmp.Diff(map[string]string{"198609262015051001": "PPPK Paruh Waktu", "199001012022212002": "PNS"}, kinds); diff != "" {
		t.Errorf("kinds mismatch (-want +got):\n%s", diff)
	}
}
