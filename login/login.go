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
	"errors"
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
	"github.com/asnidp/asnidp/internal/mfa"
	"github.com/asnidp/asnidp/internal/password"
	"github.com/asnidp/asnidp/internal/secret"
	"github.com/asnidp/asnidp/internal/session"
	"github.com/asnidp/asnidp/internal/throttle"
	"github.com/asnidp/asnidp/internal/webguard"
	"github.com/asnidp/asnidp/storage"
	"github.com/asnidp/asnidp/templates"
)

// Path is where the pages are mounted.
const Path = "/login/"

// Options are the pages' settings, from config.yaml.
type Options struct {
	Issuer  string
	Cookies cookie.Jar
	// TrustedProxies may set X-Forwarded-For; empty means the socket peer
	// is the client.
	TrustedProxies []netip.Prefix

	SessionAbsolute time.Duration
	// SessionIdle is the idle timeout of SSO sessions, which the account
	// page's list of live sessions applies as the OP does.
	SessionIdle time.Duration
	// PasswordOnly is how long a verified password waits for the second
	// factor.
	PasswordOnly time.Duration
	// Enrolment is how long after the password the authenticator may be
	// enrolled or, on the account page, changed.
	Enrolment time.Duration

	Lockout throttle.Ladder

	// IssuerName is the service's name, which a new password must not
	// contain.
	IssuerName string
	// StepUpACR is the OP's step-up level: a request for it that began in
	// a live SSO session asks only for the second factor and completes in
	// that same session.
	StepUpACR string

	// Captcha, Reset and Policy configure the password reset (account
	// activation) and the captcha after login failures.
	Captcha   Captcha
	Reset     Reset
	SelfReset SelfReset
	Policy    password.Policy
}

// Deps are the parts the pages work with.
type Deps struct {
	Store Store
	// Hasher checks passwords; MAC hashes cookie values and codes.
	Hasher  *password.Hasher
	MAC     *secret.MAC
	Catalog *i18n.Catalog
	// Browsers reads the SSO session and the auth request binding from a
	// request's cookies, as the OP does.
	Browsers *session.Browsers
	// MFA checks and changes the second factor.
	MFA *mfa.Authenticators
	// CallbackURL is the OP's URL that completes auth request id.
	CallbackURL func(id string) string

	Mail  mail.Sender
	Mails *mail.Renderer
	// Outbox queues the reset mails and says whether mail can go out now;
	// nil sends through Mail while the page waits.
	Outbox Outbox
	// Audit records security events; nil records none.
	Audit Auditor

	Now    func() time.Time
	Logger *slog.Logger
}

