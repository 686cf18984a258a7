// Package secret makes and hashes the random values asnidp hands out
// (authorization codes, refresh tokens, session and browser cookies, client
// secrets): they are stored only as keyed hashes, so a database dump without
// the master key holds nothing usable.
package secret

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// Token returns a random value of over 200 bits as 43 base32 characters,
// safe in URLs, forms and cookies.
func Token() string {
	return rand.Text() + rand.Text()[:17]
}

// MAC computes keyed hashes (HMAC-SHA256) of high-entropy values.
type MAC struct {
	key []byte
}

// NewMAC returns a MAC under key (derived from the master key).
func NewMAC(key [32]byte) *MAC {
	return &MAC{key: key[:]}
}

// Hash returns the keyed hash of value as unpadded base64url.
func (h *MAC) Hash(value string) string {
	mac := hmac.New(sha256.New, h.key)
	mac.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Equal reports in constant time whether value hashes to hash.
func (h *MAC) Equal(hash, value string) bool {
	return subtle.ConstantTimeCompare([]byte(hash), []byte(h.Hash(value))) == 1
}
