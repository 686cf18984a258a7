package main

// What a browser gets back from /authorize: the issuer named in every
// response to the client (D14), a page for every refusal that cannot go to
// the client (D2), and request objects refused (D15).

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asnidp/asnidp/internal/i18n"
	"github.com/asnidp/asnidp/op"
)

// wantIss checks that a redirect to the client names the OP in exactly one
// iss parameter (RFC 9207 §2).
func wantIss(t *testing.T, what string, p *page, issuer string) {
	t.Helper()
	q := mustQuery(t, p.location())
	if got := q["iss"]; !slices.Equal(got, []string{issuer}) {
		t.Errorf("%s: Location %q has iss %q, want exactly [%s]", what, p.location(), got, issuer)
	}
}

// TestProtocol_D14_IssuerInEveryAuthorizationResponse: a code, after a
// login or silently from the SSO session, and every error sent to the
// client carry iss; discovery says so.
func TestProtocol_D14_IssuerInEveryAuthorizationResponse(t *testing.T) {
	f := startProtoOP(t)
	b := newBrowser(t)

	// prompt=none before any session: login_required at the client.
	params := authParams("profil", protoRedirect, newPKCE(), "prompt", "none")
	got := b.get(authorizeURL(f.URL, params))
	wantAuthorizeError(t, "prompt=none without a session", got, protoRedirect, "login_required")
	wantIss(t, "prompt=none without a session", got, f.URL)
	if q := mustQuery(t, got.location()); q.Get("state") != params["state"] {
		t.Errorf("login_required state = %q, want %q", q.Get("state"), params["state"])
	}

	// An error of the request itself, raised by the library's checks or ours.
	for _, kv := range [][]string{{"code_challenge_method", "plain"}, {"response_mode", "form_post"}, {"prompt", "none login"}} {
		got := b.get(authorizeURL(f.URL, authParams("app", appRedirect, newPKCE(), kv...)))
		if loc := got.location(); !strings.HasPrefix(loc, appRedirect+"?") || !mustQuery(t, loc).Has("error") {
			t.Errorf("%s=%s = %d %q, want an error at the client", kv[0], kv[1], got.status, loc)
			continue
		}
		wantIss(t, kv[0]+"="+kv[1], got, f.URL)
	}

	// A code after the login pages, then one silently from the session.
	for _, what := range []string{"code after login", "code from the SSO session"} {
		params := authParams("profil", protoRedirect, newPKCE())
		p := b.follow(f.URL, authorizeURL(f.URL, params))
		if p.status == http.StatusOK {
			if what != "code after login" {
				t.Fatalf("%s: the login page was shown", what)
			}
			p = passLogin(t, f.testOP, b, p, f.user)
		}
		codeFrom(t, p, protoRedirect)
		wantIss(t, what, p, f.URL)
	}

	// With the session, a silent request it cannot answer (max_age=0) is
	// login_required, with iss.
	got = b.get(authorizeURL(f.URL, authParams("profil", protoRedirect, newPKCE(), "prompt", "none", "max_age", "0")))
	wantAuthorizeError(t, "prompt=none max_age=0", got, protoRedirect, "login_required")
	wantIss(t, "prompt=none max_age=0", got, f.URL)

	var d map[string]any
	if err := json.Unmarshal([]byte(b.get(f.URL+"/.well-known/openid-configuration").body), &d); err != nil {
		t.Fatal(err)
	}
	if d["authorization_response_iss_parameter_supported"] != true {
		t.Errorf("discovery authorization_response_iss_parameter_supported = %v, want true", d["authorization_response_iss_parameter_supported"])
	}
}

// wantRefusalPage checks that the OP answered a browser itself: 400, an
// HTML page titled "Permintaan tidak valid" (or its English) giving
// reason, the pages' security headers, and no redirect.
func wantRefusalPage(t *testing.T, what string, p *page, lang, reason string) {
	t.Helper()
	c, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	l := c.Localizer(lang)
	if p.status != http.StatusBadRequest || p.location() != "" {
		t.Errorf("%s = %d Location %q, want 400 without a redirect", what, p.status, p.location())
	}
	if ct := p.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("%s: Content-Type %q, want an HTML page", what, ct)
	}
	title := htmlText(l.T("authorize.title"))
	if !strings.Contains(p.body, "<h1>"+title+"</h1>") || !strings.Contains(p.body, `lang="`+lang+`"`) {
		t.Errorf("%s: want a %s page titled %q:\n%s", what, lang, title, p.body)
	}
	if !strings.Contains(p.body, htmlText(l.T(reason))) {
		t.Errorf("%s: page does not give the reason %s (%q):\n%s", what, reason, l.T(reason), p.body)
	}
	if !strings.HasPrefix(p.body, "<!doctype html>") {
		t.Errorf("%s: not a page:\n%s", what, p.body)
	}
	back := regexp.MustCompile(`<a class="button" href="([^"]+)">`).FindStringSubmatch(p.body)
	if back == nil {
		t.Errorf("%s: page has no way back:\n%s", what, p.body)
	}
	h := p.header
	for k, want := range map[string]string{
		"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
	} {
		if h.Get(k) != want {
			t.Errorf("%s: %s = %q, want %q", what, k, h.Get(k), want)
		}
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("%s: Content-Security-Policy = %q, want the pages' policy", what, csp)
	}
}

