package login

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/mail"
	"github.com/asnidp/asnidp/internal/nip"
	"github.com/asnidp/asnidp/internal/password"
	"github.com/asnidp/asnidp/internal/secret"
	"github.com/asnidp/asnidp/internal/throttle"
	"github.com/asnidp/asnidp/storage"
)

// The password reset, which is also how a provisioned account is
// activated (docs/security.md), as a state machine on a reset request
// held server-side and named by a random value in a Strict cookie:
//
//	/login/reset            NIP + captcha ─"CEK"─► request created (for any NIP)
//	/login/reset/email      registered email ─"Kirim Kode"─► code issued
//	                        (mailed only when NIP and email match)
//	/login/reset/code       the 8-digit code ─► code verified (once)
//	/login/reset/password   new password twice ─"Reset Password"─► completed
//	then the login page of the pending authorization request, or
//	/login/reset/done
//
// The first three steps answer identically, and do the same work, whether
// or not the NIP exists and the email matches: a request exists for every
// NIP, the send limits count every NIP, a request whose email did not
// match gets a code record that no code matches, and mail leaves through
// the outbox, never while the page waits. The registered email is never
// shown.

// resetCookie names this browser's reset request. It is Strict: the
// steps are same-site form posts.
const resetCookie = "asnidp_reset"

// Reset configures the password reset.
type Reset struct {
	// CodeTTL is how long a code is valid from when it is issued; the new
	// password must also be chosen within CodeTTL of entering the code.
	CodeTTL time.Duration
	// CodeAttempts wrong codes void a code.
	CodeAttempts int
	// FlowTTL is how long one browser's reset may take in all.
	FlowTTL time.Duration
	// SendLimits bound the codes sent per NIP.
	SendLimits []storage.Limit
	// IPRequestsPerHour bounds the NIP and email steps from one client IP;
	// IPCodeFailuresPerHour its wrong codes.
	IPRequestsPerHour     int
	IPCodeFailuresPerHour int
	// AlertCodeFailuresPerHour wrong codes across all employees within a
	// clock hour raise an alert in the log (B6).
	AlertCodeFailuresPerHour int
}

// Outbox queues mail without waiting for the mail server
// (mail.Outbox).
type Outbox interface {
	Enqueue(m mail.Message, d mail.Delivery) error
	// Ready reports whether a mail queued now is expected to go out.
	Ready() bool
}

// sendNow is the Outbox of a Handler configured without one: it sends
// while the page waits.
type sendNow struct{ mail.Sender }

func (s sendNow) Enqueue(m mail.Message, d mail.Delivery) error {
	err := errors.New("no mail driver")
	if s.Sender != nil {
		err = s.Send(context.Background(), m)
	}
	if err != nil && d.GiveUp != nil {
		d.GiveUp(err)
	}
	return nil
}

func (sendNow) Ready() bool { return true }

func (h *Handler) resetRoutes(g *echo.Group) {
	g.GET("/reset", h.showResetStart)
	g.POST("/reset", h.submitResetStart)
	g.GET("/reset/email", h.showResetEmail)
	g.POST("/reset/email", h.submitResetEmail)
	g.GET("/reset/code", h.showResetCode)
	g.POST("/reset/code", h.submitResetCode)
	g.GET("/reset/password", h.showResetPassword)
	g.POST("/reset/password", h.submitResetPassword)
	g.GET("/reset/done", h.showResetDone)
	g.GET("/captcha/audio", h.captchaAudio)
}

// resetAuthRequest returns the pending authorization request named by
// id, which must be bound to this browser; an absent id is no request.
func (h *Handler) resetAuthRequest(c echo.Context, id string) (*storage.AuthRequest, error) {
	if id == "" {
		return nil, nil
	}
	return h.boundAuthRequest(c, id)
}

