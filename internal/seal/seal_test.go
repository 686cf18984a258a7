package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func newKey(t *testing.T, n int) []byte {
	t.Helper()
	k := make([]byte, n)
	rand.Read(k)
	return k
}

func newSealer(t *testing.T, key []byte) *Sealer {
	t.Helper()
	s, err := New(key)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestSealOpen_RoundTrip(t *testing.T) {
	s := newSealer(t, newKey(t, 32))
	for _, tc := range []struct {
		name      string
		plaintext []byte
		aad       []byte
	}{
		{name: "empty", plaintext: nil, aad: []byte("t.c:1")},
		{name: "short", plaintext: []byte("JBSWY3DPEHPK3PXP"), aad: []byte("users.totp_secret:42")},
		{name: "no aad", plaintext: []byte("x"), aad: nil},
		{name: "large", plaintext: bytes.Repeat([]byte{0xA5}, 10_000), aad: []byte("signing_keys.private:kid")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sealed, err := s.Seal(tc.plaintext, tc.aad)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			// A short plaintext turns up in random bytes by chance; only a
			// longer one shows that nothing was encrypted.
			if len(tc.plaintext) >= 8 && bytes.Contains(sealed, tc.plaintext) {
				t.Errorf("Seal output contains the plaintext")
			}
			if sealed[0] != version1 {
				t.Errorf("version byte = %d, want %d", sealed[0], version1)
			}
			if got, want := len(sealed), 1+nonceSize+len(tc.plaintext)+tagSize; got != want {
				t.Errorf("len(sealed) = %d, want %d", got, want)
			}
			got, err := s.Open(sealed, tc.aad)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tc.plaintext) {
				t.Errorf("Open = %q, want %q", got, tc.plaintext)
			}
		})
	}
}

