// Package storagetest is the conformance suite of the storage contract.
// Every engine runs it from its own test:
//
//	func TestStore(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Store { return openTestStore(t) })
//	}
//
// Each subtest gets a fresh, empty, migrated store from newStore (which
// registers its own cleanup). The races run many goroutines against one row
// and count winners; they are named after the docs/security.md catalogue items they
// cover.
//
// Besides the contract's text the suite pins what the engines agree on
// where the contract is silent: a zero ExpiresAt is already expired;
// records that name a client need it to exist, and deleting a client takes
// them along; a second factor or an enrolment needs a verified first factor
// on the same request and does not survive a change of user; Revoke* with
// an empty ID matches nothing; BindTOTP leaves a disabled account disabled.
package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/asnidp/asnidp/storage"
)

// Run runs the conformance suite against stores made by newStore.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s storage.Store)
	}{
		{"Ping", testPing},
		{"Close", testClose},

		{"User/CreateAndGet", testUserCreateAndGet},
		{"User/CreateDuplicate", testUserCreateDuplicate},
		{"User/UpdateProfile", testUpdateProfile},
		{"User/SetState", testSetState},
		{"User/SetPassword", testSetPassword},
		{"User/ChangePassword_E4", testChangePassword},
		{"User/ChangePassword_Race_G3", testChangePasswordRace},
		{"User/RecordPasswordFailure", testRecordPasswordFailure},
		{"User/RecordPasswordFailure_Race_B3", testRecordPasswordFailureRace},
		{"User/ReleasePasswordFailure", testReleasePasswordFailure},
		{"User/RecordLogin", testRecordLogin},
		{"User/BindTOTP", testBindTOTP},
		{"User/AcceptTOTPStep_A8_A9", testAcceptTOTPStep},
		{"User/AcceptTOTPStep_Race_G2_I3", testAcceptTOTPStepRace},
		{"User/RecordTOTPFailure", testRecordTOTPFailure},
		{"User/RecordTOTPFailure_Race_B3", testRecordTOTPFailureRace},
		{"User/ReplaceTOTP_A4", testReplaceTOTP},
		{"User/ReplaceTOTP_Race_G3", testReplaceTOTPRace},
		{"User/ResetTOTP_E4", testResetTOTP},
		{"User/Unlock", testUnlock},
		{"User/UnknownID", testUserUnknownID},

		{"Client/CreateAndGet", testClientCreateAndGet},
		{"Client/Clients", testClients},
		{"Client/UpsertClient", testUpsertClient},
		{"Client/DeleteClient", testDeleteClient},
		{"Client/KeysAndPAR", testClientKeysAndPAR},
		{"PAR/CreateAndConsume_D17", testPushedAuthRequest},
		{"PAR/ConsumePushedAuthRequest_Race_D17_I4", testConsumePushedAuthRequestRace},
		{"ClientAssertion/UseClientAssertion_D16", testUseClientAssertion},
		{"ClientAssertion/UseClientAssertion_Race_D16_I4", testUseClientAssertionRace},

		{"AuthRequest/CreateAndGet", testAuthRequestCreateAndGet},
		{"AuthRequest/Factors_A1", testAuthRequestFactors},
		{"AuthRequest/ChangeOfUser_A1", testAuthRequestChangeOfUser},
		{"AuthRequest/Rebind_A5", testRebindAuthRequest},
		{"AuthRequest/ClearUser", testClearAuthRequestUser},
		{"AuthRequest/Enrolment", testAuthRequestEnrolment},
		{"AuthRequest/UnknownID", testAuthRequestUnknownID},
		{"AuthRequest/SaveAuthCode", testSaveAuthCode},
		{"AuthRequest/RedeemAuthCode_D7", testRedeemAuthCode},
		{"AuthRequest/RedeemAuthCode_Race_G3_I4", testRedeemAuthCodeRace},
		{"AuthRequest/DeleteAuthRequest", testDeleteAuthRequest},

		{"Token/AccessToken", testAccessToken},
		{"Token/RefreshToken", testRefreshToken},
		{"Token/RotateRefreshToken_D9", testRotateRefreshToken},
		{"Token/RotateRefreshToken_Race_D9_I4", testRotateRefreshTokenRace},
		{"Token/IssueTokens_Code_D7", testIssueTokensCode},
		{"Token/IssueTokens_Atomic", testIssueTokensAtomic},
		{"Token/IssueTokens_CodeRace_G3_I4", testIssueTokensCodeRace},
		{"Token/IssueTokens_Together", testIssueTokensTogether},
		{"Token/IssueTokens_Rotate_D9", testIssueTokensRotate},
		{"Token/IssueTokens_RotateRace_D9_I4", testIssueTokensRotateRace},
		{"Token/IssueTokens_Plain", testIssueTokensPlain},
		{"Token/RevokeRefreshFamily", testRevokeRefreshFamily},
		{"Token/RevokeGrant_D7", testRevokeGrant},
		{"Token/RevokeUserTokens_C7_E4", testRevokeUserTokens},
		{"Token/RevokeSessionTokens_E4", testRevokeSessionTokens},

		{"Session/CreateAndGet", testSessionCreateAndGet},
		{"Session/SessionByTokenHash_E3", testSessionByTokenHash},
		{"Session/TouchSession_E3", testTouchSession},
		{"Session/RotateSessionToken_E2", testRotateSessionToken},
		{"Session/RevokeSession_E4", testRevokeSession},
		{"Session/RevokeUserSessions_E4", testRevokeUserSessions},
		{"Session/LiveSessions", testLiveSessions},
		{"Logout/EndSession_E4", testEndSession},
		{"Logout/EndUserSessions_E4", testEndUserSessions},
		{"Logout/EndOtherSessions_E4", testEndOtherSessions},
		{"Logout/DeliveryQueue", testLogoutDeliveryQueue},

		{"Key/AddListDelete", testSigningKeys},
		{"Key/AddSigningKey_Race_I5", testAddSigningKeyRace},
		{"Key/AddSigningKey_PerAlgorithm", testAddSigningKeyPerAlgorithm},

		{"Counter/IncrementAndRead", testCounter},
		{"Counter/Increment_Race_I2", testCounterRace},
		{"Counter/ResetCounter", testResetCounter},
		{"Counter/DecrementCounter", testDecrementCounter},

		{"UserAdmin/UpsertUserProfiles", testUpsertUserProfiles},
		{"UserAdmin/UpsertUserProfiles_Race", testUpsertUserProfilesRace},
		{"UserAdmin/UsersByNIPs", testUsersByNIPs},
		{"UserAdmin/ForEachUser", testForEachUser},
		{"UserAdmin/CountUsers", testCountUsers},
		{"UserAdmin/ChangeNIP", testChangeNIP},
		{"UserAdmin/DisableUser_E4", testDisableUser},
		{"UserAdmin/EnableUser", testEnableUser},

		{"Audit/AppendAndQuery", testAuditAppendAndQuery},

		{"Operator/Grant", testGrantOperator},
		{"Operator/GrantRefused_J6", testGrantOperatorRefused},
		{"Operator/Revoke", testRevokeOperator},
		{"Confirmation/UseConfirmation_Race_J5", testUseConfirmation},
		{"Funnel/ActivationFunnel", testActivationFunnel},
		{"Funnel/ActivationTrend", testActivationTrend},
		{"Funnel/PendingUsers", testPendingUsers},
		{"Funnel/ForEachPendingUser", testForEachPendingUser},

		{"Reset/CreateAndGet", testResetCreateAndGet},
		{"Reset/IssueResetCode_Limits_B7", testIssueResetCodeLimits},
		{"Reset/IssueResetCode_Race_B7_I4", testIssueResetCodeRace},
		{"Reset/ReleaseResetCode_H5", testReleaseResetCode},
		{"Reset/CheckResetCode_B6_C3", testCheckResetCode},
		{"Reset/CheckResetCode_Race_C3_G3_I4", testCheckResetCodeRace},
		{"Reset/CompleteReset_C7_H1", testCompleteReset},
		{"Reset/CompleteResetVoidsOtherCodes_C8", testCompleteResetVoidsOtherCodes},
		{"Reset/PruneResets_G6", testPruneResets},
		{"Captcha/CreateAndUse_C2", testCaptcha},
		{"Captcha/UseCaptcha_Race_C2", testUseCaptchaRace},
		{"Recovery/SetUseAndCount_A10", testRecoveryCodes},
		{"Recovery/UseRecoveryCode_Race_A10_I4", testUseRecoveryCodeRace},
		{"Recovery/Skip", testSkipRecoveryCodes},
		{"Recovery/ResetTOTPVoidsCodes", testResetTOTPVoidsRecoveryCodes},
		{"AccountSecurity/AlertToken_E4", testAlertToken},
		{"AccountSecurity/RecordDevice", testRecordDevice},
		{"AccountSecurity/SelfReset_A12", testSelfReset},

		{"Prune_G6", testPrune},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newStore(t))
		})
	}
}

