package main

import (
	"encoding/base32"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// totpPeriod is the authenticator's time step (RFC 6238 default, as the
// server uses).
const totpPeriod = 30 * time.Second

// employee is one virtual employee: a provisioned account, the browser
// they always sign in from, and the authenticator app on their phone.
type employee struct {
	nip      string
	password string
	browser  *browser

	mu     sync.Mutex
	secret string // base32 key read off the enrolment page; "" before it
	// lastStep is the last time step whose code was typed. The server
	// accepts each step once (no replay) and only the previous, current
	// and next step, so a second sign-in in the same step uses the next
	// one and a third must wait for time to move on.
	lastStep int64
	// sub is the subject the first sign-in's ID token named; every later
	// one must name the same.
	sub string
}

func newEmployee(nip, password string, transport http.RoundTripper) *employee {
	return &employee{nip: nip, password: password, browser: newBrowser(transport)}
}

func (e *employee) enrolled() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.secret != ""
}

// enrol keeps the key shown for manual entry on the enrolment page, as
// an employee types it into the app.
func (e *employee) enrol(shown string) error {
	key := strings.ToUpper(strings.ReplaceAll(shown, " ", ""))
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(key)
	if err != nil || len(raw) < 16 {
		return fmt.Errorf("%w: enrolment key of %d characters is not a base32 key", errUnexpectedPage, len(key))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secret = key
	return nil
}

// code returns the authenticator's code for the first step after the last
// one used, and how long to wait before typing it: zero unless that step
// is more than one step ahead of now. The wait is the employee's, not the
// server's, and is never counted as latency.
func (e *employee) code(now time.Time) (string, time.Duration, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.secret == "" {
		return "", 0, fmt.Errorf("%w: code asked before enrolment", errUnexpectedPage)
	}
	cur := now.Unix() / int64(totpPeriod/time.Second)
	step := max(cur, e.lastStep+1)
	var wait time.Duration
	if step > cur+1 {
		wait = time.Unix((step-1)*int64(totpPeriod/time.Second), 0).Sub(now)
	}
	e.lastStep = step
	c, err := totp.GenerateCodeCustom(e.secret, time.Unix(step*int64(totpPeriod/time.Second), 0), totp.ValidateOpts{
		Period: uint(totpPeriod / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return "", 0, fmt.Errorf("compute code: %w", err)
	}
	return c, wait, nil
}

// readyAt is when the employee can next sign in without waiting for the
// authenticator: when the step after the last used one is at most one
// step ahead.
func (e *employee) readyAt() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return time.Unix(e.lastStep*int64(totpPeriod/time.Second), 0)
}

// subject returns the remembered sub, remembering got on first use.
func (e *employee) subject(got string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sub == "" {
		e.sub = got
	}
	return e.sub
}
