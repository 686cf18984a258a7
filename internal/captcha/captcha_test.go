package captcha

import (
	"bytes"
	"image/png"
	"strings"
	"testing"
)

func TestNewAnswer(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		a := NewAnswer(6)
		if len(a) != 6 || strings.Trim(a, "0123456789") != "" {
			t.Fatalf("NewAnswer(6) = %q, want 6 ASCII digits", a)
		}
		seen[a] = true
	}
	if len(seen) < 45 {
		t.Errorf("50 answers had only %d distinct values; not random", len(seen))
	}
}

func TestImageAndAudio(t *testing.T) {
	img, err := Image("id-1", "482913")
	if err != nil {
		t.Fatalf("Image = %v", err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(img))
	if err != nil {
		t.Fatalf("Image is not a PNG: %v", err)
	}
	if cfg.Width != Width || cfg.Height != Height {
		t.Errorf("image is %dx%d, want %dx%d", cfg.Width, cfg.Height, Width, Height)
	}
	other, err := Image("id-2", "482913")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(img, other) {
		t.Error("two challenges with the same answer drew the same image")
	}

	wav, err := Audio("id-1", "482913")
	if err != nil {
		t.Fatalf("Audio = %v", err)
	}
	if !bytes.HasPrefix(wav, []byte("RIFF")) || !bytes.Contains(wav[:16], []byte("WAVE")) || len(wav) < 10_000 {
		t.Errorf("Audio is not a WAV file of some length (%d bytes, starts %q)", len(wav), wav[:min(16, len(wav))])
	}

	for _, bad := range []string{"", "12a4", "１２"} {
		if _, err := Image("x", bad); err == nil {
			t.Errorf("Image(%q) = nil error, want one", bad)
		}
		if _, err := Audio("x", bad); err == nil {
			t.Errorf("Audio(%q) = nil error, want one", bad)
		}
	}
}

// C2: only the digits of the answer match.
func TestMatch_C2(t *testing.T) {
	tests := []struct {
		name   string
		answer string
		typed  string
		want   bool
	}{
		{"exact", "482913", "482913", true},
		{"spaces", "482913", " 482 913 ", true},
		{"full-width", "482913", "４８２９１３", true},
		{"arabic-indic", "482913", "٤٨٢٩١٣", true},
		{"extended arabic-indic", "482913", "۴۸۲۹۱۳", true},
		{"wrong digit", "482913", "482914", false},
		{"prefix", "482913", "48291", false},
		{"longer", "482913", "4829130", false},
		{"empty", "482913", "", false},
		{"letters", "482913", "48291x", false},
		{"sql wildcard", "482913", "%", false},
		{"empty answer", "", "", false},
		{"huge", "482913", strings.Repeat("4", 1<<20), false},
		{"NUL", "482913", "482913\x00", false},
		{"other script digits", "482913", "४८२९१३", false}, // Devanagari is not a keyboard we expect
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Match(tc.answer, tc.typed); got != tc.want {
				t.Errorf("Match(%q, %q) = %v, want %v", tc.answer, tc.typed, got, tc.want)
			}
		})
	}
}

// F2: Match never panics and accepts only what normalises to the answer.
func FuzzMatch(f *testing.F) {
	for _, s := range []string{"482913", "", "٤٨٢٩١٣", "\xff", "%_", "123 456"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, typed string) {
		if Match("482913", typed) {
			var digits strings.Builder
			for _, r := range typed {
				if v, ok := digitValue(r); ok {
					digits.WriteByte(byte('0' + v))
				}
			}
			if digits.String() != "482913" {
				t.Errorf("Match accepted %q, whose digits are %q", typed, digits.String())
			}
		}
	})
}
