package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Validate returns one line per invalid key, each starting with the key's
// YAML path. Checks that need other packages (master key decoding, redirect
// URI rules) run where those packages are wired.
func (c *Config) Validate() []string {
	var p problems
	p.issuer(c.Issuer)
	if c.Listen == "" {
		p.add("listen", "must be set (host:port)")
	} else if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		p.add("listen", "must be host:port, got %q", c.Listen)
	}
	switch {
	case c.MasterKey == "":
		p.add("master_key", "must be set (generate one with: openssl rand -base64 32, and pass it as ASNIDP_MASTER_KEY)")
	case c.MasterKey == DevMasterKey && !IsLoopbackHTTP(c.Issuer):
		p.add("master_key", "the development key is only allowed with an http://localhost issuer; generate one with: openssl rand -base64 32")
	}
	for i, cidr := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			if _, err := netip.ParseAddr(cidr); err != nil {
				p.add(fmt.Sprintf("trusted_proxies[%d]", i), "must be an IP address or CIDR, got %q", cidr)
			}
		}
	}

	d := c.Database
	if !slices.Contains([]string{"sqlite", "postgres"}, d.Driver) {
		p.add("database.driver", "must be sqlite or postgres, got %q", d.Driver)
	}
	if d.DSN == "" {
		p.add("database.dsn", "must be set (a file path for sqlite, a URL for postgres)")
	}
	p.atLeast("database.max_open_conns", d.MaxOpenConns, 1)
	p.atLeast("database.max_idle_conns", d.MaxIdleConns, 0)
	p.positive("database.connect_timeout", d.ConnectTimeout)
	p.positive("database.prune_interval", d.PruneInterval)
	p.positive("database.client_cache", d.ClientCache)

	t := c.Tokens
	p.between("tokens.access_token", t.AccessToken, time.Minute, 24*time.Hour)
	p.between("tokens.id_token", t.IDToken, time.Minute, 24*time.Hour)
	p.between("tokens.code", t.Code, 10*time.Second, 10*time.Minute)
	p.between("tokens.auth_request", t.AuthRequest, time.Minute, 24*time.Hour)
	p.positive("tokens.offline_refresh_token", t.OfflineRefreshToken)

	p.between("oauth.jwks_cache", c.OAuth.JWKSCache, 10*time.Second, time.Hour)

	k := c.Keys
	p.atLeastDuration("keys.rotation_period", k.RotationPeriod, time.Hour)
	p.positive("keys.publish_lead", k.PublishLead)
	p.positive("keys.refresh_interval", k.RefreshInterval)
	if k.Retention < max(t.AccessToken, t.IDToken) {
		p.add("keys.retention", "must be at least the longest token lifetime (%s), got %s", max(t.AccessToken, t.IDToken), k.Retention)
	}
	if k.PublishLead < k.RefreshInterval {
		p.add("keys.publish_lead", "must be at least keys.refresh_interval (%s) so every process publishes a key before it signs", k.RefreshInterval)
	}

	s := c.Session
	p.positive("session.idle", s.Idle)
	p.positive("session.absolute", s.Absolute)
	if s.Idle > s.Absolute {
		p.add("session.idle", "must not exceed session.absolute (%s)", s.Absolute)
	}
	p.between("session.password_only", s.PasswordOnly, time.Minute, time.Hour)
	p.between("session.enrolment", s.Enrolment, time.Minute, time.Hour)

	pw := c.Password
	p.atLeast("password.min_length", pw.MinLength, 8)
	if pw.MinLength > 128 {
		p.add("password.min_length", "must be at most 128, got %d", pw.MinLength)
	}
	if pw.MemoryKiB < 19*1024 {
		p.add("password.memory_kib", "must be at least 19456 (19 MiB), got %d", pw.MemoryKiB)
	}
	if pw.Iterations < 2 {
		p.add("password.iterations", "must be at least 2, got %d", pw.Iterations)
	}
	p.atLeast("password.workers", pw.Workers, 0)
	p.positive("password.queue_timeout", pw.QueueTimeout)
	p.atLeast("password.delay_after", pw.DelayAfter, 1)
	p.positive("password.delay_start", pw.DelayStart)
	if pw.DelayMax < pw.DelayStart {
		p.add("password.delay_max", "must be at least password.delay_start (%s)", pw.DelayStart)
	}
	p.atLeast("password.lock_after", pw.LockAfter, pw.DelayAfter)
	p.atLeast("password.ip_failures", pw.IPFailures, 1)
	p.positive("password.ip_fail_window", pw.IPFailWindow)

	if strings.TrimSpace(c.Login.IssuerName) == "" {
		p.add("login.issuer_name", "must be set")
	}
	p.atLeast("login.totp_lock_after", c.Login.TOTPLockAfter, 5)
	if strings.TrimSpace(c.Login.ACR) == "" {
		p.add("login.acr", "must be set")
	}
	if strings.TrimSpace(c.Login.StepUpACR) == "" {
		p.add("login.step_up_acr", "must be set")
	} else if c.Login.StepUpACR == c.Login.ACR {
		p.add("login.step_up_acr", "must differ from login.acr (%q)", c.Login.ACR)
	}

	if d := c.MFA.SelfResetDelay; d < 0 || d > 30*24*time.Hour {
		p.add("mfa.self_reset_delay", "must be between 0 (no wait) and 720h, got %s", d)
	}

	m := c.Mail
	switch m.Driver {
	case "log":
	case "smtp":
		if m.SMTP.Host == "" {
			p.add("mail.smtp.host", "must be set when mail.driver is smtp")
		}
		if m.SMTP.Port < 1 || m.SMTP.Port > 65535 {
			p.add("mail.smtp.port", "must be 1..65535, got %d", m.SMTP.Port)
		}
		if !slices.Contains([]string{"none", "starttls", "tls"}, m.SMTP.TLS) {
			p.add("mail.smtp.tls", "must be none, starttls or tls, got %q", m.SMTP.TLS)
		}
	default:
		p.add("mail.driver", "must be log or smtp, got %q", m.Driver)
	}
	if m.From == "" {
		p.add("mail.from", "must be set")
	} else if _, err := mail.ParseAddress(m.From); err != nil {
		p.add("mail.from", "must be an address such as \"ASN Digital <no-reply@example.go.id>\", got %q", m.From)
	}
	if m.Driver == "smtp" {
		p.positive("mail.smtp.timeout", m.SMTP.Timeout)
	}
	p.atLeast("mail.queue_size", m.QueueSize, 1)
	p.atLeast("mail.attempts", m.Attempts, 1)
	p.positive("mail.retry_delay", m.RetryDelay)
	p.positive("mail.probe_interval", m.ProbeInterval)

	cp := c.Captcha
	if cp.Length < 4 || cp.Length > 10 {
		p.add("captcha.length", "must be 4..10 digits, got %d", cp.Length)
	}
	p.between("captcha.ttl", cp.TTL, time.Minute, time.Hour)
	p.atLeast("captcha.login_after", cp.LoginAfter, 1)
	p.atLeast("captcha.login_ip_after", cp.LoginIPAfter, 1)
	p.atLeast("captcha.login_global_per_hour", cp.LoginGlobalPerHour, 1)

	r := c.Reset
	p.between("reset.code_ttl", r.CodeTTL, time.Minute, time.Hour)
	p.atLeast("reset.code_attempts", r.CodeAttempts, 1)
	if r.FlowTTL < r.CodeTTL || r.FlowTTL > 24*time.Hour {
		p.add("reset.flow_ttl", "must be between reset.code_ttl (%s) and 24h, got %s", r.CodeTTL, r.FlowTTL)
	}
	p.atLeast("reset.sends_per_minute", r.SendsPerMinute, 1)
	p.atLeast("reset.sends_per_hour", r.SendsPerHour, r.SendsPerMinute)
	p.atLeast("reset.sends_per_day", r.SendsPerDay, r.SendsPerHour)
	p.atLeast("reset.ip_requests_per_hour", r.IPRequestsPerHour, 1)
	p.atLeast("reset.ip_code_failures_per_hour", r.IPCodeFailuresPerHour, 1)
	p.atLeast("reset.alert_code_failures_per_hour", r.AlertCodeFailuresPerHour, 1)

	p.admin(c.Admin, c.Listen)

	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		p.add("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	if !slices.Contains([]string{"text", "json"}, c.Log.Format) {
		p.add("log.format", "must be text or json, got %q", c.Log.Format)
	}

	seen := map[string]bool{}
	for i, cl := range c.Clients {
		key := fmt.Sprintf("clients[%d]", i)
		switch {
		case cl.ID == "":
			p.add(key+".id", "must be set")
		case seen[cl.ID]:
			p.add(key+".id", "duplicate client id %q", cl.ID)
		}
		seen[cl.ID] = true
		if cl.Public && cl.Secret != "" {
			p.add(key+".secret", "a public client has no secret")
		}
		keys := cl.JWKSFile != "" || cl.JWKSURI != ""
		switch {
		case keys && cl.Public:
			p.add(key+".jwks_file", "a public client cannot register keys")
		case keys && cl.Secret != "":
			p.add(key+".secret", "a client with jwks_file or jwks_uri authenticates with private_key_jwt and has no secret")
		case cl.JWKSFile != "" && cl.JWKSURI != "":
			p.add(key+".jwks_uri", "set jwks_file or jwks_uri, not both")
		}
		if !cl.Public && !keys && len(cl.Secret) < 16 {
			p.add(key+".secret", "a confidential client needs a secret of at least 16 characters")
		}
		if !slices.Contains([]string{"", "required", "optional"}, cl.PKCE) {
			p.add(key+".pkce", "must be required or optional, got %q", cl.PKCE)
		}
		if !slices.Contains([]string{"", "RS256", "ES256"}, cl.IDTokenAlg) {
			p.add(key+".id_token_signed_response_alg", "must be RS256 or ES256, got %q", cl.IDTokenAlg)
		}
		if !slices.Contains([]string{"", "opaque", "jwt"}, cl.AccessToken) {
			p.add(key+".access_token", "must be opaque or jwt, got %q", cl.AccessToken)
		}
		if cl.Public && cl.PKCE == "optional" {
			p.add(key+".pkce", "a public client must use PKCE")
		}
	}
	return p.list
}

