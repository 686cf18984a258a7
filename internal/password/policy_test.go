package password

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

var testContext = Context{
	NIP:      "198609262015051001",
	Name:     "Raden Wiryo Hadikusumo",
	Instansi: "Dinas Pendidikan Kabupaten Sleman",
	Extra:    []string{"Portal Kepegawaian"},
}

// passphrase64 is a 64-rune passphrase.
const passphrase64 = "kuda lumping menari di bawah bulan purnama sambil minum kopi tub"

// longPassword returns n pseudo-random letters and digits, the same on every
// run, with no repetition the policy would call trivial.
func longPassword(n int) string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// C6: each rejection comes with its specific reason; long and Unicode
// passphrases are accepted; 129+ runes are rejected.
func TestPolicyCheck_C6(t *testing.T) {
	if n := utf8.RuneCountInString(passphrase64); n != 64 {
		t.Fatalf("passphrase64 has %d runes, want 64", n)
	}
	tests := []struct {
		name       string
		password   string
		wantReason string // "" = accepted
	}{
		{"11 chars", "Tr0ub4dor&3", ReasonTooShort},
		{"11 runes with combining accent", "cafe\u0301terias!", ReasonTooShort}, // NFKC: 11 runes
		{"empty", "", ReasonTooShort},
		{"top list with digits", "Password123!", ReasonCommon},
		{"top list leet", "P@ssw0rd2024", ReasonCommon},
		{"indonesian leet", "r4h4s14n3g4r4", ReasonCommon},
		{"leet symbol first", "@dministrator2", ReasonCommon},
		{"indonesian top list", "sayangkamu12", ReasonCommon},
		{"indonesian with spaces", "Merah Putih 1945", ReasonCommon},
		{"religious phrase", "Bismillah2024", ReasonCommon},
		{"keyboard row", "qwertyuiop12", ReasonCommon},
		{"digits run", "1234567890!!", ReasonCommon},
		{"long digits run", "123456789012345", ReasonCommon},
		{"repeated list word", "katasandikatasandi", ReasonCommon},
		{"one character", "aaaaaaaaaaaaa", ReasonCommon},
		{"short unit repeated", "abcabcabcabc", ReasonCommon},
		{"spaces only", strings.Repeat(" ", 12), ReasonCommon},
		{"service name", "asndigital2025", ReasonCommon},
		{"full-width top list", "ｐａｓｓｗｏｒｄ１２３４", ReasonCommon},
		{"NIP", "198609262015051001", ReasonContext},
		{"NIP inside a phrase", "my id 198609262015051001 ok?", ReasonContext},
		{"NIP grouped", "19860926 201505 1 001", ReasonContext},
		{"birth date digits", "19860926!!!!", ReasonContext},
		{"birth date DDMMYYYY", "26091986#abc", ReasonContext},
		{"birth date with dashes and name", "Wiryo-26-09-1986", ReasonContext},
		{"birth date with slashes", "26/09/1986 hadikusumo", ReasonContext},
		{"name part plus digits", "Hadikusumo2024", ReasonContext},
		{"full name", "RadenWiryoHadikusumo", ReasonContext},
		{"agency", "Dinas Pendidikan 1", ReasonContext},
		{"agency initials plus name", "dpksWiryo12345", ReasonContext},
		{"extra word", "Portal Kepegawaian 25", ReasonContext},
		{"fixed words", "asn bkn pppk 2025!", ReasonContext},
		{"NUL", "correct horse\x00battery", ReasonInvalid},
		{"tab", "correct\thorse battery", ReasonInvalid},
		{"invalid utf-8", "correct horse \xff battery", ReasonInvalid},
		{"RTL override", "correct horse \u202ebattery", ReasonInvalid},
		{"zero-width space", "correct\u200bhorse battery", ReasonInvalid},
		{"129 runes", longPassword(129), ReasonTooLong},
		{"10 MB", strings.Repeat("a", 10<<20), ReasonTooLong},
		{"12 chars", "gunung-API-7", ""},
		{"64-char passphrase", passphrase64, ""},
		{"128 runes", longPassword(128), ""},
		{"name inside a real phrase", "Wiryo suka naik sepeda ke pasar", ""},
		{"japanese passphrase", "日本語のパスフレーズはとても長いです", ""},
		{"greek passphrase", "Ελληνικό συνθηματικό μου", ""},
		{"emoji and accents", "Kopi ☕ dan bulan 🌙 di Ubud, café", ""},
		{"arabic passphrase", "كلمة مرور طويلة جدا", ""},
		{"random digits", "83749201938475", ""},
		{"zero-width joiner allowed", "क्\u200dष पासवर्ड लंबा है", ""},
	}
	var p Policy
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Check(tc.password, testContext)
			if tc.wantReason == "" {
				if err != nil {
					t.Errorf("Check(%.40q) = %v, want nil", tc.password, err)
				}
				return
			}
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("Check(%.40q) = %v, want *PolicyError %q", tc.password, err, tc.wantReason)
			}
			if pe.Reason != tc.wantReason {
				t.Errorf("Check(%.40q) reason = %q, want %q", tc.password, pe.Reason, tc.wantReason)
			}
			if got, want := err.Error(), reasonText[tc.wantReason]; got != want {
				t.Errorf("Check(%.40q).Error() = %q, want %q", tc.password, got, want)
			}
		})
	}
}

