package password

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultMinLength is the shortest acceptable password, in runes.
const DefaultMinLength = 12

// Stable reasons for a rejected password, usable as message-catalog keys.
const (
	ReasonTooShort = "password.too_short"
	ReasonTooLong  = "password.too_long"
	ReasonCommon   = "password.common"
	ReasonContext  = "password.context"
	ReasonInvalid  = "password.invalid"
)

var reasonText = map[string]string{
	ReasonTooShort: "The password is too short.",
	ReasonTooLong:  "The password is too long.",
	ReasonCommon:   "The password is too common or too easy to guess.",
	ReasonContext:  "The password is built from your NIP, birth date, name or agency.",
	ReasonInvalid:  "The password contains characters that cannot be used.",
}

// PolicyError says why Policy.Check rejected a password. Reason is one of
// the Reason* constants. It never contains the password.
type PolicyError struct {
	Reason string
}

func (e *PolicyError) Error() string {
	if s, ok := reasonText[e.Reason]; ok {
		return s
	}
	return "The password cannot be used."
}

// Policy decides which new passwords are acceptable: a length range counted
// in runes after normalisation, no composition rules (NIST SP 800-63B), and
// no password that is common or built from the account's own details.
type Policy struct {
	// MinLength is the minimum length in runes (default 12).
	MinLength int
	// MaxLength is the maximum length in runes (default and ceiling
	// MaxLength, the longest password a Hasher verifies).
	MaxLength int
}

// Context holds the account details a password must not be built from.
type Context struct {
	NIP      string
	Name     string
	Instansi string
	// Extra holds further words, such as the service's display name or the
	// local part of the email address.
	Extra []string
}

// fixedContextWords belong to every account of the service.
var fixedContextWords = []string{"asn", "bkn", "pppk", "pns", "cpns"}

// Check returns nil if password may be set for the account described by c,
// and a *PolicyError otherwise. The checks run in a fixed order, so the
// reason is the first that applies: invalid characters, length, common
// password, context words.
func (p Policy) Check(password string, c Context) error {
	minLen, maxLen := p.MinLength, p.MaxLength
	if minLen <= 0 {
		minLen = DefaultMinLength
	}
	if maxLen <= 0 || maxLen > MaxLength {
		maxLen = MaxLength
	}
	if len(password) > maxInputBytes {
		// Decided before any per-character work, so huge input is cheap.
		return &PolicyError{Reason: ReasonTooLong}
	}
	if !utf8.ValidString(password) {
		return &PolicyError{Reason: ReasonInvalid}
	}
	pw := Normalize(password)
	if strings.ContainsFunc(pw, forbidden) {
		return &PolicyError{Reason: ReasonInvalid}
	}
	switch n := utf8.RuneCountInString(pw); {
	case n < minLen:
		return &PolicyError{Reason: ReasonTooShort}
	case n > maxLen:
		return &PolicyError{Reason: ReasonTooLong}
	}
	folded := fold(pw)
	if isCommon(folded) {
		return &PolicyError{Reason: ReasonCommon}
	}
	if fromContext(folded, c) {
		return &PolicyError{Reason: ReasonContext}
	}
	return nil
}

// forbidden reports runes that cannot be typed reliably or are invisible
// and could make two different-looking passwords equal, or equal ones look
// different: control characters (NUL, tab, newline, ...), bidirectional
// overrides and marks, zero-width spaces and byte-order marks, and Unicode
// noncharacters. Zero-width joiners stay allowed: Indic scripts and emoji
// need them.
func forbidden(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r == '\u061C', r == '\u200E', r == '\u200F', // bidi marks
		r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069', // bidi embeddings, overrides, isolates
		r == '\u200B', r == '\u2060', r == '\uFEFF', // zero-width space, word joiner, BOM
		r >= '\uFDD0' && r <= '\uFDEF', r&0xFFFE == 0xFFFE: // noncharacters
		return true
	}
	return false
}

// fold lower-cases s and removes white space, the form in which passwords
// are compared with word lists ("Merah Putih" is "merahputih").
func fold(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, s)
}

// fromContext reports whether the folded password is dominated by the
// account's own details: it contains the whole NIP, or what is left after
// removing every context word has fewer than minOwnRunes letters or symbols
// (a name part plus digits, the birth date plus punctuation, "asn" three
// times, and so on).
func fromContext(folded string, c Context) bool {
	nipDigits, words := contextWords(c)
	if len(nipDigits) >= 8 {
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, folded)
		if strings.Contains(digits, nipDigits) {
			return true
		}
	}
	rest := folded
	for _, w := range words {
		rest = strings.ReplaceAll(rest, w, "")
	}
	return rest != folded && ownRunes(rest) < minOwnRunes
}

// minOwnRunes is how many letters (or pictographs) a password must have
// beyond its context words. Four letters are the shortest name part that
// counts as a context word, so anything shorter is at most as strong as the
// context word itself.
const minOwnRunes = 4

func ownRunes(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.Is(unicode.So, r) {
			n++
		}
	}
	return n
}

// contextWords returns the NIP's digits and the folded context words,
// longest first so that a longer word is removed before its substrings.
func contextWords(c Context) (nipDigits string, words []string) {
	var ws []string
	add := func(w string) {
		if utf8.RuneCountInString(w) >= 3 {
			ws = append(ws, w)
		}
	}
	addText := func(s string, parts bool) {
		f := fold(Normalize(s))
		add(f)
		if !parts {
			return
		}
		fields := strings.FieldsFunc(strings.ToLower(Normalize(s)), func(r rune) bool { return !unicode.IsLetter(r) })
		for _, part := range fields {
			if utf8.RuneCountInString(part) >= 4 {
				add(part)
			}
		}
		if len(fields) >= 3 { // "Badan Kepegawaian Negara" is also "bkn"
			var initials strings.Builder
			for _, part := range fields {
				r, _ := utf8.DecodeRuneInString(part)
				initials.WriteRune(r)
			}
			add(initials.String())
		}
	}

	for _, r := range Normalize(c.NIP) {
		if r >= '0' && r <= '9' {
			nipDigits += string(r)
		}
	}
	if len(nipDigits) >= 8 {
		add(nipDigits)
		y, m, d := nipDigits[0:4], nipDigits[4:6], nipDigits[6:8]
		for _, sep := range []string{"", "-", "/", "."} {
			add(y + sep + m + sep + d)
			add(d + sep + m + sep + y)
			add(d + sep + m + sep + y[2:])
		}
		add(y[2:] + m + d)
		if len(nipDigits) >= 14 {
			add(nipDigits[8:14]) // appointment year and month
		}
	}
	addText(c.Name, true)
	addText(c.Instansi, true)
	for _, e := range c.Extra {
		addText(e, true)
	}
	ws = append(ws, fixedContextWords...)
	slices.SortFunc(ws, func(a, b string) int { return len(b) - len(a) })
	return nipDigits, slices.Compact(ws)
}
