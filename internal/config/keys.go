package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
)

// checkKeys walks the merged settings raw against the schema t before
// decoding, for the two mistakes the decoder words badly: a misspelt key
// (reported with the nearest real one) and a duration it cannot parse
// (quoted once, with how to write one). It returns those problems and the
// keys they name, whose later decode and range complaints only repeat them.
func checkKeys(t reflect.Type, raw map[string]any, prefix string) (problems []string, bad []string) {
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		if name := t.Field(i).Tag.Get("koanf"); name != "" {
			fields[name] = t.Field(i).Type
		}
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		path := prefix + key
		ft, ok := fields[key]
		if !ok {
			msg := fmt.Sprintf("unknown key `%s`", path)
			if near := nearest(key, fields); near != "" {
				msg += fmt.Sprintf(" (did you mean `%s`?)", prefix+near)
			}
			problems = append(problems, msg)
			bad = append(bad, path)
			continue
		}
		p, b := checkValue(ft, raw[key], path)
		problems, bad = append(problems, p...), append(bad, b...)
	}
	return problems, bad
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	sizeType     = reflect.TypeFor[ByteSize]()
)

// checkValue checks one setting of type t at path.
func checkValue(t reflect.Type, v any, path string) (problems []string, bad []string) {
	switch {
	case t == durationType:
		s, ok := v.(string)
		if !ok {
			return nil, nil
		}
		if _, err := time.ParseDuration(strings.TrimSpace(s)); err != nil {
			return []string{fmt.Sprintf("%s: %q is not a duration (write it like 90s, 10m or 1h30m)", path, s)}, []string{path}
		}
	case t == sizeType:
		if s, ok := v.(string); ok {
			if _, err := ParseByteSize(s); err != nil {
				return []string{path + ": " + err.Error()}, []string{path}
			}
		}
	case t.Kind() == reflect.Struct:
		if m, ok := v.(map[string]any); ok {
			return checkKeys(t, m, path+".")
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		items, _ := v.([]any)
		for i, item := range items {
			if m, ok := item.(map[string]any); ok {
				p, b := checkKeys(t.Elem(), m, fmt.Sprintf("%s[%d].", path, i))
				problems, bad = append(problems, p...), append(bad, b...)
			}
		}
	}
	return problems, bad
}

// nearest returns the key of fields closest to a misspelt one, when it is
// close enough to be what was meant ("isuer" → "issuer"), else "".
func nearest(key string, fields map[string]reflect.Type) string {
	best, bestDist := "", 3 // two edits at most
	for name := range fields {
		if d := editDistance(key, name); d < bestDist || (d == bestDist && name < best) {
			best, bestDist = name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes
// (keys are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
