package op

// Request objects by value (RFC 9101) and the answers of /authorize that
// asnidp gives before the library reads the request.
//
// A client that registered keys may send its authorization request as a
// signed JWT in request=. The object is verified (clientkeys.go, D18) and
// then its parameters are the request (RFC 9101 §6.3): the query's are
// ignored, except that client_id must be in the query and the query's
// redirect_uri and response_type, when sent, must equal the object's.
// What the library then validates is exactly what the client signed.
//
// A client without keys gets request_not_supported, as before (D15), and a
// request_uri that is not one asnidp issued at its PAR endpoint gets
// request_uri_not_supported: asnidp never fetches a request object.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	oidcop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/storage"
)

const (
	// maxRequestObjectLifetime is how far ahead a request object's exp may
	// lie (as FAPI 2.0 Message Signing bounds it).
	maxRequestObjectLifetime = time.Hour

	errInvalidRequestObject = "invalid_request_object"
	errInvalidRequestURI    = "invalid_request_uri"
)

// requestObjectTypes are the typ headers of a request object: RFC 9101's
// own, the generic one, or none.
var requestObjectTypes = []string{"", "JWT", "oauth-authz-req+jwt"}

// jwtOnlyClaims are the claims of a request object that are not
// authorization parameters.
var jwtOnlyClaims = map[string]bool{"iss": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true, "sub": true}

// requestObjectParams verifies client c's request object and returns the
// authorization parameters it carries, with client_id; query is the rest
// of the request it came in.
func (p *Provider) requestObjectParams(ctx context.Context, c *storage.Client, object string, query url.Values) (url.Values, error) {
	payload, err := p.verifyClientJWS(ctx, c, object, requestObjectTypes...)
	if err != nil {
		return nil, err
	}
	var std jwtClaims
	if err := json.Unmarshal(payload, &std); err != nil {
		return nil, fmt.Errorf("claims cannot be read: %w", err)
	}
	if std.Issuer != c.ID {
		return nil, errors.New("iss must be the client_id")
	}
	if !std.Audience.Contains(p.cfg.Issuer) {
		return nil, errors.New("aud must be the issuer")
	}
	if err := std.checkTimes(p.now(), maxRequestObjectLifetime); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return nil, fmt.Errorf("claims cannot be read: %w", err)
	}
	out := url.Values{}
	for k, v := range claims {
		if jwtOnlyClaims[k] {
			continue
		}
		if k == "request" || k == "request_uri" {
			return nil, fmt.Errorf("a request object must not contain %s", k)
		}
		switch v := v.(type) {
		case string:
			out.Set(k, v)
		case json.Number:
			out.Set(k, v.String())
		case bool:
			out.Set(k, strconv.FormatBool(v))
		case map[string]any:
			if k != "claims" {
				return nil, fmt.Errorf("parameter %s must be a string or a number", safeName(k))
			}
			b, _ := json.Marshal(v)
			out.Set(k, string(b))
		default:
			return nil, fmt.Errorf("parameter %s must be a string or a number", safeName(k))
		}
	}
	if id := out.Get("client_id"); out.Has("client_id") && id != c.ID {
		return nil, errors.New("client_id in the object differs from the query's")
	}
	out.Set("client_id", c.ID)
	for _, k := range []string{"redirect_uri", "response_type"} {
		if query.Has(k) && query.Get(k) != out.Get(k) {
			return nil, fmt.Errorf("%s in the query differs from the request object's", k)
		}
	}
	return out, nil
}

