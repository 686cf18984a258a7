package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/access"
	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/confirm"
	"github.com/asnidp/asnidp/internal/nip"
	"github.com/asnidp/asnidp/internal/useradmin"
	"github.com/asnidp/asnidp/storage"
)

func urlQuery(s string) string { return url.QueryEscape(s) }

// accountActions are the actions on one account, in the order the page
// offers them.
var accountActions = []access.Action{access.Unlock, access.ResetMFA, access.Disable, access.Enable}

// maxReason bounds the operator's reason; it goes into the audit row.
const maxReason = 300

type lookupView struct {
	layout
	NIP string
}

type employeeView struct {
	layout
	User    *storage.User
	Locked  bool
	Events  []*storage.AuditEvent
	Actions []string
	// Fresh says the second factor is recent enough for an action; else
	// the page offers the step-up first.
	Fresh  bool
	Return string
	Reason string
}

// findUser finds the account of the request's NIP and authorizes action
// on it, deciding by the account's stored agency. A NIP no account has is
// "not found" for the national role and a denial for an agency's roles,
// so they cannot tell another agency's NIPs from unknown ones.
func (h *Handler) findUser(c echo.Context, raw string, action access.Action) (*storage.User, error) {
	op := operatorOf(c)
	ctx := c.Request().Context()
	if _, err := nip.Normalize(raw); err != nil {
		return nil, fail(http.StatusBadRequest, "console.lookup.bad_nip", err)
	}
	u, err := useradmin.Lookup(ctx, h.store, raw)
	switch {
	case errors.Is(err, useradmin.ErrNoUser):
		if op.Role == storage.RoleNational {
			return nil, fail(http.StatusNotFound, "console.lookup.not_found", err)
		}
		_, aerr := h.deps.Guard.Authorize(ctx, op.UserID, action, access.Target{Instansi: access.AllAgencies, NIP: strings.TrimSpace(raw)})
		return nil, denied(aerr)
	case err != nil:
		return nil, err
	}
	role, err := h.roleOf(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if _, err := h.deps.Guard.Authorize(ctx, op.UserID, action, access.Target{Instansi: u.Instansi, NIP: u.NIP, Role: role}); err != nil {
		return nil, denied(err)
	}
	return u, nil
}

// roleOf is the console role the account of userID holds ("" for none).
func (h *Handler) roleOf(ctx context.Context, userID string) (storage.OperatorRole, error) {
	held, err := h.store.OperatorByUserID(ctx, userID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return "", nil
	case err != nil:
		return "", err
	}
	return held.Role, nil
}

// employee shows one account in the operator's scope; the view is itself
// an audit event.
func (h *Handler) employee(c echo.Context) error {
	raw := strings.TrimSpace(c.QueryParam("nip"))
	if raw == "" {
		return h.render(c, http.StatusOK, "console_lookup", &lookupView{layout: layout{Title: "console.lookup.title"}})
	}
	u, err := h.findUser(c, raw, access.Lookup)
	if err != nil {
		var pe *pageError
		if errors.As(err, &pe) && (pe.Status == http.StatusBadRequest || pe.Status == http.StatusNotFound) {
			return h.render(c, pe.Status, "console_lookup", &lookupView{layout: layout{Title: "console.lookup.title", Error: pe.Key}, NIP: raw})
		}
		return err
	}
	return h.showEmployee(c, u, http.StatusOK, "", "")
}

func (h *Handler) showEmployee(c echo.Context, u *storage.User, status int, errKey, reason string) error {
	ctx := c.Request().Context()
	op := operatorOf(c)
	h.deps.Audit.Record(ctx, storage.AuditEvent{Type: audit.OperatorViewed, Outcome: audit.Success, NIP: u.NIP, UserID: u.ID,
		Actor: access.Actor(op.UserID), Detail: "operator_nip=" + op.NIP})
	events, err := h.store.AuditEvents(ctx, storage.AuditFilter{NIP: u.NIP, UserID: u.ID, Limit: 20})
	if err != nil {
		return err
	}
	slices.Reverse(events)
	v := &employeeView{layout: layout{Title: "console.employee.title", Error: errKey}, User: u, Events: events,
		Locked: u.PasswordLocked || u.TOTPLocked || h.now().Before(u.LockedUntil), Fresh: h.freshFactor(c),
		Return: Path + "/employee?nip=" + u.NIP, Reason: reason}
	v.Here = v.Return
	for _, a := range accountActions {
		if !allowedHere(op, a) || !applies(a, u) {
			continue
		}
		v.Actions = append(v.Actions, string(a))
	}
	return h.render(c, status, "console_employee", v)
}

// allowedHere mirrors the guard's rule for the buttons shown; each post is
// authorized again by the guard.
func allowedHere(op *storage.Operator, a access.Action) bool {
	return op.Role != storage.RoleHelpdesk || a == access.Unlock || a == access.ResetMFA
}

// applies says whether an action makes sense for the account's state.
func applies(a access.Action, u *storage.User) bool {
	switch a {
	case access.ResetMFA:
		return u.HasAuthenticator()
	case access.Disable:
		return u.State != storage.StateDisabled
	case access.Enable:
		return u.State == storage.StateDisabled
	}
	return true
}

// parseAction reads the action of a form: one of accountActions.
func parseAction(s string) (access.Action, bool) {
	a := access.Action(s)
	return a, slices.Contains(accountActions, a)
}

// cleanReason returns the reason as it will be recorded, or false when it
// is missing, too long or holds control characters.
func cleanReason(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len([]rune(s)) > maxReason {
		return "", false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", false
		}
	}
	return s, true
}

