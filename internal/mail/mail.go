// Package mail renders asnidp's mails from templates and hands them to a
// driver. Every mail has a plain-text and an HTML part in the recipient's
// language; subjects and texts come from the templates, links and names
// from configuration, never from the request that caused the mail (C4).
package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"log/slog"
	"strings"
	texttemplate "text/template"

	"github.com/asnidp/asnidp/internal/i18n"
)

// Message is one rendered mail.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// LogValue keeps bodies (which may hold codes) out of structured logs
// that log a Message by accident.
func (m Message) LogValue() slog.Value {
	return slog.GroupValue(slog.String("to", m.To), slog.String("subject", m.Subject))
}

// Sender delivers a message.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// ErrBadRecipient reports an address that must not be mailed (C5): more
// than one address, header-breaking characters, or too long.
var ErrBadRecipient = errors.New("recipient is not a single valid address")

// CheckRecipient refuses anything but one plain address.
func CheckRecipient(addr string) error {
	if addr == "" || len(addr) > 254 || strings.ContainsAny(addr, "\r\n,;<>\"() \t\x00") || strings.Count(addr, "@") != 1 {
		return ErrBadRecipient
	}
	local, domain, _ := strings.Cut(addr, "@")
	if local == "" || domain == "" || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return ErrBadRecipient
	}
	return nil
}

// Renderer turns a named mail and its data into a Message.
type Renderer struct {
	text *texttemplate.Template
	html *htmltemplate.Template
	// Product is the name shown in subjects and greetings.
	Product string
	// BaseURL is the configured issuer; mails link only to it.
	BaseURL string
}

// NewRenderer parses mail/*.txt and mail/*.html of fsys.
func NewRenderer(fsys fs.FS, product, baseURL string) (*Renderer, error) {
	text, err := texttemplate.ParseFS(fsys, "mail/*.txt")
	if err != nil {
		return nil, fmt.Errorf("parse text mails: %w", err)
	}
	html, err := htmltemplate.ParseFS(fsys, "mail/*.html")
	if err != nil {
		return nil, fmt.Errorf("parse html mails: %w", err)
	}
	return &Renderer{text: text, html: html, Product: product, BaseURL: baseURL}, nil
}

// Data is what a mail template sees.
type Data struct {
	L       *i18n.Localizer
	Product string
	BaseURL string
	Name    string
	NIP     string
	// Fields holds mail-specific values (a code, a time).
	Fields map[string]string
}

// Render builds mail name (templates name.txt and name.html; the subject
// is the message key "mail.<name>.subject").
func (r *Renderer) Render(to string, l *i18n.Localizer, name string, d Data) (Message, error) {
	if err := CheckRecipient(to); err != nil {
		return Message{}, err
	}
	d.L, d.Product, d.BaseURL = l, r.Product, r.BaseURL
	var text, html bytes.Buffer
	if err := r.text.ExecuteTemplate(&text, name+".txt", d); err != nil {
		return Message{}, fmt.Errorf("render mail %s: %w", name, err)
	}
	if err := r.html.ExecuteTemplate(&html, name+".html", d); err != nil {
		return Message{}, fmt.Errorf("render mail %s: %w", name, err)
	}
	return Message{To: to, Subject: l.T("mail." + name + ".subject"), Text: text.String(), HTML: html.String()}, nil
}

// LogSender writes whole mails to the log: a first run needs no mail
// server. Codes appear in that log, so it is for development only.
type LogSender struct {
	Log *slog.Logger
}

// Send logs the message.
func (s LogSender) Send(ctx context.Context, m Message) error {
	s.Log.InfoContext(ctx, "mail (log driver, development only)", "to", m.To, "subject", m.Subject, "body", "\n"+m.Text)
	return nil
}
