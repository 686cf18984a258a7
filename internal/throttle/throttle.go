// Package throttle owns the limits on guessing: the names of the
// counters every process shares in the database, the password lockout
// ladder, and the rule for when a login needs a captcha.
//
// Counters are windowed counts in storage (storage.CounterStore); keys
// are typed here so that no two rules share a counter by accident and
// every rule reads the counter another one writes.
package throttle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asnidp/asnidp/storage"
)

// Key names one shared counter.
type Key string

// Password failures, read by the lockout ladder and the captcha rule.
const (
	// LoginFailures counts failed passwords across all accounts (B5).
	LoginFailures Key = "pwfail:all"
	// ResetCodeFailures counts wrong reset codes across all requests (B6).
	ResetCodeFailures Key = "resetcode:fail:all"
)

// LoginFailuresFromIP counts failed passwords from one client IP (B4, B5).
func LoginFailuresFromIP(ip string) Key { return Key("pwfail:ip:" + ip) }

// LoginFailuresOfUnknownNIP counts failed passwords for a NIP that has
// no account, so its ladder looks like a real one's (B1, G5).
func LoginFailuresOfUnknownNIP(nip string) Key { return Key("pwfail:nip:" + nip) }

// ResetRequestsFromIP counts reset requests from one client IP (B7).
func ResetRequestsFromIP(ip string) Key { return Key("reset:ip:" + ip) }

// ResetCodeFailuresFromIP counts wrong reset codes from one client IP (B6).
func ResetCodeFailuresFromIP(ip string) Key { return Key("resetcode:ipfail:" + ip) }

// CodeAttempts counts the codes tried in one pending login (B2).
func CodeAttempts(authRequestID string) Key { return Key("otp:ar:" + authRequestID) }

// EnrolAttempts counts the confirmation codes tried while enrolling in
// one pending login (A3).
func EnrolAttempts(authRequestID string) Key { return Key("enrol:ar:" + authRequestID) }

// AccountCodeAttempts counts the current authenticator's codes tried on
// the account page of one session, to change the authenticator (A4).
func AccountCodeAttempts(sessionID string) Key { return Key("account-otp:" + sessionID) }

// AccountEnrolAttempts counts the new seed's confirmation codes tried on
// the account page of one session (A4).
func AccountEnrolAttempts(sessionID string) Key { return Key("account-enrol:" + sessionID) }

// AccountPasswordCodeAttempts counts the codes tried with a change of
// password on the account page of one session (B8). A budget of its own:
// spending it on one form leaves the others usable.
func AccountPasswordCodeAttempts(sessionID string) Key {
	return Key("account-password-otp:" + sessionID)
}

// AccountRecoveryCodeAttempts counts the codes tried for a new set of
// recovery codes on the account page of one session (A13).
func AccountRecoveryCodeAttempts(sessionID string) Key {
	return Key("account-recovery-otp:" + sessionID)
}

// SelfResetMails counts the self-reset codes mailed to one account.
func SelfResetMails(userID string) Key { return Key("selfreset-mail:" + userID) }

// Ladder is the password failure ladder: a delay from the DelayAfter-th
// consecutive failure of an account, doubling up to DelayMax; a lock
// after LockAfter failures that only a reset by email releases; and a
// block of a client IP after IPFailures failures within IPWindow.
type Ladder struct {
	DelayAfter int
	DelayStart time.Duration
	DelayMax   time.Duration
	LockAfter  int
	IPFailures int
	IPWindow   time.Duration
}

// Delay is how long the account waits after its n-th consecutive
// failure: nothing before DelayAfter, then DelayStart doubling up to
// DelayMax.
func (l Ladder) Delay(n int) time.Duration {
	if n < l.DelayAfter {
		return 0
	}
	d := l.DelayStart
	for i := l.DelayAfter; i < n && d < l.DelayMax; i++ {
		d *= 2
	}
	return min(d, l.DelayMax)
}

// IPBlockEnd is when the IP window that contains now ends.
func (l Ladder) IPBlockEnd(now time.Time) time.Time {
	return now.Truncate(l.IPWindow).Add(l.IPWindow)
}

// CaptchaRule says when a login needs a solved captcha.
type CaptchaRule struct {
	Enabled bool
	// LoginAfter consecutive failures of an account (or of an unknown
	// NIP), LoginIPAfter failures from a client IP, or LoginGlobalPerHour
	// failures of all accounts in the current hour ask for a captcha.
	LoginAfter         int
	LoginIPAfter       int
	LoginGlobalPerHour int
}

// Counters reads the shared counters and the accounts' failure counts.
type Counters interface {
	Counter(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
	UserByNIP(ctx context.Context, nip string) (*storage.User, error)
}

// LoginCaptchaNeeded reports whether a login from ip for the NIP
// canonical ("" before one is typed) needs a solved captcha under rule
// and the ladder l: after LoginAfter consecutive failures of the account,
// unknown NIPs counted the same way (B1); after LoginIPAfter failures
// from the client IP; or while all accounts together fail more than
// LoginGlobalPerHour times an hour (B5).
func LoginCaptchaNeeded(ctx context.Context, c Counters, rule CaptchaRule, l Ladder, canonical, ip string, now time.Time) (bool, error) {
	if !rule.Enabled {
		return false, nil
	}
	n, err := c.Counter(ctx, string(LoginFailures), time.Hour, now)
	if err != nil {
		return false, fmt.Errorf("read login failures: %w", err)
	}
	if n >= rule.LoginGlobalPerHour {
		return true, nil
	}
	if n, err = c.Counter(ctx, string(LoginFailuresFromIP(ip)), l.IPWindow, now); err != nil {
		return false, fmt.Errorf("read login failures of the ip: %w", err)
	}
	if n >= rule.LoginIPAfter || canonical == "" {
		return n >= rule.LoginIPAfter, nil
	}
	u, err := c.UserByNIP(ctx, canonical)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		n, err = c.Counter(ctx, string(LoginFailuresOfUnknownNIP(canonical)), l.DelayMax, now)
		if err != nil {
			return false, fmt.Errorf("read login failures of the nip: %w", err)
		}
		return n >= rule.LoginAfter, nil
	case err != nil:
		return false, fmt.Errorf("load user: %w", err)
	}
	return u.FailedPasswords >= rule.LoginAfter, nil
}