// resolveRequestObjects runs before the library at /authorize. A request
// with request= from a client with keys has its parameters replaced by
// the verified object's; one with a request_uri of asnidp's PAR endpoint
// by the pushed request's (usePushed). Every other request object is
// refused unread.
func (p *Provider) resolveRequestObjects(next http.Handler) http.Handler {
	authorize := oidcop.DefaultEndpoints.Authorization.Relative()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form := r.Form
		if r.URL.Path != authorize || (!form.Has("request") && !form.Has("request_uri")) {
			next.ServeHTTP(w, r)
			return
		}
		ctx := r.Context()
		if form.Has("request_uri") && strings.HasPrefix(form.Get("request_uri"), RequestURIPrefix) && !form.Has("request") {
			p.usePushed(w, r, next)
			return
		}
		c, err := p.trustedRedirect(ctx, form.Get("client_id"), form.Get("redirect_uri"))
		if form.Has("request") && !form.Has("request_uri") && c != nil && c.HasKeys() {
			params, err := p.requestObjectParams(ctx, c, form.Get("request"), form)
			if err != nil {
				p.log.InfoContext(ctx, "request object refused", "client_id", c.ID, "reason", err)
				p.record(ctx, storage.AuditEvent{Type: audit.RequestObjectRefused, Outcome: audit.Failure, Reason: "request object does not verify", ClientID: c.ID})
				e := &oidc.Error{ErrorType: errInvalidRequestObject, Description: "request object refused: " + err.Error()}
				p.refuseAuthorization(w, r, c, form, p.objectRedirectURI(c, form), e, ReasonRequestObject)
				return
			}
			replaceForm(form, params)
			next.ServeHTTP(w, r)
			return
		}
		if err != nil && c != nil {
			// The client is known but its redirect_uri is not: most likely
			// it is inside the object, which is what the page says.
			refuse(ctx, ReasonRequestObject, c)
			err = oidcop.NewStatusError(oidc.ErrRequestNotSupported().WithDescription(
				"request objects are not supported for this client, and redirect_uri outside the object is missing or not registered"), http.StatusBadRequest)
		}
		if err != nil {
			oidcop.WriteError(w, r, err, nil)
			return
		}
		e := oidc.ErrRequestNotSupported().WithDescription("request objects are not supported for this client (it has no registered keys)")
		switch {
		case form.Has("request") && form.Has("request_uri"):
			e = oidc.ErrInvalidRequest().WithDescription("request and request_uri cannot both be sent")
		case !form.Has("request"):
			e = &oidc.Error{ErrorType: "request_uri_not_supported", Description: "request_uri is supported only as issued by the pushed authorization request endpoint"}
		}
		p.refuseAuthorization(w, r, c, form, form.Get("redirect_uri"), e, ReasonRequestObject)
	})
}

// objectRedirectURI is where a refused request object of c is answered:
// the query's redirect_uri or, for an RFC 9101 client that sends it in the
// object only, the object's; either only when registered for c (checked
// by refuseAuthorization), so an unverified object sends nobody anywhere
// c did not register.
func (p *Provider) objectRedirectURI(c *storage.Client, form url.Values) string {
	if form.Has("redirect_uri") {
		return form.Get("redirect_uri")
	}
	parts := strings.Split(form.Get("request"), ".")
	if len(parts) != 3 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		RedirectURI string `json:"redirect_uri"`
	}
	if json.Unmarshal(raw, &claims) != nil || !slices.Contains(c.RedirectURIs, claims.RedirectURI) {
		return ""
	}
	return claims.RedirectURI
}

// refuseAuthorization answers an authorization request refused before the
// library saw it: at redirectURI with e, the state of params and iss when
// redirectURI is registered for c; otherwise with the page of reason.
func (p *Provider) refuseAuthorization(w http.ResponseWriter, r *http.Request, c *storage.Client, params url.Values, redirectURI string, e *oidc.Error, reason string) {
	ctx := r.Context()
	if c != nil && redirectURI != "" && slices.Contains(c.RedirectURIs, redirectURI) {
		e.State = params.Get("state")
		u, err := oidcop.AuthResponseURL(redirectURI, oidc.ResponseType(params.Get("response_type")),
			oidc.ResponseMode(params.Get("response_mode")), e, p.encoder)
		if err == nil {
			p.log.InfoContext(ctx, "authorization request refused", "client_id", c.ID, "error", e.ErrorType, "description", e.Description)
			http.Redirect(w, r, u, http.StatusFound)
			return
		}
	}
	refuse(ctx, reason, c)
	oidcop.WriteError(w, r, oidcop.NewStatusError(e, http.StatusBadRequest), nil)
}

// replaceForm makes params the whole of form, in place, so every reader
// of the request (the library, the refusal page) sees the same request.
func replaceForm(form, params url.Values) {
	clear(form)
	for k, v := range params {
		form[k] = slices.Clone(v)
	}
}
