package mail_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/asnidp/asnidp/internal/mail"
	"github.com/asnidp/asnidp/internal/mail/mailtest"
)

func newSMTP(t *testing.T, srv *mailtest.Server) *mail.SMTPSender {
	t.Helper()
	s, err := mail.NewSMTPSender(mail.SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: mail.TLSNone,
		From: "ASN Digital <no-reply@asn.example.go.id>", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("NewSMTPSender = %v", err)
	}
	return s
}

var testMessage = mail.Message{
	To:      "siti@example.go.id",
	Subject: "Kode verifikasi ASN Digital — 10 menit",
	Text:    "Kode verifikasi Anda: 12345678\nBerlaku 10 menit.\n",
	HTML:    "<p>Kode verifikasi Anda: <b>12345678</b></p>",
}

func TestSMTPSender_Delivers(t *testing.T) {
	srv := mailtest.Start(t)
	if err := newSMTP(t, srv).Send(t.Context(), testMessage); err != nil {
		t.Fatalf("Send = %v", err)
	}
	got, err := srv.Next(t.Context(), testMessage.To)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != testMessage.Subject {
		t.Errorf("Subject = %q, want %q", got.Subject, testMessage.Subject)
	}
	if !strings.Contains(got.Text, "12345678") || !strings.Contains(got.HTML, "<b>12345678</b>") {
		t.Errorf("bodies = %q / %q, want the text and HTML parts", got.Text, got.HTML)
	}
	if got.From != "no-reply@asn.example.go.id" || !strings.Contains(got.Header.Get("From"), "ASN Digital") {
		t.Errorf("envelope from %q, header From %q", got.From, got.Header.Get("From"))
	}
	if got.Header.Get("Message-Id") == "" || got.Header.Get("Date") == "" {
		t.Errorf("missing Message-Id or Date: %v", got.Header)
	}
}

func TestSMTPSender_Failures_H5(t *testing.T) {
	srv := mailtest.Start(t)
	s := newSMTP(t, srv)

	srv.Reject(true)
	err := s.Send(t.Context(), testMessage)
	if !errors.Is(err, mail.ErrRejected) {
		t.Errorf("Send to a refused recipient = %v, want ErrRejected", err)
	}
	srv.Reject(false)

	srv.FailTemporarily(1)
	err = s.Send(t.Context(), testMessage)
	if err == nil || errors.Is(err, mail.ErrRejected) {
		t.Errorf("Send during a temporary refusal = %v, want a retryable error", err)
	}

	srv.Stop()
	err = s.Send(t.Context(), testMessage)
	if err == nil || errors.Is(err, mail.ErrRejected) {
		t.Errorf("Send with the server down = %v, want a retryable error", err)
	}
	if err := s.Probe(t.Context()); err == nil {
		t.Error("Probe with the server down = nil, want an error")
	}
	srv.Restart()
	if err := s.Probe(t.Context()); err != nil {
		t.Errorf("Probe after restart = %v", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages arrived, want none", n)
	}
}

// C5: an address that could smuggle headers or recipients never reaches
// the server.
func TestSMTPSender_BadRecipient_C5(t *testing.T) {
	srv := mailtest.Start(t)
	s := newSMTP(t, srv)
	for _, to := range []string{
		"siti@example.go.id\r\nBcc: evil@example.com",
		"siti@example.go.id, evil@example.com",
		"Bcc: evil@example.com",
		strings.Repeat("a", 250) + "@example.go.id",
		"",
	} {
		m := testMessage
		m.To = to
		if err := s.Send(t.Context(), m); !errors.Is(err, mail.ErrBadRecipient) {
			t.Errorf("Send(to %q) = %v, want ErrBadRecipient", to, err)
		}
	}
	if n := srv.Attempts(); n != 0 {
		t.Errorf("the server saw %d recipients, want none", n)
	}
}

func TestNewSMTPSender_Config(t *testing.T) {
	tests := []struct {
		name string
		cfg  mail.SMTPConfig
	}{
		{"no host", mail.SMTPConfig{Port: 25, TLS: mail.TLSNone, From: "a@b.id"}},
		{"bad tls", mail.SMTPConfig{Host: "h", Port: 25, TLS: "ssl", From: "a@b.id"}},
		{"bad from", mail.SMTPConfig{Host: "h", Port: 25, TLS: mail.TLSNone, From: "not an address"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := mail.NewSMTPSender(tc.cfg); err == nil {
				t.Errorf("NewSMTPSender(%+v) = nil error, want one", tc.cfg)
			}
		})
	}
	for _, mode := range []string{mail.TLSNone, mail.TLSStartTLS, mail.TLSImplicit} {
		if _, err := mail.NewSMTPSender(mail.SMTPConfig{Host: "smtp.example.go.id", Port: 587, TLS: mode, From: "a@b.id",
			Username: "u", Password: "p"}); err != nil {
			t.Errorf("NewSMTPSender(tls %s) = %v", mode, err)
		}
	}
}

// STARTTLS is mandatory in that mode: a server without it gets nothing.
func TestSMTPSender_StartTLSRequired(t *testing.T) {
	srv := mailtest.Start(t)
	s, err := mail.NewSMTPSender(mail.SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: mail.TLSStartTLS,
		From: "no-reply@asn.example.go.id", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Send(ctx, testMessage); err == nil {
		t.Error("Send over a server without STARTTLS = nil, want an error")
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages arrived in the clear, want none", n)
	}
}