// resetFlow loads this browser's reset request; nil when there is none
// (never started, expired, or completed).
func (h *Handler) resetFlow(c echo.Context) (*storage.ResetRequest, error) {
	token := h.opts.Cookies.Value(c.Request(), resetCookie)
	if token == "" || len(token) > 64 {
		return nil, nil
	}
	r, err := h.store.ResetRequestByTokenHash(c.Request().Context(), h.hash.Hash(token), h.now())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	if !r.CompletedAt.IsZero() {
		return nil, nil
	}
	return r, nil
}

// restartReset sends the browser back to the first step.
func restartReset(c echo.Context) error {
	return c.Redirect(http.StatusSeeOther, "/login/reset?expired=1")
}

// orRestart returns err, or restarts the reset when there is none.
func orRestart(c echo.Context, err error) error {
	if err != nil {
		return err
	}
	return restartReset(c)
}

// resetView is the data of the reset pages.
type resetView struct {
	layout
	NIP string
	// Captcha is the challenge the first step shows, if any.
	Captcha *captchaView
	// MinLength and Minutes fill the help texts.
	MinLength int
	Minutes   int
	// TriesLeft is how many more codes the code page accepts (0: not
	// shown).
	TriesLeft int
}

func (h *Handler) resetPage(c echo.Context, r *storage.ResetRequest, title string) resetView {
	return resetView{
		layout:    layout{Title: title, ID: r.AuthRequestID, L: h.localizer(c, nil)},
		NIP:       r.NIP,
		Minutes:   int(h.opts.Reset.CodeTTL / time.Minute),
		MinLength: h.minPasswordLength(),
	}
}

func (h *Handler) minPasswordLength() int {
	if h.opts.Policy.MinLength > 0 {
		return h.opts.Policy.MinLength
	}
	return password.DefaultMinLength
}

// retryLater fills p with when to try again and sets Retry-After.
func (h *Handler) retryLater(c echo.Context, p *layout, key string, at time.Time) {
	p.Error = key
	p.RetryAt = at.In(wib).Format("15:04:05 WIB")
	c.Response().Header().Set("Retry-After", retryAfterSeconds(max(at.Sub(h.now()), time.Second)))
}