func TestSeal_FreshNonce(t *testing.T) {
	s := newSealer(t, newKey(t, 32))
	a, err := s.Seal([]byte("same"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Seal([]byte("same"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a[1:1+nonceSize], b[1:1+nonceSize]) {
		t.Errorf("two Seal calls used the same nonce %x", a[1:1+nonceSize])
	}
	if bytes.Equal(a, b) {
		t.Errorf("two Seal calls of the same plaintext gave the same bytes")
	}
}

// Secrets at rest (H7): a value opens only under the key and the place it
// was sealed for, and unaltered.
func TestOpen_Rejects(t *testing.T) {
	key := newKey(t, 32)
	s := newSealer(t, key)
	aad := []byte("signing_keys.private:abc")
	sealed, err := s.Seal([]byte("secret material"), aad)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	otherKey := bytes.Clone(key)
	otherKey[0] ^= 0x01

	for _, tc := range []struct {
		name    string
		sealer  *Sealer
		sealed  []byte
		aad     []byte
		wantErr error
	}{
		{name: "wrong aad row", sealer: s, sealed: sealed, aad: []byte("signing_keys.private:abd"), wantErr: ErrOpen},
		{name: "missing aad", sealer: s, sealed: sealed, aad: nil, wantErr: ErrOpen},
		{name: "wrong key", sealer: newSealer(t, otherKey), sealed: sealed, aad: aad, wantErr: ErrOpen},
		{name: "longer key", sealer: newSealer(t, append(bytes.Clone(key), 0)), sealed: sealed, aad: aad, wantErr: ErrOpen},
		{name: "tampered nonce", sealer: s, sealed: flip(1), aad: aad, wantErr: ErrOpen},
		{name: "tampered ciphertext", sealer: s, sealed: flip(1 + nonceSize), aad: aad, wantErr: ErrOpen},
		{name: "tampered tag", sealer: s, sealed: flip(len(sealed) - 1), aad: aad, wantErr: ErrOpen},
		{name: "truncated", sealer: s, sealed: sealed[:len(sealed)-1], aad: aad, wantErr: ErrOpen},
		{name: "extended", sealer: s, sealed: append(bytes.Clone(sealed), 0), aad: aad, wantErr: ErrOpen},
		{name: "unknown version", sealer: s, sealed: flip(0), aad: aad, wantErr: ErrMalformed},
		{name: "too short", sealer: s, sealed: sealed[:1+nonceSize+tagSize-1], aad: aad, wantErr: ErrMalformed},
		{name: "empty", sealer: s, sealed: nil, aad: aad, wantErr: ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.sealer.Open(tc.sealed, tc.aad)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Open = %q, %v; want error %v", got, err, tc.wantErr)
			}
			if got != nil {
				t.Errorf("Open returned %q along with an error, want nil", got)
			}
		})
	}
}

// H8: a crypto key shorter than 32 bytes is refused.
func TestNew_H8_ShortKey(t *testing.T) {
	for _, n := range []int{0, 1, 16, 31} {
		_, err := New(make([]byte, n))
		if !errors.Is(err, ErrKeyTooShort) {
			t.Errorf("New(%d bytes) error = %v, want %v", n, err, ErrKeyTooShort)
		}
	}
	for _, n := range []int{32, 64} {
		if _, err := New(make([]byte, n)); err != nil {
			t.Errorf("New(%d bytes) error = %v, want nil", n, err)
		}
	}
}

func TestDeriveKey(t *testing.T) {
	key := newKey(t, 32)
	s := newSealer(t, key)
	again := newSealer(t, bytes.Clone(key))
	other := newSealer(t, newKey(t, 32))

	purposes := []string{"seal", "csrf", "session", "Session", "csrf "}
	seen := map[[32]byte]string{}
	for _, p := range purposes {
		k := s.DeriveKey(p)
		if prev, ok := seen[k]; ok {
			t.Errorf("DeriveKey(%q) = DeriveKey(%q)", p, prev)
		}
		seen[k] = p
		if k2 := again.DeriveKey(p); k2 != k {
			t.Errorf("DeriveKey(%q) differs between two sealers of the same master key", p)
		}
		if k3 := other.DeriveKey(p); k3 == k {
			t.Errorf("DeriveKey(%q) is the same under two master keys", p)
		}
		if bytes.Equal(k[:], key) {
			t.Errorf("DeriveKey(%q) returned the master key itself", p)
		}
	}
}

func TestParseMasterKey(t *testing.T) {
	raw := make([]byte, 33)
	for i := range raw {
		raw[i] = byte(0xF0 + i) // bytes that hit '+', '/', '-' and '_' in base64
	}
	raw32 := raw[:32]
	for _, tc := range []struct {
		name string
		in   string
		want []byte
	}{
		{name: "std padded", in: base64.StdEncoding.EncodeToString(raw32), want: raw32},
		{name: "std raw", in: base64.RawStdEncoding.EncodeToString(raw32), want: raw32},
		{name: "url padded", in: base64.URLEncoding.EncodeToString(raw32), want: raw32},
		{name: "url raw", in: base64.RawURLEncoding.EncodeToString(raw32), want: raw32},
		{name: "33 bytes no padding needed", in: base64.StdEncoding.EncodeToString(raw), want: raw},
		{name: "trailing newline", in: base64.StdEncoding.EncodeToString(raw32) + "\n", want: raw32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMasterKey(tc.in)
			if err != nil {
				t.Fatalf("ParseMasterKey(%q) error = %v", tc.in, err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("ParseMasterKey(%q) = %x, want %x", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseMasterKey_Errors(t *testing.T) {
	short := base64.StdEncoding.EncodeToString([]byte("sixteen byte key"))
	for _, tc := range []struct {
		name     string
		in       string
		wantText []string
		wantErr  error
	}{
		{name: "empty", in: "", wantText: []string{"empty", "openssl rand -base64 32"}},
		{name: "blank", in: "  \n", wantText: []string{"empty"}},
		{name: "short", in: short, wantText: []string{"at least 32 bytes, got 16", "openssl rand -base64 32"}, wantErr: ErrKeyTooShort},
		{name: "31 bytes", in: base64.RawURLEncoding.EncodeToString(make([]byte, 31)), wantText: []string{"got 31"}, wantErr: ErrKeyTooShort},
		{name: "not base64", in: "this is my secret passphrase!!!!!!!!!!!!!!!", wantText: []string{"not valid base64", "openssl rand -base64 32"}},
		{name: "mixed alphabets", in: "ab+_" + strings.Repeat("A", 40), wantText: []string{"not valid base64"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMasterKey(tc.in)
			if err == nil {
				t.Fatalf("ParseMasterKey(%q) = %x, want an error", tc.in, got)
			}
			for _, w := range tc.wantText {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ParseMasterKey(%q) error = %q, want it to contain %q", tc.in, err, w)
				}
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("ParseMasterKey(%q) error = %v, want %v", tc.in, err, tc.wantErr)
			}
			if s := strings.TrimSpace(tc.in); len(s) > 4 && strings.Contains(err.Error(), s) {
				t.Errorf("ParseMasterKey error %q repeats the key", err)
			}
		})
	}
}

func BenchmarkSealOpen(b *testing.B) {
	s, err := New(make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	pt := make([]byte, 20)
	aad := []byte("users.totp_secret:0123456789")
	for b.Loop() {
		sealed, err := s.Seal(pt, aad)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Open(sealed, aad); err != nil {
			b.Fatal(err)
		}
	}
}
