package login

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/cookie"
	"github.com/asnidp/asnidp/internal/mail"
	"github.com/asnidp/asnidp/internal/secret"
	"github.com/asnidp/asnidp/internal/totp"
	"github.com/asnidp/asnidp/storage"
)

// The second factor, as a state machine on the auth request:
//
//	password verified (UserID, PasswordAt set; browser cookie rotated)
//	  ├─ no authenticator ─► /login/enrol: a seed is offered (sealed on the
//	  │     auth request, 10 min); a valid code binds it to the account
//	  └─ authenticator ────► /login/otp: a valid, never-used code (5 min)
//	both ─► OTPAt set, fresh SSO session ─► OP callback issues the code
//
// Five wrong codes end the pending login (back to the password); the
// account's consecutive TOTP failures are counted across every pending
// login and lock the authenticator at the configured cap.

// otpBudget is how many codes one pending login may try.
const otpBudget = 5

// otpAttemptsKey and enrolAttemptsKey count the codes tried in one
// pending login of auth request id.
func otpAttemptsKey(id string) string   { return "otp:ar:" + id }
func enrolAttemptsKey(id string) string { return "enrol:ar:" + id }

// totpAAD ties a sealed seed to its row and column.
func totpAAD(userID string) []byte { return []byte("users.totp_secret:" + userID) }

func enrolAAD(authRequestID string) []byte {
	return []byte("auth_requests.enrol_secret:" + authRequestID)
}

// afterPassword rotates the browser binding (so a value planted or seen
// before the password completes nothing, A5/E2), gives the pending login a
// fresh budget of codes and sends the browser to the second factor. The
// account's consecutive TOTP failures are not reset by a password (B2).
func (h *Handler) afterPassword(c echo.Context, ar *storage.AuthRequest, u *storage.User) error {
	ctx := c.Request().Context()
	for _, key := range []string{otpAttemptsKey(ar.ID), enrolAttemptsKey(ar.ID)} {
		if err := h.store.ResetCounter(ctx, key); err != nil {
			return fail(http.StatusServiceUnavailable, "error.unavailable", err)
		}
	}
	if err := h.rebind(c, ar.ID); err != nil {
		return err
	}
	next := "/login/otp?id="
	if !u.HasAuthenticator() {
		next = "/login/enrol?id="
	}
	return c.Redirect(http.StatusSeeOther, next+ar.ID)
}

// rebind gives this browser a new binding value for auth request id.
func (h *Handler) rebind(c echo.Context, id string) error {
	browser := secret.Token()
	if err := h.store.RebindAuthRequest(c.Request().Context(), id, h.hash.Hash(browser)); err != nil {
		return fmt.Errorf("rebind auth request: %w", err)
	}
	c.SetCookie(h.cfg.Cookies.New(cookie.Browser, browser, 0, http.SameSiteLaxMode))
	return nil
}

// pendingSecondFactor loads the bound auth request and its user when the
// password was verified within ttl; otherwise the browser goes back to
// the password page.
func (h *Handler) pendingSecondFactor(c echo.Context, id string, ttl time.Duration) (*storage.AuthRequest, *storage.User, error) {
	ar, err := h.boundAuthRequest(c, id)
	if err != nil {
		return nil, nil, err
	}
	if ar.UserID == "" || ar.PasswordAt.IsZero() {
		return nil, nil, c.Redirect(http.StatusSeeOther, loginURL(ar.ID, ""))
	}
	if h.now().Sub(ar.PasswordAt) > ttl {
		if err := h.store.ClearAuthRequestUser(c.Request().Context(), ar.ID); err != nil {
			return nil, nil, fmt.Errorf("clear expired login: %w", err)
		}
		return nil, nil, c.Redirect(http.StatusSeeOther, loginURL(ar.ID, "expired"))
	}
	u, err := h.store.UserByID(c.Request().Context(), ar.UserID)
	if err != nil {
		return nil, nil, fmt.Errorf("load user: %w", err)
	}
	if u.State == storage.StateDisabled {
		return nil, nil, fail(http.StatusForbidden, "login.invalid_credentials", errors.New("account disabled during login"))
	}
	return ar, u, nil
}

