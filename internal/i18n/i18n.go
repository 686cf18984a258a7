// Package i18n holds asnidp's message catalogs, one per language, embedded
// in the binary. Indonesian is the default and the fallback: a key missing
// in another language shows its Indonesian text, never the key.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

//go:embed locales
var locales embed.FS

// Languages the pages and mails are written in, default first.
var Languages = []language.Tag{language.Indonesian, language.English}

// Catalog is the set of message catalogs.
type Catalog struct {
	bundle  *goi18n.Bundle
	matcher language.Matcher
	keys    map[string][]string
}

// New loads the embedded catalogs.
func New() (*Catalog, error) {
	b := goi18n.NewBundle(language.Indonesian)
	b.RegisterUnmarshalFunc("json", json.Unmarshal)
	c := &Catalog{bundle: b, matcher: language.NewMatcher(Languages), keys: map[string][]string{}}
	// Each language is a directory of JSON files, one per area of the
	// pages, so features add their messages without touching others'.
	for _, tag := range Languages {
		lang := tag.String()
		names, err := fs.Glob(locales, "locales/"+lang+"/*.json")
		if err != nil || len(names) == 0 {
			return nil, fmt.Errorf("no catalog for %s", lang)
		}
		for _, name := range names {
			data, err := locales.ReadFile(name)
			if err != nil {
				return nil, fmt.Errorf("read catalog %s: %w", name, err)
			}
			// go-i18n takes the language from the file name.
			f, err := b.ParseMessageFileBytes(data, strings.TrimSuffix(name, ".json")+"."+lang+".json")
			if err != nil {
				return nil, fmt.Errorf("parse catalog %s: %w", name, err)
			}
			for _, m := range f.Messages {
				c.keys[lang] = append(c.keys[lang], m.ID)
			}
		}
		sort.Strings(c.keys[lang])
	}
	return c, nil
}

// Keys lists the message keys of one language, sorted.
func (c *Catalog) Keys(lang string) []string { return c.keys[lang] }

// Localizer picks the best language from preferences, in order: explicit
// choices (ui_locales, a language cookie) first, then Accept-Language
// headers. Unknown or malformed values are skipped.
func (c *Catalog) Localizer(prefs ...string) *Localizer {
	var tags []language.Tag
	for _, p := range prefs {
		if p == "" {
			continue
		}
		parsed, _, err := language.ParseAcceptLanguage(strings.ReplaceAll(p, " ", ","))
		if err == nil {
			tags = append(tags, parsed...)
		}
	}
	tag := language.Indonesian
	if len(tags) > 0 {
		_, idx, conf := c.matcher.Match(tags...)
		if conf != language.No {
			tag = Languages[idx]
		}
	}
	return &Localizer{l: goi18n.NewLocalizer(c.bundle, tag.String(), language.Indonesian.String()), lang: tag.String()}
}

// Localizer translates into one language.
type Localizer struct {
	l    *goi18n.Localizer
	lang string
}

// Lang is the chosen language's BCP 47 tag ("id" or "en").
func (l *Localizer) Lang() string { return l.lang }

// T returns the message for key, with {{.Name}} placeholders filled from
// data pairs ("Name", value, ...). A key missing everywhere comes back as
// itself, which the catalog test forbids.
func (l *Localizer) T(key string, data ...any) string {
	var tmpl map[string]any
	if len(data) > 1 {
		tmpl = make(map[string]any, len(data)/2)
		for i := 0; i+1 < len(data); i += 2 {
			if k, ok := data[i].(string); ok {
				tmpl[k] = data[i+1]
			}
		}
	}
	msg, err := l.l.Localize(&goi18n.LocalizeConfig{MessageID: key, TemplateData: tmpl})
	if err != nil || msg == "" {
		return key
	}
	return msg
}
