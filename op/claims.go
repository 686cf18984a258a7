package op

import (
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/asnidp/asnidp/storage"
)

// ScopeASN asks for the civil-service claims of docs/security.md.
const ScopeASN = "asn"

// Claims of the asn scope.
const (
	ClaimNIP          = "nip"
	ClaimJenisPegawai = "jenis_pegawai"
	ClaimInstansi     = "instansi"
	ClaimUnitKerja    = "unit_kerja"
	ClaimJabatan      = "jabatan"
)

// supportedScopes and supportedClaims are advertised in discovery.
var (
	supportedScopes = []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess, ScopeASN}
	supportedClaims = []string{
		"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "azp", "at_hash", "c_hash",
		"name", "preferred_username", "email", "email_verified",
		ClaimNIP, ClaimJenisPegawai, ClaimInstansi, ClaimUnitKerja, ClaimJabatan,
	}
)

// setUserClaims fills ui with what the scopes grant. sub is the opaque
// user ID; the NIP travels only as preferred_username and nip.
func setUserClaims(ui *oidc.UserInfo, u *storage.User, scopes []string) {
	ui.Subject = u.ID
	if slices.Contains(scopes, oidc.ScopeProfile) {
		ui.Name = u.Name
		ui.PreferredUsername = u.NIP
	}
	if slices.Contains(scopes, oidc.ScopeEmail) {
		ui.Email = u.Email
		ui.EmailVerified = oidc.Bool(u.EmailVerified)
	}
	if slices.Contains(scopes, ScopeASN) {
		ui.AppendClaims(ClaimNIP, u.NIP)
		ui.AppendClaims(ClaimJenisPegawai, u.JenisPegawai)
		ui.AppendClaims(ClaimInstansi, u.Instansi)
		ui.AppendClaims(ClaimUnitKerja, u.UnitKerja)
		ui.AppendClaims(ClaimJabatan, u.Jabatan)
	}
}
