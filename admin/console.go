// Package admin serves the agency console: the pages where operators
// (accounts granted a role with `asnidp operator grant`) follow the
// activation campaign of their agencies and help employees who are stuck.
//
// The console is a relying party of the OP it belongs to: an operator
// signs in through the same login pages, password and authenticator as
// every employee, and the console keeps only a short sealed cookie naming
// the operator's sub. Every request reads the operator's role again
// (internal/access), so a revoked role is refused on the next request.
//
// An action on an account (unlock, reset-mfa, disable, enable) or an
// import takes three steps: the operator states it with a reason; the
// console checks the operator's second factor is fresh (a step-up at the
// OP within Options.StepUp, else it sends the operator through one) and
// answers with a confirmation page carrying an internal/confirm token;
// the confirmation, posted back, is redeemed once and the action runs,
// audited under the operator's sub with the reason.
//
// The agency acted on is always the stored record's (the account's
// instansi, each import row's), never a value of the request.
package admin

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/access"
	"github.com/asnidp/asnidp/internal/confirm"
	"github.com/asnidp/asnidp/internal/cookie"
	"github.com/asnidp/asnidp/internal/i18n"
	"github.com/asnidp/asnidp/internal/provision"
	"github.com/asnidp/asnidp/internal/seal"
	"github.com/asnidp/asnidp/internal/useradmin"
	"github.com/asnidp/asnidp/internal/webguard"
	"github.com/asnidp/asnidp/storage"
	"github.com/asnidp/asnidp/templates"
)

// Path is where the console is mounted, on the main listener or on its
// own.
const Path = "/admin"

// ClientID is the console's client at the OP.
const ClientID = "asnidp-console"

// Cookie base names (internal/cookie adds the __Host- prefix with https).
const (
	sessionCookie = "asnidp_console"
	flowCookie    = "asnidp_console_flow"
	csrfCookie    = "asnidp_console_csrf"
	langCookie    = "asnidp_lang"
)

// Options are the console's settings.
type Options struct {
	// Issuer is the OP's issuer; BaseURL is where the console is reached
	// (the issuer on the main listener, admin.listen's address on its
	// own), Path included nowhere.
	Issuer  string
	BaseURL string
	Cookies cookie.Jar
	// TrustedProxies may set X-Forwarded-For.
	TrustedProxies []netip.Prefix
	// ClientSecret authenticates the console at the token endpoint.
	ClientSecret string
	// StepUpACR is the OP's step-up level (login.step_up_acr); StepUp is
	// how recent its auth_time must be for an action (admin.step_up).
	StepUpACR string
	StepUp    time.Duration
	// SessionLifetime bounds a console session (DefaultSessionLifetime).
	SessionLifetime time.Duration
	// MaxUpload bounds an import file (admin.max_upload).
	MaxUpload int64
	// ImportWait is how long applying an import waits for it before the
	// page shows its progress (DefaultImportWait; negative: at once).
	ImportWait time.Duration
}

// DefaultSessionLifetime is short: a console left open is signed out
// soon, and signing in again inside the SSO session takes one click.
const DefaultSessionLifetime = 30 * time.Minute

// Store is what the console reads and writes, beyond the packages it
// drives.
type Store interface {
	UserByID(ctx context.Context, id string) (*storage.User, error)
	UserByNIP(ctx context.Context, nip string) (*storage.User, error)
	OperatorByUserID(ctx context.Context, userID string) (*storage.Operator, error)
	Operators(ctx context.Context) ([]*storage.Operator, error)
	SessionByID(ctx context.Context, id string) (*storage.Session, error)
	EndSession(ctx context.Context, id string, now time.Time) error
	AuditEvents(ctx context.Context, f storage.AuditFilter) ([]*storage.AuditEvent, error)
	provision.FunnelStore
	provision.Store
	provision.ReportStore
	ActivationTrend(ctx context.Context, f storage.TrendFilter) ([]storage.DayCount, error)
	PendingUsers(ctx context.Context, f storage.PendingFilter, after string, limit int) ([]storage.PendingUser, error)
	ForEachPendingUser(ctx context.Context, f storage.PendingFilter, fn func(*storage.PendingUser) error) error
}

// Auditor records security events (internal/audit.Recorder).
type Auditor interface {
	provision.Auditor
}

