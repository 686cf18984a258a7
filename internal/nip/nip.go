// Package nip parses and normalises the Nomor Induk Pegawai, the 18-digit
// number that identifies an Indonesian civil servant.
//
// Layout (Perka BKN 43/2007):
//
//	19860926 201505 1 001
//	│        │      │ └── 16–18 sequence number, 001..999
//	│        │      └──── 15    gender, 1 (male) or 2 (female)
//	│        └─────────── 9–14  first appointment (TMT CPNS), YYYYMM
//	└──────────────────── 1–8   birth date, YYYYMMDD
//
// The NIP is the login name and the key of every per-account counter, so all
// the ways a person (or an attacker) may write the same number — grouped with
// spaces, dashes or dots, in full-width or Arabic-Indic digits — must end up
// as one canonical string, and everything else must be refused. Normalize is
// that single gate; nothing else in the system should compare raw NIP input.
package nip

import (
	"strings"
	"time"
	"unicode/utf8"
)

// Bounds of what this package accepts as plausible. They are not legal
// limits: they only keep typos and garbage out of the login name. The birth
// years cover everyone who can still be in service or drawing a pension
// today and leave a decade of room for new hires; an appointment must come
// at least MinAppointmentAge years after the birth year (the youngest legal
// hiring age is 18; one year of slack absorbs year-only comparison).
const (
	Length            = 18
	MinBirthYear      = 1940
	MaxBirthYear      = 2015
	MinAppointedYear  = 1960
	MaxAppointedYear  = 2100
	MinAppointmentAge = 17
	// PPPKCode stands in digits 13–14 of a PPPK employee's number (NI
	// PPPK: birth date, appointment year, 21, gender, sequence).
	PPPKCode = 21

	// maxInputBytes bounds the work done on hostile input. The longest
	// sensible spelling (18 four-byte digits with a separator between each)
	// fits well within it.
	maxInputBytes = 256
)

// Stable reasons, usable as message-catalog keys.
const (
	ReasonEmpty       = "nip.empty"
	ReasonInvalidChar = "nip.invalid_char"
	ReasonLength      = "nip.length"
	ReasonBirthDate   = "nip.birth_date"
	ReasonAppointment = "nip.appointment"
	ReasonGender      = "nip.gender"
	ReasonSequence    = "nip.sequence"
)

var reasonText = map[string]string{
	ReasonEmpty:       "the NIP is empty",
	ReasonInvalidChar: "the NIP may contain only digits, spaces, dashes and dots",
	ReasonLength:      "the NIP must have exactly 18 digits",
	ReasonBirthDate:   "digits 1 to 8 of the NIP are not a plausible birth date",
	ReasonAppointment: "digits 9 to 14 of the NIP are not a plausible appointment year and month",
	ReasonGender:      "digit 15 of the NIP must be 1 or 2",
	ReasonSequence:    "digits 16 to 18 of the NIP must be a sequence number from 001 to 999",
}

// Error reports why a string is not a NIP. Reason is one of the Reason*
// constants. The error never quotes the input, so it is safe to log and to
// show.
type Error struct {
	Reason string
}

func (e *Error) Error() string {
	if s, ok := reasonText[e.Reason]; ok {
		return s
	}
	return "the NIP is not valid"
}

// NIP is a validated NIP with its parts decoded.
type NIP struct {
	// Value is the canonical form: exactly 18 ASCII digits.
	Value string
	// BirthDate is midnight UTC of the birth date in digits 1–8.
	BirthDate time.Time
	// PPPK is set for a contract employee's number (NI PPPK), whose
	// digits 13–14 are the code PPPKCode instead of a month.
	PPPK bool
	// Appointed is the first day (UTC) of the appointment month in digits
	// 9–14 (January of the year for a PPPK number).
	Appointed time.Time
	// Gender is 1 (male) or 2 (female).
	Gender int
	// Sequence is 1..999.
	Sequence int
}

// String returns the canonical value.
func (n NIP) String() string { return n.Value }

// Grouped returns the value in the customary printed grouping,
// "19860926 201505 1 001".
func (n NIP) Grouped() string {
	if len(n.Value) != Length {
		return n.Value
	}
	v := n.Value
	return v[0:8] + " " + v[8:14] + " " + v[14:15] + " " + v[15:18]
}

// Normalize returns the canonical 18-digit form of s, or an *Error.
//
// Surrounding and inner spaces, dashes and dots are dropped; full-width,
// Arabic-Indic and Extended Arabic-Indic digits become ASCII digits. Any other
// character, including SQL and LIKE metacharacters such as ' % _, makes the
// input invalid; nothing is silently removed beyond the separators listed.
func Normalize(s string) (string, error) {
	n, err := Parse(s)
	if err != nil {
		return "", err
	}
	return n.Value, nil
}