func loginURL(id, notice string) string {
	u := "/login/?id=" + id
	if notice != "" {
		u += "&notice=" + notice
	}
	return u
}

func (h *Handler) showOTP(c echo.Context) error {
	ar, u, err := h.pendingSecondFactor(c, c.QueryParam("id"), h.cfg.PasswordOnly)
	if err != nil || ar == nil {
		return err
	}
	if !u.HasAuthenticator() {
		return c.Redirect(http.StatusSeeOther, "/login/enrol?id="+ar.ID)
	}
	return h.render(c, http.StatusOK, "otp", page{Title: "otp.title", ID: ar.ID, L: h.localizer(c, ar)})
}

func (h *Handler) submitOTP(c echo.Context) error {
	ar, u, err := h.pendingSecondFactor(c, c.FormValue("id"), h.cfg.PasswordOnly)
	if err != nil || ar == nil {
		return err
	}
	if !u.HasAuthenticator() {
		return c.Redirect(http.StatusSeeOther, "/login/enrol?id="+ar.ID)
	}
	ctx := c.Request().Context()
	p := page{Title: "otp.title", ID: ar.ID, L: h.localizer(c, ar)}
	if u.TOTPLocked {
		p.Error = "otp.locked"
		return h.render(c, http.StatusForbidden, "otp", p)
	}

	// Count the attempt before checking it: of any number of simultaneous
	// submissions only the budget is ever evaluated (B3), and a counter
	// that cannot be written refuses instead of granting a free try (H3).
	attempt, err := h.store.IncrementCounter(ctx, otpAttemptsKey(ar.ID), h.cfg.PasswordOnly, h.now())
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	failures, err := h.store.RecordTOTPFailure(ctx, u.ID, u.FailedTOTP+1 >= h.cfg.TOTPLockAfter, h.now())
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	if attempt > otpBudget || failures > h.cfg.TOTPLockAfter {
		return h.endPendingLogin(c, ar, u, failures)
	}

	seed, err := h.cfg.Sealer.Open(u.TOTPSecret, totpAAD(u.ID))
	if err != nil {
		return fmt.Errorf("open totp seed: %w", err)
	}
	step, result := totp.Verify(seed, c.FormValue("code"), h.now(), u.TOTPLastStep)
	if result == totp.Valid {
		err = h.store.AcceptTOTPStep(ctx, u.ID, step, h.now())
		if errors.Is(err, storage.ErrConflict) {
			result = totp.Replayed // another submission of this code won the race (G2)
		} else if err != nil {
			return fail(http.StatusServiceUnavailable, "error.unavailable", err)
		}
	}
	switch result {
	case totp.Valid:
		h.log.InfoContext(ctx, "totp accepted", "sub", u.ID, "auth_request", ar.ID, "ip", c.RealIP())
		h.record(c, storage.AuditEvent{Type: audit.MFAVerified, NIP: u.NIP, UserID: u.ID, ClientID: ar.ClientID})
		return h.secondFactorDone(c, ar, u)
	case totp.Replayed:
		h.log.WarnContext(ctx, "totp replay refused", "sub", u.ID, "auth_request", ar.ID, "ip", c.RealIP())
		h.record(c, storage.AuditEvent{Type: audit.MFAFailed, Outcome: audit.Failure, Reason: "code already used", NIP: u.NIP, UserID: u.ID, ClientID: ar.ClientID})
		p.Error = "otp.replayed"
	default:
		h.log.InfoContext(ctx, "totp rejected", "sub", u.ID, "auth_request", ar.ID, "ip", c.RealIP(), "failures", failures)
		h.record(c, storage.AuditEvent{Type: audit.MFAFailed, Outcome: audit.Failure, Reason: "wrong code", NIP: u.NIP, UserID: u.ID, ClientID: ar.ClientID})
		p.Error = "otp.wrong"
	}
	if attempt >= otpBudget || failures%otpBudget == 0 || failures >= h.cfg.TOTPLockAfter {
		return h.endPendingLogin(c, ar, u, failures)
	}
	return h.render(c, http.StatusUnauthorized, "otp", p)
}

