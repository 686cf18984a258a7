package login

import (
	"fmt"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/i18n"
	"github.com/asnidp/asnidp/storage"
)

// accountEvents is how many of the account's latest events the page shows.
const accountEvents = 20

// accountEventTypes are the audit events an employee is shown: sign-ins
// and what could mean someone else is at work (wrong passwords and codes,
// locks, resets, changes of the password, the authenticator and the
// recovery codes, the self-reset of the authenticator, a "Bukan saya?"
// link used, ended sessions, an operator's actions, a reused token).
// Left out are the steps a sign-in already implies (mfa.verified) and the
// tokens services fetch in the background, which would push everything
// else off the list.
var accountEventTypes = []string{
	"login", // password step, delay, lock, completed sign-in
	audit.MFAEnrolled, audit.MFAEnrolFailed, audit.MFAFailed, audit.MFALocked, audit.MFAReset,
	audit.MFARecoveryUsed, audit.MFARecoveryIssued, audit.MFASelfReset, audit.AccountNotMe,
	"reset", audit.PasswordChanged, audit.SessionEnded,
	audit.UserDisabled, audit.UserEnabled, audit.UserUnlocked, audit.UserNIPChanged,
	audit.TokenReuse,
}

// eventView is one row of the list of events.
type eventView struct {
	// What is the catalog key of the event in plain words.
	What    string
	Failure bool
	// ByOperator says an operator did it (Actor), not the employee.
	ByOperator bool
	Time       timeView
	IP         string
	Device     string
}

// eventList is the account's latest events, newest first. Events are
// looked up by the sub and by the NIP, which alone names wrong passwords
// typed for it.
func (h *Handler) eventList(c echo.Context, u *storage.User, l *i18n.Localizer) ([]eventView, error) {
	events, err := h.store.AuditEvents(c.Request().Context(), storage.AuditFilter{
		NIP: u.NIP, UserID: u.ID, Types: accountEventTypes, Limit: accountEvents,
	})
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	slices.Reverse(events) // the store gives the most recent, oldest first
	out := make([]eventView, 0, len(events))
	for _, e := range events {
		out = append(out, eventView{
			What: eventKey(e), Failure: e.Outcome == storage.OutcomeFailure, ByOperator: e.Actor != "",
			Time: showTime(e.Time), IP: e.IP, Device: device(l, e.UserAgent),
		})
	}
	return out, nil
}

// eventKey names an event for the employee: "event.<type>", with
// ".failure" when the failure reads differently. Both catalogs hold a key
// for every type and outcome of accountEventTypes (a test checks).
func eventKey(e *storage.AuditEvent) string {
	key := "event." + e.Type
	if e.Outcome == storage.OutcomeFailure && failureWords[e.Type] {
		key += ".failure"
	}
	if !slices.Contains(audit.Types(), e.Type) {
		return "event.other"
	}
	return key
}

// failureWords are the types whose failure has words of its own; the
// others are failures by nature ("mfa.failed") or never fail.
var failureWords = map[string]bool{
	audit.LoginPassword:     true,
	audit.MFARecoveryIssued: true,
	audit.MFASelfReset:      true,
	audit.ResetCodeSent:     true,
	audit.PasswordChanged:   true,
}
