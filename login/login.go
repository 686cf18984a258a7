// Package login serves the hosted pages an employee sees: sign-in with NIP
// and password, the second factor, and sign-out.
//
// The pages never talk to the OIDC library. They load the authorization
// request the OP stored, check it belongs to this browser, record each
// verified factor on it, and send the browser to the OP's callback URL,
// which issues the code only when every factor is recorded.
package login

import (
	"context"
	"crypto/rand"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/cookie"
	"github.com/asnidp/asnidp/internal/i18n"
	"github.com/asnidp/asnidp/internal/mail"
	"github.com/asnidp/asnidp/internal/password"
	"github.com/asnidp/asnidp/internal/seal"
	"github.com/asnidp/asnidp/internal/secret"
	"github.com/asnidp/asnidp/storage"
	"github.com/asnidp/asnidp/templates"
)

// Path is where the pages are mounted.
const Path = "/login/"

// Config is what the pages need from config.yaml.
type Config struct {
	Issuer string
	// CallbackURL is the OP's URL that completes auth request id.
	CallbackURL func(id string) string
	Cookies     cookie.Jar
	// TrustedProxies may set X-Forwarded-For; empty means the socket peer
	// is the client.
	TrustedProxies []netip.Prefix

	SessionIdle     time.Duration
	SessionAbsolute time.Duration
	// PasswordOnly is how long a verified password waits for the second
	// factor.
	PasswordOnly time.Duration

	Lockout Lockout

	// Enrolment is how long after the password the authenticator may be
	// enrolled; TOTPLockAfter consecutive wrong codes lock it.
	Enrolment     time.Duration
	TOTPLockAfter int
	// IssuerName is what authenticator apps show for the account.
	IssuerName string
	// Sealer seals authenticator seeds; Rand makes them.
	Sealer *seal.Sealer
	Rand   io.Reader

	Mail  mail.Sender
	Mails *mail.Renderer
	// Outbox queues the reset mails and says whether mail can go out now;
	// nil sends through Mail while the page waits.
	Outbox Outbox

	// Captcha, Reset and Policy configure the password reset (account
	// activation) and the captcha after login failures.
	Captcha Captcha
	Reset   Reset
	Policy  password.Policy

	// Audit records security events; nil records none.
	Audit Auditor

	Now    func() time.Time
	Logger *slog.Logger
}

// Lockout is the password failure ladder of DESIGN §6.
type Lockout struct {
	// DelayAfter consecutive failures start a delay of DelayStart,
	// doubling per further failure up to DelayMax.
	DelayAfter int
	DelayStart time.Duration
	DelayMax   time.Duration
	// LockAfter consecutive failures lock the password until a reset.
	LockAfter int
	// IPFailures failures from one client IP within IPWindow block it.
	IPFailures int
	IPWindow   time.Duration
}

// Store is the storage the pages use.
type Store interface {
	storage.UserStore
	storage.AuthRequestStore
	storage.SessionStore
	storage.TokenStore
	storage.CounterStore
	storage.LogoutStore
	storage.ResetStore
	storage.CaptchaStore
}

// Handler serves the pages.
type Handler struct {
	cfg     Config
	store   Store
	hasher  *password.Hasher
	hash    *secret.Hasher
	catalog *i18n.Catalog
	pages   *templates.Renderer
	now     func() time.Time
	log     *slog.Logger
	echo    *echo.Echo
}