// htmlText is s as html/template writes it in text.
func htmlText(s string) string {
	return strings.NewReplacer("&", "&amp;", "'", "&#39;", "<", "&lt;", ">", "&gt;", `"`, "&#34;").Replace(s)
}

// TestProtocol_D2_RefusalPages: an authorization request whose answer
// cannot go to the client is a page in the employee's language with the
// reason and a way back; nothing links or redirects to an untrusted
// address, and the back-channel endpoints keep their JSON.
func TestProtocol_D2_RefusalPages(t *testing.T) {
	f := startProtoOP(t)
	b := newBrowser(t)
	p := newPKCE()
	evil := "https://evil.example/cb"

	for _, tc := range []struct {
		name     string
		params   map[string]string
		reason   string
		wantBack string
	}{
		{"unknown client", authParams("nobody", appRedirect, p), op.ReasonClientUnknown, "/login/account"},
		{"no client_id", authParams("", appRedirect, p), op.ReasonClientMissing, "/login/account"},
		{"redirect_uri not registered", authParams("profil", evil, p), op.ReasonRedirectURI, "https://profil.example.go.id/"},
		{"redirect_uri missing", authParams("profil", "", p), op.ReasonRedirectURI, "https://profil.example.go.id/"},
		{"malformed max_age", authParams("profil", protoRedirect, p, "max_age", "abc"), op.ReasonMalformed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := b.get(authorizeURL(f.URL, tc.params))
			wantRefusalPage(t, "GET", got, "id", tc.reason)
			if tc.wantBack != "" && !strings.Contains(got.body, `<a class="button" href="`+tc.wantBack+`">`) {
				t.Errorf("the way back is not %s:\n%s", tc.wantBack, got.body)
			}
			if strings.Contains(got.body, `href="`+evil) {
				t.Errorf("the page links to the unregistered %s", evil)
			}
			got = b.postForm(f.URL+"/authorize", urlValues(tc.params), nil)
			wantRefusalPage(t, "POST", got, "id", tc.reason)
		})
	}
	t.Run("repeated parameter", func(t *testing.T) {
		got := b.get(authorizeURL(f.URL, authParams("profil", protoRedirect, p)) + "&redirect_uri=" + url.QueryEscape(evil))
		wantRefusalPage(t, "GET", got, "id", op.ReasonRepeated)
	})

	t.Run("English", func(t *testing.T) {
		got := b.get(authorizeURL(f.URL, authParams("nobody", appRedirect, p, "ui_locales", "en")))
		wantRefusalPage(t, "ui_locales=en", got, "en", op.ReasonClientUnknown)

		// The page's own language link shows the same refusal in English
		// and keeps the choice in the lang cookie, as the login pages do.
		plain := b.get(authorizeURL(f.URL, authParams("profil", evil, p)))
		link := regexp.MustCompile(`href="(\?[^"]*lang=en[^"]*)" hreflang="en"`).FindStringSubmatch(plain.body)
		if link == nil {
			t.Fatalf("refusal page has no English link:\n%s", plain.body)
		}
		got = b.get(f.URL + "/authorize" + strings.ReplaceAll(link[1], "&amp;", "&"))
		wantRefusalPage(t, "English link", got, "en", op.ReasonRedirectURI)
		got = b.get(authorizeURL(f.URL, authParams("nobody", appRedirect, p)))
		wantRefusalPage(t, "lang cookie", got, "en", op.ReasonClientUnknown)
	})

	t.Run("back-channel endpoints keep JSON", func(t *testing.T) {
		for _, tc := range []struct {
			path string
			form url.Values
		}{
			{tokenPath, url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}, "redirect_uri": {protoRedirect}}},
			{tokenPath, url.Values{"grant_type": {"authorization_code"}, "code": {"a", "b"}}},
			{introspectPath, url.Values{}},
			{revokePath, url.Values{"token": {"a"}, "token_type_hint": {"a", "b"}}},
		} {
			got := mustOAuthPost(t, f.testOP, tc.path, "profil", f.secret["profil"], tc.form)
			if got.status < 400 || !strings.HasPrefix(got.header.Get("Content-Type"), "application/json") || got.Error == "" {
				t.Errorf("POST %s %v = %d %q %s, want a JSON OAuth error", tc.path, tc.form, got.status, got.header.Get("Content-Type"), got.body)
			}
		}
		req, _ := http.NewRequest(http.MethodGet, f.URL+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer nope")
		got := b.do(req)
		if got.status != http.StatusUnauthorized || strings.HasPrefix(got.header.Get("Content-Type"), "text/html") {
			t.Errorf("userinfo with a bad token = %d %q, want 401 and no page", got.status, got.header.Get("Content-Type"))
		}
	})
}

