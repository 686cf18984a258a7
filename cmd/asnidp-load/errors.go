package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
)

var (
	// errUnexpectedPage is a page that does not belong at that point of
	// the journey: a missing form, a wrong redirect, a survived session.
	errUnexpectedPage = errors.New("unexpected page")
	// errBadToken is a token or userinfo answer that fails a check.
	errBadToken = errors.New("bad token")
	// errCaptcha is the login page asking for a captcha, which the
	// account's or the client IP's earlier failures call for.
	errCaptcha = errors.New("captcha asked for")
)

// statusError is an HTTP status the journey did not expect.
type statusError struct {
	status     int
	retryAfter string
	path       string
}

func (e *statusError) Error() string {
	s := fmt.Sprintf("status %d", e.status)
	if e.path != "" {
		s += " from " + e.path
	}
	if e.retryAfter != "" {
		s += ", Retry-After " + e.retryAfter
	}
	return s
}

func unexpectedStatus(p *page) error {
	if p.status == http.StatusUnauthorized && strings.Contains(p.body, `name="captcha_id"`) {
		return fmt.Errorf("%w on %s", errCaptcha, p.url.Path)
	}
	return &statusError{status: p.status, retryAfter: p.header.Get("Retry-After"), path: p.url.Path}
}

// Outcome kinds of a journey besides errors.
const (
	kindOK = "ok"
	// kindBusy is the designed answer to overload: 503 with Retry-After
	// (the password hasher's queue is full). It is an answer, not an error.
	kindBusy = "busy"
)

// kindOf names the kind of a journey's failure for the report.
func kindOf(err error) string {
	var se *statusError
	var ne net.Error
	switch {
	case err == nil:
		return kindOK
	case errors.As(err, &se) && se.status == http.StatusServiceUnavailable && se.retryAfter != "":
		return kindBusy
	case errors.As(err, &se) && se.status == http.StatusServiceUnavailable:
		return "http_503_without_retry_after"
	case errors.As(err, &se):
		return fmt.Sprintf("http_%d", se.status)
	case errors.Is(err, errUnexpectedPage):
		return "unexpected_page"
	case errors.Is(err, errBadToken):
		return "bad_token"
	case errors.Is(err, errCaptcha):
		return "captcha_required"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	default:
		return "transport"
	}
}
