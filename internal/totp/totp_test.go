package totp

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/boombuler/barcode/qr"

	"github.com/asnidp/asnidp/internal/optest"
)

// rfcSecret is the SHA1 seed of RFC 6238 Appendix B.
var rfcSecret = []byte("12345678901234567890")

// referenceCode is an independent RFC 4226 HOTP (dynamic truncation, mod
// 10^6) so CodeAt is checked against something other than itself.
func referenceCode(secret []byte, counter uint64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", bin%1_000_000)
}

// RFC 6238 Appendix B, SHA1 rows; the 6-digit code is the last six digits of
// the published 8-digit value.
func TestCodeAt_RFC6238Vectors(t *testing.T) {
	tests := []struct {
		unix     int64
		rfc8     string
		wantStep int64
	}{
		{59, "94287082", 0x1},
		{1111111109, "07081804", 0x23523EC},
		{1111111111, "14050471", 0x23523ED},
		{1234567890, "89005924", 0x273EF07},
		{2000000000, "69279037", 0x3F940AA},
		{20000000000, "65353130", 0x27BC86AA},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.unix), func(t *testing.T) {
			step := Step(time.Unix(tc.unix, 0))
			if step != tc.wantStep {
				t.Errorf("Step(%d) = %#x, want %#x", tc.unix, step, tc.wantStep)
			}
			ref := referenceCode(rfcSecret, uint64(step))
			if want := tc.rfc8[2:]; ref != want {
				t.Fatalf("reference HOTP = %s, want %s from RFC 6238: the reference is broken", ref, want)
			}
			if got := CodeAt(rfcSecret, step); got != ref {
				t.Errorf("CodeAt(rfc secret, %#x) = %s, want %s", step, got, ref)
			}
		})
	}
}

func TestStep_FloorsBeforeEpoch(t *testing.T) {
	tests := []struct {
		unix int64
		want int64
	}{{0, 0}, {29, 0}, {30, 1}, {-1, -1}, {-30, -1}, {-31, -2}}
	for _, tc := range tests {
		if got := Step(time.Unix(tc.unix, 0)); got != tc.want {
			t.Errorf("Step(%d) = %d, want %d", tc.unix, got, tc.want)
		}
	}
}

func TestNewSecret(t *testing.T) {
	src := bytes.Repeat([]byte{0xAB}, 64)
	got, err := NewSecret(bytes.NewReader(src))
	if err != nil {
		t.Fatalf("NewSecret: %v", err)
	}
	if !bytes.Equal(got, src[:SecretSize]) {
		t.Errorf("NewSecret() = %x, want the first %d bytes of the reader", got, SecretSize)
	}
	if _, err := NewSecret(bytes.NewReader(src[:SecretSize-1])); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("NewSecret(short reader) error = %v, want io.ErrUnexpectedEOF", err)
	}
	boom := errors.New("entropy gone")
	if _, err := NewSecret(iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Errorf("NewSecret(failing reader) error = %v, want it to wrap %v", err, boom)
	}
}

func TestEncodeSecret(t *testing.T) {
	secret := []byte("12345678901234567890")
	const want = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	if got := EncodeSecret(secret); got != want {
		t.Errorf("EncodeSecret() = %q, want %q", got, want)
	}
	if got, wantG := GroupedSecret(secret), "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"; got != wantG {
		t.Errorf("GroupedSecret() = %q, want %q", got, wantG)
	}
	if got := EncodeSecret([]byte{1, 2, 3}); strings.Contains(got, "=") {
		t.Errorf("EncodeSecret(3 bytes) = %q, want no padding", got)
	}
	if got, wantG := GroupedSecret([]byte{1, 2, 3}), "AEBA G"; got != wantG {
		t.Errorf("GroupedSecret(3 bytes) = %q, want %q", got, wantG)
	}
}

func TestKeyURL(t *testing.T) {
	secret := []byte("12345678901234567890")
	raw := KeyURL("ASN Digital", "198609262015051001", secret)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("url.Parse(KeyURL()) error: %v", err)
	}
	if u.Scheme != "otpauth" || u.Host != "totp" {
		t.Errorf("KeyURL() scheme/host = %q/%q, want otpauth/totp", u.Scheme, u.Host)
	}
	if want := "/ASN Digital:198609262015051001"; u.Path != want {
		t.Errorf("KeyURL() label = %q, want %q", u.Path, want)
	}
	if strings.Contains(raw, "+") {
		t.Errorf("KeyURL() = %q, want spaces as %%20, not +", raw)
	}
	q := u.Query()
	want := map[string]string{
		"secret":    EncodeSecret(secret),
		"issuer":    "ASN Digital",
		"algorithm": "SHA1",
		"digits":    "6",
		"period":    "30",
	}
	for k, v := range want {
		if got := q.Get(k); got != v {
			t.Errorf("KeyURL() %s = %q, want %q", k, got, v)
		}
	}
	if len(q) != len(want) {
		t.Errorf("KeyURL() has parameters %v, want exactly %v", q, want)
	}
}

