// Package cookie names and builds asnidp's cookies in one place, so the OIDC
// endpoints and the login pages agree on them: HttpOnly, Path=/, no Domain,
// and with an https issuer Secure plus the __Host- prefix, which a sibling
// subdomain cannot plant or overwrite.
package cookie

import (
	"net/http"
	"time"
)

// Cookie base names.
const (
	// Session holds the random SSO session value (hashed server-side).
	Session = "asnidp_session"
	// Browser binds authorization requests to the browser that started
	// them. It is Lax because /authorize is reached by a cross-site
	// navigation and the redirects after it must still carry it.
	Browser = "asnidp_browser"
	// CSRF holds the anti-forgery token of the login forms.
	CSRF = "asnidp_csrf"
	// Device is a long-lived random value naming this browser, so that a
	// sign-in from a browser the account has not used before is mailed.
	// It is a value the browser keeps, not a fingerprint.
	Device = "asnidp_device"
)

// Jar builds cookies for one deployment.
type Jar struct {
	// Secure is true when the issuer is https.
	Secure bool
}

// Name is the cookie's name on the wire.
func (j Jar) Name(base string) string {
	if j.Secure {
		return "__Host-" + base
	}
	return base
}

// New builds a cookie; maxAge 0 makes it a browser-session cookie.
func (j Jar) New(base, value string, maxAge time.Duration, sameSite http.SameSite) *http.Cookie {
	return &http.Cookie{
		Name:     j.Name(base),
		Value:    value,
		Path:     "/",
		MaxAge:   int(maxAge / time.Second),
		HttpOnly: true,
		Secure:   j.Secure,
		SameSite: sameSite,
	}
}

// Clear builds a cookie that deletes base.
func (j Jar) Clear(base string, sameSite http.SameSite) *http.Cookie {
	c := j.New(base, "", 0, sameSite)
	c.MaxAge = -1
	return c
}

// Value returns the cookie's value in r, or "".
func (j Jar) Value(r *http.Request, base string) string {
	c, err := r.Cookie(j.Name(base))
	if err != nil {
		return ""
	}
	return c.Value
}

// ValueFromHeader is Value for code that holds only the request headers.
func (j Jar) ValueFromHeader(h http.Header, base string) string {
	return j.Value(&http.Request{Header: h}, base)
}
