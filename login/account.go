package login

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/i18n"
	"github.com/asnidp/asnidp/internal/mail"
	"github.com/asnidp/asnidp/internal/mfa"
	"github.com/asnidp/asnidp/internal/throttle"
	"github.com/asnidp/asnidp/internal/useragent"
	"github.com/asnidp/asnidp/storage"
)

// The account page ("Akun Saya", /login/account) is for an employee with
// a live SSO session, in that session's browser. It shows where the
// account is signed in and its recent security events, and changes what
// the employee owns:
//
//   - sessions: end one of the account's own (E4, E8) or every other one,
//     each as a logout ends it (tokens revoked, back-channel notices);
//   - password: the current password and a fresh authenticator code, the
//     reset's policy; every other session ends (B8);
//   - recovery codes: a fresh authenticator code makes a new set, shown
//     once, and voids the old (A10, A13);
//   - authenticator: see account_authenticator.go (A4);
//   - language: the lang cookie.
//
// Every form carries the CSRF token (E5). A code typed here counts on the
// account's consecutive TOTP failures like a login's, under a budget of
// its own per form and session; a wrong current password counts on the
// account's password ladder like a login's. What a form changes is
// audited and, for the password and the recovery codes, mailed.

func (h *Handler) accountRoutes(g *echo.Group) {
	g.GET("/account", h.showAccount)
	g.POST("/account/language", h.chooseLanguage)
	g.POST("/account/sessions/end", h.endAccountSession)
	g.POST("/account/sessions/others/end", h.endOtherSessions)
	g.POST("/account/password", h.changePassword)
	g.POST("/account/recovery", h.newRecoveryCodes)
	g.POST("/account/authenticator", h.proveAuthenticator)
	g.POST("/account/authenticator/confirm", h.confirmNewAuthenticator)
}

// accountView is the account page's.
type accountView struct {
	layout
	NIP, Name string
	// Sessions are the account's live sessions, this one marked.
	Sessions []sessionView
	// Events are the account's latest security events, newest first.
	Events []eventView
	// RecoveryLeft is how many unused recovery codes the account has.
	RecoveryLeft  int
	RecoveryTotal int
	// PasswordMin is the policy's minimum length, for the form's help.
	PasswordMin int
	// Refused is why the form of one section was refused, shown in that
	// section: the form's action names the section as its fragment, so
	// the browser scrolls there.
	Refused refusal
}

// refusal is a refused form's message, in the section it belongs to.
type refusal struct {
	Section string
	Message string
	RetryAt string
}

// refusedView is what the page's "refused" template shows in a section.
type refusedView struct {
	L *i18n.Localizer
	refusal
}

// RefusedIn is the refusal to show in section, if it is that section's.
func (v *accountView) RefusedIn(section string) refusedView {
	if v.Refused.Section != section {
		return refusedView{L: v.L}
	}
	return refusedView{L: v.L, refusal: v.Refused}
}

// sessionView is one row of the list of sessions.
type sessionView struct {
	ID      string
	Current bool
	// Device is "Chrome 126 di Android 14", or the unknown device's words.
	Device   string
	IP       string
	Started  timeView
	LastSeen timeView
	// Services are the names of the clients signed in through the session.
	Services []string
}

// timeView is a time as the page shows it (in WIB) and as a machine reads
// it (the datetime attribute).
type timeView struct{ Text, ISO string }

func showTime(t time.Time) timeView {
	return timeView{Text: t.In(wib).Format("2006-01-02 15:04 WIB"), ISO: t.UTC().Format(time.RFC3339)}
}

// device names a browser for a person: its browser and system, or that
// it is unknown.
func device(l *i18n.Localizer, header string) string {
	a := useragent.Parse(header)
	switch {
	case a.Browser != "" && a.OS != "":
		return l.T("account.device", "Browser", a.Browser, "OS", a.OS)
	case a.Browser != "":
		return a.Browser
	case a.OS != "":
		return a.OS
	}
	return l.T("account.device_unknown")
}

// accountNotices are the messages a redirect back to the page may ask for.
var accountNotices = map[string]string{
	"changed":      "account.changed",
	"password":     "account.password_changed",
	"ended":        "account.session_ended",
	"others_ended": "account.others_ended",
	"language":     "account.language_saved",
	"recovery":     "account.recovery_saved",
}

// accountSession returns the browser's live SSO session and its user.
func (h *Handler) accountSession(c echo.Context) (*storage.Session, *storage.User, error) {
	ctx := c.Request().Context()
	sess, err := h.deps.Browsers.Session(ctx, c.Request().Header)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, fail(http.StatusUnauthorized, "account.no_session", err)
	}
	if err != nil {
		return nil, nil, fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	u, err := h.store.UserByID(ctx, sess.UserID)
	if err != nil || u.State == storage.StateDisabled {
		return nil, nil, fail(http.StatusUnauthorized, "account.no_session", err)
	}
	return sess, u, nil
}

func (h *Handler) showAccount(c echo.Context) error {
	sess, u, err := h.accountSession(c)
	if err != nil {
		return err
	}
	// Using the account page is using the session: its idle timer and
	// "last seen" move, as with a sign-in to a service.
	if err := h.store.TouchSession(c.Request().Context(), sess.ID, h.now()); err != nil {
		h.log.WarnContext(c.Request().Context(), "touch session", "sid", sess.ID, "err", err)
	}
	p := accountView{layout: layout{Notice: accountNotices[c.QueryParam("notice")]}}
	return h.renderAccount(c, http.StatusOK, sess, u, &p)
}