func TestQRCodePNG(t *testing.T) {
	raw := KeyURL("ASN Digital", "198609262015051001", []byte("12345678901234567890"))
	const size = 256
	b, err := QRCodePNG(raw, size)
	if err != nil {
		t.Fatalf("QRCodePNG: %v", err)
	}
	if ct := http.DetectContentType(b); ct != "image/png" {
		t.Errorf("QRCodePNG() content type = %q, want image/png", ct)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("png.Decode(QRCodePNG()) error: %v", err)
	}
	if got := img.Bounds().Size(); got.X != size || got.Y != size {
		t.Fatalf("QRCodePNG() size = %v, want %dx%d", got, size, size)
	}

	// Sample the centre of every module and compare with the symbol itself,
	// and check the quiet zone around it is white.
	code, err := qr.Encode(raw, qr.M, qr.Auto)
	if err != nil {
		t.Fatalf("qr.Encode: %v", err)
	}
	modules := code.Bounds().Dx()
	scale := size / (modules + 2*quietZone)
	offset := (size - modules*scale) / 2
	dark := func(x, y int) bool { return color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y < 0x80 }
	mismatches := 0
	for y := range modules {
		for x := range modules {
			want := color.GrayModel.Convert(code.At(x, y)).(color.Gray).Y < 0x80
			if dark(offset+x*scale+scale/2, offset+y*scale+scale/2) != want {
				mismatches++
			}
		}
	}
	if mismatches != 0 {
		t.Errorf("QRCodePNG() differs from the QR symbol in %d of %d modules", mismatches, modules*modules)
	}
	for i := 0; i < size; i++ {
		for _, p := range [][2]int{{i, 0}, {0, i}, {i, offset - 1}, {offset - 1, i}, {i, size - 1}, {size - 1, i}} {
			if dark(p[0], p[1]) {
				t.Fatalf("QRCodePNG() pixel %v in the quiet zone is dark", p)
			}
		}
	}
	if offset < quietZone*scale {
		t.Errorf("QRCodePNG() quiet zone = %d px, want at least %d", offset, quietZone*scale)
	}
	if _, err := QRCodePNG(raw, modules+2*quietZone-1); err == nil {
		t.Errorf("QRCodePNG(size below one pixel per module) error = nil, want an error")
	}
}

// A9: with an injected server clock, codes 30 s either side are accepted and
// codes 61 s away are rejected.
func TestVerify_Skew_A9(t *testing.T) {
	secret := []byte("12345678901234567890")
	now := time.Unix(1_700_000_015, 0) // mid-step
	tests := []struct {
		name   string
		offset time.Duration // device clock minus server clock
		want   Result
	}{
		{"same time", 0, Valid},
		{"device 30s behind", -30 * time.Second, Valid},
		{"device 30s ahead", 30 * time.Second, Valid},
		{"device 61s behind", -61 * time.Second, Invalid},
		{"device 61s ahead", 61 * time.Second, Invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			deviceStep := Step(now.Add(tc.offset))
			code := CodeAt(secret, deviceStep)
			step, got := Verify(secret, code, now, 0)
			if got != tc.want {
				t.Fatalf("Verify(code of step %d, now step %d) = %v, want %v", deviceStep, Step(now), got, tc.want)
			}
			if got == Valid && step != deviceStep {
				t.Errorf("Verify() step = %d, want %d", step, deviceStep)
			}
		})
	}
}

// A9: accepting step N+1 (device ahead) makes step N unusable afterwards.
func TestVerify_StepOrdering_A9(t *testing.T) {
	secret := []byte("12345678901234567890")
	now := time.Unix(1_700_000_015, 0)
	n := Step(now)
	if CodeAt(secret, n) == CodeAt(secret, n+1) {
		t.Fatal("test secret has a collision at the chosen steps; pick another time")
	}
	step, r := Verify(secret, CodeAt(secret, n+1), now, 0)
	if r != Valid || step != n+1 {
		t.Fatalf("Verify(code N+1) = %d, %v, want %d, valid", step, r, n+1)
	}
	last := step
	if step, r := Verify(secret, CodeAt(secret, n), now, last); r != Replayed || step != n {
		t.Errorf("Verify(code N after N+1) = %d, %v, want %d, replayed", step, r, n)
	}
	// A8: the same code a second time, in the same step or the next one.
	for _, at := range []time.Time{now, now.Add(Period * time.Second)} {
		if _, r := Verify(secret, CodeAt(secret, n+1), at, last); r != Replayed {
			t.Errorf("Verify(code N+1 again at %v) = %v, want replayed", at.Unix(), r)
		}
	}
	// The next genuinely fresh code still passes.
	later := now.Add(2 * Period * time.Second)
	if step, r := Verify(secret, CodeAt(secret, n+2), later, last); r != Valid || step != n+2 {
		t.Errorf("Verify(code N+2 at N+2) = %d, %v, want %d, valid", step, r, n+2)
	}
}

