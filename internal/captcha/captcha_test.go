package captcha

import (
	"bytes"
	"encoding/binary"
	"image/png"
	"math/rand/v2"
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

// maxClip bounds each recording: a spoken digit lasts well under a second.
const maxClip = 10_000

func TestClips(t *testing.T) {
	for d, c := range clips {
		if len(c) == 0 || len(c) >= maxClip {
			t.Errorf("recording of %d is %d bytes, want 1 to %d", d, len(c), maxClip-1)
		}
		if c[0] == 128 || c[len(c)-1] == 128 {
			t.Errorf("recording of %d starts or ends with silence; it should be trimmed", d)
		}
		for e := range d {
			if bytes.Equal(c, clips[e]) {
				t.Errorf("recordings of %d and %d are the same", e, d)
			}
		}
	}
}

// parseWAV checks the header Audio writes and returns the samples.
func parseWAV(t *testing.T, b []byte) []byte {
	t.Helper()
	if len(b) < 44 {
		t.Fatalf("WAV file is %d bytes, shorter than its header", len(b))
	}
	le := binary.LittleEndian
	checks := []struct {
		name      string
		got, want any
	}{
		{"RIFF id", string(b[0:4]), "RIFF"},
		{"RIFF size", le.Uint32(b[4:]), uint32(len(b) - 8)},
		{"form", string(b[8:12]), "WAVE"},
		{"fmt id", string(b[12:16]), "fmt "},
		{"fmt size", le.Uint32(b[16:]), uint32(16)},
		{"format", le.Uint16(b[20:]), uint16(1)},
		{"channels", le.Uint16(b[22:]), uint16(1)},
		{"sample rate", le.Uint32(b[24:]), uint32(8000)},
		{"byte rate", le.Uint32(b[28:]), uint32(8000)},
		{"block align", le.Uint16(b[32:]), uint16(1)},
		{"bits", le.Uint16(b[34:]), uint16(8)},
		{"data id", string(b[36:40]), "data"},
		{"data size", le.Uint32(b[40:]), uint32(len(b) - 44)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("WAV %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if len(b)%2 != 0 {
		t.Errorf("WAV data is %d bytes; a RIFF chunk of odd size needs a pad byte", len(b)-44)
	}
	return b[44:]
}

func TestAudioWAV(t *testing.T) {
	const answer = "482913"
	wav1, err := Audio("id-1", answer)
	if err != nil {
		t.Fatalf("Audio = %v", err)
	}
	samples := parseWAV(t, wav1)

	// lead-in, six recordings, five pauses, tail, and perhaps one sample
	// to make the size even.
	speech := 0
	for _, c := range answer {
		speech += len(clips[c-'0'])
	}
	lo := leadIn + speech + 5*minPause + tail
	hi := leadIn + speech + 5*maxPause + tail + 1
	if len(samples) < lo || len(samples) > hi {
		t.Errorf("%d samples for %q, want %d to %d", len(samples), answer, lo, hi)
	}
	if secs := float64(len(samples)) / 8000; secs < 4 || secs > 9 {
		t.Errorf("audio for 6 digits lasts %.1f s; expected a few seconds", secs)
	}

	wav2, err := Audio("id-1", answer)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(wav1, wav2) {
		t.Error("two calls for the same answer gave the same audio")
	}
	// The hiss covers the whole file, so no recording appears unchanged.
	for d, c := range clips {
		if bytes.Contains(samples, c) {
			t.Errorf("recording of %d appears unchanged in the audio", d)
		}
	}
}

func TestAudioLongerForMoreDigits(t *testing.T) {
	// The same digit repeated, so the only difference is the count.
	prev := 0
	for _, answer := range []string{"7", "77", "777", "7777777"} {
		wav, err := Audio("x", answer)
		if err != nil {
			t.Fatalf("Audio(%q) = %v", answer, err)
		}
		if len(wav) <= prev {
			t.Errorf("Audio(%q) is %d bytes, not longer than for one digit fewer (%d)", answer, len(wav), prev)
		}
		prev = len(wav)
	}
}

// With the noise and volume changes off, the audio is exactly silence,
// each recording in the order of the answer, and pauses within bounds.
// A digit out of place, dropped or repeated fails the walk.
func TestAudioOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, answer := range []string{"0123456789", "9876543210", "482913", "1111", "5"} {
		d, err := toDigits(answer)
		if err != nil {
			t.Fatal(err)
		}
		samples := parseWAV(t, wav(speak(d, rng, false)))
		silence := func(from int) int {
			n := 0
			for from+n < len(samples) && samples[from+n] == 128 {
				n++
			}
			return n
		}
		p := silence(0)
		if p != leadIn {
			t.Errorf("%q: lead-in is %d samples, want %d", answer, p, leadIn)
		}
		for i, v := range d {
			c := clips[v]
			if p+len(c) > len(samples) || !bytes.Equal(samples[p:p+len(c)], c) {
				t.Fatalf("%q: digit %d (%d) is not the next thing after sample %d", answer, i, v, p)
			}
			p += len(c)
			gap := silence(p)
			p += gap
			if i < len(d)-1 && (gap < minPause || gap > maxPause) {
				t.Errorf("%q: pause after digit %d is %d samples, want %d to %d", answer, i, gap, minPause, maxPause)
			}
			if i == len(d)-1 && (gap < tail || gap > tail+1) {
				t.Errorf("%q: tail is %d samples, want %d or %d", answer, gap, tail, tail+1)
			}
		}
		if p != len(samples) {
			t.Errorf("%q: %d samples left after the last digit", answer, len(samples)-p)
		}
	}
}

func TestAudioRefusesNonDigits(t *testing.T) {
	for _, bad := range []string{"", "12a4", " 1", "１２", "٤٨", "-1"} {
		if b, err := Audio("x", bad); err == nil {
			t.Errorf("Audio(%q) = %d bytes and no error, want an error", bad, len(b))
		}
	}
}
