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
	"github.com/zitadel/oidc/v3/pkg/oidc"
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
	ReasonRepeated      = "authorize.repeated"
	ReasonMalformed     = "authorize.malformed"
	ReasonTooLarge      = "authorize.too_large"
	ReasonLogoutURI     = "authorize.post_logout_redirect_uri"
	ReasonUnavailable   = "error.unavailable"
)

// Reasons lists every reason a refusal page may give.
var Reasons = []string{
	ReasonClientMissing, ReasonClientUnknown, ReasonRedirectURI, ReasonRequestObject, ReasonRepeated,
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

// refuseRequestObjects answers an authorization request that carries a
// request object (RFC 9101: request or request_uri) before the library
// reads it. asnidp supports neither (discovery says so), and never parses
// or fetches one. With a registered client and redirect_uri the client
// gets request_not_supported or request_uri_not_supported (OpenID Connect
// Core §3.1.2.6), with its state and iss; otherwise the page says that
// request objects are not supported, which is why such a request often
// has no redirect_uri outside the object.
func (p *Provider) refuseRequestObjects(next http.Handler) http.Handler {
	authorize := oidcop.DefaultEndpoints.Authorization.Relative()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != authorize || (!r.Form.Has("request") && !r.Form.Has("request_uri")) {
			next.ServeHTTP(w, r)
			return
		}
		ctx := r.Context()
		c, err := p.trustedRedirect(ctx, r.Form.Get("client_id"), r.Form.Get("redirect_uri"))
		if err != nil && c != nil {
			// The client is known but its redirect_uri is not: most likely
			// it is inside the object, which is what the page says.
			refuse(ctx, ReasonRequestObject, c)
			err = oidcop.NewStatusError(oidc.ErrRequestNotSupported().WithDescription(
				"request objects are not supported, and redirect_uri outside the object is missing or not registered"), http.StatusBadRequest)
		}
		if err != nil {
			oidcop.WriteError(w, r, err, nil)
			return
		}
		e := oidc.ErrRequestNotSupported().WithDescription("request objects are not supported")
		if !r.Form.Has("request") {
			e = &oidc.Error{ErrorType: "request_uri_not_supported", Description: "request_uri is not supported"}
		}
		e.State = r.Form.Get("state")
		u, err := oidcop.AuthResponseURL(r.Form.Get("redirect_uri"), oidc.ResponseType(r.Form.Get("response_type")),
			oidc.ResponseMode(r.Form.Get("response_mode")), e, p.encoder)
		if err != nil {
			oidcop.WriteError(w, r, err, nil)
			return
		}
		p.log.InfoContext(ctx, "request object refused", "client_id", c.ID, "error", e.ErrorType)
		http.Redirect(w, r, u, http.StatusFound)
	})
}
