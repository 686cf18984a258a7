// Package webguard holds what every HTML surface of asnidp puts in front
// of its handlers: the security headers, a bound on form bodies and the
// double-submit CSRF check. The login pages and the agency console use the
// same middleware, so a rule tightened here holds for both.
//
// Failures are handed to the caller's fail function with an HTTP status
// and the cause, so each surface renders them in its own localized page.
package webguard

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/cookie"
	"github.com/asnidp/asnidp/internal/secret"
)

// ContentSecurityPolicy allows no inline script and no framing: the pages
// are plain forms.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// SecurityHeaders sets the headers of docs/security.md on every response;
// hsts adds Strict-Transport-Security (an https issuer).
func SecurityHeaders(hsts bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			hd := c.Response().Header()
			hd.Set("Content-Security-Policy", ContentSecurityPolicy)
			hd.Set("X-Frame-Options", "DENY")
			hd.Set("X-Content-Type-Options", "nosniff")
			hd.Set("Referrer-Policy", "no-referrer")
			hd.Set("Cache-Control", "no-store")
			hd.Set("Pragma", "no-cache")
			if hsts {
				hd.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
			}
			return next(c)
		}
	}
}

// Fail turns a refusal into the caller's error.
type Fail func(status int, cause error) error

// LimitBody refuses a body over max bytes and parses URL-encoded posts.
// A multipart body is left for the handler, which parses it under its own
// bound.
func LimitBody(max int64, fail Fail) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if r.ContentLength > max {
				return fail(http.StatusRequestEntityTooLarge, errTooLarge)
			}
			r.Body = http.MaxBytesReader(c.Response(), r.Body, max)
			if r.Method == http.MethodPost && !isMultipart(r) {
				if err := r.ParseForm(); err != nil {
					return fail(http.StatusBadRequest, err)
				}
			}
			return next(c)
		}
	}
}

func isMultipart(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data")
}

// CSRF configures the double-submit check.
type CSRF struct {
	Jar cookie.Jar
	// Cookie is the base name of the token's cookie (cookie.CSRF for the
	// login pages).
	Cookie string
	// Origin is the scheme://host[:port] the forms are served from; a
	// post announcing another origin is refused.
	Origin string
	Fail   Fail
}

const contextKey = "csrf"

// Middleware is a double-submit token: a random value in a Strict cookie
// that every form echoes. A POST without it, with another value, or
// announced as cross-site by the browser is refused before any handler
// runs (E5). A multipart post must carry the token in the query string
// (?csrf=), because its body is parsed only by the handler.
func (x CSRF) Middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		token := x.Jar.Value(r, x.Cookie)
		if len(token) != 43 {
			token = secret.Token()
			c.SetCookie(x.Jar.New(x.Cookie, token, 0, http.SameSiteStrictMode))
		}
		c.Set(contextKey, token)
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			return next(c)
		}
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
			return x.Fail(http.StatusForbidden, ErrCrossSite)
		}
		// Under Referrer-Policy no-referrer browsers send "Origin: null"
		// even on same-origin posts; they say where the post came from in
		// Sec-Fetch-Site, which pages cannot set.
		nullFromSelf := r.Header.Get("Origin") == "null" && r.Header.Get("Sec-Fetch-Site") == "same-origin"
		if origin := r.Header.Get("Origin"); origin != "" && !nullFromSelf && !strings.EqualFold(origin, x.Origin) {
			return x.Fail(http.StatusForbidden, ErrCrossSite)
		}
		sent := r.PostForm["csrf"]
		if isMultipart(r) {
			sent = r.URL.Query()["csrf"]
		}
		if len(sent) != 1 || subtle.ConstantTimeCompare([]byte(sent[0]), []byte(token)) != 1 {
			return x.Fail(http.StatusForbidden, ErrToken)
		}
		return next(c)
	}
}

// Token is the CSRF token of the request, for its forms.
func Token(c echo.Context) string {
	if v, ok := c.Get(contextKey).(string); ok {
		return v
	}
	return ""
}

// Origin is scheme://host of rawURL, "" when it has none.
func Origin(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

type guardError string

func (e guardError) Error() string { return string(e) }

// Causes of refusals.
const (
	ErrCrossSite = guardError("cross-site form post")
	ErrToken     = guardError("csrf token missing or wrong")
	errTooLarge  = guardError("request body too large")
)

// IPExtractor returns the client IP: the socket peer, unless the peer is
// a configured trusted proxy, in which case the right-most untrusted
// X-Forwarded-For entry. Rotating forwarding headers therefore changes
// nothing for a client that talks to us directly (B4).
func IPExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		_, ipnet, err := net.ParseCIDR(p.String())
		if err == nil {
			opts = append(opts, echo.TrustIPRange(ipnet))
		}
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// PageError is an error a person sees as a fixed, localized message: the
// page's status and the catalog key of the message; the cause is only
// logged.
type PageError struct {
	Status int
	Key    string
	Cause  error
}

func (e *PageError) Error() string {
	if e.Cause != nil {
		return e.Key + ": " + e.Cause.Error()
	}
	return e.Key
}

func (e *PageError) Unwrap() error { return e.Cause }

// Refuse returns a PageError.
func Refuse(status int, key string, cause error) error {
	return &PageError{Status: status, Key: key, Cause: cause}
}