// resetIPBudget counts a submission of the NIP or email step from the
// client IP and reports when the budget allows the next one (zero: now).
func (h *Handler) resetIPBudget(c echo.Context) (time.Time, error) {
	now := h.now()
	n, err := h.store.IncrementCounter(c.Request().Context(), string(throttle.ResetRequestsFromIP(c.RealIP())), time.Hour, now)
	if err != nil {
		return time.Time{}, fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	if n > h.opts.Reset.IPRequestsPerHour {
		return windowEnd(now, time.Hour), nil
	}
	return time.Time{}, nil
}

func (h *Handler) showResetStart(c echo.Context) error {
	id := c.QueryParam("id")
	ar, err := h.resetAuthRequest(c, id)
	if err != nil {
		return err
	}
	p := resetView{layout: layout{Title: "reset.title", ID: id, L: h.localizer(c, ar)}, NIP: trimForDisplay(c.QueryParam("nip"))}
	if c.QueryParam("expired") != "" {
		p.Error = "reset.expired"
	}
	if err := h.discardCaptcha(c); err != nil {
		return err
	}
	if h.opts.Captcha.Enabled {
		if p.Captcha, err = h.newCaptcha(c, actionReset, id, p.NIP); err != nil {
			return err
		}
	}
	return h.render(c, http.StatusOK, "reset", &p)
}

// submitResetStart checks the captcha and the NIP's form, then starts a
// reset request for whatever NIP was typed: known, unknown or disabled,
// the answer is the same redirect with a fresh cookie (C1).
func (h *Handler) submitResetStart(c echo.Context) error {
	id := c.FormValue("id")
	ar, err := h.resetAuthRequest(c, id)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	p := resetView{layout: layout{Title: "reset.title", ID: id, L: h.localizer(c, ar)}, NIP: trimForDisplay(c.FormValue("nip"))}
	refuse := func(status int) error {
		if h.opts.Captcha.Enabled {
			var err error
			if p.Captcha, err = h.newCaptcha(c, actionReset, id, p.NIP); err != nil {
				return err
			}
		}
		return h.render(c, status, "reset", &p)
	}
	retry, err := h.resetIPBudget(c)
	if err != nil {
		return err
	}
	if !retry.IsZero() {
		h.retryLater(c, &p.layout, "reset.too_many_ip", retry)
		return refuse(http.StatusTooManyRequests)
	}
	if h.opts.Captcha.Enabled {
		ok, err := h.solveCaptcha(c, actionReset)
		if err != nil {
			return err
		}
		if !ok {
			h.log.InfoContext(ctx, "reset refused: captcha missing or wrong", "ip", c.RealIP())
			p.Error = "captcha.wrong"
			return refuse(http.StatusUnprocessableEntity)
		}
	}
	canonical, err := nip.Normalize(c.FormValue("nip"))
	if err != nil {
		p.Error = "nip.invalid_char"
		var ne *nip.Error
		if errors.As(err, &ne) {
			p.Error = ne.Reason
		}
		return refuse(http.StatusUnprocessableEntity)
	}

	userID, why := "", "unknown nip"
	u, err := h.store.UserByNIP(ctx, canonical)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	case u.State == storage.StateDisabled:
		// Looks like an unknown NIP: no code is ever sent to a disabled
		// account.
		why = "account disabled"
	default:
		userID, why = u.ID, "known nip"
	}
	now := h.now()
	token := secret.Token()
	r := &storage.ResetRequest{
		ID:            "rr_" + rand.Text(),
		TokenHash:     h.hash.Hash(token),
		AuthRequestID: id,
		NIP:           canonical,
		UserID:        userID,
		CreatedAt:     now,
		ExpiresAt:     now.Add(h.opts.Reset.FlowTTL),
	}
	if err := h.store.CreateResetRequest(ctx, r); err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", fmt.Errorf("start reset: %w", err))
	}
	c.SetCookie(h.opts.Cookies.New(resetCookie, token, h.opts.Reset.FlowTTL, http.SameSiteStrictMode))
	h.log.InfoContext(ctx, "reset started", "nip", canonical, "reset", r.ID, "nip_is", why, "ip", c.RealIP())
	h.record(c, storage.AuditEvent{Type: audit.ResetRequested, Outcome: audit.Success, Reason: why, NIP: canonical, UserID: userID})
	return c.Redirect(http.StatusSeeOther, "/login/reset/email")
}

func (h *Handler) showResetEmail(c echo.Context) error {
	r, err := h.resetFlow(c)
	if err != nil || r == nil {
		return orRestart(c, err)
	}
	p := h.resetPage(c, r, "reset.email_title")
	return h.render(c, http.StatusOK, "reset_email", &p)
}

// resetCodeMessage is what the stored hash of a code covers: the code
// and the request it was issued to, so a code matches nowhere else (C3).
func resetCodeMessage(requestID, code string) string {
	return "reset-code:" + requestID + ":" + code
}

// newResetCode returns 8 random digits from crypto/rand.
func newResetCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(100_000_000))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return fmt.Sprintf("%08d", n)
}

// emailMatches compares a typed address with the registered one, ignoring
// case and surrounding space, in time independent of where they differ.
// An empty registered address matches nothing.
func emailMatches(registered, typed string) bool {
	reg := strings.ToLower(strings.TrimSpace(registered))
	got := strings.ToLower(strings.TrimSpace(typed))
	if len(got) > 320 {
		got = ""
	}
	same := subtle.ConstantTimeCompare([]byte(reg), []byte(got)) == 1
	return same && reg != ""
}

// unmailable is the address a mail is rendered for when none is sent,
// so that both cases do the same work.
const unmailable = "nobody@example.invalid"