// A9: a crafted secret where adjacent steps share a code: the value passes
// once only, and the following fresh code is not falsely rejected.
func TestVerify_AdjacentCollisionPassesOnce_A9(t *testing.T) {
	secret := []byte("12345678901234567890")
	n := optest.RepeatedCodeStep(t, secret, Step(time.Unix(1_700_000_000, 0)))
	now := time.Unix(n*Period+15, 0) // mid-step n on the server clock
	code := CodeAt(secret, n)
	if CodeAt(secret, n+1) != code || referenceCode(secret, uint64(n)) != code {
		t.Fatalf("CodeAt disagrees with the reference at the colliding step %d", n)
	}
	step, r := Verify(secret, code, now, 0)
	if r != Valid || step != n+1 {
		t.Fatalf("Verify(colliding code) = %d, %v, want %d (the larger step), valid", step, r, n+1)
	}
	last := step
	for _, at := range []time.Time{now, now.Add(Period * time.Second)} {
		if _, r := Verify(secret, code, at, last); r == Valid {
			t.Errorf("Verify(colliding code again at step %d) = valid, want it to pass once only", Step(at))
		}
	}
	if step, r := Verify(secret, CodeAt(secret, n+2), now.Add(Period*time.Second), last); r != Valid || step != n+2 {
		t.Errorf("Verify(fresh code N+2) = %d, %v, want %d, valid", step, r, n+2)
	}
}

// F2: malformed codes are Invalid, never a panic; spaces are ignored.
func TestVerify_CodeFormats_F2(t *testing.T) {
	secret := []byte("12345678901234567890")
	now := time.Unix(1_700_000_015, 0)
	good := CodeAt(secret, Step(now))
	spaced := good[:3] + " " + good[3:]
	tests := []struct {
		name, code string
		want       Result
	}{
		{"plain", good, Valid},
		{"inner space", spaced, Valid},
		{"surrounding spaces", "  " + good + " ", Valid},
		{"empty", "", Invalid},
		{"five digits", good[:5], Invalid},
		{"seven digits", good + "0", Invalid},
		{"NUL", good + "\x00", Invalid},
		{"tab", good[:3] + "\t" + good[3:], Invalid},
		{"dash", good[:3] + "-" + good[3:], Invalid},
		{"full-width digits", strings.Map(func(r rune) rune { return r - '0' + '\uFF10' }, good), Invalid},
		{"invalid utf-8", good[:5] + "\xff", Invalid},
		{"RTL mark", "\u200f" + good, Invalid},
		{"percent", "%", Invalid},
		{"underscore", good[:5] + "_", Invalid},
		{"10 MB", strings.Repeat("1", 10<<20), Invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, got := Verify(secret, tc.code, now, 0); got != tc.want {
				t.Errorf("Verify(%.20q) = %v, want %v", tc.code, got, tc.want)
			}
		})
	}
	// "000000" is a wrong code like any other unless it is one of the three
	// acceptable codes.
	want := Invalid
	for d := int64(-Skew); d <= Skew; d++ {
		if CodeAt(secret, Step(now)+d) == "000000" {
			want = Valid
		}
	}
	if _, got := Verify(secret, "000000", now, 0); got != want {
		t.Errorf("Verify(000000) = %v, want %v", got, want)
	}
}

func FuzzVerify(f *testing.F) {
	for _, s := range []string{"123456", "123 456", "", "000000", "\x00", "١٢٣٤٥٦"} {
		f.Add(s)
	}
	secret := []byte("12345678901234567890")
	now := time.Unix(1_700_000_015, 0)
	f.Fuzz(func(t *testing.T, code string) {
		step, r := Verify(secret, code, now, 0)
		if r == Invalid {
			return
		}
		c := strings.ReplaceAll(code, " ", "")
		if d := step - Step(now); d < -Skew || d > Skew || CodeAt(secret, step) != c {
			t.Fatalf("Verify(%q) = %d, %v, but that is not the code of an acceptable step", code, step, r)
		}
	})
}
