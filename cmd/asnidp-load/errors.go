package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
)

var (
	// errUnexpectedPage is a page that does not belong at that point of
	// the journey: a missing form, a wrong redirect, a survived session.
	errUnexpectedPage = errors.New("unexpected page")
	// errBadToken is a token or userinfo answer that fails a check.
	errBadToken = errors.New("bad token")
)

// statusError is an HTTP status the journey did not expect.
type statusError struct {
	status     int
	retryAfter string
}

func (e *statusError) Error() string {
	if e.retryAfter != "" {
		return fmt.Sprintf("status %d, Retry-After %s", e.status, e.retryAfter)
	}
	return fmt.Sprintf("status %d", e.status)
}

func unexpectedStatus(p *page) error {
	return &statusError{status: p.status, retryAfter: p.header.Get("Retry-After")}
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
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	default:
		return "transport"
	}
}