// Parse normalises s as Normalize does and decodes its parts.
func Parse(s string) (NIP, error) {
	digits, err := canonicalDigits(s)
	if err != nil {
		return NIP{}, err
	}
	return decode(digits)
}

// canonicalDigits maps s to ASCII digits, dropping separators.
func canonicalDigits(s string) (string, error) {
	if len(s) > maxInputBytes {
		// Too long to be any spelling of 18 digits; rejected before any
		// per-character work.
		return "", &Error{Reason: ReasonLength}
	}
	var b strings.Builder
	b.Grow(Length)
	for i, w := 0, 0; i < len(s); i += w {
		r, size := utf8.DecodeRuneInString(s[i:])
		w = size
		if r == utf8.RuneError && size <= 1 {
			return "", &Error{Reason: ReasonInvalidChar}
		}
		if d, ok := digitValue(r); ok {
			b.WriteByte(byte('0' + d))
			continue
		}
		if isSeparator(r) {
			continue
		}
		return "", &Error{Reason: ReasonInvalidChar}
	}
	out := b.String()
	switch {
	case out == "":
		return "", &Error{Reason: ReasonEmpty}
	case len(out) != Length:
		return "", &Error{Reason: ReasonLength}
	}
	return out, nil
}

// digitValue recognises the decimal digits people actually type a NIP with:
// ASCII, full-width (East Asian input methods, copy from PDFs) and the two
// Arabic-Indic ranges (Arabic and Persian keyboards on phones).
func digitValue(r rune) (int, bool) {
	switch {
	case r >= '0' && r <= '9':
		return int(r - '0'), true
	case r >= '\uFF10' && r <= '\uFF19': // FULLWIDTH DIGIT ZERO..NINE
		return int(r - '\uFF10'), true
	case r >= '\u0660' && r <= '\u0669': // ARABIC-INDIC DIGIT ZERO..NINE
		return int(r - '\u0660'), true
	case r >= '\u06F0' && r <= '\u06F9': // EXTENDED ARABIC-INDIC DIGIT ZERO..NINE
		return int(r - '\u06F0'), true
	}
	return 0, false
}

// isSeparator lists the grouping characters seen in printed and typed NIPs.
// Each is either invisible or a visible group mark; none can change which
// digits the number has.
func isSeparator(r rune) bool {
	switch r {
	case ' ', '\t', '\u00A0', '\u3000', // space, tab, no-break, ideographic space
		'-', '\u2010', '\u2011', '\u2012', '\u2013', '\u2212', '\uFF0D', // hyphens, dashes, minus
		'.', '\uFF0E': // full stop, full-width full stop
		return true
	}
	return false
}

// decode validates the fields of 18 ASCII digits.
func decode(v string) (NIP, error) {
	birthYear := atoi(v[0:4])
	birth, ok := date(birthYear, atoi(v[4:6]), atoi(v[6:8]))
	if !ok || birthYear < MinBirthYear || birthYear > MaxBirthYear {
		return NIP{}, &Error{Reason: ReasonBirthDate}
	}
	apptYear, apptMonth := atoi(v[8:12]), atoi(v[12:14])
	pppk := apptMonth == PPPKCode
	if (!pppk && (apptMonth < 1 || apptMonth > 12)) ||
		apptYear < MinAppointedYear || apptYear > MaxAppointedYear ||
		apptYear < birthYear+MinAppointmentAge {
		return NIP{}, &Error{Reason: ReasonAppointment}
	}
	gender := atoi(v[14:15])
	if gender != 1 && gender != 2 {
		return NIP{}, &Error{Reason: ReasonGender}
	}
	seq := atoi(v[15:18])
	if seq < 1 {
		return NIP{}, &Error{Reason: ReasonSequence}
	}
	if pppk {
		apptMonth = 1 // a PPPK number records the year only
	}
	return NIP{
		Value:     v,
		BirthDate: birth,
		PPPK:      pppk,
		Appointed: time.Date(apptYear, time.Month(apptMonth), 1, 0, 0, 0, 0, time.UTC),
		Gender:    gender,
		Sequence:  seq,
	}, nil
}

// date builds a UTC date and reports whether y-m-d is a real calendar day
// (time.Date would silently roll 31 February into March).
func date(y, m, d int) (time.Time, bool) {
	if m < 1 || m > 12 || d < 1 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	return t, t.Year() == y && int(t.Month()) == m && t.Day() == d
}

// atoi converts a short run of ASCII digits already checked by the caller.
func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}
