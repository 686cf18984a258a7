package op

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	oidcop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/asnidp/asnidp/storage"
)

// D14: a code or an error built with the provider's encoder names the
// issuer once, in the query or the fragment the response mode picks.
func TestIssEncoder_D14(t *testing.T) {
	const issuer = "https://sso.example.go.id"
	enc := issEncoder{inner: oidc.NewEncoder(), issuer: issuer}
	e := oidc.ErrLoginRequired()
	e.State = "st"
	tests := []struct {
		name     string
		mode     oidc.ResponseMode
		response any
		want     string
	}{
		{"code", "", &oidcop.CodeResponseType{Code: "c", State: "st"}, "code"},
		{"error", oidc.ResponseModeQuery, e, "error"},
		{"error in the fragment", oidc.ResponseModeFragment, e, "error"},
	}
	for _, tc := range tests {
		raw, err := oidcop.AuthResponseURL("https://app.example.go.id/cb?x=1", oidc.ResponseTypeCode, tc.mode, tc.response, enc)
		if err != nil {
			t.Fatalf("%s: AuthResponseURL: %v", tc.name, err)
		}
		u, _ := url.Parse(raw)
		params := u.Query()
		if tc.mode == oidc.ResponseModeFragment {
			params, _ = url.ParseQuery(u.Fragment)
		}
		if got := params["iss"]; len(got) != 1 || got[0] != issuer || !params.Has(tc.want) || params.Get("state") != "st" {
			t.Errorf("%s: %s, want %s, state and iss=%s once", tc.name, raw, tc.want, issuer)
		}
	}
}

// D2: an error status is held back for the page, body and all; a redirect
// or a page goes out as written.
func TestRefusalWriter_D2(t *testing.T) {
	rec := httptest.NewRecorder()
	w := &refusalWriter{ResponseWriter: rec}
	oidcop.WriteError(w, httptest.NewRequest(http.MethodGet, "/authorize", nil),
		oidcop.NewStatusError(oidc.ErrInvalidRequest().WithDescription("client_id is not registered"), http.StatusBadRequest), nil)
	if w.status != http.StatusBadRequest || rec.Body.Len() != 0 || rec.Code != http.StatusOK {
		t.Errorf("held %d, wrote %d %q; want 400 held and nothing written", w.status, rec.Code, rec.Body.String())
	}
	if got := w.body.String(); got == "" {
		t.Error("the library's error body was not kept for its code")
	}

	rec = httptest.NewRecorder()
	w = &refusalWriter{ResponseWriter: rec}
	http.Redirect(w, httptest.NewRequest(http.MethodGet, "/authorize", nil), "https://app.example.go.id/cb?code=c", http.StatusFound)
	if w.status != 0 || rec.Code != http.StatusFound || rec.Header().Get("Location") == "" {
		t.Errorf("redirect: held %d, wrote %d; want the 302 written", w.status, rec.Code)
	}
}

// D20: a step-up request completes only with a second factor entered
// after it began; one carried over from the SSO session does not count,
// and only a completed step-up reports the step-up acr.
func TestAuthRequestStepUpNeedsFreshFactor_D20(t *testing.T) {
	began := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	base := storage.AuthRequest{UserID: "u", SessionID: "s", PasswordAt: began, CreatedAt: began, ACR: "urn:x:fresh"}
	tests := []struct {
		name     string
		otpAt    time.Time
		acr      string
		wantDone bool
		wantACR  string
	}{
		{"factor from the session", began.Add(-time.Minute), "urn:x:fresh", false, ""},
		{"no factor", time.Time{}, "urn:x:fresh", false, ""},
		{"factor entered now", began.Add(time.Second), "urn:x:fresh", true, "urn:x:fresh"},
		{"default level from the session", began.Add(-time.Minute), "", true, "urn:x:mfa"},
	}
	for _, tc := range tests {
		ar := base
		ar.OTPAt, ar.ACR = tc.otpAt, tc.acr
		a := &authRequest{ar: &ar, requireOTP: true, acr: "urn:x:mfa", stepUpACR: "urn:x:fresh"}
		if got := a.Done(); got != tc.wantDone {
			t.Errorf("%s: Done() = %v, want %v", tc.name, got, tc.wantDone)
		}
		if got := a.GetACR(); got != tc.wantACR {
			t.Errorf("%s: GetACR() = %q, want %q", tc.name, got, tc.wantACR)
		}
	}
}
