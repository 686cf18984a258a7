package login

import (
	"strings"
	"testing"
)

func TestParseResetCode(t *testing.T) {
	tests := []struct {
		name   string
		typed  string
		want   string
		wantOK bool
	}{
		{"plain", "12345678", "12345678", true},
		{"grouped", "1234 5678", "12345678", true},
		{"dashed", "1234-5678", "12345678", true},
		{"surrounding spaces", " 12345678 ", "12345678", true},
		{"leading zeros", "00000001", "00000001", true},
		{"seven digits", "1234567", "", false},
		{"nine digits", "123456789", "", false},
		{"six digits grouped", "123 456", "", false},
		{"empty", "", "", false},
		{"NUL", "1234\x005678", "", false},
		{"full-width digits", "１２３４５６７８", "", false},
		{"sql wildcard", "1234%678", "", false},
		{"RTL mark", "\u200f12345678", "", false},
		{"invalid utf-8", "1234\xff5678", "", false},
		{"long", strings.Repeat("1", 1000), "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseResetCode(tc.typed)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("parseResetCode(%q) = %q, %v; want %q, %v", tc.typed, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// F2: whatever is typed, a parsed code is exactly 8 ASCII digits.
func FuzzParseResetCode(f *testing.F) {
	for _, s := range []string{"12345678", "1234 5678", "", "\x00", "%_", "000000", "123 456", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, typed string) {
		code, ok := parseResetCode(typed)
		if !ok {
			if code != "" {
				t.Errorf("parseResetCode(%q) refused but returned %q", typed, code)
			}
			return
		}
		if len(code) != 8 || strings.Trim(code, "0123456789") != "" {
			t.Errorf("parseResetCode(%q) = %q, want 8 ASCII digits", typed, code)
		}
	})
}

// C1: the email comparison ignores case and surrounding space, and an
// account without an address matches nothing, not even an empty field.
func TestEmailMatches(t *testing.T) {
	tests := []struct {
		registered, typed string
		want              bool
	}{
		{"siti@example.go.id", "siti@example.go.id", true},
		{"siti@example.go.id", "  SITI@Example.GO.ID ", true},
		{"siti@example.go.id", "siti@example.go.i", false},
		{"siti@example.go.id", "", false},
		{"", "", false},
		{"", "   ", false},
		{"siti@example.go.id", strings.Repeat("a", 400), false},
	}
	for _, tc := range tests {
		if got := emailMatches(tc.registered, tc.typed); got != tc.want {
			t.Errorf("emailMatches(%q, %q) = %v, want %v", tc.registered, tc.typed, got, tc.want)
		}
	}
}

func TestNewResetCode(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		c := newResetCode()
		if _, ok := parseResetCode(c); !ok {
			t.Fatalf("newResetCode() = %q, not 8 digits", c)
		}
		seen[c] = true
	}
	if len(seen) < 99 {
		t.Errorf("100 codes had %d distinct values", len(seen))
	}
}