// renderAccount fills in and renders the account page with status; a
// refused form shows it again with p.Error.
func (h *Handler) renderAccount(c echo.Context, status int, sess *storage.Session, u *storage.User, p *accountView) error {
	ctx := c.Request().Context()
	p.Title, p.NIP, p.Name, p.Here = "account.title", u.NIP, u.Name, "/login/account"
	if p.L == nil {
		p.L = h.localizer(c, nil)
	}
	p.PasswordMin, p.RecoveryTotal = h.opts.Policy.MinLength, mfa.RecoveryCodes
	var err error
	if p.RecoveryLeft, err = h.deps.MFA.RecoveryCodesLeft(ctx, u); err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	if p.Sessions, err = h.sessionList(c, sess, u, p.L); err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	if p.Events, err = h.eventList(c, u, p.L); err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	return h.render(c, status, "account", p)
}

// sessionList is the account's live sessions, the current one first.
func (h *Handler) sessionList(c echo.Context, current *storage.Session, u *storage.User, l *i18n.Localizer) ([]sessionView, error) {
	live, err := h.store.LiveSessions(c.Request().Context(), u.ID, h.opts.SessionIdle, h.now())
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	out := make([]sessionView, 0, len(live))
	for _, s := range live {
		v := sessionView{
			ID: s.ID, Current: s.ID == current.ID, Device: device(l, s.UserAgent), IP: s.IP,
			Started: showTime(s.CreatedAt), LastSeen: showTime(s.LastSeenAt),
		}
		for _, cl := range s.Clients {
			name := cl.Name
			if name == "" {
				name = cl.ID
			}
			v.Services = append(v.Services, name)
		}
		if v.Current {
			out = append([]sessionView{v}, out...)
		} else {
			out = append(out, v)
		}
	}
	return out, nil
}

func (h *Handler) chooseLanguage(c echo.Context) error {
	if _, _, err := h.accountSession(c); err != nil {
		return err
	}
	lang := c.FormValue("lang")
	if lang != "id" && lang != "en" {
		return fail(http.StatusBadRequest, "error.bad_request", fmt.Errorf("language %q is not offered", trimForDisplay(lang)))
	}
	h.setLanguage(c, lang)
	return c.Redirect(http.StatusSeeOther, "/login/account?notice=language")
}

// accountCode checks a fresh code of u's authenticator for one form of
// the account page of session sess. It is counted under key, the form's
// own budget, and on the account's consecutive failures before it is
// evaluated (B2, B3); purpose names the form in the audit log. It returns
// "" when the code was accepted, otherwise the message and status to
// show; a wrong code is audited, and the one that locks the authenticator
// mails the employee.
func (h *Handler) accountCode(c echo.Context, u *storage.User, key throttle.Key, purpose string) (string, int, error) {
	ctx := c.Request().Context()
	check, err := h.deps.MFA.Verify(ctx, u, key, h.opts.Enrolment, c.FormValue("code"))
	if err != nil {
		return "", 0, fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	switch check.Result {
	case mfa.Valid:
		return "", 0, nil
	case mfa.Locked:
		return "otp.locked", http.StatusForbidden, nil
	case mfa.OverBudget:
		if check.Locked {
			return "otp.locked", http.StatusForbidden, nil
		}
		return "account.code_too_many", http.StatusTooManyRequests, nil
	}
	h.record(c, storage.AuditEvent{Type: audit.MFAFailed, Outcome: audit.Failure, Reason: "wrong code to " + purpose, NIP: u.NIP, UserID: u.ID})
	msg := "otp.wrong"
	if check.Result == mfa.Replayed {
		msg = "otp.replayed"
	}
	if check.Locked {
		h.record(c, storage.AuditEvent{Type: audit.MFALocked, Outcome: audit.Failure, Reason: "consecutive wrong codes reached the lock", NIP: u.NIP, UserID: u.ID})
		h.securityMail(ctx, c, u, "totp_locked", nil)
		msg = "otp.locked"
	}
	return msg, http.StatusUnauthorized, nil
}

// mailNotice queues the security mail name to u, in the page's language,
// with fields and a "Bukan saya?" link; the page does not wait for the
// mail server.
func (h *Handler) mailNotice(c echo.Context, u *storage.User, name string, fields map[string]string) {
	d := mail.Data{Name: u.Name, NIP: u.NIP, Fields: fields}
	h.addNotMeLink(c.Request().Context(), u, name, &d)
	m, err := h.deps.Mails.Render(u.Email, h.localizer(c, nil), name, d)
	if err == nil {
		err = h.deps.Outbox.Enqueue(m, mail.Delivery{})
	}
	if err != nil {
		h.log.WarnContext(c.Request().Context(), "notice not sent", "mail", name, "sub", u.ID, "err", err)
	}
}

// whereFields says in a mail when and from where a change was made.
func (h *Handler) whereFields(c echo.Context) map[string]string {
	return map[string]string{
		"time":   showTime(h.now()).Text,
		"device": device(h.localizer(c, nil), c.Request().UserAgent()),
		"ip":     c.RealIP(),
	}
}
