// Package config is the schema of config.yaml: plain structs, their
// defaults, loading (YAML file, then ASNIDP_ environment overrides) and
// validation that names every bad key by its YAML path in one error.
//
// Only cmd/asnidp imports this package; it translates the structs into each
// package's own options, so no package reads settings it does not own.
package config

import (
	"time"
)

// Config is the whole of config.yaml.
type Config struct {
	// Issuer is the static OIDC issuer URL; never derived from requests.
	Issuer string `koanf:"issuer"`
	// Listen is the address the HTTP server binds.
	Listen string `koanf:"listen"`
	// MasterKey (base64, >= 32 bytes) seals signing keys and TOTP seeds.
	// The value DevMasterKey is accepted only with a loopback http issuer.
	MasterKey string `koanf:"master_key"`
	// TrustedProxies lists the CIDRs whose X-Forwarded-For is believed;
	// empty means the socket peer is the client IP.
	TrustedProxies []string `koanf:"trusted_proxies"`

	Database Database `koanf:"database"`
	Tokens   Tokens   `koanf:"tokens"`
	OAuth    OAuth    `koanf:"oauth"`
	Keys     Keys     `koanf:"keys"`
	Session  Session  `koanf:"session"`
	Password Password `koanf:"password"`
	Login    Login    `koanf:"login"`
	MFA      MFA      `koanf:"mfa"`
	Mail     Mail     `koanf:"mail"`
	Captcha  Captcha  `koanf:"captcha"`
	Reset    Reset    `koanf:"reset"`
	Admin    Admin    `koanf:"admin"`
	Log      Log      `koanf:"log"`
	Clients  []Client `koanf:"clients"`
}

// Database selects the engine.
type Database struct {
	Driver          string        `koanf:"driver"` // sqlite | postgres
	DSN             string        `koanf:"dsn"`    // sqlite: file path
	MaxOpenConns    int           `koanf:"max_open_conns"`
	MaxIdleConns    int           `koanf:"max_idle_conns"`
	ConnMaxLifetime time.Duration `koanf:"conn_max_lifetime"`
	// ConnectTimeout bounds how long start-up waits for the database.
	ConnectTimeout time.Duration `koanf:"connect_timeout"`
	// PruneInterval is how often expired rows are deleted.
	PruneInterval time.Duration `koanf:"prune_interval"`
	// ClientCache bounds how long a client changed by another process (the
	// CLI, another `asnidp serve`) may still be served from memory.
	ClientCache time.Duration `koanf:"client_cache"`
}

// Tokens holds protocol lifetimes.
type Tokens struct {
	AccessToken time.Duration `koanf:"access_token"`
	IDToken     time.Duration `koanf:"id_token"`
	Code        time.Duration `koanf:"code"`
	AuthRequest time.Duration `koanf:"auth_request"`
	// OfflineRefreshToken is the absolute lifetime of a refresh token
	// family. Refresh tokens are issued only for offline_access (OIDC Core
	// §11); logging out still revokes them.
	OfflineRefreshToken time.Duration `koanf:"offline_refresh_token"`
}

// OAuth holds protocol rules that apply to every client.
type OAuth struct {
	// RequirePushedAuthorizationRequests makes every client push its
	// authorization requests (RFC 9126); discovery says so.
	RequirePushedAuthorizationRequests bool `koanf:"require_pushed_authorization_requests"`
	// JWKSCache is how long a key set fetched from a client's jwks_uri is
	// used before it is fetched again.
	JWKSCache time.Duration `koanf:"jwks_cache"`
}

// Keys configures signing key rotation.
type Keys struct {
	RotationPeriod  time.Duration `koanf:"rotation_period"`
	PublishLead     time.Duration `koanf:"publish_lead"`
	Retention       time.Duration `koanf:"retention"`
	RefreshInterval time.Duration `koanf:"refresh_interval"`
}

// Session configures SSO session lifetimes.
type Session struct {
	Idle         time.Duration `koanf:"idle"`
	Absolute     time.Duration `koanf:"absolute"`
	PasswordOnly time.Duration `koanf:"password_only"`
	Enrolment    time.Duration `koanf:"enrolment"`
}

// Password configures hashing and the lockout ladder.
type Password struct {
	MinLength    int           `koanf:"min_length"`
	MemoryKiB    uint32        `koanf:"memory_kib"`
	Iterations   uint32        `koanf:"iterations"`
	Workers      int           `koanf:"workers"`
	QueueTimeout time.Duration `koanf:"queue_timeout"`
	DelayAfter   int           `koanf:"delay_after"`
	DelayStart   time.Duration `koanf:"delay_start"`
	DelayMax     time.Duration `koanf:"delay_max"`
	LockAfter    int           `koanf:"lock_after"`
	IPFailures   int           `koanf:"ip_failures"`
	IPFailWindow time.Duration `koanf:"ip_fail_window"`
}