// endPendingLogin sends the browser back to the password after too many
// wrong codes, and mails the employee when the account got locked.
func (h *Handler) endPendingLogin(c echo.Context, ar *storage.AuthRequest, u *storage.User, failures int) error {
	ctx := c.Request().Context()
	if err := h.store.ClearAuthRequestUser(ctx, ar.ID); err != nil {
		return fmt.Errorf("end pending login: %w", err)
	}
	if failures >= h.cfg.TOTPLockAfter && !u.TOTPLocked {
		h.log.WarnContext(ctx, "authenticator locked after consecutive failures", "sub", u.ID, "failures", failures)
		h.record(c, storage.AuditEvent{Type: audit.MFALocked, Outcome: audit.Failure, Reason: "consecutive wrong codes reached the lock", NIP: u.NIP, UserID: u.ID, ClientID: ar.ClientID})
		h.mailUser(ctx, c, u, "totp_locked")
		p := page{Title: "otp.title", ID: ar.ID, L: h.localizer(c, ar), Error: "otp.locked"}
		return h.render(c, http.StatusForbidden, "otp", p)
	}
	h.log.WarnContext(ctx, "pending login ended after wrong codes", "sub", u.ID, "auth_request", ar.ID, "failures", failures)
	return c.Redirect(http.StatusSeeOther, loginURL(ar.ID, "otp_too_many"))
}

// secondFactorDone records the second factor and finishes the login.
func (h *Handler) secondFactorDone(c echo.Context, ar *storage.AuthRequest, u *storage.User) error {
	if err := h.store.SetAuthRequestOTP(c.Request().Context(), ar.ID, h.now()); err != nil {
		return fmt.Errorf("record otp factor: %w", err)
	}
	return h.finish(c, ar, u, []string{"pwd", "otp"})
}

func (h *Handler) showEnrol(c echo.Context) error {
	ar, u, err := h.pendingSecondFactor(c, c.QueryParam("id"), h.cfg.Enrolment)
	if err != nil || ar == nil {
		return err
	}
	if u.HasAuthenticator() { // A4: a bound authenticator is never replaced here
		return c.Redirect(http.StatusSeeOther, "/login/otp?id="+ar.ID)
	}
	seed, err := h.enrolmentSeed(c.Request().Context(), ar)
	if err != nil {
		return err
	}
	return h.renderEnrol(c, ar, u, seed, "")
}

// enrolmentSeed returns the seed offered to this pending login, making one
// the first time. It stays the same while the page is reloaded.
func (h *Handler) enrolmentSeed(ctx context.Context, ar *storage.AuthRequest) ([]byte, error) {
	if len(ar.EnrolSecret) > 0 {
		seed, err := h.cfg.Sealer.Open(ar.EnrolSecret, enrolAAD(ar.ID))
		if err != nil {
			return nil, fmt.Errorf("open enrolment seed: %w", err)
		}
		return seed, nil
	}
	seed, err := totp.NewSecret(h.cfg.Rand)
	if err != nil {
		return nil, fmt.Errorf("make totp seed: %w", err)
	}
	sealed, err := h.cfg.Sealer.Seal(seed, enrolAAD(ar.ID))
	if err != nil {
		return nil, fmt.Errorf("seal enrolment seed: %w", err)
	}
	if err := h.store.SetAuthRequestEnrolment(ctx, ar.ID, sealed, h.now()); err != nil {
		return nil, fmt.Errorf("store enrolment seed: %w", err)
	}
	return seed, nil
}

func (h *Handler) renderEnrol(c echo.Context, ar *storage.AuthRequest, u *storage.User, seed []byte, errKey string) error {
	p, err := enrolPage(totp.KeyURL(h.cfg.IssuerName, u.NIP, seed), seed)
	if err != nil {
		return err
	}
	p.Title, p.ID, p.L, p.Error = "enrol.title", ar.ID, h.localizer(c, ar), errKey
	status := http.StatusOK
	if errKey != "" {
		status = http.StatusUnauthorized
	}
	return h.render(c, status, "enrol", p)
}