func TestPolicyCheck_Limits(t *testing.T) {
	ctx := Context{}
	tests := []struct {
		name       string
		policy     Policy
		password   string
		wantReason string
	}{
		{"custom minimum", Policy{MinLength: 16}, "gunung-API-7xyz", ReasonTooShort},
		{"custom minimum met", Policy{MinLength: 16}, "gunung-API-7wxyz", ""},
		{"custom maximum", Policy{MaxLength: 20}, "gunung-API-7wxyz-gunung", ReasonTooLong},
		{"maximum capped at MaxLength", Policy{MaxLength: 1000}, longPassword(129), ReasonTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.policy.Check(tc.password, ctx)
			var reason string
			if pe := (*PolicyError)(nil); errors.As(err, &pe) {
				reason = pe.Reason
			} else if err != nil {
				t.Fatalf("Check() = %v, want nil or *PolicyError", err)
			}
			if reason != tc.wantReason {
				t.Errorf("%+v.Check(%q) reason = %q, want %q", tc.policy, tc.password, reason, tc.wantReason)
			}
		})
	}
}

func TestCommonList(t *testing.T) {
	if len(common) < 2000 {
		t.Errorf("common list has %d entries, want at least 2000", len(common))
	}
	for _, w := range []string{"sayangkamu", "bismillah", "indonesia", "rahasia", "katasandi", "merahputih",
		"garuda", "jakarta", "asndigital", "bkn12345", "password123", "qwertyuiop", "1234567890"} {
		if _, ok := common[w]; !ok {
			t.Errorf("common list lacks %q", w)
		}
	}
	for w := range common {
		if w != strings.ToLower(w) || strings.ContainsFunc(w, func(r rune) bool { return r == ' ' }) {
			t.Errorf("common list entry %q is not lower case without spaces", w)
		}
	}
}

// C6: the same string is normalised identically at set and at login.
func TestNormalize(t *testing.T) {
	tests := []struct{ name, a, b string }{
		{"full-width", "ｋｕｄａ　Ｌｕｍｐｉｎｇ１", "kuda Lumping1"},
		{"composed and decomposed", "caf\u00e9 au lait", "cafe\u0301 au lait"},
		{"ligature", "\ufb01sh", "fish"},
		{"hangul jamo", "\u1100\u1161", "\uac00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := Normalize(tc.a), Normalize(tc.b); got != want {
				t.Errorf("Normalize(%q) = %q, want Normalize(%q) = %q", tc.a, got, tc.b, want)
			}
		})
	}
}

// F2: never panics; accepted ⇒ valid UTF-8 of MinLength..MaxLength runes
// after normalisation, stable under normalisation; longer valid input is
// rejected as too long, never cut down.
func FuzzPolicy(f *testing.F) {
	for _, s := range []string{"", "\x00", "\xff\xfe", "\u200f", "%_%_%_%_%_%_", "000000", "123 456",
		passphrase64, longPassword(129), "19860926!!!!", "Ｐａｓｓｗｏｒｄ１２３"} {
		f.Add(s)
	}
	var p Policy
	f.Fuzz(func(t *testing.T, pw string) {
		err := p.Check(pw, testContext)
		n := Normalize(pw)
		count := utf8.RuneCountInString(n)
		if err != nil {
			var pe *PolicyError
			if !errors.As(err, &pe) || reasonText[pe.Reason] == "" {
				t.Fatalf("Check(%q) = %v, want nil or a *PolicyError with a known reason", pw, err)
			}
			if utf8.ValidString(pw) && count > MaxLength && pe.Reason != ReasonTooLong && pe.Reason != ReasonInvalid {
				t.Fatalf("Check(%q) reason = %q for %d runes, want %q", pw, pe.Reason, count, ReasonTooLong)
			}
			return
		}
		if !utf8.ValidString(pw) || count < DefaultMinLength || count > MaxLength {
			t.Fatalf("Check(%q) accepted %d runes (valid UTF-8: %v)", pw, count, utf8.ValidString(pw))
		}
		if Normalize(n) != n {
			t.Fatalf("Normalize is not stable on accepted %q", pw)
		}
		if nb, ok := normalizeBounded(pw); !ok || nb != n {
			t.Fatalf("accepted %q is not what Hash and Verify would use", pw)
		}
		if strings.ContainsFunc(n, forbidden) {
			t.Fatalf("Check(%q) accepted a forbidden character", pw)
		}
	})
}