type confirmView struct {
	layout
	User   *storage.User
	Action string
	Reason string
	Token  string
}

// actionRequest is the account, action and reason of an action's form,
// checked: the guard allows the action on the account's agency, the
// reason is given and the second factor is fresh.
func (h *Handler) actionRequest(c echo.Context) (*storage.User, access.Action, string, error) {
	action, ok := parseAction(c.FormValue("action"))
	if !ok {
		return nil, "", "", fail(http.StatusBadRequest, "console.error.bad_request", errors.New("unknown action"))
	}
	u, err := h.findUser(c, c.FormValue("nip"), action)
	if err != nil {
		return nil, "", "", err
	}
	reason, ok := cleanReason(c.FormValue("reason"))
	if !ok {
		return u, action, "", h.showEmployee(c, u, http.StatusBadRequest, "console.action.reason_required", "")
	}
	if !h.freshFactor(c) {
		return u, action, "", h.showEmployee(c, u, http.StatusForbidden, "console.action.stepup_needed", reason)
	}
	return u, action, reason, nil
}

// stateAction is the first step of an action: checked, then answered
// with the confirmation page.
func (h *Handler) stateAction(c echo.Context) error {
	u, action, reason, err := h.actionRequest(c)
	if err != nil || reason == "" {
		return err
	}
	op := operatorOf(c)
	token, err := h.deps.Confirm.Issue(confirm.Binding{OperatorSub: op.UserID, Action: string(action), Target: u.NIP, Reason: reason})
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, "console_confirm", &confirmView{layout: layout{Title: "console.confirm.title"},
		User: u, Action: string(action), Reason: reason, Token: token})
}

type doneView struct {
	layout
	Message   string
	User      *storage.User
	MailError bool
	SignedOut bool
}

// confirmAction is the second step: the same checks again, then the
// confirmation redeemed (once), then the action.
func (h *Handler) confirmAction(c echo.Context) error {
	u, action, reason, err := h.actionRequest(c)
	if err != nil || reason == "" {
		return err
	}
	op := operatorOf(c)
	ctx := c.Request().Context()
	err = h.deps.Confirm.Redeem(ctx, c.FormValue("token"), confirm.Binding{OperatorSub: op.UserID, Action: string(action), Target: u.NIP, Reason: reason})
	if err != nil {
		return h.confirmRefused(c, action, u.NIP, err)
	}
	adm := h.deps.Accounts(access.Actor(op.UserID))
	adm.Why = reason
	v := &doneView{layout: layout{Title: "console.done.title"}, User: u, Message: "console.done." + string(action)}
	switch action {
	case access.Unlock:
		_, err = adm.Unlock(ctx, u.NIP)
	case access.ResetMFA:
		var mailErr error
		_, mailErr, err = adm.ResetMFA(ctx, u.NIP)
		v.MailError = mailErr != nil
	case access.Disable:
		_, _, err = adm.Disable(ctx, u.NIP)
	case access.Enable:
		_, _, err = adm.Enable(ctx, u.NIP)
	}
	switch {
	case errors.Is(err, useradmin.ErrNotDisabled):
		return fail(http.StatusConflict, "console.action.not_disabled", err)
	case errors.Is(err, useradmin.ErrNoAuthenticator):
		return fail(http.StatusConflict, "console.action.no_authenticator", err)
	case err != nil:
		return err
	}
	return h.render(c, http.StatusOK, "console_done", v)
}

// confirmRefused records a confirmation that was not redeemed (replayed,
// expired, or not for this operator, action, target or reason) as a
// denial naming the operator, then answers it.
func (h *Handler) confirmRefused(c echo.Context, action access.Action, target string, err error) error {
	if !errors.Is(err, confirm.ErrReplayed) && !errors.Is(err, confirm.ErrExpired) && !errors.Is(err, confirm.ErrInvalid) {
		return err
	}
	op := operatorOf(c)
	h.deps.Audit.Record(c.Request().Context(), storage.AuditEvent{Type: audit.OperatorDenied, Outcome: audit.Failure,
		Reason: "confirmation refused: " + err.Error(), NIP: op.NIP, UserID: op.UserID, Actor: access.Actor(op.UserID),
		Detail: fmt.Sprintf("action=%s target=%s role=%s instansi=%q", action, target, op.Role, op.Instansi)})
	return confirmFailed(err)
}

// confirmFailed is the answer to a confirmation that was not redeemed:
// replayed, expired, or not for this action.
func confirmFailed(err error) error {
	switch {
	case errors.Is(err, confirm.ErrReplayed):
		return fail(http.StatusConflict, "console.confirm.replayed", err)
	case errors.Is(err, confirm.ErrExpired):
		return fail(http.StatusForbidden, "console.confirm.expired", err)
	case errors.Is(err, confirm.ErrInvalid):
		return fail(http.StatusForbidden, "console.confirm.invalid", err)
	}
	return err
}
