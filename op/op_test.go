package op

import (
	"slices"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/asnidp/asnidp/storage"
)

// D1: only an exact, absolute https URL, or http on a loopback host, is
// registrable; anything a matcher could stretch is refused.
func TestValidateRedirectURI_D1(t *testing.T) {
	tests := []struct {
		uri    string
		wantOK bool
	}{
		{"https://app.example.go.id/cb", true},
		{"http://127.0.0.1:7777/callback", true},
		{"http://[::1]:7777/callback", true},
		{"http://localhost:8081/callback", true},
		{"http://app.example.go.id/cb", false},
		{"https://*.example.go.id/cb", false},
		{"https://app.example.go.id/cb#frag", false},
		{"https://user:pw@app.example.go.id/cb", false},
		{"https://app.example.go.id\\@evil.example/cb", false},
		{"/cb", false},
		{"javascript:alert(1)", false},
		{"", false},
		{"https://app.example.go.id/c b", false},
	}
	for _, tc := range tests {
		if err := ValidateRedirectURI(tc.uri); (err == nil) != tc.wantOK {
			t.Errorf("ValidateRedirectURI(%q) = %v, want ok %v", tc.uri, err, tc.wantOK)
		}
	}
}

// A1, A2: an auth request is done only when this request verified the
// password and (when required) the second factor and was completed with a
// session; one factor, or a session without the factors, is not enough.
func TestAuthRequestDone_A1(t *testing.T) {
	at := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	full := storage.AuthRequest{ID: "ar1", UserID: "u1", SessionID: "s1", PasswordAt: at, OTPAt: at}
	tests := []struct {
		name       string
		edit       func(*storage.AuthRequest)
		requireOTP bool
		want       bool
	}{
		{"both factors and a session", func(*storage.AuthRequest) {}, true, true},
		{"password only", func(a *storage.AuthRequest) { a.OTPAt = time.Time{} }, true, false},
		{"password only, second factor not required", func(a *storage.AuthRequest) { a.OTPAt = time.Time{} }, false, true},
		{"no session yet", func(a *storage.AuthRequest) { a.SessionID = "" }, true, false},
		{"no user", func(a *storage.AuthRequest) { a.UserID = "" }, true, false},
		{"no password", func(a *storage.AuthRequest) { a.PasswordAt = time.Time{} }, true, false},
		// A11: a recovery code is recorded, but no new authenticator bound.
		{"recovery code only", func(a *storage.AuthRequest) { a.OTPAt, a.RecoveryAt = time.Time{}, at }, true, false},
		{"recovery code and a new authenticator", func(a *storage.AuthRequest) { a.RecoveryAt = at }, true, true},
	}
	for _, tc := range tests {
		ar := full
		tc.edit(&ar)
		a := &authRequest{ar: &ar, requireOTP: tc.requireOTP}
		if got := a.Done(); got != tc.want {
			t.Errorf("%s: Done() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// The methods say which second factor a login used: the app ("otp") or
// a recovery code ("rec"), never both and never "mfa" for one factor.
func TestAuthRequestAMR(t *testing.T) {
	at := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		ar   storage.AuthRequest
		want []string
	}{
		{storage.AuthRequest{PasswordAt: at}, []string{"pwd"}},
		{storage.AuthRequest{PasswordAt: at, OTPAt: at}, []string{"pwd", "otp", "mfa"}},
		{storage.AuthRequest{PasswordAt: at, OTPAt: at, RecoveryAt: at}, []string{"pwd", "rec", "mfa"}},
		{storage.AuthRequest{PasswordAt: at, RecoveryAt: at}, []string{"pwd"}},
	} {
		a := &authRequest{ar: &tc.ar, requireOTP: true}
		if got := a.GetAMR(); !slices.Equal(got, tc.want) {
			t.Errorf("GetAMR() of %+v = %v, want %v", tc.ar, got, tc.want)
		}
	}
}

// The subject is the opaque user ID, never the NIP (a NIP can change);
// each scope adds only its own claims.
func TestSetUserClaims(t *testing.T) {
	u := &storage.User{ID: "0f8c-uuid", NIP: "198609262015051001", Name: "Siti", Email: "siti@example.go.id",
		EmailVerified: true, Instansi: "BKN", UnitKerja: "Biro Umum", Jabatan: "Analis", JenisPegawai: "PPPK"}
	var ui oidc.UserInfo
	setUserClaims(&ui, u, []string{oidc.ScopeOpenID})
	if ui.Subject != u.ID || ui.PreferredUsername != "" || ui.Email != "" || ui.Claims[ClaimNIP] != nil {
		t.Errorf("openid only: %+v; want the subject and nothing else", ui)
	}
	ui = oidc.UserInfo{}
	setUserClaims(&ui, u, []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, ScopeASN})
	if ui.Subject != u.ID || ui.PreferredUsername != u.NIP || ui.Email != u.Email || !bool(ui.EmailVerified) {
		t.Errorf("all scopes: %+v", ui)
	}
	for claim, want := range map[string]string{ClaimNIP: u.NIP, ClaimInstansi: u.Instansi, ClaimUnitKerja: u.UnitKerja,
		ClaimJabatan: u.Jabatan, ClaimJenisPegawai: u.JenisPegawai} {
		if got := ui.Claims[claim]; got != want {
			t.Errorf("claim %s = %v, want %q", claim, got, want)
		}
	}
}