// t0 is the suite's "now"; stored times keep microseconds, so every time
// here is whole seconds.
var t0 = time.Date(2025, time.June, 2, 8, 0, 0, 0, time.UTC)

// cmpOpts compares times by instant and treats nil and empty alike.
var cmpOpts = []cmp.Option{
	cmpopts.EquateEmpty(),
	cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
}

// wantErr reports a call whose error does not match want (nil: no error).
func wantErr(t *testing.T, call string, got, want error) {
	t.Helper()
	if (want == nil && got != nil) || (want != nil && !errors.Is(got, want)) {
		t.Errorf("%s = %v, want %v", call, got, want)
	}
}

// must stops the test when a setup step fails.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
}

// race runs fn(i) for i in [0, n) on n goroutines released together and
// returns each call's error.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// tally counts nil errors and errors matching loser; any other error is
// reported.
func tally(t *testing.T, call string, errs []error, loser error) (wins, losses int) {
	t.Helper()
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, loser):
			losses++
		default:
			t.Errorf("%s (goroutine %d) = %v, want nil or %v", call, i, err, loser)
		}
	}
	return wins, losses
}

// checkCounts reports whether counts, the values returned by n concurrent
// increments, are exactly 1..n in some order.
func checkCounts(t *testing.T, call string, counts []int) {
	t.Helper()
	seen := make(map[int]bool, len(counts))
	for _, c := range counts {
		if c < 1 || c > len(counts) || seen[c] {
			t.Errorf("%s returned counts %v, want each of 1..%d once", call, counts, len(counts))
			return
		}
		seen[c] = true
	}
}

