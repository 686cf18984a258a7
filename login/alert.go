package login

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/alert"
	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/cookie"
	"github.com/asnidp/asnidp/internal/mail"
	"github.com/asnidp/asnidp/internal/secret"
	"github.com/asnidp/asnidp/internal/useragent"
	"github.com/asnidp/asnidp/storage"
)

// Security mails and their "Bukan saya?" link (E4). Every mail about a
// change to an account's sign-in (new browser, authenticator added or
// replaced, recovery code used, self-reset started) carries a one-time
// link. It opens a page whose one button ends every session of the
// account, with its tokens and back-channel logouts, cancels a pending
// self-reset, and sends the employee to the password reset. The token is
// random, stored as a keyed hash, bound to the account, expires after
// alert.TTL and works once (internal/alert); using it is audited.

// deviceCookieTTL keeps a browser known for a year of sign-ins.
const deviceCookieTTL = 400 * 24 * time.Hour

func (h *Handler) alertRoutes(g *echo.Group) {
	g.GET("/not-me", h.showNotMe)
	g.POST("/not-me", h.submitNotMe)
}

// notMeView is the page of a "Bukan saya?" link; Done once used.
type notMeView struct {
	layout
	Token string
	Done  bool
}

// securityMail sends mail name to u with a "Bukan saya?" link in its
// not_me_url field, adding fields of its own. Like sendMail, a mail that
// cannot be sent is logged, never shown.
func (h *Handler) securityMail(ctx context.Context, c echo.Context, u *storage.User, name string, fields map[string]string) {
	d := mail.Data{Name: u.Name, NIP: u.NIP, Fields: map[string]string{}}
	for k, v := range fields {
		d.Fields[k] = v
	}
	h.addNotMeLink(ctx, u, name, &d)
	h.sendMail(ctx, c, u, name, d)
}

// addNotMeLink puts a fresh "Bukan saya?" link for u in d's not_me_url
// field. Without it (the database failed) the mail still goes, with the
// plain "not you?" advice.
func (h *Handler) addNotMeLink(ctx context.Context, u *storage.User, purpose string, d *mail.Data) {
	link, err := h.links().New(ctx, u, purpose)
	if err != nil {
		h.log.WarnContext(ctx, "the mail goes without its not-me link", "mail", purpose, "sub", u.ID, "err", err)
		return
	}
	if d.Fields == nil {
		d.Fields = map[string]string{}
	}
	d.Fields["not_me_url"] = link
}

func (h *Handler) links() *alert.Links {
	return &alert.Links{Store: h.store, MAC: h.hash, Issuer: h.opts.Issuer, Now: h.now}
}

func (h *Handler) showNotMe(c echo.Context) error {
	v := notMeView{layout: layout{Title: "notme.title"}, Token: c.QueryParam("t")}
	if v.Token == "" || len(v.Token) > 128 {
		return fail(http.StatusNotFound, "notme.invalid", errors.New("no not-me token"))
	}
	return h.render(c, http.StatusOK, "not_me", &v)
}

func (h *Handler) submitNotMe(c echo.Context) error {
	ctx := c.Request().Context()
	token := c.FormValue("t")
	if token == "" || len(token) > 128 {
		return fail(http.StatusNotFound, "notme.invalid", errors.New("no not-me token"))
	}
	userID, err := h.store.UseAlertToken(ctx, h.links().Hash(token), h.now())
	if errors.Is(err, storage.ErrNotFound) {
		h.log.WarnContext(ctx, "not-me link refused: unknown, used or expired", "ip", c.RealIP())
		h.record(c, storage.AuditEvent{Type: audit.AccountNotMe, Outcome: audit.Failure, Reason: "unknown, used or expired link"})
		return fail(http.StatusNotFound, "notme.invalid", err)
	}
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	u, err := h.store.UserByID(ctx, userID)
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	// This browser's cookie named one of the sessions just ended.
	c.SetCookie(h.opts.Cookies.Clear(cookie.Session, http.SameSiteLaxMode))
	h.log.WarnContext(ctx, "employee reported a sign-in that was not theirs: every session ended", "sub", u.ID, "ip", c.RealIP())
	h.record(c, storage.AuditEvent{Type: audit.AccountNotMe, NIP: u.NIP, UserID: u.ID, Reason: "every session ended"})
	return h.render(c, http.StatusOK, "not_me", &notMeView{layout: layout{Title: "notme.done_title"}, Done: true})
}

// noteDevice names this browser with the device cookie and mails the
// employee when the account signs in from a browser it has not used
// before (not on its very first sign-in, which has nothing to compare).
func (h *Handler) noteDevice(c echo.Context, u *storage.User) {
	ctx := c.Request().Context()
	value := h.opts.Cookies.Value(c.Request(), cookie.Device)
	if len(value) < 20 || len(value) > 64 {
		value = secret.Token()
	}
	c.SetCookie(h.opts.Cookies.New(cookie.Device, value, deviceCookieTTL, http.SameSiteStrictMode))
	isNew, hadOthers, err := h.store.RecordDevice(ctx, u.ID, h.hash.Hash("device:"+value), h.now())
	if err != nil {
		h.log.WarnContext(ctx, "record device", "sub", u.ID, "err", err)
		return
	}
	if !isNew || !hadOthers {
		return
	}
	h.log.InfoContext(ctx, "sign-in from a new browser", "sub", u.ID, "ip", c.RealIP())
	h.securityMail(ctx, c, u, "new_device", map[string]string{
		"browser": describeBrowser(c.Request().UserAgent()),
		"ip":      c.RealIP(),
		"time":    h.now().In(jakarta).Format("2 January 2006 15:04 MST"),
	})
}

// jakarta is the time zone the mails speak in (WIB); without the zone
// database the offset is still right.
var jakarta = func() *time.Location {
	if l, err := time.LoadLocation("Asia/Jakarta"); err == nil {
		return l
	}
	return time.FixedZone("WIB", 7*3600)
}()

// describeBrowser names the browser and system of a user agent in a few
// words for a mail ("Chrome 126 · Android 14", from internal/useragent's
// table, as the account page names them); anything else is quoted, cut
// short.
func describeBrowser(ua string) string {
	a := useragent.Parse(ua)
	switch {
	case a.Browser != "" && a.OS != "":
		return a.Browser + " · " + a.OS
	case a.Browser != "" || a.OS != "":
		return a.Browser + a.OS
	}
	ua = useragent.Clip(ua)
	if len(ua) > 60 {
		ua = ua[:60]
	}
	return fmt.Sprintf("%q", ua)
}