// submitResetEmail issues a code: to the registered address when the
// typed one matches it, to nobody otherwise. The send limits count the
// NIP either way, and every answer is the same redirect (C1, B7).
func (h *Handler) submitResetEmail(c echo.Context) error {
	r, err := h.resetFlow(c)
	if err != nil || r == nil {
		return orRestart(c, err)
	}
	ctx := c.Request().Context()
	p := h.resetPage(c, r, "reset.email_title")
	if !h.deps.Outbox.Ready() {
		// The mail server is down for everyone: say so, and count nothing
		// as sent (H5).
		h.log.WarnContext(ctx, "reset code not issued: mail cannot be sent now", "reset", r.ID, "ip", c.RealIP())
		p.Error = "reset.mail_unavailable"
		c.Response().Header().Set("Retry-After", "60")
		return h.render(c, http.StatusServiceUnavailable, "reset_email", &p)
	}
	retry, err := h.resetIPBudget(c)
	if err != nil {
		return err
	}
	if !retry.IsZero() {
		h.retryLater(c, &p.layout, "reset.too_many_ip", retry)
		return h.render(c, http.StatusTooManyRequests, "reset_email", &p)
	}

	// The same read, comparison, hashing and rendering for every NIP.
	user := &storage.User{NIP: r.NIP}
	u, err := h.store.UserByNIP(ctx, r.NIP)
	switch {
	case err == nil && u.ID == r.UserID:
		user = u
	case err != nil && !errors.Is(err, storage.ErrNotFound):
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	registered := user.Email
	if registered != "" && mail.CheckRecipient(registered) != nil {
		// Bad provisioning data (C5): never mail it; an operator must fix
		// the record.
		h.log.ErrorContext(ctx, "ALERT: the registered email of this account is not a single valid address; no code sent, fix the personnel record",
			"nip", r.NIP, "sub", user.ID)
		registered = ""
	}
	matched := emailMatches(registered, c.FormValue("email"))
	code := newResetCode()
	codeHash := h.hash.Hash(resetCodeMessage(r.ID, code))
	to := unmailable
	stored := ""
	if matched {
		to, stored = registered, codeHash
	}
	now := h.now()
	expires := now.Add(h.opts.Reset.CodeTTL)
	msg, renderErr := h.deps.Mails.Render(to, h.localizer(c, nil), "reset_code", mail.Data{
		Name: user.Name, NIP: r.NIP,
		Fields: map[string]string{"Code": code, "Minutes": strconv.Itoa(int(h.opts.Reset.CodeTTL / time.Minute))},
	})
	retry, err = h.store.IssueResetCode(ctx, r.ID, stored, expires, h.opts.Reset.SendLimits, now)
	if errors.Is(err, storage.ErrConflict) {
		h.log.InfoContext(ctx, "reset code refused: send limit of the NIP reached", "nip", r.NIP, "reset", r.ID, "retry_at", retry, "ip", c.RealIP())
		h.retryLater(c, &p.layout, "reset.resend_wait", retry)
		return h.render(c, http.StatusTooManyRequests, "reset_email", &p)
	}
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}

	outcome, reason := audit.Failure, "email does not match or nip unknown"
	if matched {
		outcome, reason = audit.Success, "email matches"
		release := func(why error) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := h.store.ReleaseResetCode(ctx, r.ID, codeHash); err != nil {
				h.log.Error("release undelivered reset code", "reset", r.ID, "err", err)
			}
			h.log.Warn("reset code mail not delivered; the code is void and does not count as sent", "nip", r.NIP, "reset", r.ID, "err", why)
		}
		if renderErr != nil {
			release(renderErr)
		} else if err := h.deps.Outbox.Enqueue(msg, mail.Delivery{Deadline: expires, GiveUp: release}); err != nil {
			release(err)
		}
	}
	h.log.InfoContext(ctx, "reset code issued", "nip", r.NIP, "sub", user.ID, "reset", r.ID, "mailed", matched, "ip", c.RealIP())
	h.record(c, storage.AuditEvent{Type: audit.ResetCodeSent, Outcome: outcome, Reason: reason, NIP: r.NIP, UserID: r.UserID})
	return c.Redirect(http.StatusSeeOther, "/login/reset/code")
}