// Deps are the parts the console works with.
type Deps struct {
	Store   Store
	Guard   *access.Guard
	Confirm *confirm.Confirmer
	// Accounts returns the account administration acting as actor
	// (useradmin, as the CLI's, with its mail).
	Accounts func(actor string) *useradmin.Admin
	Audit    Auditor
	Sealer   *seal.Sealer
	Catalog  *i18n.Catalog
	// HTTPClient reaches the OP's endpoints (discovery, keys, token).
	HTTPClient *http.Client
	Now        func() time.Time
	Logger     *slog.Logger
}

// Handler serves the console.
type Handler struct {
	opts  Options
	deps  Deps
	store Store
	pages *templates.Renderer
	echo  *echo.Echo
	rp    *party
	jobs  importJobs
}

// pageNames are the console's pages (templates/pages/console_*.html).
var pageNames = []string{"console_error", "console_funnel", "console_agency", "console_pending", "console_lookup",
	"console_employee", "console_confirm", "console_done", "console_import", "console_import_preview", "console_import_progress", "console_audit"}

// New builds the console.
func New(opts Options, deps Deps) (*Handler, error) {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if opts.SessionLifetime <= 0 {
		opts.SessionLifetime = DefaultSessionLifetime
	}
	if opts.ImportWait == 0 {
		opts.ImportWait = DefaultImportWait
	}
	if deps.Store == nil || deps.Guard == nil || deps.Confirm == nil || deps.Accounts == nil || deps.Sealer == nil || deps.Catalog == nil {
		return nil, errors.New("admin.New: store, guard, confirmer, accounts, sealer and catalog are required")
	}
	pages, err := templates.NewLayoutRenderer(templates.FS, "console_layout", funcs, pageNames...)
	if err != nil {
		return nil, err
	}
	h := &Handler{opts: opts, deps: deps, store: deps.Store, pages: pages}
	h.rp = newParty(h)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = webguard.IPExtractor(opts.TrustedProxies)
	e.HTTPErrorHandler = h.handleError
	fail := func(key string) webguard.Fail {
		return func(status int, cause error) error { return fail(status, key, cause) }
	}
	csrf := webguard.CSRF{Jar: opts.Cookies, Cookie: csrfCookie, Origin: webguard.Origin(opts.BaseURL), Fail: fail("console.error.csrf")}
	e.Use(webguard.SecurityHeaders(opts.Cookies.Secure), webguard.LimitBody(opts.MaxUpload+64<<10, fail("console.error.bad_request")), csrf.Middleware)
	g := e.Group(Path)
	g.GET("/login", h.startLogin)
	g.GET("/callback", h.callback)
	g.POST("/logout", h.logout)
	in := g.Group("", h.signedIn)
	in.GET("", h.home)
	in.GET("/", h.home)
	in.GET("/agency", h.agency)
	in.GET("/pending", h.pending)
	in.GET("/pending.csv", h.pendingCSV)
	in.GET("/employee", h.employee)
	in.POST("/employee/action", h.stateAction)
	in.POST("/employee/confirm", h.confirmAction)
	in.POST("/stepup", h.startStepUp)
	in.GET("/import", h.importForm)
	in.POST("/import", h.importUpload)
	in.POST("/import/apply", h.importApply)
	in.GET("/import/progress", h.importProgress)
	in.GET("/audit", h.auditView)
	in.GET("/audit.csv", h.auditCSV)
	h.echo = e
	return h, nil
}

// ServeHTTP serves everything under Path.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.echo.ServeHTTP(w, r) }

// RedirectURI is the console's callback, registered for its client.
func RedirectURI(baseURL string) string { return strings.TrimRight(baseURL, "/") + Path + "/callback" }

// HomeURL is the console's first page, where sign-out lands.
func HomeURL(baseURL string) string { return strings.TrimRight(baseURL, "/") + Path + "/" }

func (h *Handler) now() time.Time { return h.deps.Now() }

// funcs are the helpers of the console's templates.
var funcs = template.FuncMap{
	"num": func(n int) string { return groupDigits(n) },
	"pct": func(part, whole int) string {
		if whole == 0 {
			return "–"
		}
		return strconv.FormatFloat(float64(part)*100/float64(whole), 'f', 1, 64) + " %"
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.In(wib).Format("2006-01-02 15:04") + " WIB"
	},
}

// wib is Western Indonesia Time, the console's clock (UTC+7, no DST).
var wib = time.FixedZone("WIB", 7*3600)

