// Package captcha makes self-hosted challenges (government networks may
// block third-party services): random digits drawn as a distorted image
// with a spoken alternative for people who cannot see it, both from
// github.com/dchest/captcha.
//
// The package keeps no state. The caller stores the answer where every
// process can check it (the database), uses each challenge once, and lets
// it expire; this package only makes answers, draws them and compares what
// a person typed with them.
package captcha

import (
	"bytes"
	"crypto/subtle"
	"fmt"
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

// toDigits turns an answer of ASCII digits into the 0-9 values dchest
// draws; anything else is an error.
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

// Audio speaks answer as a WAV file with background noise. The library
// has no Indonesian voice, so the digits are spoken in English.
func Audio(id, answer string) ([]byte, error) {
	d, err := toDigits(answer)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := captcha.NewAudio(id, d, "en").WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("draw captcha audio: %w", err)
	}
	return buf.Bytes(), nil
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