func (h *Handler) showResetCode(c echo.Context) error {
	r, err := h.codeStep(c)
	if err != nil || r == nil {
		return err
	}
	p := h.resetPage(c, r, "reset.code_title")
	p.Notice = "reset.code_sent"
	if !h.deps.Outbox.Ready() {
		p.Error = "reset.mail_unavailable"
	}
	return h.render(c, http.StatusOK, "reset_code", &p)
}

// parseResetCode returns the 8 digits of a typed code, which may be
// grouped with spaces or a dash; ok is false for anything else.
func parseResetCode(s string) (string, bool) {
	if len(s) > 32 {
		return "", false
	}
	var b strings.Builder
	for i := range len(s) {
		switch ch := s[i]; {
		case ch >= '0' && ch <= '9':
			b.WriteByte(ch)
		case ch == ' ' || ch == '-':
		default:
			return "", false
		}
	}
	if b.Len() != 8 {
		return "", false
	}
	return b.String(), true
}

// codeStep loads this browser's reset request when it stands at the code
// step; otherwise (nil request) it has sent the browser to the step it
// stands at.
func (h *Handler) codeStep(c echo.Context) (*storage.ResetRequest, error) {
	r, err := h.resetFlow(c)
	if err != nil || r == nil {
		return nil, orRestart(c, err)
	}
	switch {
	case r.CodeIssuedAt.IsZero():
		return nil, c.Redirect(http.StatusSeeOther, "/login/reset/email")
	case h.codeVerified(r):
		return nil, c.Redirect(http.StatusSeeOther, "/login/reset/password")
	}
	return r, nil
}

// codeVerified reports whether r's code was entered recently enough to
// choose the new password.
func (h *Handler) codeVerified(r *storage.ResetRequest) bool {
	return !r.CodeVerifiedAt.IsZero() && r.UserID != "" && h.now().Sub(r.CodeVerifiedAt) <= h.opts.Reset.CodeTTL
}

