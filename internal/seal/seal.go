// Package seal encrypts secrets at rest (signing keys, TOTP seeds) with
// AES-256-GCM under the operator's master key.
//
// The master key is never used directly: HKDF-SHA256 derives one key per
// purpose from it, and the AEAD key is the one for purpose "seal". A sealed
// value is
//
//	version (1 byte) || nonce (12 bytes) || ciphertext || tag (16 bytes)
//
// with a fresh random nonce from crypto/rand for every call. Callers pass
// additional data that names where the value lives (table, column and row,
// e.g. "signing_keys.private:"+kid), so a sealed value copied into another
// row or column no longer opens: a database writer cannot swap secrets
// between users or keys without being noticed.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// MinKeySize is the shortest master key accepted, in bytes.
const MinKeySize = 32

// version1 marks the format described in the package comment; a later
// format gets a new byte so old rows stay readable.
const version1 byte = 1

const (
	nonceSize = 12
	tagSize   = 16
)

// generateHint tells an operator how to make a valid master key.
const generateHint = "generate one with: openssl rand -base64 32"

var (
	// ErrKeyTooShort reports a master key of fewer than MinKeySize bytes.
	ErrKeyTooShort = errors.New("master key too short")
	// ErrMalformed reports bytes that are not a sealed value of a known
	// format (truncated, or an unknown version).
	ErrMalformed = errors.New("malformed sealed value")
	// ErrOpen reports a sealed value that fails authentication: it was
	// sealed under another master key or for other additional data, or its
	// bytes were altered.
	ErrOpen = errors.New("sealed value does not authenticate (wrong master key, wrong additional data or altered bytes)")
)

// ParseMasterKey decodes a master key written as base64, in the standard or
// URL-safe alphabet, with or without padding, as operators paste it from
// `openssl rand -base64 32`. Surrounding white space is ignored. Errors
// never repeat the key.
func ParseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("master key is empty; %s", generateHint)
	}
	var key []byte
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding,
		base64.URLEncoding, base64.RawURLEncoding,
	} {
		if b, err := enc.DecodeString(s); err == nil {
			key = b
			break
		}
	}
	if key == nil {
		// The decoder's error names the offending byte offset only, but
		// a fixed message is safer still: nothing of the key is echoed.
		return nil, fmt.Errorf("master key is not valid base64 (%d characters); %s", len(s), generateHint)
	}
	if len(key) < MinKeySize {
		return nil, fmt.Errorf("master key must decode to at least %d bytes, got %d; %s: %w",
			MinKeySize, len(key), generateHint, ErrKeyTooShort)
	}
	return key, nil
}

// Sealer seals and opens values under one master key. It is safe for
// concurrent use.
type Sealer struct {
	prk  []byte // HKDF pseudorandom key extracted from the master key
	aead cipher.AEAD
}

// New returns a Sealer for masterKey, which must hold at least MinKeySize
// bytes. The Sealer keeps only a value derived from masterKey, so the caller
// may clear its copy afterwards.
func New(masterKey []byte) (*Sealer, error) {
	if len(masterKey) < MinKeySize {
		return nil, fmt.Errorf("new sealer: master key must be at least %d bytes, got %d; %s: %w",
			MinKeySize, len(masterKey), generateHint, ErrKeyTooShort)
	}
	prk, err := hkdf.Extract(sha256.New, masterKey, nil)
	if err != nil {
		return nil, fmt.Errorf("new sealer: derive keys: %w", err)
	}
	s := &Sealer{prk: prk}
	k := s.DeriveKey("seal")
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, fmt.Errorf("new sealer: %w", err)
	}
	// NewGCMWithRandomNonce draws each nonce from crypto/rand and puts it
	// in front of the ciphertext, so no caller can reuse a nonce.
	s.aead, err = cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("new sealer: %w", err)
	}
	return s, nil
}

// DeriveKey returns a 32-byte key for purpose, derived from the master key
// with HKDF-SHA256. Different purposes give independent keys, and the same
// purpose always gives the same key under the same master key. Purpose
// "seal" is the AEAD key of Seal and Open; other code picks its own names.
func (s *Sealer) DeriveKey(purpose string) [32]byte {
	var out [32]byte
	k, err := hkdf.Expand(sha256.New, s.prk, "asnidp/"+purpose, len(out))
	if err != nil {
		// Expand fails only for lengths above 255 hash sizes; 32 bytes
		// cannot reach that.
		panic("seal: derive key: " + err.Error())
	}
	copy(out[:], k)
	return out
}

// Seal encrypts plaintext and binds it to aad, which must be passed again,
// byte for byte, to Open.
func (s *Sealer) Seal(plaintext, aad []byte) ([]byte, error) {
	out := make([]byte, 1, 1+nonceSize+len(plaintext)+tagSize)
	out[0] = version1
	return s.aead.Seal(out, nil, plaintext, aad), nil
}

// Open authenticates and decrypts a value made by Seal with the same aad.
// It returns an error wrapping ErrMalformed or ErrOpen otherwise.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < 1+nonceSize+tagSize {
		return nil, fmt.Errorf("open sealed value: %d bytes is too short: %w", len(sealed), ErrMalformed)
	}
	if v := sealed[0]; v != version1 {
		return nil, fmt.Errorf("open sealed value: unknown format version %d: %w", v, ErrMalformed)
	}
	plaintext, err := s.aead.Open(nil, nil, sealed[1:], aad)
	if err != nil {
		return nil, fmt.Errorf("open sealed value: %w", ErrOpen)
	}
	return plaintext, nil
}
