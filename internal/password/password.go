// Package password hashes and verifies passwords with argon2id and decides
// which new passwords are acceptable.
//
// Every password passes through Normalize (Unicode NFKC) before it is hashed,
// verified or checked, so a password set on one keyboard verifies when typed
// on another: full-width letters from an East Asian input method, or "é" as
// one code point or as "e" plus a combining accent, are the same password.
//
// Hashing is expensive on purpose (19 MiB and two passes per attempt), so a
// Hasher runs at most Params.Workers hashes at once and makes the rest wait
// for at most Params.QueueTimeout; past that it answers ErrBusy instead of
// letting a burst of logins exhaust memory.
package password

import (
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxLength is the longest password, in runes after normalisation, that can
// be set or verified. It bounds the CPU spent on a single attempt and leaves
// room for long passphrases.
const MaxLength = 128

// maxInputBytes is the size above which input is refused before it is even
// normalised, so that a 10 MB form field costs nothing. NFKC composition
// merges at most a handful of code points into one and a code point takes at
// most four bytes, so no string this long normalises to MaxLength runes or
// fewer.
const maxInputBytes = MaxLength * 32

// Normalize returns s in Unicode Normalization Form KC. Hash, Verify and
// Policy.Check all apply it, so the same string is compared at set and at
// login; callers need not call it themselves.
func Normalize(s string) string {
	return norm.NFKC.String(s)
}

// normalizeBounded normalises s and reports whether the result is within
// MaxLength runes. Oversized input is refused before normalising.
func normalizeBounded(s string) (string, bool) {
	if len(s) > maxInputBytes {
		return "", false
	}
	n := Normalize(s)
	return n, utf8.RuneCountInString(n) <= MaxLength
}
