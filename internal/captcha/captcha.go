// Package captcha makes self-hosted challenges (government networks may
// block third-party services): random digits drawn as a distorted image
// by github.com/dchest/captcha, with a spoken alternative in Indonesian for
// people who cannot see it. The spoken digits are short recordings made
// ahead of time by espeak-ng and built into the binary, so serving them
// needs no speech engine and no network.
//
// The package keeps no state. The caller stores the answer where every
// process can check it (the database), uses each challenge once, and lets
// it expire; this package only makes answers, draws them and compares what
// a person typed with them.
package captcha

//go:generate go run ./internal/gendigits

import (
	"bytes"
	crand "crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"unicode"

	"github.com/dchest/captcha"
)

// Image sizes of a challenge, in pixels: larger than the library's
// 240×80 so that each digit stays legible on a small phone screen.
const (
	Width  = 330
	Height = 110
)

// MaxAnswerLength bounds what Match looks at: a typed answer longer than
// this is wrong without further work.
const MaxAnswerLength = 64

// NewAnswer returns length random digits ("482913") from crypto/rand.
func NewAnswer(length int) string {
	digits := captcha.RandomDigits(length)
	for i := range digits {
		digits[i] += '0'
	}
	return string(digits)
}

// toDigits turns an answer of ASCII digits into the 0-9 values that Image
// draws and Audio speaks; anything else is an error.
func toDigits(answer string) ([]byte, error) {
	if answer == "" {
		return nil, fmt.Errorf("draw captcha: empty answer")
	}
	d := make([]byte, len(answer))
	for i := range len(answer) {
		c := answer[i]
		if c < '0' || c > '9' {
			return nil, fmt.Errorf("draw captcha: answer is not digits")
		}
		d[i] = c - '0'
	}
	return d, nil
}

// Image draws answer as a PNG. id varies the distortion between
// challenges with the same answer.
func Image(id, answer string) ([]byte, error) {
	d, err := toDigits(answer)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := captcha.NewImage(id, d, Width, Height).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("draw captcha image: %w", err)
	}
	return buf.Bytes(), nil
}

// Audio speaks answer in Indonesian ("empat delapan dua …") as a WAV
// file: 8000 Hz, 8-bit, mono. The pauses between digits, the loudness of
// each digit and a faint background hiss are random on every call, so
// that a program cannot find the digits by comparing the file with the
// recordings. id is not used: unlike the image, nothing here is derived
// from it.
func Audio(id, answer string) ([]byte, error) {
	d, err := toDigits(answer)
	if err != nil {
		return nil, err
	}
	var seed [32]byte
	crand.Read(seed[:]) // never fails
	return wav(speak(d, rand.New(rand.NewChaCha8(seed)), true)), nil
}

// The recordings of the digits 0 to 9: raw 8000 Hz unsigned 8-bit mono
// samples, 128 being silence, each trimmed to the word. gendigits makes
// them with espeak-ng.
//
//go:embed digits/*.pcm
var digitFiles embed.FS

var clips = loadClips()

func loadClips() [10][]byte {
	var c [10][]byte
	for d := range c {
		b, err := digitFiles.ReadFile("digits/" + strconv.Itoa(d) + ".pcm")
		if err != nil || len(b) == 0 {
			panic(fmt.Sprintf("captcha: missing recording of digit %d: %v", d, err))
		}
		c[d] = b
	}
	return c
}

// Timing of the spoken answer, in samples at sampleRate.
const (
	sampleRate = 8000
	// leadIn gives a player time to start before the first digit.
	leadIn = sampleRate / 2
	// minPause and maxPause bound the silence between two digits: long
	// enough to tell the digits apart, varied so they cannot be found by
	// their position.
	minPause = sampleRate * 3 / 10
	maxPause = sampleRate * 7 / 10
	// tail lets the last digit finish before a player stops.
	tail = sampleRate / 4
)

// Random changes that keep two calls from producing the same samples.
const (
	// noiseLevel is the largest step, out of 127, of the hiss added to
	// every sample: audible as a faint background, far below the words.
	noiseLevel = 4
	// minGain is the quietest a digit is played, as a share of its
	// recording's loudness; each digit gets its own gain up to 1.
	minGain = 0.75
)

// speak lays out the recordings of digits d with random pauses drawn from
// rng. With effects false the noise and volume changes are left out, so
// tests can find each recording unchanged in the result; the pauses stay
// random.
func speak(d []byte, rng *rand.Rand, effects bool) []byte {
	n := leadIn + tail
	for _, v := range d {
		n += len(clips[v])
	}
	pauses := make([]int, len(d)-1)
	for i := range pauses {
		pauses[i] = minPause + rng.IntN(maxPause-minPause+1)
		n += pauses[i]
	}
	// RIFF chunks have even sizes; one more sample of silence avoids a
	// pad byte after the data.
	n += n & 1

	out := bytes.Repeat([]byte{128}, n)
	p := leadIn
	for i, v := range d {
		gain := 1.0
		if effects {
			gain = minGain + (1-minGain)*rng.Float64()
		}
		for j, s := range clips[v] {
			out[p+j] = byte(128 + int(float64(int(s)-128)*gain))
		}
		p += len(clips[v])
		if i < len(pauses) {
			p += pauses[i]
		}
	}
	if effects {
		for i, s := range out {
			v := int(s) + rng.IntN(2*noiseLevel+1) - noiseLevel
			out[i] = byte(min(255, max(0, v)))
		}
	}
	return out
}

// wav wraps 8-bit mono samples at sampleRate in a RIFF/WAVE header.
func wav(samples []byte) []byte {
	b := make([]byte, 44, 44+len(samples))
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+len(samples)))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)         // fmt chunk size
	binary.LittleEndian.PutUint16(b[20:], 1)          // PCM
	binary.LittleEndian.PutUint16(b[22:], 1)          // channels
	binary.LittleEndian.PutUint32(b[24:], sampleRate) // samples per second
	binary.LittleEndian.PutUint32(b[28:], sampleRate) // bytes per second
	binary.LittleEndian.PutUint16(b[32:], 1)          // bytes per sample
	binary.LittleEndian.PutUint16(b[34:], 8)          // bits per sample
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(len(samples)))
	return append(b, samples...)
}

// Match reports whether typed is answer. Spaces are ignored and
// full-width and Arabic-Indic digits count as the digits they are, as a
// phone keyboard may produce them. The comparison takes the same time
// wherever the first difference is.
func Match(answer, typed string) bool {
	if answer == "" || len(typed) > MaxAnswerLength {
		return false
	}
	var b strings.Builder
	for _, r := range typed {
		if unicode.IsSpace(r) {
			continue
		}
		v, ok := digitValue(r)
		if !ok {
			return false
		}
		b.WriteByte(byte('0' + v))
	}
	return subtle.ConstantTimeCompare([]byte(b.String()), []byte(answer)) == 1
}

// digitValue recognises ASCII, full-width and the two Arabic-Indic digit
// ranges, the digits phone keyboards type.
func digitValue(r rune) (int, bool) {
	switch {
	case r >= '0' && r <= '9':
		return int(r - '0'), true
	case r >= '\uFF10' && r <= '\uFF19':
		return int(r - '\uFF10'), true
	case r >= '\u0660' && r <= '\u0669':
		return int(r - '\u0660'), true
	case r >= '\u06F0' && r <= '\u06F9':
		return int(r - '\u06F0'), true
	}
	return 0, false
}
