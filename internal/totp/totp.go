// Package totp implements the time-based one-time passwords of RFC 6238 as
// authenticator apps use them: HMAC-SHA1, 6 digits, 30-second steps.
//
// The package keeps no state. Replay protection needs the highest step a user
// has ever had accepted: the caller passes it to Verify and stores the step
// Verify returns with a compare-and-set, so that a step is accepted at most
// once per user even across server instances. Time always comes from the
// server's clock, passed in by the caller; there is no way to hand Verify a
// client-supplied time.
package totp

import (
	"bytes"
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/boombuler/barcode/qr"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

const (
	// Digits is the length of a code.
	Digits = 6
	// Period is the length of a time step in seconds.
	Period = 30
	// SecretSize is the secret length in bytes (160 bits, RFC 4226 §4).
	SecretSize = 20
	// Skew is how many steps either side of the current one are accepted,
	// for phones whose clocks drift and users who type slowly.
	Skew = 1
)

var noPad = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSecret reads a fresh secret from r (crypto/rand.Reader in production).
// The secret is drawn here rather than by pquerna/otp's Generate so that the
// source of randomness is explicit and testable.
func NewSecret(r io.Reader) ([]byte, error) {
	secret := make([]byte, SecretSize)
	if _, err := io.ReadFull(r, secret); err != nil {
		return nil, fmt.Errorf("read totp secret: %w", err)
	}
	return secret, nil
}

// EncodeSecret returns the secret in unpadded base32, the form authenticator
// apps and otpauth URLs take.
func EncodeSecret(secret []byte) string {
	return noPad.EncodeToString(secret)
}

// GroupedSecret returns EncodeSecret in space-separated groups of four, for
// people who type the secret instead of scanning the QR code. Apps ignore the
// spaces.
func GroupedSecret(secret []byte) string {
	s := EncodeSecret(secret)
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// KeyURL returns the otpauth URL of the Key URI format that authenticator
// apps read from the QR code:
//
//	otpauth://totp/Issuer:account?secret=...&issuer=Issuer&algorithm=SHA1&digits=6&period=30
//
// The issuer appears both as the label prefix and as a parameter, as the
// format recommends; spaces are encoded as %20, which every app decodes
// (some show a literal "+" otherwise).
func KeyURL(issuer, account string, secret []byte) string {
	u := url.URL{
		Scheme: "otpauth",
		Host:   "totp",
		Path:   "/" + issuer + ":" + account,
	}
	q := []struct{ k, v string }{
		{"secret", EncodeSecret(secret)},
		{"issuer", issuer},
		{"algorithm", "SHA1"},
		{"digits", fmt.Sprint(Digits)},
		{"period", fmt.Sprint(Period)},
	}
	var raw strings.Builder
	for i, kv := range q {
		if i > 0 {
			raw.WriteByte('&')
		}
		raw.WriteString(kv.k)
		raw.WriteByte('=')
		raw.WriteString(strings.ReplaceAll(url.QueryEscape(kv.v), "+", "%20"))
	}
	u.RawQuery = raw.String()
	return u.String()
}

// quietZone is the blank border, in modules, that the QR specification
// requires around the code; without it phone cameras often fail to lock on
// when the page around the image is not white.
const quietZone = 4

// QRCodePNG renders keyURL as a size×size PNG QR code (error correction
// level M) with its quiet zone. Each module is a whole number of pixels, so
// the code is centred on a white square; size must leave at least one pixel
// per module (a KeyURL needs about 50 modules: 200 and more is plenty).
func QRCodePNG(keyURL string, size int) ([]byte, error) {
	code, err := qr.Encode(keyURL, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("encode qr code: %w", err)
	}
	modules := code.Bounds().Dx()
	scale := size / (modules + 2*quietZone)
	if scale < 1 {
		return nil, fmt.Errorf("render qr code: %d px is too small for %d modules", size, modules+2*quietZone)
	}
	img := image.NewGray(image.Rect(0, 0, size, size))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	offset := (size - modules*scale) / 2
	for y := range modules {
		for x := range modules {
			if color.GrayModel.Convert(code.At(x, y)).(color.Gray).Y < 0x80 {
				r := image.Rect(offset+x*scale, offset+y*scale, offset+(x+1)*scale, offset+(y+1)*scale)
				draw.Draw(img, r, image.Black, image.Point{}, draw.Src)
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode qr code png: %w", err)
	}
	return buf.Bytes(), nil
}

// Step returns the RFC 6238 time step of t: floor(unix seconds / Period).
func Step(t time.Time) int64 {
	s := t.Unix()
	step := s / Period
	if s%Period < 0 {
		step-- // floor, not truncation, before 1970
	}
	return step
}

// CodeAt returns the 6-digit code of secret at step.
func CodeAt(secret []byte, step int64) string {
	code, err := hotp.GenerateCodeCustom(EncodeSecret(secret), uint64(step), hotp.ValidateOpts{
		Digits:    otp.DigitsSix,
		Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		// Only a secret that is not base32 fails, and EncodeSecret always
		// produces base32.
		panic("totp: generate code: " + err.Error())
	}
	return code
}

// Result is the outcome of Verify.
type Result int

const (
	// Invalid: the code matches no acceptable step (or is not 6 digits).
	Invalid Result = iota
	// Valid: the code matches a step later than lastStep.
	Valid
	// Replayed: the code matches only steps already used (<= lastStep).
	// Callers log it as a replay attempt; to the user it is a wrong code.
	Replayed
)

func (r Result) String() string {
	switch r {
	case Valid:
		return "valid"
	case Replayed:
		return "replayed"
	default:
		return "invalid"
	}
}

// maxCodeInput bounds the work spent on a submitted code before it is
// rejected; "123 456" and a few stray spaces fit easily.
const maxCodeInput = 32

// Verify checks code against the steps Step(now)-1, Step(now) and
// Step(now)+1.
//
// Spaces in code are ignored (people copy "123 456"); anything else but
// exactly six ASCII digits is Invalid. Every candidate is compared in
// constant time and all are always compared, so the time taken does not say
// which step matched.
//
// lastStep is the highest step already accepted for this user (0 for none).
// Among matching steps greater than lastStep Verify returns the largest, with
// Valid; the caller must then store it as the new lastStep (compare-and-set)
// before treating the code as accepted. Taking the largest means that when two
// adjacent steps happen to share a code, the value is consumed for both at
// once and cannot pass a second time. If the code matches only steps <=
// lastStep, Verify returns the largest of those with Replayed. Otherwise it
// returns 0, Invalid.
func Verify(secret []byte, code string, now time.Time, lastStep int64) (step int64, r Result) {
	c, ok := cleanCode(code)
	if !ok {
		return 0, Invalid
	}
	current := Step(now)
	var fresh, used int64 = -1, -1
	for s := current - Skew; s <= current+Skew; s++ {
		match := subtle.ConstantTimeCompare([]byte(CodeAt(secret, s)), c) == 1
		switch {
		case match && s > lastStep:
			fresh = s
		case match:
			used = s
		}
	}
	switch {
	case fresh >= 0:
		return fresh, Valid
	case used >= 0:
		return used, Replayed
	}
	return 0, Invalid
}

// cleanCode drops spaces and accepts exactly Digits ASCII digits.
func cleanCode(code string) ([]byte, bool) {
	if len(code) > maxCodeInput {
		return nil, false
	}
	out := make([]byte, 0, Digits)
	for i := 0; i < len(code); i++ {
		c := code[i]
		switch {
		case c == ' ':
			continue
		case c >= '0' && c <= '9' && len(out) < Digits:
			out = append(out, c)
		default:
			return nil, false
		}
	}
	return out, len(out) == Digits
}
