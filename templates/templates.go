// Package templates holds asnidp's pages, mails and static assets, embedded
// in the binary, and the renderer that parses them once at start.
//
// Every page is parsed into its own set (layout + page) so pages cannot
// override each other's blocks; a missing or broken page stops start-up;
// and a page is rendered into a buffer first, so a template error becomes a
// clean error page instead of half a page.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
)

// FS holds pages/, mail/ and static/.
//
//go:embed pages mail static
var FS embed.FS

// Static returns the files served under /static/.
func Static() fs.FS {
	sub, err := fs.Sub(FS, "static")
	if err != nil {
		panic(err) // the directory is embedded above; this cannot fail
	}
	return sub
}

// Renderer renders the named pages of one file system.
type Renderer struct {
	pages map[string]*template.Template
}

// NewRenderer parses pages/layout.html with each of pages/<name>.html.
// Development may pass os.DirFS to see edits without rebuilding.
func NewRenderer(fsys fs.FS, names ...string) (*Renderer, error) {
	return NewLayoutRenderer(fsys, "layout", nil, names...)
}

// NewLayoutRenderer parses pages/<layout>.html with each of
// pages/<name>.html, with funcs available to every template (the agency
// console's pages have a layout of their own).
func NewLayoutRenderer(fsys fs.FS, layout string, funcs template.FuncMap, names ...string) (*Renderer, error) {
	r := &Renderer{pages: make(map[string]*template.Template, len(names))}
	for _, name := range names {
		t, err := template.New(layout+".html").Funcs(funcs).ParseFS(fsys, "pages/"+layout+".html", "pages/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse page %s: %w", name, err)
		}
		r.pages[name] = t
	}
	return r, nil
}

// Render writes page with data to w, or nothing if it fails.
func (r *Renderer) Render(w io.Writer, page string, data any) error {
	t, ok := r.pages[page]
	if !ok {
		return fmt.Errorf("render %s: no such page", page)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		return fmt.Errorf("render %s: %w", page, err)
	}
	_, err := buf.WriteTo(w)
	return err
}
