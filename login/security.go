package login

import (
	"net/netip"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/cookie"
	"github.com/asnidp/asnidp/internal/webguard"
)

// contentSecurityPolicy is the pages' policy (internal/webguard).
const contentSecurityPolicy = webguard.ContentSecurityPolicy

// securityHeaders sets the headers of docs/security.md on every response.
func (h *Handler) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return webguard.SecurityHeaders(h.opts.Cookies.Secure)(next)
}

// maxFormBody bounds a login form; the longest field (a password) is far
// shorter.
const maxFormBody = 64 << 10

func (h *Handler) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return webguard.LimitBody(maxFormBody, func(status int, cause error) error {
		return fail(status, "error.bad_request", cause)
	})(next)
}

// csrf is the double-submit check of internal/webguard: a POST without
// this browser's token, with another value, or announced as cross-site by
// the browser is refused before any handler runs (E5).
func (h *Handler) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return webguard.CSRF{
		Jar: h.opts.Cookies, Cookie: cookie.CSRF, Origin: webguard.Origin(h.opts.Issuer),
		Fail: func(status int, cause error) error { return fail(status, "error.csrf", cause) },
	}.Middleware(next)
}

func csrfToken(c echo.Context) string { return webguard.Token(c) }

// ipExtractor is internal/webguard's client IP rule (B4).
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor { return webguard.IPExtractor(trusted) }