// Login configures the hosted pages.
type Login struct {
	// IssuerName is what authenticator apps show for the account.
	IssuerName string `koanf:"issuer_name"`
	// ACR is the acr value ID tokens carry after both factors.
	ACR string `koanf:"acr"`
	// StepUpACR is the acr value a client asks for (in acr_values) when it
	// needs the second factor entered in this very authorization, even
	// inside a live SSO session: the provider then asks for the code
	// again, not for the password.
	StepUpACR string `koanf:"step_up_acr"`
	// TOTPLockAfter consecutive wrong authenticator codes lock the
	// authenticator until an operator or an email reset releases it.
	TOTPLockAfter int `koanf:"totp_lock_after"`
}

// MFA configures the employee's own way back from a lost authenticator
// when no recovery code is at hand.
type MFA struct {
	// SelfReset lets an employee replace a lost authenticator with the
	// password, a code mailed to the registered address and a wait.
	SelfReset bool `koanf:"self_reset"`
	// SelfResetDelay is the wait between the confirmed mail code and the
	// new enrolment, in which the owner is mailed and can cancel; 0 lets
	// the same sign-in continue.
	SelfResetDelay time.Duration `koanf:"self_reset_delay"`
}

// Mail selects how mail leaves the process. Pages queue mail and return;
// a queued mail is tried Attempts times, pausing RetryDelay (doubling)
// between attempts.
type Mail struct {
	Driver string `koanf:"driver"` // log | smtp
	From   string `koanf:"from"`
	SMTP   SMTP   `koanf:"smtp"`

	QueueSize  int           `koanf:"queue_size"`
	Attempts   int           `koanf:"attempts"`
	RetryDelay time.Duration `koanf:"retry_delay"`
	// ProbeInterval is how often a mail server that stopped taking mail
	// is checked again; meanwhile pages say no code can be sent.
	ProbeInterval time.Duration `koanf:"probe_interval"`
}

// SMTP is the smtp driver's server.
type SMTP struct {
	Host     string `koanf:"host"`
	Port     int    `koanf:"port"`
	Username string `koanf:"username"`
	Password string `koanf:"password"`
	TLS      string `koanf:"tls"` // none | starttls | tls
	// Timeout bounds connecting and each SMTP command.
	Timeout time.Duration `koanf:"timeout"`
}

// Captcha configures the self-hosted captcha of the reset (activation)
// start page and of the login after failures.
type Captcha struct {
	// Enabled false is for tests and deployments with other bot
	// protection; start-up warns.
	Enabled bool          `koanf:"enabled"`
	Length  int           `koanf:"length"`
	TTL     time.Duration `koanf:"ttl"`
	// LoginAfter consecutive password failures of one account make its
	// next login attempts need a captcha.
	LoginAfter int `koanf:"login_after"`
	// LoginIPAfter password failures from one client IP within
	// password.ip_fail_window make every login from it need a captcha.
	LoginIPAfter int `koanf:"login_ip_after"`
	// LoginGlobalPerHour password failures of all accounts within an hour
	// make every login need a captcha, and raise an alert in the log.
	LoginGlobalPerHour int `koanf:"login_global_per_hour"`
}

// Reset configures the password reset that also activates accounts.
type Reset struct {
	// CodeTTL is how long an emailed code is valid; CodeAttempts wrong
	// codes void it.
	CodeTTL      time.Duration `koanf:"code_ttl"`
	CodeAttempts int           `koanf:"code_attempts"`
	// FlowTTL is how long one browser's reset may take in all.
	FlowTTL time.Duration `koanf:"flow_ttl"`
	// Codes sent per NIP, whatever browser asks.
	SendsPerMinute int `koanf:"sends_per_minute"`
	SendsPerHour   int `koanf:"sends_per_hour"`
	SendsPerDay    int `koanf:"sends_per_day"`
	// IPRequestsPerHour bounds the NIP and email steps submitted from one
	// client IP; IPCodeFailuresPerHour bounds its wrong codes.
	IPRequestsPerHour     int `koanf:"ip_requests_per_hour"`
	IPCodeFailuresPerHour int `koanf:"ip_code_failures_per_hour"`
	// AlertCodeFailuresPerHour wrong codes of all employees within an hour
	// raise an alert in the log.
	AlertCodeFailuresPerHour int `koanf:"alert_code_failures_per_hour"`
}

// Admin configures the agency console, where operators (`asnidp
// operator grant`) run the activation campaign of their agencies.
type Admin struct {
	// Listen, when set, serves the console on its own address (host:port),
	// so it can stay off the public network; empty serves it under /admin
	// on the main listener.
	Listen string `koanf:"listen"`
	// StepUp is how recent the operator's second factor must be for an
	// action on an account (unlock, reset-mfa, disable, enable, import);
	// an older one is asked for again.
	StepUp time.Duration `koanf:"step_up"`
	// MaxUpload bounds an uploaded import file.
	MaxUpload ByteSize `koanf:"max_upload"`
	// ImportWait is how long applying an import waits for the result
	// before the page shows the import's progress; 0 shows it at once.
	ImportWait time.Duration `koanf:"import_wait"`
}