func testPing(t *testing.T, s storage.Store) {
	wantErr(t, "Ping", s.Ping(t.Context()), nil)
}

func testClose(t *testing.T, s storage.Store) {
	wantErr(t, "Close", s.Close(), nil)
	if err := s.Ping(t.Context()); err == nil {
		t.Errorf("Ping after Close = nil, want an error")
	}
}

// Fixtures: complete records with every field set, so a column that is not
// written or read back shows in a diff.

func newUser(id, nip string) *storage.User {
	return &storage.User{
		ID:              id,
		NIP:             nip,
		Name:            "Siti Aminah " + id,
		Email:           id + "@example.go.id",
		EmailVerified:   true,
		Instansi:        "Badan Kepegawaian Negara",
		UnitKerja:       "Direktorat Sistem Informasi",
		Jabatan:         "Pranata Komputer",
		JenisPegawai:    "PPPK Paruh Waktu",
		State:           storage.StateActive,
		PasswordHash:    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
		TOTPSecret:      []byte{0x00, 0x01, 0xfe, 0xff, 's', 'e', 'a', 'l'},
		TOTPLastStep:    58000000,
		FailedPasswords: 2,
		FailedTOTP:      1,
		LockedUntil:     t0.Add(-time.Minute),
		PasswordLocked:  false,
		TOTPLocked:      false,
		LastLoginAt:     t0.Add(-24 * time.Hour),
		ActivatedAt:     t0.Add(-20 * 24 * time.Hour),
		CreatedAt:       t0.Add(-30 * 24 * time.Hour),
		UpdatedAt:       t0.Add(-time.Hour),
	}
}