// groupDigits writes n with a dot between thousands, as Indonesian does.
func groupDigits(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte('.')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// layout is what every console page shows around its content.
type layout struct {
	L        *i18n.Localizer
	Title    string
	CSRF     string
	Operator *storage.Operator
	Error    string
	Notice   string
	// Refresh, when set, reloads the page after that many seconds.
	Refresh int
	// Here is the page's path and query, for the language links.
	Here string
}

// LangHref is this page in lang.
func (l layout) LangHref(lang string) string {
	sep := "?"
	if strings.Contains(l.Here, "?") {
		sep = "&"
	}
	return l.Here + sep + "lang=" + lang
}

// Can reports whether the operator's role has action somewhere (the menu
// shows only what the role can do; each request is still authorized).
func (l layout) Can(action string) bool {
	if l.Operator == nil {
		return false
	}
	switch l.Operator.Role {
	case storage.RoleNational, storage.RoleAgency:
		return true
	case storage.RoleHelpdesk:
		return action == string(access.Lookup)
	}
	return false
}

func (l *layout) frame() *layout { return l }

type view interface{ frame() *layout }

// render writes a page with status.
func (h *Handler) render(c echo.Context, status int, name string, v view) error {
	l := v.frame()
	if l.L == nil {
		l.L = h.localizer(c)
	}
	l.CSRF = webguard.Token(c)
	if l.Operator == nil {
		l.Operator = operatorOf(c)
	}
	if l.Here == "" {
		q := c.Request().URL.Query()
		q.Del("lang")
		l.Here = c.Request().URL.Path
		if enc := q.Encode(); enc != "" && c.Request().Method == http.MethodGet {
			l.Here += "?" + enc
		}
		if c.Request().Method != http.MethodGet || l.Here == Path+"/callback" || strings.HasPrefix(l.Here, Path+"/callback?") {
			l.Here = Path + "/" // a form's answer, or a code, is not shown again
		}
	}
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	var buf strings.Builder
	if err := h.pages.Render(&buf, name, v); err != nil {
		return err
	}
	c.Response().WriteHeader(status)
	_, err := c.Response().Write([]byte(buf.String()))
	return err
}

// localizer picks the language: ?lang= (then kept in the same cookie as
// the login pages'), the cookie, then Indonesian.
func (h *Handler) localizer(c echo.Context) *i18n.Localizer {
	q := c.QueryParam("lang")
	prefs := []string{q}
	if q == "id" || q == "en" {
		c.SetCookie(h.opts.Cookies.New(langCookie, q, 365*24*time.Hour, http.SameSiteLaxMode))
	} else if v := h.opts.Cookies.Value(c.Request(), langCookie); v != "" {
		prefs = append(prefs, v)
	}
	return h.deps.Catalog.Localizer(prefs...)
}

// pageError is an error shown as a localized message (internal/webguard).
type pageError = webguard.PageError

func fail(status int, key string, cause error) error { return webguard.Refuse(status, key, cause) }

// denied is the answer to a request the role does not allow: 403 and
// nothing of the target (the guard has audited it).
func denied(err error) error {
	if errors.Is(err, access.ErrDenied) {
		return fail(http.StatusForbidden, "console.error.denied", err)
	}
	return err
}

type errorView struct {
	layout
	Message string
}

// handleError logs the detail once and shows a fixed, localized message.
func (h *Handler) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	pe := &pageError{Status: http.StatusInternalServerError, Key: "console.error.internal"}
	var he *echo.HTTPError
	switch {
	case errors.As(err, &pe):
	case errors.As(err, &he):
		pe = &pageError{Status: he.Code, Key: "console.error.bad_request"}
		if he.Code == http.StatusNotFound || he.Code == http.StatusMethodNotAllowed {
			pe.Key = "console.error.not_found"
		}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		pe = &pageError{Status: http.StatusServiceUnavailable, Key: "console.error.unavailable"}
	}
	level := slog.LevelInfo
	if pe.Status >= 500 {
		level = slog.LevelError
	}
	h.deps.Logger.Log(c.Request().Context(), level, "console error",
		"status", pe.Status, "message", pe.Key, "path", c.Request().URL.Path, "ip", c.RealIP(), "err", err)
	if rerr := h.render(c, pe.Status, "console_error", &errorView{layout: layout{Title: "console.error.title", Here: Path + "/"}, Message: pe.Key}); rerr != nil {
		h.deps.Logger.Error("render console error page", "err", rerr)
		c.Response().WriteHeader(pe.Status)
	}
}
