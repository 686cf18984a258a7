package main

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"
)

//go:embed web/*.html web/demo.css
var webFS embed.FS

// wib is Western Indonesian Time, fixed so the demo needs no tz database.
var wib = time.FixedZone("WIB", 7*60*60)

var bulan = [...]string{"Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober", "November", "Desember"}

// pageData is what every page gets.
type pageData struct {
	App      AppConfig
	Issuer   string
	Session  *session
	Profile  Profile
	History  []Job
	Message  string
	MFAUsed  bool
	Template string
}

// pages holds one template set per page: layout plus the page.
type pages struct {
	app    AppConfig
	issuer string
	sets   map[string]*template.Template
}

var pageNames = []string{"masuk", "profil", "riwayat", "error"}

func newPages(app AppConfig, issuer string) (*pages, error) {
	funcs := template.FuncMap{
		"tanggal": func(t time.Time) string {
			if t.IsZero() {
				return "-"
			}
			return fmt.Sprintf("%d %s %d", t.Day(), bulan[t.Month()-1], t.Year())
		},
		"waktu": func(t time.Time) string {
			if t.IsZero() {
				return "-"
			}
			t = t.In(wib)
			return fmt.Sprintf("%d %s %d, %02d.%02d WIB", t.Day(), bulan[t.Month()-1], t.Year(), t.Hour(), t.Minute())
		},
		"orDash": func(s string) string {
			if strings.TrimSpace(s) == "" {
				return "-"
			}
			return s
		},
	}
	p := &pages{app: app, issuer: issuer, sets: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(webFS, "web/layout.html", "web/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse page %s: %w", name, err)
		}
		p.sets[name] = t
	}
	return p, nil
}

// render writes page name with status; it renders to a buffer first so a
// template error gives a clean 500 instead of half a page.
func (p *pages) render(w http.ResponseWriter, status int, name string, data pageData) {
	data.App, data.Issuer, data.Template = p.app, p.issuer, name
	data.MFAUsed = slices.Contains(data.Profile.AMR, "mfa")
	var buf bytes.Buffer
	if err := p.sets[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		http.Error(w, "Terjadi kesalahan pada halaman.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func serveCSS(w http.ResponseWriter, r *http.Request) {
	b, _ := webFS.ReadFile("web/demo.css")
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(b)
}