// submitResetCode checks a code against this browser's request only.
// Every attempt counts before it is checked (CheckResetCode is one
// conditional update), so of any number of simultaneous right codes one
// wins, and a code is void after CodeAttempts wrong ones (B6, C3). Wrong
// codes also spend the client IP's budget and the system-wide alert rate.
func (h *Handler) submitResetCode(c echo.Context) error {
	r, err := h.codeStep(c)
	if err != nil || r == nil {
		return err
	}
	ctx := c.Request().Context()
	p := h.resetPage(c, r, "reset.code_title")
	now := h.now()
	ip := c.RealIP()
	ipKey := string(throttle.ResetCodeFailuresFromIP(ip))
	n, err := h.store.Counter(ctx, ipKey, time.Hour, now)
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	if n >= h.opts.Reset.IPCodeFailuresPerHour {
		h.log.WarnContext(ctx, "reset code refused: wrong codes from this client IP over budget", "ip", ip, "reset", r.ID)
		h.retryLater(c, &p.layout, "reset.too_many_ip", windowEnd(now, time.Hour))
		return h.render(c, http.StatusTooManyRequests, "reset_code", &p)
	}

	codeHash := "" // matches no code: a malformed code is a wrong one
	if code, ok := parseResetCode(c.FormValue("code")); ok {
		codeHash = h.hash.Hash(resetCodeMessage(r.ID, code))
	}
	attempts, err := h.store.CheckResetCode(ctx, r.ID, codeHash, h.opts.Reset.CodeAttempts, now)
	switch {
	case err == nil:
		h.log.InfoContext(ctx, "reset code verified", "nip", r.NIP, "sub", r.UserID, "reset", r.ID, "ip", ip)
		return c.Redirect(http.StatusSeeOther, "/login/reset/password")
	case errors.Is(err, storage.ErrConflict):
		h.countCodeFailure(ctx, ipKey, now)
		h.log.InfoContext(ctx, "reset code wrong", "nip", r.NIP, "reset", r.ID, "attempts", attempts, "ip", ip)
		p.Error = "reset.code_wrong"
		p.TriesLeft = h.opts.Reset.CodeAttempts - attempts
		if attempts >= h.opts.Reset.CodeAttempts {
			p.Error, p.TriesLeft = "reset.code_too_many", 0
		}
	case errors.Is(err, storage.ErrNotFound):
		h.log.InfoContext(ctx, "reset code refused: no live code", "nip", r.NIP, "reset", r.ID, "ip", ip)
		p.Error = "reset.code_invalid"
	default:
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	return h.render(c, http.StatusUnauthorized, "reset_code", &p)
}

// countCodeFailure spends the client IP's budget and counts towards the
// system-wide alert (B6).
func (h *Handler) countCodeFailure(ctx context.Context, ipKey string, now time.Time) {
	if _, err := h.store.IncrementCounter(ctx, ipKey, time.Hour, now); err != nil {
		h.log.WarnContext(ctx, "count wrong reset code", "err", err)
	}
	n, err := h.store.IncrementCounter(ctx, string(throttle.ResetCodeFailures), time.Hour, now)
	if err != nil {
		h.log.WarnContext(ctx, "count wrong reset code", "err", err)
		return
	}
	if n == h.opts.Reset.AlertCodeFailuresPerHour {
		h.log.ErrorContext(ctx, "ALERT: wrong reset codes across all employees reached the hourly threshold; someone may be guessing codes",
			"failures", n, "threshold", h.opts.Reset.AlertCodeFailuresPerHour)
	}
}

// resetUser returns the account of a request whose code was verified.
func (h *Handler) resetUser(c echo.Context, r *storage.ResetRequest) (*storage.User, error) {
	u, err := h.store.UserByID(c.Request().Context(), r.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	if u.State == storage.StateDisabled {
		h.log.WarnContext(c.Request().Context(), "reset refused: account disabled during the reset", "sub", u.ID, "reset", r.ID)
		return nil, nil
	}
	return u, nil
}

func (h *Handler) showResetPassword(c echo.Context) error {
	r, err := h.resetFlow(c)
	if err != nil || r == nil {
		return orRestart(c, err)
	}
	if !h.codeVerified(r) {
		return c.Redirect(http.StatusSeeOther, "/login/reset/code")
	}
	p := h.resetPage(c, r, "reset.password_title")
	return h.render(c, http.StatusOK, "reset_password", &p)
}

// submitResetPassword checks the new password against the policy, with
// the account's own details as context, and completes the reset in one
// transaction (H1): password set, code consumed, email verified, locks
// released, every session and token of the account revoked. The
// authenticator stays. No session is started: the employee signs in, with
// the second factor, like any other time (A6).
func (h *Handler) submitResetPassword(c echo.Context) error {
	r, err := h.resetFlow(c)
	if err != nil || r == nil {
		return orRestart(c, err)
	}
	if !h.codeVerified(r) {
		return c.Redirect(http.StatusSeeOther, "/login/reset/code")
	}
	u, err := h.resetUser(c, r)
	if err != nil || u == nil {
		return orRestart(c, err)
	}
	ctx := c.Request().Context()
	p := h.resetPage(c, r, "reset.password_title")
	pw := c.FormValue("password")
	if pw != c.FormValue("confirm") {
		p.Error = "reset.password_mismatch"
		return h.render(c, http.StatusUnprocessableEntity, "reset_password", &p)
	}
	if err := h.opts.Policy.Check(pw, h.policyContext(u)); err != nil {
		var pe *password.PolicyError
		if !errors.As(err, &pe) {
			return err
		}
		h.log.InfoContext(ctx, "new password refused by the policy", "sub", u.ID, "reason", pe.Reason, "reset", r.ID)
		p.Error = pe.Reason
		return h.render(c, http.StatusUnprocessableEntity, "reset_password", &p)
	}
	hash, err := h.hasher.Hash(ctx, pw)
	if err != nil {
		return err
	}
	err = h.store.CompleteReset(ctx, storage.ResetCompletion{RequestID: r.ID, UserID: u.ID, PasswordHash: hash}, h.now())
	if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
		// The code was voided (a newer code, another browser finished
		// first) after this browser entered it.
		h.log.InfoContext(ctx, "reset not completed: the code is no longer valid", "sub", u.ID, "reset", r.ID)
		return restartReset(c)
	}
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	c.SetCookie(h.opts.Cookies.Clear(resetCookie, http.SameSiteStrictMode))
	h.log.InfoContext(ctx, "password reset", "nip", u.NIP, "sub", u.ID, "reset", r.ID, "state_was", u.State, "ip", c.RealIP())
	h.record(c, storage.AuditEvent{Type: audit.ResetCompleted, Outcome: audit.Success, NIP: u.NIP, UserID: u.ID})
	h.record(c, storage.AuditEvent{Type: audit.PasswordChanged, Outcome: audit.Success, Reason: "password reset by email", NIP: u.NIP, UserID: u.ID})
	h.mailPasswordChanged(c, u)

	if r.AuthRequestID != "" {
		// Continue the authorization request the employee came with, if it
		// is still alive and bound to this browser: after signing in (and
		// enrolling) they land at the service they wanted.
		if ar, err := h.boundAuthRequest(c, r.AuthRequestID); err == nil {
			// The login page shows the NIP just reset, so the employee
			// types only the new password.
			c.SetCookie(h.opts.Cookies.New(resetNIPCookie, u.NIP, h.opts.Reset.FlowTTL, http.SameSiteStrictMode))
			return c.Redirect(http.StatusSeeOther, loginURL(ar.ID, "reset"))
		}
	}
	return c.Redirect(http.StatusSeeOther, "/login/reset/done")
}

// mailPasswordChanged queues the notice of a reset, u as it was before:
// the first password of a provisioned account is an activation, not a
// change, and only a bound authenticator is said to be unchanged. A mail
// that cannot be sent is logged: the reset itself is done.
// policyContext is what a new password of u must not be built from: the
// NIP and its date parts, the name, the agency, the service's name and
// the email's local part. The reset and the account page apply the same.
func (h *Handler) policyContext(u *storage.User) password.Context {
	pc := password.Context{NIP: u.NIP, Name: u.Name, Instansi: u.Instansi, Extra: []string{h.opts.IssuerName}}
	if local, _, ok := strings.Cut(u.Email, "@"); ok {
		pc.Extra = append(pc.Extra, local)
	}
	return pc
}

func (h *Handler) mailPasswordChanged(c echo.Context, u *storage.User) {
	name := "password_changed"
	if u.PasswordHash == "" {
		name = "account_activated"
	}
	d := mail.Data{Name: u.Name, NIP: u.NIP, Fields: map[string]string{}}
	if u.HasAuthenticator() {
		d.Fields["authenticator"] = "bound"
	}
	h.addNotMeLink(c.Request().Context(), u, name, &d)
	m, err := h.deps.Mails.Render(u.Email, h.localizer(c, nil), name, d)
	if err == nil {
		err = h.deps.Outbox.Enqueue(m, mail.Delivery{})
	}
	if err != nil {
		h.log.WarnContext(c.Request().Context(), "password changed notice not sent", "sub", u.ID, "err", err)
	}
}

func (h *Handler) showResetDone(c echo.Context) error {
	return h.render(c, http.StatusOK, "reset_done", &layout{Title: "reset.done_title"})
}
