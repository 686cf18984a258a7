package nip

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

const canonical = "198609262015051001"

// toScript rewrites the ASCII digits of s with the digit zero of another
// script, keeping every other character.
func toScript(s string, zero rune) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(zero + (r - '0'))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// B4: every spelling of one NIP maps to one canonical key.
func TestNormalize_VariantsShareOneKey_B4(t *testing.T) {
	variants := []struct{ name, in string }{
		{"canonical", canonical},
		{"grouped", "19860926 201505 1 001"},
		{"surrounding space", "  198609262015051001\t"},
		{"dashes", "19860926-201505-1-001"},
		{"dots", "19860926.201505.1.001"},
		{"no-break space", "19860926\u00a0201505\u00a01\u00a0001"},
		{"ideographic space", "\u300019860926\u3000201505\u30001\u3000001"},
		{"en dash", "19860926\u2013201505\u20131\u2013001"},
		{"full-width", toScript("19860926 201505 1 001", '\uFF10')},
		{"full-width dashes", toScript("19860926\uFF0D201505\uFF0D1\uFF0D001", '\uFF10')},
		{"arabic-indic", toScript("19860926 201505 1 001", '\u0660')},
		{"extended arabic-indic", toScript(canonical, '\u06F0')},
		{"mixed scripts", "١٩٨٦0926 ２０１５05 1 ۰۰۱"},
	}
	for _, tc := range variants {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Normalize(tc.in)
			if err != nil || got != canonical {
				t.Errorf("Normalize(%q) = %q, %v, want %q, nil", tc.in, got, err, canonical)
			}
		})
	}
}

func TestParse_Fields(t *testing.T) {
	got, err := Parse("19860926 201505 2 042")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := NIP{
		Value:     "198609262015052042",
		BirthDate: time.Date(1986, time.September, 26, 0, 0, 0, 0, time.UTC),
		Appointed: time.Date(2015, time.May, 1, 0, 0, 0, 0, time.UTC),
		Gender:    2,
		Sequence:  42,
	}
	if got != want {
		t.Errorf("Parse() = %+v, want %+v", got, want)
	}
	if g := got.Grouped(); g != "19860926 201505 2 042" {
		t.Errorf("Grouped() = %q, want %q", g, "19860926 201505 2 042")
	}
	if s := got.String(); s != want.Value {
		t.Errorf("String() = %q, want %q", s, want.Value)
	}
}

// F1: the table covers each rejection reason, and SQL/LIKE metacharacters are
// simply invalid characters.
func TestNormalize_Invalid_F1(t *testing.T) {
	tests := []struct {
		name, in   string
		wantReason string
	}{
		{"empty", "", ReasonEmpty},
		{"only separators", " - . ", ReasonEmpty},
		{"17 digits", "19860926201505100", ReasonLength},
		{"19 digits", "1986092620150510011", ReasonLength},
		{"very long", strings.Repeat("1", 10<<20), ReasonLength},
		{"letter", "19860926201505100l", ReasonInvalidChar},
		{"percent", "1986092620150510%", ReasonInvalidChar},
		{"underscore", "19860926201505100_", ReasonInvalidChar},
		{"quote", "198609262015051001' OR '1'='1", ReasonInvalidChar},
		{"semicolon", "198609262015051001;", ReasonInvalidChar},
		{"asterisk", "19860926201505100*", ReasonInvalidChar},
		{"NUL", "198609262015051001\x00", ReasonInvalidChar},
		{"zero-width space", "19860926\u200b201505 1 001", ReasonInvalidChar},
		{"RTL mark", "\u200f198609262015051001", ReasonInvalidChar},
		{"invalid utf-8", "19860926201505100\xff", ReasonInvalidChar},
		{"superscript digit", "19860926201505100\u00b9", ReasonInvalidChar},
		{"devanagari digit", "19860926201505100\u0967", ReasonInvalidChar},
		{"plus sign", "+198609262015051001", ReasonInvalidChar},
		{"month 13", "198613262015051001", ReasonBirthDate},
		{"month 00", "198600262015051001", ReasonBirthDate},
		{"day 00", "198609002015051001", ReasonBirthDate},
		{"31 September", "198609312015051001", ReasonBirthDate},
		{"29 February not leap", "198702292015051001", ReasonBirthDate},
		{"born too early", "193912312015051001", ReasonBirthDate},
		{"born too late", "201601012035051001", ReasonBirthDate},
		{"appointment month 00", "198609262015001001", ReasonAppointment},
		{"appointment month 13", "198609262015131001", ReasonAppointment},
		{"appointment before 1960", "194001011959121001", ReasonAppointment},
		{"appointment after 2100", "198609262101011001", ReasonAppointment},
		{"appointed at 16", "198609262002121001", ReasonAppointment},
		{"month 13", "198609262015131001", ReasonAppointment},
		{"code 22 is no month and no PPPK code", "198609262015221001", ReasonAppointment},
		{"gender 0", "198609262015050001", ReasonGender},
		{"gender 3", "198609262015053001", ReasonGender},
		{"sequence 000", "198609262015051000", ReasonSequence},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Normalize(tc.in)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Normalize(%.40q) = %q, %v, want *Error with reason %q", tc.in, got, err, tc.wantReason)
			}
			if e.Reason != tc.wantReason {
				t.Errorf("Normalize(%.40q) reason = %q, want %q", tc.in, e.Reason, tc.wantReason)
			}
			if got != "" {
				t.Errorf("Normalize(%.40q) = %q with an error, want \"\"", tc.in, got)
			}
			if msg := err.Error(); msg != reasonText[tc.wantReason] {
				t.Errorf("Error() = %q, want the fixed sentence %q", msg, reasonText[tc.wantReason])
			}
		})
	}
}

