package optest

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"hash"
	"testing"
)

// TOTP computes the 6-digit RFC 6238 code (SHA-1, 30 s) of seed at step,
// independently of the server's implementation.
func TOTP(seed []byte, step int64) string {
	return fmt.Sprintf("%06d", newHOTP(seed).code(step))
}

// RepeatedCodeStep returns the first step n from from on whose code
// equals that of step n+1 but not that of n+2: the case where a code
// typed late matches two acceptable steps (A9). About one step in 10^6
// qualifies, so the search reuses one keyed HMAC.
func RepeatedCodeStep(t testing.TB, seed []byte, from int64) int64 {
	t.Helper()
	h := newHOTP(seed)
	prev := h.code(from)
	for n := from; n < from+50_000_000; n++ {
		next := h.code(n + 1)
		if prev == next && next != h.code(n+2) {
			return n
		}
		prev = next
	}
	t.Fatal("no step with a repeated code in the search range")
	return 0
}

// hotp is RFC 4226 with dynamic truncation to 6 digits.
type hotp struct {
	mac hash.Hash
	msg [8]byte
	sum []byte
}

func newHOTP(seed []byte) *hotp {
	return &hotp{mac: hmac.New(sha1.New, seed), sum: make([]byte, 0, sha1.Size)}
}

func (h *hotp) code(counter int64) uint32 {
	h.mac.Reset()
	binary.BigEndian.PutUint64(h.msg[:], uint64(counter))
	h.mac.Write(h.msg[:])
	h.sum = h.mac.Sum(h.sum[:0])
	off := h.sum[len(h.sum)-1] & 0x0f
	return (binary.BigEndian.Uint32(h.sum[off:off+4]) & 0x7fffffff) % 1_000_000
}
