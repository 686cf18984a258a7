// Package provision brings the national personnel database into asnidp
// and tells operators how far activation has come.
//
// An import runs in three steps, so a bad file never half-applies:
//
//	Parse   every row is read and validated; each bad row is reported with
//	        its line number and reason, and one bad row stops the import
//	Plan    the rows are compared with the stored accounts: created,
//	        updated (which fields), unchanged, and with DisableMissing the
//	        agency's leavers; a dry run prints the plan and stops here
//	Apply   the plan is written in batched transactions, upserting by NIP;
//	        passwords, authenticators, counters and states are never
//	        touched, so running the same file again changes nothing
//
// Reports count accounts per state, overall or per agency or work unit.
package provision

import (
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	asnmail "github.com/asnidp/asnidp/internal/mail"
	"github.com/asnidp/asnidp/internal/nip"
	"github.com/asnidp/asnidp/storage"
)

// Field is one personnel column of an export.
type Field int

// The columns, in the order an export lists them.
const (
	FieldNIP Field = iota
	FieldName
	FieldEmail
	FieldInstansi
	FieldUnitKerja
	FieldJabatan
	FieldJenisPegawai
	numFields
)

// names are the canonical column names; aliases adds the others accepted.
var names = [numFields]string{"nip", "nama", "email", "instansi", "unit_kerja", "jabatan", "jenis_pegawai"}

var aliases = map[string]Field{"name": FieldName}

func (f Field) String() string { return names[f] }

// required columns must be in every file and filled in every row. The
// others may be left out: a column a file does not have keeps the stored
// value of existing accounts.
func (f Field) required() bool { return f <= FieldEmail }

// fieldByName finds a column from a header cell: case, surrounding spaces,
// inner spaces and dashes do not matter ("Unit Kerja" is unit_kerja).
func fieldByName(s string) (Field, bool) {
	key := strings.ToLower(strings.TrimSpace(s))
	key = strings.NewReplacer(" ", "_", "-", "_").Replace(key)
	for f, n := range names {
		if n == key {
			return Field(f), true
		}
	}
	f, ok := aliases[key]
	return f, ok
}

// fieldSet is a set of columns.
type fieldSet uint8

func (s fieldSet) has(f Field) bool { return s&(1<<f) != 0 }
func (s *fieldSet) add(f Field)     { *s |= 1 << f }

// Record is one valid row: an employee as the personnel database lists
// them, NIP in canonical form.
type Record struct {
	// Line is where the row starts in the file (1-based, header included).
	Line int
	// Values are indexed by Field.
	Values [numFields]string
	// has says which columns the row carries.
	has fieldSet
}

// NIP returns the canonical NIP.
func (r *Record) NIP() string { return r.Values[FieldNIP] }

// RowError is a row that cannot be imported.
type RowError struct {
	Line int
	// Field is the column at fault, empty for the row as a whole.
	Field  string
	Reason string
}

func (e *RowError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Reason)
}

// maxText bounds every text column: longer is a data error, not a name.
const maxText = 200

// validate normalises raw (indexed by Field; has says which are present)
// into a Record or returns the first problem found.
func validate(line int, raw [numFields]string, has fieldSet) (*Record, *RowError) {
	r := &Record{Line: line, has: has}
	bad := func(f Field, reason string, args ...any) *RowError {
		return &RowError{Line: line, Field: f.String(), Reason: fmt.Sprintf(reason, args...)}
	}
	for f := range numFields {
		v := raw[f]
		if !utf8.ValidString(v) {
			return nil, bad(f, "is not valid UTF-8")
		}
		v = strings.TrimSpace(v)
		if f.required() && v == "" {
			return nil, bad(f, "is empty")
		}
		if utf8.RuneCountInString(v) > maxText {
			return nil, bad(f, "is longer than %d characters", maxText)
		}
		if strings.IndexFunc(v, unicode.IsControl) >= 0 {
			return nil, bad(f, "contains a control character")
		}
		r.Values[f] = v
	}
	canonical, err := nip.Normalize(r.Values[FieldNIP])
	if err != nil {
		// nip's messages never quote the input.
		return nil, bad(FieldNIP, "%s", err.Error())
	}
	r.Values[FieldNIP] = canonical
	if !validEmail(r.Values[FieldEmail]) {
		return nil, bad(FieldEmail, "is not a single plain email address")
	}
	if has.has(FieldJenisPegawai) {
		kind, err := NormalizeJenisPegawai(r.Values[FieldJenisPegawai])
		if err != nil {
			return nil, bad(FieldJenisPegawai, "%s", err.Error())
		}
		r.Values[FieldJenisPegawai] = kind
	}
	return r, nil
}

// JenisPegawai are the kinds of employee the personnel database knows, as
// relying parties receive them in the jenis_pegawai claim.
var JenisPegawai = []string{"PNS", "PPPK", "PPPK Paruh Waktu"}

// NormalizeJenisPegawai returns the kind s names, ignoring case and extra
// spaces ("pppk  paruh waktu"); anything else is an error listing the
// kinds, since a relying party cannot act on a misspelt kind.
func NormalizeJenisPegawai(s string) (string, error) {
	folded := strings.Join(strings.Fields(s), " ")
	for _, k := range JenisPegawai {
		if strings.EqualFold(folded, k) {
			return k, nil
		}
	}
	return "", fmt.Errorf("is not one of %s", strings.Join(quoted(JenisPegawai), ", "))
}

func quoted(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = strconv.Quote(s)
	}
	return out
}

// validEmail accepts one plain address, as the mailer will (C5).
func validEmail(s string) bool {
	if asnmail.CheckRecipient(s) != nil {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == ""
}

// apply sets the columns r carries on u; the others keep u's values.
func (r *Record) apply(u *storage.User) {
	set := func(f Field, dst *string) {
		if r.has.has(f) {
			*dst = r.Values[f]
		}
	}
	set(FieldName, &u.Name)
	set(FieldEmail, &u.Email)
	set(FieldInstansi, &u.Instansi)
	set(FieldUnitKerja, &u.UnitKerja)
	set(FieldJabatan, &u.Jabatan)
	set(FieldJenisPegawai, &u.JenisPegawai)
}

// profileDiff names the personnel fields in which a and b differ.
func profileDiff(a, b *storage.User) []string {
	var out []string
	for _, f := range []struct {
		field Field
		a, b  string
	}{
		{FieldName, a.Name, b.Name},
		{FieldEmail, a.Email, b.Email},
		{FieldInstansi, a.Instansi, b.Instansi},
		{FieldUnitKerja, a.UnitKerja, b.UnitKerja},
		{FieldJabatan, a.Jabatan, b.Jabatan},
		{FieldJenisPegawai, a.JenisPegawai, b.JenisPegawai},
	} {
		if f.a != f.b {
			out = append(out, f.field.String())
		}
	}
	return out
}