// Store is the storage the pages call: the methods of storage.Store they
// use and no others. Each behaves as its storage contract says.
type Store interface {
	// Accounts
	UserByID(ctx context.Context, id string) (*storage.User, error)
	UserByNIP(ctx context.Context, nip string) (*storage.User, error)
	RecordLogin(ctx context.Context, userID string, now time.Time) error
	RecordPasswordFailure(ctx context.Context, userID string, lockedUntil time.Time, lock bool, now time.Time) (int, error)
	ReleasePasswordFailure(ctx context.Context, userID string, count int, lockedUntil time.Time, now time.Time) (bool, error)
	ChangePassword(ctx context.Context, c storage.PasswordChange, now time.Time) ([]string, error)

	// The pending login
	AuthRequestByID(ctx context.Context, id string, now time.Time) (*storage.AuthRequest, error)
	RebindAuthRequest(ctx context.Context, id, browserHash string) error
	SetAuthRequestUser(ctx context.Context, id, userID string, at time.Time) error
	SetAuthRequestEnrolment(ctx context.Context, id string, sealedSecret []byte, at time.Time) error
	SetAuthRequestOTP(ctx context.Context, id string, at time.Time) error
	SetAuthRequestRecovery(ctx context.Context, id string, at time.Time) error
	ClearAuthRequestUser(ctx context.Context, id string) error
	CompleteAuthRequest(ctx context.Context, id, sessionID string, authTime time.Time) error

	// SSO sessions
	CreateSession(ctx context.Context, s *storage.Session) error
	SessionByID(ctx context.Context, id string) (*storage.Session, error)
	TouchSession(ctx context.Context, id string, now time.Time) error
	LiveSessions(ctx context.Context, userID string, idle time.Duration, now time.Time) ([]*storage.LiveSession, error)
	EndSession(ctx context.Context, id string, now time.Time) error
	EndOtherSessions(ctx context.Context, userID, keep string, now time.Time) ([]string, error)

	// The account's own security events, for the account page
	AuditEvents(ctx context.Context, f storage.AuditFilter) ([]*storage.AuditEvent, error)

	// Shared counters
	Counter(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
	IncrementCounter(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
	DecrementCounter(ctx context.Context, key string, window time.Duration, now time.Time) error
	ResetCounter(ctx context.Context, key string) error

	// Recovery codes put off
	SkipRecoveryCodes(ctx context.Context, userID string, now time.Time) error

	// Account security: "Bukan saya" links, known browsers, self-resets
	CreateAlertToken(ctx context.Context, t *storage.AlertToken) error
	UseAlertToken(ctx context.Context, tokenHash string, now time.Time) (string, error)
	RecordDevice(ctx context.Context, userID, deviceHash string, now time.Time) (isNew, hadOthers bool, err error)
	StartSelfReset(ctx context.Context, r *storage.SelfReset) error
	ActiveSelfReset(ctx context.Context, userID string) (*storage.SelfReset, error)
	ConfirmSelfReset(ctx context.Context, id, codeHash string, maxAttempts int, eligibleAt, now time.Time) error
	CompleteSelfReset(ctx context.Context, id string, now time.Time) error
	CancelSelfResets(ctx context.Context, userID string, now time.Time) error

	// The password reset
	CreateResetRequest(ctx context.Context, r *storage.ResetRequest) error
	ResetRequestByTokenHash(ctx context.Context, tokenHash string, now time.Time) (*storage.ResetRequest, error)
	IssueResetCode(ctx context.Context, id, codeHash string, expiresAt time.Time, limits []storage.Limit, now time.Time) (time.Time, error)
	ReleaseResetCode(ctx context.Context, id, codeHash string) error
	CheckResetCode(ctx context.Context, id, codeHash string, maxAttempts int, now time.Time) (int, error)
	CompleteReset(ctx context.Context, c storage.ResetCompletion, now time.Time) error

	// Captchas
	CreateCaptcha(ctx context.Context, c *storage.Captcha) error
	CaptchaByID(ctx context.Context, id string, now time.Time) (*storage.Captcha, error)
	UseCaptcha(ctx context.Context, id string, now time.Time) (*storage.Captcha, error)
}

// Handler serves the pages.
type Handler struct {
	opts    Options
	deps    Deps
	store   Store
	hasher  *password.Hasher
	hash    *secret.MAC
	catalog *i18n.Catalog
	pages   *templates.Renderer
	now     func() time.Time
	log     *slog.Logger
	echo    *echo.Echo
}

// New builds the pages' handler.
func New(opts Options, deps Deps) (*Handler, error) {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Outbox == nil {
		deps.Outbox = sendNow{deps.Mail}
	}
	pages, err := templates.NewRenderer(templates.FS, "login", "otp", "enrol", "error", "logout", "account",
		"reset", "reset_email", "reset_code", "reset_password", "reset_done", "recovery", "recovery_codes", "not_me", "selfreset")
	if err != nil {
		return nil, err
	}
	h := &Handler{
		opts: opts, deps: deps, store: deps.Store, hasher: deps.Hasher, hash: deps.MAC, catalog: deps.Catalog,
		pages: pages, now: deps.Now, log: deps.Logger,
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = ipExtractor(opts.TrustedProxies)
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
	h.recoveryRoutes(g)
	h.alertRoutes(g)
	h.selfResetRoutes(g)
	h.accountRoutes(g)
	h.echo = e
	return h, nil
}

// ServeHTTP serves everything under Path.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.echo.ServeHTTP(w, r) }

// layout is what every page shows around its content: the language, the
// title, the messages, and the CSRF token and auth request its form posts.
type layout struct {
	L       *i18n.Localizer
	Title   string
	CSRF    string
	ID      string
	Error   string
	RetryAt string
	Notice  string
	// Query, when set, is the request that shows this page again: the
	// language links repeat it (for pages not under /login/). HideLang
	// drops the links where no link can show the page again.
	Query    url.Values
	HideLang bool
	// Here is the path the language links reload; empty is the URL
	// shown, which is wrong only for a page answering a POST.
	Here string
}

// LangHref is the footer's link to this page in lang.
func (l layout) LangHref(lang string) string {
	q := url.Values{}
	for k, v := range l.Query {
		q[k] = v
	}
	if l.Query == nil && l.ID != "" {
		q.Set("id", l.ID)
	}
	q.Set("lang", lang)
	return l.Here + "?" + q.Encode()
}

func (l *layout) frame() *layout { return l }

// view is the data of one page template: its layout and its own fields.
type view interface{ frame() *layout }

// loginView is the password page's.
type loginView struct {
	layout
	NIP string
	// Captcha is the challenge the form shows, if any.
	Captcha *captchaView
}

// logoutView is the sign-out page's; Done once signed out.
type logoutView struct {
	layout
	Done bool
}

// errorView is the error page's; Message is a catalog key. A refused
// protocol request adds its OAuth error (Code, Description) and the way
// back (Back, labelled by the catalog key BackLabel).
type errorView struct {
	layout
	Message           string
	Code, Description string
	Back, BackLabel   string
}

// toggleView is the show-password button of one field.
type toggleView struct {
	L     *i18n.Localizer
	Field string
}

// Toggle gives the layout's "toggle" template the button for field.
func (l layout) Toggle(field string) toggleView { return toggleView{L: l.L, Field: field} }

// render writes a page with status.
func (h *Handler) render(c echo.Context, status int, name string, v view) error {
	if l := v.frame(); l.L == nil {
		l.L = h.localizer(c, nil)
	}
	if l := v.frame(); l.CSRF == "" {
		l.CSRF = csrfToken(c)
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
	return h.pages.Render(c.Response(), name, v)
}

// langCookie keeps the employee's choice of language for a year.
const langCookie = "asnidp_lang"

// setLanguage stores lang ("id" or "en") as the browser's choice.
func (h *Handler) setLanguage(c echo.Context, lang string) {
	c.SetCookie(h.opts.Cookies.New(langCookie, lang, 365*24*time.Hour, http.SameSiteLaxMode))
}

// localizer picks the language: ?lang=, the lang cookie, the auth
// request's ui_locales, then Indonesian.
func (h *Handler) localizer(c echo.Context, ar *storage.AuthRequest) *i18n.Localizer {
	var uiLocales []string
	if ar != nil {
		uiLocales = ar.UILocales
	}
	return h.localizerFor(c, uiLocales)
}

// localizerFor picks the language from ?lang=, the lang cookie, then the
// languages a relying party asked for.
func (h *Handler) localizerFor(c echo.Context, uiLocales []string) *i18n.Localizer {
	prefs := []string{c.QueryParam("lang")}
	if q := c.QueryParam("lang"); q == "id" || q == "en" {
		h.setLanguage(c, q)
	} else if v := h.opts.Cookies.Value(c.Request(), langCookie); v != "" {
		prefs = append(prefs, v)
	}
	prefs = append(prefs, uiLocales...)
	// Accept-Language is not consulted: the pages speak Indonesian, as the
	// announcement employees follow does, unless they or the service ask
	// for English.
	return h.catalog.Localizer(prefs...)
}

// pageError is an error shown as a localized message (internal/webguard).
type pageError = webguard.PageError

func fail(status int, key string, cause error) error { return webguard.Refuse(status, key, cause) }

// handleError logs the detail once and shows a fixed, localized message:
// never a stack trace or an internal error text.
func (h *Handler) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	pe := &pageError{Status: http.StatusInternalServerError, Key: "error.internal"}
	var he *echo.HTTPError
	switch {
	case errors.As(err, &pe):
	case errors.As(err, &he):
		pe = &pageError{Status: he.Code, Key: "error.bad_request"}
		switch he.Code {
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			pe.Key = "error.not_found"
		case http.StatusRequestEntityTooLarge:
			pe.Key = "error.bad_request"
		}
	case errors.Is(err, password.ErrBusy):
		pe = &pageError{Status: http.StatusServiceUnavailable, Key: "login.busy"}
		c.Response().Header().Set("Retry-After", "5")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		pe = &pageError{Status: http.StatusServiceUnavailable, Key: "error.unavailable"}
	}
	level := slog.LevelInfo
	if pe.Status >= 500 {
		level = slog.LevelError
	}
	h.log.Log(c.Request().Context(), level, "login page error",
		"status", pe.Status, "message", pe.Key, "path", c.Request().URL.Path, "ip", c.RealIP(), "err", err)
	if rerr := h.render(c, pe.Status, "error", &errorView{layout: layout{Title: "error.title"}, Message: pe.Key}); rerr != nil {
		h.log.Error("render error page", "err", rerr)
		c.Response().WriteHeader(pe.Status)
	}
}

func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(int(d.Round(time.Second) / time.Second))
}