// New builds the pages' handler.
func New(cfg Config, store Store, hasher *password.Hasher, hash *secret.Hasher, catalog *i18n.Catalog) (*Handler, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Outbox == nil {
		cfg.Outbox = sendNow{cfg.Mail}
	}
	pages, err := templates.NewRenderer(templates.FS, "login", "otp", "enrol", "error", "logout", "account",
		"reset", "reset_email", "reset_code", "reset_password", "reset_done")
	if err != nil {
		return nil, err
	}
	h := &Handler{
		cfg: cfg, store: store, hasher: hasher, hash: hash, catalog: catalog,
		pages: pages, now: cfg.Now, log: cfg.Logger,
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = ipExtractor(cfg.TrustedProxies)
	e.HTTPErrorHandler = h.handleError
	e.Use(h.securityHeaders, h.limitBody, h.csrf)
	g := e.Group("/login")
	g.GET("/", h.showLogin)
	g.POST("/", h.submitLogin)
	g.GET("/otp", h.showOTP)
	g.POST("/otp", h.submitOTP)
	g.GET("/enrol", h.showEnrol)
	g.POST("/enrol", h.submitEnrol)
	g.GET("/logout", h.showLogout)
	g.POST("/logout", h.submitLogout)
	h.resetRoutes(g)
	h.accountRoutes(g)
	h.echo = e
	return h, nil
}

// ServeHTTP serves everything under Path.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.echo.ServeHTTP(w, r) }

// page is the data every page template gets.
type page struct {
	L       *i18n.Localizer
	Title   string
	CSRF    string
	ID      string
	Error   string
	RetryAt string
	Notice  string
	NIP     string
	Message string
	Done    bool

	// Enrolment page: the QR code image, the otpauth link and the seed
	// for manual entry.
	QR     template.URL
	KeyURL template.URL
	Secret string
	// Action is where the enrolment form posts (the login's enrolment by
	// default, or the change of authenticator).
	Action string

	// Captcha is the challenge a form shows, if any; MinLength and Minutes
	// fill the reset pages' help texts.
	Captcha   *captchaView
	MinLength int
	Minutes   int
}

// render writes a page with status.
func (h *Handler) render(c echo.Context, status int, name string, p page) error {
	if p.L == nil {
		p.L = h.localizer(c, nil)
	}
	if p.CSRF == "" {
		p.CSRF = csrfToken(c)
	}
	// A form's answer may redirect on to the relying party, and browsers
	// apply form-action to every redirect after a post: allow the origin
	// of the bound auth request's redirect URI.
	if ar, ok := c.Get(authRequestKey).(*storage.AuthRequest); ok {
		if u, err := url.Parse(ar.RedirectURI); err == nil && u.Host != "" {
			c.Response().Header().Set("Content-Security-Policy",
				strings.Replace(contentSecurityPolicy, "form-action 'self'", "form-action 'self' "+u.Scheme+"://"+u.Host, 1))
		}
	}
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	return h.pages.Render(c.Response(), name, p)
}

// localizer picks the language: ?lang=, the lang cookie, the auth
// request's ui_locales, then Accept-Language.
func (h *Handler) localizer(c echo.Context, ar *storage.AuthRequest) *i18n.Localizer {
	prefs := []string{c.QueryParam("lang")}
	if q := c.QueryParam("lang"); q == "id" || q == "en" {
		c.SetCookie(h.cfg.Cookies.New("asnidp_lang", q, 365*24*time.Hour, http.SameSiteLaxMode))
	} else if v := h.cfg.Cookies.Value(c.Request(), "asnidp_lang"); v != "" {
		prefs = append(prefs, v)
	}
	if ar != nil {
		prefs = append(prefs, ar.UILocales...)
	}
	prefs = append(prefs, c.Request().Header.Get("Accept-Language"))
	return h.catalog.Localizer(prefs...)
}

// pageError is an error the employee sees as a localized message.
type pageError struct {
	status int
	key    string
	cause  error
}

func (e *pageError) Error() string {
	if e.cause != nil {
		return e.key + ": " + e.cause.Error()
	}
	return e.key
}

func (e *pageError) Unwrap() error { return e.cause }

func fail(status int, key string, cause error) error {
	return &pageError{status: status, key: key, cause: cause}
}

// handleError logs the detail once and shows a fixed, localized message:
// never a stack trace or an internal error text.
func (h *Handler) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	pe := &pageError{status: http.StatusInternalServerError, key: "error.internal"}
	var he *echo.HTTPError
	switch {
	case errors.As(err, &pe):
	case errors.As(err, &he):
		pe = &pageError{status: he.Code, key: "error.bad_request"}
		switch he.Code {
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			pe.key = "error.not_found"
		case http.StatusRequestEntityTooLarge:
			pe.key = "error.bad_request"
		}
	case errors.Is(err, password.ErrBusy):
		pe = &pageError{status: http.StatusServiceUnavailable, key: "login.busy"}
		c.Response().Header().Set("Retry-After", "5")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		pe = &pageError{status: http.StatusServiceUnavailable, key: "error.unavailable"}
	}
	level := slog.LevelInfo
	if pe.status >= 500 {
		level = slog.LevelError
	}
	h.log.Log(c.Request().Context(), level, "login page error",
		"status", pe.status, "message", pe.key, "path", c.Request().URL.Path, "ip", c.RealIP(), "err", err)
	if rerr := h.render(c, pe.status, "error", page{Title: "error.title", Message: pe.key}); rerr != nil {
		h.log.Error("render error page", "err", rerr)
		c.Response().WriteHeader(pe.status)
	}
}

func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(int(d.Round(time.Second) / time.Second))
}