// newBareUser is a provisioned account: no password, no authenticator.
func newBareUser(id, nip string) *storage.User {
	return &storage.User{
		ID:        id,
		NIP:       nip,
		Name:      "Budi " + id,
		State:     storage.StateProvisioned,
		CreatedAt: t0.Add(-time.Hour),
		UpdatedAt: t0.Add(-time.Hour),
	}
}

func newClient(id string) *storage.Client {
	return &storage.Client{
		ID:                     id,
		Name:                   "Layanan " + id,
		SecretHash:             "hash-of-secret-" + id,
		Public:                 false,
		RedirectURIs:           []string{"https://" + id + ".example/cb", "http://127.0.0.1:8080/cb"},
		PostLogoutRedirectURIs: []string{"https://" + id + ".example/"},
		GrantTypes:             []string{"authorization_code", "refresh_token"},
		PKCEOptional:           true,
		BackchannelLogoutURI:   "https://" + id + ".example/logout",
		Static:                 true,
		CreatedAt:              t0.Add(-time.Hour),
	}
}

func newAuthRequest(id, clientID string) *storage.AuthRequest {
	return &storage.AuthRequest{
		ID:                  id,
		BrowserHash:         "browser-" + id,
		ClientID:            clientID,
		RedirectURI:         "https://" + clientID + ".example/cb",
		State:               "state ✓ " + id,
		Nonce:               "nonce-" + id,
		Scopes:              []string{"openid", "profile", "asn"},
		ResponseType:        "code",
		ResponseMode:        "query",
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		Prompt:              []string{"login"},
		MaxAge:              -1,
		UILocales:           []string{"id", "en"},
		LoginHint:           "198609262015051001",
		HintUserID:          "hint-" + id,
		ACR:                 "urn:example:acr:" + id,
		CreatedAt:           t0,
		ExpiresAt:           t0.Add(30 * time.Minute),
	}
}

func newAccessToken(id, clientID string) *storage.AccessToken {
	return &storage.AccessToken{
		ID:        id,
		ClientID:  clientID,
		UserID:    "user-1",
		Scopes:    []string{"openid", "email"},
		Audience:  []string{clientID, "api"},
		GrantID:   "grant-1",
		SessionID: "sess-1",
		AuthTime:  t0.Add(-time.Minute),
		AMR:       []string{"pwd", "otp", "mfa"},
		CreatedAt: t0,
		ExpiresAt: t0.Add(10 * time.Minute),
	}
}

func newRefreshToken(id, clientID, family string) *storage.RefreshToken {
	return &storage.RefreshToken{
		ID:        id,
		TokenHash: "hash-" + id,
		FamilyID:  family,
		GrantID:   "grant-1",
		ClientID:  clientID,
		UserID:    "user-1",
		Scopes:    []string{"openid", "profile"},
		Audience:  []string{clientID},
		SessionID: "sess-1",
		AuthTime:  t0.Add(-time.Minute),
		AMR:       []string{"pwd", "otp"},
		CreatedAt: t0,
		ExpiresAt: t0.Add(12 * time.Hour),
	}
}

func newSession(id, userID string) *storage.Session {
	return &storage.Session{
		ID:         id,
		TokenHash:  "cookie-hash-" + id,
		UserID:     userID,
		AuthTime:   t0,
		AMR:        []string{"pwd", "otp"},
		CreatedAt:  t0,
		LastSeenAt: t0,
		ExpiresAt:  t0.Add(12 * time.Hour),
		UserAgent:  "Mozilla/5.0 (Linux; Android 14) Chrome/126.0 Mobile ✓ " + id,
		IP:         "203.0.113.7",
	}
}

func newSigningKey(id string, activeAt time.Time) *storage.SigningKey {
	return &storage.SigningKey{
		ID:            id,
		Algorithm:     "RS256",
		PrivateSealed: []byte("\x00sealed\xff" + id),
		PublicJWK:     []byte(fmt.Sprintf(`{"kty":"RSA","kid":%q,"n":"AQAB","e":"AQAB"}`, id)),
		CreatedAt:     activeAt.Add(-24 * time.Hour),
		ActiveAt:      activeAt,
	}
}