// Bounds of the console's settings: a step-up older than an hour is no
// longer a fresh second factor, and an import file above 1 GiB is more
// than any agency's export (a million rows are about 150 MiB).
const (
	minStepUp    = time.Minute
	maxStepUp    = time.Hour
	minMaxUpload = MiB
	maxMaxUpload = GiB
)

func (p *problems) admin(a Admin, mainListen string) {
	if a.Listen != "" {
		if _, _, err := net.SplitHostPort(a.Listen); err != nil {
			p.add("admin.listen", "must be host:port, or empty to serve the console at /admin on listen; got %q", a.Listen)
		} else if a.Listen == mainListen {
			p.add("admin.listen", "must differ from listen (%s); leave it empty to serve the console at /admin there", mainListen)
		}
	}
	p.between("admin.step_up", a.StepUp, minStepUp, maxStepUp)
	p.between("admin.import_wait", a.ImportWait, 0, time.Minute)
	if a.MaxUpload < minMaxUpload || a.MaxUpload > maxMaxUpload {
		p.add("admin.max_upload", "must be between %s and %s, got %s", minMaxUpload, maxMaxUpload, a.MaxUpload)
	}
}

// IsLoopbackHTTP reports whether u is an http URL on a loopback host, the
// only place plain http is allowed (development and native apps).
func IsLoopbackHTTP(u string) bool {
	parsed, err := url.Parse(u)
	if err != nil || parsed.Scheme != "http" {
		return false
	}
	host := parsed.Hostname()
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func (p *problems) issuer(issuer string) {
	u, err := url.Parse(issuer)
	switch {
	case issuer == "":
		p.add("issuer", "must be set (the public https URL of this server)")
	case err != nil || u.Host == "" || u.Opaque != "":
		p.add("issuer", "must be an absolute URL, got %q", issuer)
	case u.Scheme != "https" && !IsLoopbackHTTP(issuer):
		p.add("issuer", "must use https (plain http only on localhost for development), got %q", issuer)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		p.add("issuer", "must not have a query, fragment or user info")
	case strings.HasSuffix(issuer, "/"):
		p.add("issuer", "must not end with a slash")
	}
}

type problems struct{ list []string }

func (p *problems) add(key, format string, args ...any) {
	p.list = append(p.list, key+": "+fmt.Sprintf(format, args...))
}

func (p *problems) positive(key string, d time.Duration) {
	if d <= 0 {
		p.add(key, "must be a positive duration such as 30s or 10m, got %s", d)
	}
}

func (p *problems) atLeastDuration(key string, d, lowest time.Duration) {
	if d < lowest {
		p.add(key, "must be at least %s, got %s", lowest, d)
	}
}

func (p *problems) between(key string, d, lowest, highest time.Duration) {
	if d < lowest || d > highest {
		p.add(key, "must be between %s and %s, got %s", lowest, highest, d)
	}
}

func (p *problems) atLeast(key string, n, lowest int) {
	if n < lowest {
		p.add(key, "must be at least %d, got %d", lowest, n)
	}
}