// Log configures slog.
type Log struct {
	Level  string `koanf:"level"`  // debug | info | warn | error
	Format string `koanf:"format"` // text | json
}

// Client is a relying party declared in config.yaml and synced at start.
type Client struct {
	ID   string `koanf:"id"`
	Name string `koanf:"name"`
	// Secret is the confidential client's secret; prefer an
	// ASNIDP_CLIENTS_<n>_SECRET style override or `client add` in production.
	Secret                 string   `koanf:"secret"`
	Public                 bool     `koanf:"public"`
	RedirectURIs           []string `koanf:"redirect_uris"`
	PostLogoutRedirectURIs []string `koanf:"post_logout_redirect_uris"`
	GrantTypes             []string `koanf:"grant_types"`
	PKCE                   string   `koanf:"pkce"` // required (default) | optional
	BackchannelLogoutURI   string   `koanf:"backchannel_logout_uri"`
	// JWKSFile or JWKSURI registers the client's public keys; the client
	// then authenticates with private_key_jwt and has no secret.
	JWKSFile string `koanf:"jwks_file"`
	JWKSURI  string `koanf:"jwks_uri"`
	// RequirePAR makes the client push its authorization requests.
	RequirePAR bool `koanf:"require_par"`
	// IDTokenAlg is id_token_signed_response_alg: RS256 (default) or
	// ES256, for ID tokens, JWT access tokens and logout tokens.
	IDTokenAlg string `koanf:"id_token_signed_response_alg"`
	// AccessToken is the access token format: opaque (default) or jwt
	// (RFC 9068).
	AccessToken string `koanf:"access_token"`
}

// DevMasterKey is the master key of the checked-in development config.
// It is public, so it is refused unless the issuer is http on loopback.
const DevMasterKey = "INSECURE-DEVELOPMENT-KEY-change-me-before-any-real-use"

// Default returns the configuration used for any key a file leaves out.
func Default() Config {
	return Config{
		Issuer: "http://localhost:8080",
		Listen: "127.0.0.1:8080",
		Database: Database{
			Driver:          "sqlite",
			DSN:             "data/asnidp.db",
			MaxOpenConns:    16,
			MaxIdleConns:    16,
			ConnMaxLifetime: time.Hour,
			ConnectTimeout:  30 * time.Second,
			PruneInterval:   5 * time.Minute,
			ClientCache:     time.Second,
		},
		Tokens: Tokens{
			AccessToken:         10 * time.Minute,
			IDToken:             10 * time.Minute,
			Code:                60 * time.Second,
			AuthRequest:         30 * time.Minute,
			OfflineRefreshToken: 30 * 24 * time.Hour,
		},
		OAuth: OAuth{JWKSCache: 5 * time.Minute},
		Keys: Keys{
			RotationPeriod:  30 * 24 * time.Hour,
			PublishLead:     time.Hour,
			Retention:       time.Hour,
			RefreshInterval: 30 * time.Second,
		},
		Session: Session{
			Idle:         30 * time.Minute,
			Absolute:     12 * time.Hour,
			PasswordOnly: 5 * time.Minute,
			Enrolment:    10 * time.Minute,
		},
		Password: Password{
			MinLength:    12,
			MemoryKiB:    19 * 1024,
			Iterations:   2,
			QueueTimeout: 5 * time.Second,
			DelayAfter:   5,
			DelayStart:   30 * time.Second,
			DelayMax:     15 * time.Minute,
			LockAfter:    100,
			IPFailures:   50,
			IPFailWindow: time.Hour,
		},
		Login: Login{
			IssuerName:    "ASN Digital",
			ACR:           "urn:asn:loa:mfa",
			StepUpACR:     "urn:asn:loa:mfa-fresh",
			TOTPLockAfter: 100,
		},
		MFA: MFA{SelfReset: true, SelfResetDelay: 24 * time.Hour},
		Mail: Mail{
			Driver: "log",
			From:   "ASN Digital <no-reply@localhost>",
			SMTP:   SMTP{Port: 587, TLS: "starttls", Timeout: 30 * time.Second},

			QueueSize:     1000,
			Attempts:      5,
			RetryDelay:    30 * time.Second,
			ProbeInterval: 30 * time.Second,
		},
		Captcha: Captcha{
			Enabled:            true,
			Length:             6,
			TTL:                10 * time.Minute,
			LoginAfter:         3,
			LoginIPAfter:       10,
			LoginGlobalPerHour: 1000,
		},
		Reset: Reset{
			CodeTTL:                  10 * time.Minute,
			CodeAttempts:             5,
			FlowTTL:                  30 * time.Minute,
			SendsPerMinute:           1,
			SendsPerHour:             5,
			SendsPerDay:              10,
			IPRequestsPerHour:        30,
			IPCodeFailuresPerHour:    20,
			AlertCodeFailuresPerHour: 100,
		},
		Admin: Admin{StepUp: 10 * time.Minute, MaxUpload: 50 * MiB, ImportWait: 2 * time.Second},
		Log:   Log{Level: "info", Format: "text"},
	}
}