// enrolPage fills what every enrolment page shows for a seed: the QR code
// as a PNG data URI, the otpauth link for phones and the grouped key.
func enrolPage(keyURL string, seed []byte) (page, error) {
	png, err := totp.QRCodePNG(keyURL, 220)
	if err != nil {
		return page{}, fmt.Errorf("draw qr code: %w", err)
	}
	return page{
		QR:     template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)),
		KeyURL: template.URL(keyURL),
		Secret: totp.GroupedSecret(seed),
	}, nil
}

func (h *Handler) submitEnrol(c echo.Context) error {
	ar, u, err := h.pendingSecondFactor(c, c.FormValue("id"), h.cfg.Enrolment)
	if err != nil || ar == nil {
		return err
	}
	ctx := c.Request().Context()
	if u.HasAuthenticator() { // A4
		h.log.WarnContext(ctx, "enrolment refused: authenticator already bound", "sub", u.ID, "auth_request", ar.ID)
		return c.Redirect(http.StatusSeeOther, "/login/otp?id="+ar.ID)
	}
	if len(ar.EnrolSecret) == 0 { // A2: confirming without having been shown a seed
		return c.Redirect(http.StatusSeeOther, "/login/enrol?id="+ar.ID)
	}
	attempt, err := h.store.IncrementCounter(ctx, enrolAttemptsKey(ar.ID), h.cfg.Enrolment, h.now())
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	if attempt > otpBudget {
		return h.endPendingLogin(c, ar, u, 0)
	}
	seed, err := h.enrolmentSeed(ctx, ar)
	if err != nil {
		return err
	}
	step, result := totp.Verify(seed, c.FormValue("code"), h.now(), 0)
	if result != totp.Valid {
		h.log.InfoContext(ctx, "enrolment code rejected", "sub", u.ID, "auth_request", ar.ID, "attempt", attempt)
		h.record(c, storage.AuditEvent{Type: audit.MFAEnrolFailed, Outcome: audit.Failure, Reason: "wrong code", NIP: u.NIP, UserID: u.ID, ClientID: ar.ClientID})
		if attempt >= otpBudget {
			return h.endPendingLogin(c, ar, u, 0)
		}
		return h.renderEnrol(c, ar, u, seed, "enrol.wrong")
	}
	sealed, err := h.cfg.Sealer.Seal(seed, totpAAD(u.ID))
	if err != nil {
		return fmt.Errorf("seal totp seed: %w", err)
	}
	err = h.store.BindTOTP(ctx, u.ID, sealed, step, h.now())
	if errors.Is(err, storage.ErrConflict) {
		return c.Redirect(http.StatusSeeOther, "/login/otp?id="+ar.ID)
	}
	if err != nil {
		return fail(http.StatusServiceUnavailable, "error.unavailable", err)
	}
	h.log.InfoContext(ctx, "authenticator bound", "sub", u.ID, "nip", u.NIP, "auth_request", ar.ID, "ip", c.RealIP())
	h.record(c, storage.AuditEvent{Type: audit.MFAEnrolled, NIP: u.NIP, UserID: u.ID, ClientID: ar.ClientID})
	h.mailUser(ctx, c, u, "authenticator_added")
	return h.secondFactorDone(c, ar, u)
}

// mailUser sends a notice; a mail that cannot be sent is logged, never
// shown: the login itself succeeded or failed on its own terms.
func (h *Handler) mailUser(ctx context.Context, c echo.Context, u *storage.User, name string) {
	m, err := h.cfg.Mails.Render(u.Email, h.localizer(c, nil), name, mail.Data{Name: u.Name, NIP: u.NIP})
	if err != nil {
		h.log.WarnContext(ctx, "render mail", "mail", name, "sub", u.ID, "err", err)
		return
	}
	if err := h.cfg.Mail.Send(ctx, m); err != nil {
		h.log.WarnContext(ctx, "send mail", "mail", name, "sub", u.ID, "err", err)
	}
}
