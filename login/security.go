package login

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

// contentSecurityPolicy allows no script at all and no framing: the pages
// are plain forms.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// securityHeaders sets the headers of docs/security.md on every response.
func (h *Handler) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		hd := c.Response().Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		hd.Set("Pragma", "no-cache")
		if h.opts.Cookies.Secure {
			hd.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		return next(c)
	}
}

// maxFormBody bounds a login form; the longest field (a password) is far
// shorter.
const maxFormBody = 64 << 10

func (h *Handler) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.ContentLength > maxFormBody {
			return fail(http.StatusRequestEntityTooLarge, "error.bad_request", nil)
		}
		r.Body = http.MaxBytesReader(c.Response(), r.Body, maxFormBody)
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				return fail(http.StatusBadRequest, "error.bad_request", err)
			}
		}
		return next(c)
	}
}

const csrfContextKey = "csrf"

// csrf is a double-submit token: a random value in a Strict cookie that
// every form echoes. A POST without it, with another value, or announced
// as cross-site by the browser is refused before any handler runs (E5).
func (h *Handler) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		token := h.opts.Cookies.Value(r, cookie.CSRF)
		if len(token) != 43 {
			token = secret.Token()
			c.SetCookie(h.opts.Cookies.New(cookie.CSRF, token, 0, http.SameSiteStrictMode))
		}
		c.Set(csrfContextKey, token)
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			return next(c)
		}
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
			return fail(http.StatusForbidden, "error.csrf", errCrossSite)
		}
		// Under Referrer-Policy no-referrer browsers send "Origin: null"
		// even on same-origin posts; they say where the post came from in
		// Sec-Fetch-Site, which pages cannot set.
		nullFromSelf := r.Header.Get("Origin") == "null" && r.Header.Get("Sec-Fetch-Site") == "same-origin"
		if origin := r.Header.Get("Origin"); origin != "" && !nullFromSelf && !h.sameOrigin(origin) {
			return fail(http.StatusForbidden, "error.csrf", errCrossSite)
		}
		sent := r.PostForm.Get("csrf")
		if len(r.PostForm["csrf"]) != 1 || subtle.ConstantTimeCompare([]byte(sent), []byte(token)) != 1 {
			return fail(http.StatusForbidden, "error.csrf", errCSRFToken)
		}
		return next(c)
	}
}

type csrfError string

func (e csrfError) Error() string { return string(e) }

const (
	errCrossSite = csrfError("cross-site form post")
	errCSRFToken = csrfError("csrf token missing or wrong")
)

func (h *Handler) sameOrigin(origin string) bool {
	issuer, err := url.Parse(h.opts.Issuer)
	if err != nil {
		return false
	}
	return strings.EqualFold(origin, issuer.Scheme+"://"+issuer.Host)
}

func csrfToken(c echo.Context) string {
	if v, ok := c.Get(csrfContextKey).(string); ok {
		return v
	}
	return ""
}

// ipExtractor returns the client IP: the socket peer, unless the peer is
// a configured trusted proxy, in which case the right-most untrusted
// X-Forwarded-For entry. Rotating forwarding headers therefore changes
// nothing for a client that talks to us directly (B4).
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
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