func TestNormalize_Valid(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"leap day", "19880229 200601 2 999", "198802292006012999"},
		{"earliest birth year", "19400101 1960 01 1 001", "194001011960011001"},
		{"latest birth year", "20151231 2032 12 2 001", "201512312032122001"},
		{"appointed at exactly 17 (year)", "19861231 2003 01 1 001", "198612312003011001"},
		{"latest appointment", "19860926 2100 12 1 001", "198609262100121001"},
		{"PPPK number (code 21)", "19900415 2022 21 2 007", "199004152022212007"},
		// "--" is only a separator: it cannot carry anything into a query.
		{"sql comment dashes", "198609262015051001--", canonical},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Normalize(tc.in)
			if err != nil || got != tc.want {
				t.Errorf("Normalize(%q) = %q, %v, want %q, nil", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestError_EveryReasonHasASentence(t *testing.T) {
	for _, r := range []string{ReasonEmpty, ReasonInvalidChar, ReasonLength, ReasonBirthDate,
		ReasonAppointment, ReasonGender, ReasonSequence} {
		e := &Error{Reason: r}
		if got := e.Error(); got == "" || got == (&Error{Reason: "x"}).Error() {
			t.Errorf("(&Error{%q}).Error() = %q, want a reason-specific sentence", r, got)
		}
	}
}

// F1: never panics; accepted ⇒ exactly 18 ASCII digits, a valid calendar date
// in 1–8 within bounds, a plausible YYYYMM in 9–14; normalising is idempotent.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{canonical, "19860926 201505 1 001", "19860926-201505-1-001",
		toScript(canonical, '\uFF10'), toScript(canonical, '\u0660'), "1986092620150510%", "", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := Normalize(in)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || reasonText[e.Reason] == "" {
				t.Fatalf("Normalize(%q) error %v is not an *Error with a known reason", in, err)
			}
			if got != "" {
				t.Fatalf("Normalize(%q) = %q with error %v", in, got, err)
			}
			return
		}
		if len(got) != Length || utf8.RuneCountInString(got) != Length {
			t.Fatalf("Normalize(%q) = %q, want 18 ASCII digits", in, got)
		}
		for i := 0; i < len(got); i++ {
			if got[i] < '0' || got[i] > '9' {
				t.Fatalf("Normalize(%q) = %q, want only ASCII digits", in, got)
			}
		}
		y, m, d := atoi(got[0:4]), atoi(got[4:6]), atoi(got[6:8])
		birth := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
		if birth.Year() != y || int(birth.Month()) != m || birth.Day() != d || y < MinBirthYear || y > MaxBirthYear {
			t.Fatalf("Normalize(%q) = %q, digits 1–8 are not a plausible date", in, got)
		}
		ay, am := atoi(got[8:12]), atoi(got[12:14])
		if (am != PPPKCode && (am < 1 || am > 12)) || ay < MinAppointedYear || ay > MaxAppointedYear || ay < y+MinAppointmentAge {
			t.Fatalf("Normalize(%q) = %q, digits 9–14 are not a plausible YYYYMM", in, got)
		}
		if again, err := Normalize(got); err != nil || again != got {
			t.Fatalf("Normalize(%q) = %q, %v, want it unchanged", got, again, err)
		}
	})
}