// TestProtocol_D15_RequestObjectsRefused: from a client without registered
// keys, request and request_uri are refused at the client with the error
// RFC 9101 names, state and iss, and never parsed or fetched; without a
// trusted redirect_uri the page says that request objects are not
// supported. Discovery says a request_uri outside PAR is not.
func TestProtocol_D15_RequestObjectsRefused(t *testing.T) {
	f := startProtoOP(t)
	b := newBrowser(t)
	object := "eyJhbGciOiJub25lIn0.eyJyZWRpcmVjdF91cmkiOiJodHRwczovL2V2aWwuZXhhbXBsZS9jYiJ9."
	for _, tc := range []struct{ param, want string }{
		{"request", "request_not_supported"},
		{"request_uri", "request_uri_not_supported"},
	} {
		value := object
		if tc.param == "request_uri" {
			value = "https://profil.example.go.id/request.jwt"
		}
		t.Run(tc.param, func(t *testing.T) {
			params := authParams("profil", protoRedirect, newPKCE(), tc.param, value)
			for _, got := range []*page{b.get(authorizeURL(f.URL, params)), b.postForm(f.URL+"/authorize", urlValues(params), nil)} {
				wantAuthorizeError(t, tc.param, got, protoRedirect, tc.want)
				wantIss(t, tc.param, got, f.URL)
				if q := mustQuery(t, got.location()); q.Get("state") != params["state"] {
					t.Errorf("%s: state = %q, want %q", tc.param, q.Get("state"), params["state"])
				}
			}

			// An RFC 9101 client sends redirect_uri inside the object only.
			got := b.get(authorizeURL(f.URL, authParams("profil", "", newPKCE(), tc.param, value)))
			wantRefusalPage(t, tc.param+" without redirect_uri", got, "id", op.ReasonRequestObject)
			got = b.get(authorizeURL(f.URL, authParams("nobody", appRedirect, newPKCE(), tc.param, value)))
			wantRefusalPage(t, tc.param+" of an unknown client", got, "id", op.ReasonClientUnknown)
		})
	}

	var d map[string]any
	if err := json.Unmarshal([]byte(b.get(f.URL+"/.well-known/openid-configuration").body), &d); err != nil {
		t.Fatal(err)
	}
	// Request objects are supported for clients with keys (D18); a
	// request_uri only as the PAR endpoint issues it (D17).
	if v, ok := d["request_uri_parameter_supported"]; !ok || v != false {
		t.Errorf("discovery request_uri_parameter_supported = %v (present %v), want false", v, ok)
	}
}

// Every reason the OP gives on a refusal page is in both catalogues.
func TestProtocol_RefusalReasonsInCatalog(t *testing.T) {
	c, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"id", "en"} {
		for _, key := range append(slices.Clone(op.Reasons), "authorize.title", "authorize.back_client", "authorize.back_account") {
			if !slices.Contains(c.Keys(lang), key) {
				t.Errorf("catalog %s has no %q", lang, key)
			}
		}
	}
}

// TestProtocol_D19_ACRValues: acr_values naming no level this OP can
// satisfy is unmet_authentication_requirements at the client, with state
// and iss; naming its level (alone or among others) signs in with both
// factors and the ID token carries that acr.
func TestProtocol_D19_ACRValues(t *testing.T) {
	f := startProtoOP(t)
	b := newBrowser(t)
	params := authParams("profil", protoRedirect, newPKCE(), "acr_values", "urn:example:loa:4 urn:example:loa:5")
	got := b.get(authorizeURL(f.URL, params))
	wantAuthorizeError(t, "unsatisfiable acr_values", got, protoRedirect, "unmet_authentication_requirements")
	wantIss(t, "unsatisfiable acr_values", got, f.URL)
	if q := mustQuery(t, got.location()); q.Get("state") != params["state"] {
		t.Errorf("unmet_authentication_requirements state = %q, want %q", q.Get("state"), params["state"])
	}

	pk := newPKCE()
	params = authParams("profil", protoRedirect, pk, "acr_values", "urn:example:loa:4 "+f.cfg.Login.ACR)
	tokens := f.redeem(t, "profil", f.code(t, b, params), protoRedirect, pk.verifier)
	if got := jwtClaims(t, tokens.IDToken)["acr"]; got != f.cfg.Login.ACR {
		t.Errorf("acr with acr_values naming it = %v, want %q", got, f.cfg.Login.ACR)
	}
}

