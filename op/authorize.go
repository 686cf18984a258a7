package op

// Answers a browser gets from the authorization endpoint, its callback and
// end_session. Two rules hold for all of them:
//
//   - Every authorization response sent to the client, a code or an error,
//     names the issuer in iss (RFC 9207), so a client that talks to several
//     OPs can tell which one answered. The library's encoder adds nothing
//     of the kind; ours adds iss wherever the response mode puts the
//     parameters, and it is the only encoder authorization responses are
//     built with (New, loginRequired, callback).
//   - A refusal that cannot go to the client (unknown client_id, a
//     redirect_uri that is missing or not registered, a request that cannot
//     be read) is a page in the employee's language, never the library's
//     JSON (D2). The library writes those refusals itself, so showRefusals
//     catches the error status on its way out and hands the browser to
//     Config.ShowError with the reason the request was refused for.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	oidcop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/asnidp/asnidp/storage"
)

// Reasons a refusal page gives, in plain words: each is a message key of
// the pages' catalogues (internal/i18n), which the catalogue test checks.
const (
	ReasonClientMissing = "authorize.client_missing"
	ReasonClientUnknown = "authorize.client_unknown"
	ReasonRedirectURI   = "authorize.redirect_uri"
	ReasonRequestObject = "authorize.request_object"
	ReasonRequestURI    = "authorize.request_uri"
	ReasonRepeated      = "authorize.repeated"
	ReasonMalformed     = "authorize.malformed"
	ReasonTooLarge      = "authorize.too_large"
	ReasonLogoutURI     = "authorize.post_logout_redirect_uri"
	ReasonUnavailable   = "error.unavailable"
)

// Reasons lists every reason a refusal page may give.
var Reasons = []string{
	ReasonClientMissing, ReasonClientUnknown, ReasonRedirectURI, ReasonRequestObject, ReasonRequestURI, ReasonRepeated,
	ReasonMalformed, ReasonTooLarge, ReasonLogoutURI, ReasonUnavailable,
}

// ErrorPage is a refusal the browser is shown instead of being sent to the
// client.
type ErrorPage struct {
	Status int
	// Reason says why in plain words: one of Reasons.
	Reason string
	// Error and Description are the OAuth error, for the service's
	// developers.
	Error, Description string
	// Back is the home of the registered client the request named
	// (scheme and host of its first redirect URI), or "" when no
	// registered client was named.
	Back string
	// UILocales are the languages the request asked for (ui_locales).
	UILocales []string
}

// browserPaths are the protocol endpoints a browser is sent to.
var browserPaths = map[string]bool{
	oidcop.DefaultEndpoints.Authorization.Relative():               true,
	oidcop.DefaultEndpoints.Authorization.Relative() + "/callback": true,
	oidcop.DefaultEndpoints.EndSession.Relative():                  true,
}

// issEncoder encodes authorization responses: the library's form encoding
// plus iss (RFC 9207 §2), in the query, the fragment or the form alike.
type issEncoder struct {
	inner  httphelper.Encoder
	issuer string
}

func (e issEncoder) Encode(src any, dst map[string][]string) error {
	if err := e.inner.Encode(src, dst); err != nil {
		return err
	}
	dst["iss"] = []string{e.issuer}
	return nil
}

// issAuthorizer is the provider with the issEncoder, for the library's
// code and error responses at the callback.
type issAuthorizer struct {
	oidcop.Authorizer
	encoder issEncoder
}

func (a issAuthorizer) Encoder() httphelper.Encoder { return a.encoder }

// refusal is what the provider's own checks learnt about a request to a
// browser endpoint that they refused: the reason and the way back.
type refusal struct {
	reason string
	back   string
}

type refusalKey struct{}

// refuse notes why the request of ctx is refused, for its page; outside a
// browser endpoint it does nothing.
func refuse(ctx context.Context, reason string, c *storage.Client) {
	n, ok := ctx.Value(refusalKey{}).(*refusal)
	if !ok {
		return
	}
	n.reason = reason
	if c != nil {
		n.back = clientHome(c)
	}
}

// clientHome is where a page sends the browser back to a registered
// client: the scheme and host of its first redirect URI, checked at
// registration.
func clientHome(c *storage.Client) string {
	if len(c.RedirectURIs) == 0 {
		return ""
	}
	u, err := url.Parse(c.RedirectURIs[0])
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host + "/"
}

// showRefusals turns every error status on a browser endpoint into the
// page of Config.ShowError: the library's JSON (or plain text) is
// dropped, its error code kept for the page. Redirects and pages pass.
func (p *Provider) showRefusals(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.cfg.ShowError == nil || !browserPaths[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		note := &refusal{}
		r = r.WithContext(context.WithValue(r.Context(), refusalKey{}, note))
		cw := &refusalWriter{ResponseWriter: w}
		next.ServeHTTP(cw, r)
		if cw.status == 0 {
			return
		}
		var oe struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(cw.body.Bytes(), &oe) // plain text leaves both empty
		page := ErrorPage{
			Status:      cw.status,
			Reason:      note.reason,
			Error:       oe.Error,
			Description: oe.Description,
			Back:        note.back,
			UILocales:   strings.Fields(r.Form.Get("ui_locales")),
		}
		if page.Reason == "" {
			page.Reason = ReasonMalformed
			if cw.status >= 500 {
				page.Reason = ReasonUnavailable
			}
		}
		w.Header().Del("Content-Type")
		p.cfg.ShowError(w, r, page)
	})
}

// refusalWriter holds back an error answer: the status and at most
// maxRefusalBody bytes of the body, to read its error code.
type refusalWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
	wrote  bool
}

const maxRefusalBody = 8 << 10

func (w *refusalWriter) WriteHeader(status int) {
	if w.wrote || w.status != 0 {
		return
	}
	if status >= 400 {
		w.status = status
		return
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(status)
}

func (w *refusalWriter) Write(b []byte) (int, error) {
	if !w.wrote && w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.status != 0 {
		if room := maxRefusalBody - w.body.Len(); room > 0 {
			w.body.Write(b[:min(len(b), room)])
		}
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *refusalWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
