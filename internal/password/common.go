package password

import (
	_ "embed"
	"strings"
	"unicode"
)

//go:embed common.txt
var commonText string

// common is the embedded list as a set.
var common = func() map[string]struct{} {
	m := make(map[string]struct{}, 2500)
	for line := range strings.Lines(commonText) {
		w := strings.TrimSpace(line)
		if w == "" || strings.HasPrefix(w, "#") {
			continue
		}
		m[strings.ToLower(w)] = struct{}{}
	}
	return m
}()

// Keyboard rows and counting sequences. A password that is a run along one
// of them ("qwertyuiopas", "123456789012", "zyxwvutsrqpo") is common whatever
// its length.
var sequences = []string{
	strings.Repeat("0123456789", MaxLength/10+2),
	strings.Repeat("9876543210", MaxLength/10+2),
	"abcdefghijklmnopqrstuvwxyz",
	"zyxwvutsrqponmlkjihgfedcba",
	"qwertyuiopasdfghjklzxcvbnm",
	"mnbvcxzlkjhgfdsapoiuytrewq",
	"1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
	"qazwsxedcrfvtgbyhnujmikolp",
}

// isCommon reports whether the folded password is on the common list, a
// repetition or a keyboard/counting run: as typed, with the symbols around it
// trimmed, with the digits and symbols around it trimmed, with only its
// letters, and with look-alike digits and symbols read as letters.
func isCommon(folded string) bool {
	bare := strings.TrimFunc(folded, func(r rune) bool { return notLetter(r) && !unicode.IsDigit(r) })
	core := strings.TrimFunc(folded, notLetter)
	letters := strings.Map(func(r rune) rune {
		if notLetter(r) {
			return -1
		}
		return r
	}, folded)
	undigited := strings.TrimFunc(folded, unicode.IsDigit)
	cands := []string{folded, bare, core, letters}
	for _, one := range []rune{'i', 'l'} {
		cands = append(cands,
			unleet(bare, one), // "r4h4s14" is "rahasia"
			unleet(core, one), // "p@ssw0rd2024" is "password"
			strings.TrimFunc(unleet(undigited, one), notLetter)) // "@dmin2024" is "admin"
	}
	for _, c := range cands {
		if inCommon(c) {
			return true
		}
	}
	return isTrivial(folded) || bare != "" && isTrivial(bare) || core != "" && isTrivial(core)
}

// inCommon reports whether s is a list entry, or a list entry repeated.
func inCommon(s string) bool {
	if s == "" {
		return false
	}
	if _, ok := common[s]; ok {
		return true
	}
	for k := 2; k <= 4; k++ {
		if len(s)%k == 0 && s == strings.Repeat(s[:len(s)/k], k) {
			if _, ok := common[s[:len(s)/k]]; ok {
				return true
			}
		}
	}
	return false
}

// isTrivial reports a string that is empty, a short unit repeated
// ("abababababab", "123123123123") or a run along a sequence.
func isTrivial(s string) bool {
	if s == "" {
		return true
	}
	for unit := 1; unit <= 4 && unit <= len(s)/2; unit++ {
		if len(s)%unit == 0 && s == strings.Repeat(s[:unit], len(s)/unit) {
			return true
		}
	}
	if len(s) >= 6 {
		for _, seq := range sequences {
			if strings.Contains(seq, s) {
				return true
			}
		}
	}
	return false
}

func notLetter(r rune) bool { return !unicode.IsLetter(r) }

// unleet reads the usual digit and symbol substitutions as letters
// ("p@ssw0rd" is "password"); one is ambiguous, hence the parameter.
func unleet(s string, one rune) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '0':
			return 'o'
		case '1', '!':
			return one
		case '3':
			return 'e'
		case '4', '@':
			return 'a'
		case '5', '$':
			return 's'
		case '7':
			return 't'
		case '8':
			return 'b'
		}
		return r
	}, s)
}
