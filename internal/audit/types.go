package audit

import (
	"fmt"
	"slices"
	"strings"
)

// Event types. A type is "family.event"; `asnidp audit --type family`
// selects a whole family.
const (
	// LoginPassword is the password step; Reason says why it failed.
	LoginPassword = "login.password"
	// LoginDelayed: a failure started or extended the progressive delay.
	LoginDelayed = "login.delayed"
	// LoginLocked: the failure cap was reached; only a reset releases it.
	LoginLocked = "login.locked"
	// LoginSucceeded: both factors done, an SSO session started.
	LoginSucceeded = "login.succeeded"

	MFAEnrolled    = "mfa.enrolled"
	MFAEnrolFailed = "mfa.enrol_failed"
	MFAVerified    = "mfa.verified"
	MFAFailed      = "mfa.failed"
	MFALocked      = "mfa.locked"
	// MFAReset: an operator unbound the authenticator.
	MFAReset = "mfa.reset"
	// MFARecoveryUsed: a recovery code stood in for the authenticator.
	MFARecoveryUsed = "mfa.recovery_used"
	// MFASelfReset: a step of an employee's own reset of a lost
	// authenticator (code mailed, started, completed, or refused).
	MFASelfReset = "mfa.self_reset"
	// AccountNotMe: an employee used a security mail's "Bukan saya?" link;
	// every session of the account was ended.
	AccountNotMe = "account.not_me"
	// MFARecoveryIssued: a new set of recovery codes was shown (failure:
	// the employee put them off).
	MFARecoveryIssued = "mfa.recovery_issued"

	// The password reset (account activation) flow.
	ResetRequested = "reset.requested"
	ResetCodeSent  = "reset.code_sent"
	ResetCompleted = "reset.completed"
	// PasswordChanged: a new password was stored (reset or operator).
	PasswordChanged = "password.changed"

	SessionEnded   = "session.ended"
	TokenIssued    = "token.issued"
	TokenRefreshed = "token.refreshed"
	TokenRevoked   = "token.revoked"
	// TokenReuse: a redeemed code or rotated refresh token came back; what
	// it had issued was revoked.
	TokenReuse = "token.reuse_detected"

	// Operator actions on accounts, clients and keys.
	UserCreated = "user.created"
	// UserUpdated: an import changed an account's personnel fields.
	UserUpdated    = "user.updated"
	UserImported   = "user.imported"
	UserDisabled   = "user.disabled"
	UserEnabled    = "user.enabled"
	UserUnlocked   = "user.unlocked"
	UserNIPChanged = "user.nip_changed"
	ClientCreated  = "client.created"
	// ClientAssertionReplayed: a private_key_jwt assertion came back with
	// a jti used before.
	ClientAssertionReplayed = "client.assertion_replayed"
	// RequestObjectRefused: a client's request object did not verify.
	RequestObjectRefused = "client.request_object_refused"
	ClientRemoved        = "client.removed"
	KeyRotated           = "key.rotated"

	// The agency console's operators. OperatorGranted and OperatorRevoked
	// name the account whose role changed; OperatorDenied is a request an
	// operator's role does not allow (internal/access), naming the
	// operator as the actor and the action and target agency in Detail.
	OperatorGranted = "operator.granted"
	OperatorRevoked = "operator.revoked"
	OperatorDenied  = "operator.denied"
	// OperatorViewed is an operator opening an employee's record in the
	// console: personal data read, recorded under the employee's NIP.
	OperatorViewed = "operator.viewed"
)

// types lists every event type above, so that a filter can be checked
// against them; a test keeps it complete.
var types = []string{
	LoginPassword, LoginDelayed, LoginLocked, LoginSucceeded,
	MFAEnrolled, MFAEnrolFailed, MFAVerified, MFAFailed, MFALocked, MFAReset, MFARecoveryUsed, MFARecoveryIssued, MFASelfReset, AccountNotMe,
	ResetRequested, ResetCodeSent, ResetCompleted, PasswordChanged,
	SessionEnded, TokenIssued, TokenRefreshed, TokenRevoked, TokenReuse,
	UserCreated, UserUpdated, UserImported, UserDisabled, UserEnabled, UserUnlocked, UserNIPChanged,
	ClientCreated, ClientAssertionReplayed, RequestObjectRefused, ClientRemoved, KeyRotated,
	OperatorGranted, OperatorRevoked, OperatorDenied, OperatorViewed,
}

// Types returns every event type, sorted.
func Types() []string {
	out := slices.Clone(types)
	slices.Sort(out)
	return out
}

// Families returns the family of every event type ("login" of
// "login.password"), sorted, each once.
func Families() []string {
	var out []string
	for _, t := range types {
		family, _, _ := strings.Cut(t, ".")
		out = append(out, family)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// CheckFilter accepts an event type or a family, the two forms a type
// filter takes (storage.AuditFilter.Type). Anything else would match no
// event, so it is refused with an error that lists what is valid.
func CheckFilter(filter string) error {
	if slices.Contains(types, filter) || slices.Contains(Families(), filter) {
		return nil
	}
	return fmt.Errorf("unknown event type or family %q (families: %s; types: %s)",
		filter, strings.Join(Families(), ", "), strings.Join(Types(), ", "))
}