// TestProtocol_D20_StepUp: a client naming the step-up level inside a live
// SSO session gets the code page, not a code: no silent completion (not
// even with prompt=none), no callback before the code, no code from the
// session's earlier second factor. After the code the ID token carries
// the step-up acr and a new auth_time in the same session, whose other
// service stays signed in. Naming the default level first keeps SSO
// silent.
func TestProtocol_D20_StepUp(t *testing.T) {
	f := startProtoOP(t)
	b := newBrowser(t)
	stepUp, base := f.cfg.Login.StepUpACR, f.cfg.Login.ACR

	pk := newPKCE()
	first := f.redeem(t, "profil", f.code(t, b, authParams("profil", protoRedirect, pk)), protoRedirect, pk.verifier)
	wantTokens(t, "first sign-in", first)
	firstClaims := jwtClaims(t, first.IDToken)
	f.clock.Advance(2 * time.Minute)

	silent := b.get(authorizeURL(f.URL, authParams("other", protoRedirect, newPKCE(), "acr_values", stepUp, "prompt", "none")))
	wantAuthorizeError(t, "step-up with prompt=none", silent, protoRedirect, "interaction_required")

	// Naming the default level first: the session suffices, no page.
	pk = newPKCE()
	params := authParams("other", protoRedirect, pk, "acr_values", base+" "+stepUp)
	p := b.follow(f.URL, authorizeURL(f.URL, params))
	code, _ := codeFrom(t, p, protoRedirect)
	if got := jwtClaims(t, f.redeem(t, "other", code, protoRedirect, pk.verifier).IDToken)["acr"]; got != base {
		t.Errorf("acr with %q preferred = %v, want %q", base, got, base)
	}

	pk = newPKCE()
	params = authParams("other", protoRedirect, pk, "acr_values", stepUp)
	otp := b.follow(f.URL, authorizeURL(f.URL, params))
	if otp.status != http.StatusOK || !strings.Contains(otp.body, `action="/login/otp"`) || strings.Contains(otp.body, `name="password"`) {
		t.Fatalf("step-up in a session: want the code page without a password field, got %d at %s:\n%s", otp.status, otp.url, otp.body)
	}
	if !strings.Contains(otp.body, "sekali lagi") {
		t.Errorf("step-up code page does not say why the code is asked again:\n%s", otp.body)
	}
	id := otp.url.Query().Get("id")
	early := b.get(f.URL + "/authorize/callback?id=" + id)
	if loc := early.location(); strings.HasPrefix(loc, protoRedirect) || !strings.Contains(loc, "/login/") {
		t.Fatalf("callback before the step-up code: Location %q, want the login pages", loc)
	}

	done := f.secondFactor(b, otp, f.user)
	code, _ = codeFrom(t, b.follow(f.URL, done.location()), protoRedirect)
	stepped := f.redeem(t, "other", code, protoRedirect, pk.verifier)
	wantTokens(t, "step-up", stepped)
	claims := jwtClaims(t, stepped.IDToken)
	if claims["acr"] != stepUp {
		t.Errorf("step-up acr = %v, want %q", claims["acr"], stepUp)
	}
	if claims["sid"] != firstClaims["sid"] {
		t.Errorf("step-up sid = %v, want the session's %v", claims["sid"], firstClaims["sid"])
	}
	if at, was := claims["auth_time"].(float64), firstClaims["auth_time"].(float64); at <= was {
		t.Errorf("step-up auth_time = %v, want later than the session's %v", at, was)
	}
	if !f.active(t, first.AccessToken) {
		t.Error("the first service's access token was revoked by the step-up")
	}
	wantTokens(t, "the first service's refresh after the step-up", f.refresh(t, "profil", first.RefreshToken))

	// Without a session the step-up level is a full sign-in.
	pk = newPKCE()
	fresh := f.redeem(t, "profil", f.code(t, newBrowser(t), authParams("profil", protoRedirect, pk, "acr_values", stepUp)), protoRedirect, pk.verifier)
	if got := jwtClaims(t, fresh.IDToken)["acr"]; got != stepUp {
		t.Errorf("step-up acr without a session = %v, want %q", got, stepUp)
	}
}
