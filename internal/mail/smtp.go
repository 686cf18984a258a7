package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/mail"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLS modes of the smtp driver.
const (
	TLSNone     = "none"     // plain SMTP (a relay on the same host or network)
	TLSStartTLS = "starttls" // upgrade required; the mail is never sent in the clear
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
)

// ErrRejected marks a permanent refusal by the mail server (a 5xx reply,
// such as an unknown mailbox): sending the same message again cannot
// succeed.
var ErrRejected = errors.New("mail server rejected the message")

// SMTPConfig is the smtp driver's server and sender.
type SMTPConfig struct {
	Host     string
	Port     int
	Username string
	Password string
	// TLS is TLSNone, TLSStartTLS or TLSImplicit.
	TLS string
	// From is the sender, with or without a display name.
	From string
	// Timeout bounds connecting and each SMTP command.
	Timeout time.Duration
	// TLSConfig replaces the default TLS settings (for a private CA).
	TLSConfig *tls.Config
}

// SMTPSender delivers mail to one SMTP server with
// github.com/wneessen/go-mail, one connection per message.
type SMTPSender struct {
	cfg  SMTPConfig
	opts []gomail.Option
}

// NewSMTPSender checks cfg and returns the driver. Credentials are only
// offered over TLS or with a mechanism that does not reveal them.
func NewSMTPSender(cfg SMTPConfig) (*SMTPSender, error) {
	if cfg.Host == "" {
		return nil, errors.New("smtp: no host")
	}
	if _, err := mail.ParseAddress(cfg.From); err != nil {
		return nil, fmt.Errorf("smtp: sender %q: %w", cfg.From, err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	opts := []gomail.Option{gomail.WithPort(cfg.Port), gomail.WithTimeout(cfg.Timeout)}
	switch cfg.TLS {
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	default:
		return nil, fmt.Errorf("smtp: tls must be %s, %s or %s, got %q", TLSNone, TLSStartTLS, TLSImplicit, cfg.TLS)
	}
	if cfg.TLSConfig != nil {
		opts = append(opts, gomail.WithTLSConfig(cfg.TLSConfig))
	}
	if cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}
	s := &SMTPSender{cfg: cfg, opts: opts}
	if _, err := s.client(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *SMTPSender) client() (*gomail.Client, error) {
	c, err := gomail.NewClient(s.cfg.Host, s.opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp: configure client: %w", err)
	}
	return c, nil
}

// Send delivers m as a multipart/alternative mail (text, then HTML). A
// refusal that retrying cannot cure wraps ErrRejected; any other error
// (server unreachable, a temporary 4xx) may pass on a later attempt.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	if err := CheckRecipient(m.To); err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(s.cfg.From); err != nil {
		return fmt.Errorf("send mail: sender: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("send mail: %w", ErrBadRecipient)
	}
	msg.Subject(m.Subject)
	msg.SetMessageID()
	msg.SetDate()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	c, err := s.client()
	if err != nil {
		return err
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		var se *gomail.SendError
		if errors.As(err, &se) && !se.IsTemp() && se.Reason != gomail.ErrConnCheck {
			return fmt.Errorf("send mail: %w: %v", ErrRejected, err)
		}
		return fmt.Errorf("send mail: %w", err)
	}
	return nil
}

// Probe connects, greets and authenticates, then quits: it tells whether
// mail could be handed over now without sending any.
func (s *SMTPSender) Probe(ctx context.Context) error {
	c, err := s.client()
	if err != nil {
		return err
	}
	if err := c.DialWithContext(ctx); err != nil {
		return fmt.Errorf("probe mail server: %w", err)
	}
	if err := c.Close(); err != nil {
		return fmt.Errorf("probe mail server: %w", err)
	}
	return nil
}
