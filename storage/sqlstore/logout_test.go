package sqlstore

import (
	"errors"
	"testing"
	"time"

	"github.com/asnidp/asnidp/storage"
)

// The OnLogoutQueued callback runs after the commit, so a sender it wakes
// already finds (and can lease) the notices the ended session owes; a
// session end that fails calls nothing.
func TestSQLite_OnLogoutQueuedAfterCommit(t *testing.T) {
	ctx := t.Context()
	s := newSQLiteStore(t)
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	mustDo(t, "CreateUser", s.CreateUser(ctx, &storage.User{ID: "u1", NIP: "198609262015051001", Name: "Siti Aminah",
		State: storage.StateActive, CreatedAt: now, UpdatedAt: now}))
	mustDo(t, "CreateClient", s.CreateClient(ctx, &storage.Client{ID: "rp", Name: "Layanan rp", SecretHash: "h",
		RedirectURIs: []string{"https://rp.example/cb"}, GrantTypes: []string{"authorization_code"},
		BackchannelLogoutURI: "https://rp.example/logout", CreatedAt: now}))
	for _, sid := range []string{"s1", "s2"} {
		mustDo(t, "CreateSession", s.CreateSession(ctx, &storage.Session{ID: sid, TokenHash: "cookie-" + sid, UserID: "u1",
			AuthTime: now, AMR: []string{"pwd", "otp"}, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}))
		ar := "ar-" + sid
		mustDo(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, &storage.AuthRequest{ID: ar, ClientID: "rp",
			RedirectURI: "https://rp.example/cb", Scopes: []string{"openid"}, ResponseType: "code", MaxAge: -1,
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
		mustDo(t, "SetAuthRequestUser", s.SetAuthRequestUser(ctx, ar, "u1", now))
		mustDo(t, "CompleteAuthRequest", s.CompleteAuthRequest(ctx, ar, sid, now))
		mustDo(t, "SaveAuthCode", s.SaveAuthCode(ctx, ar, "code-"+ar, now.Add(time.Minute)))
	}

	var seen [][]*storage.LogoutDelivery
	s.OnLogoutQueued(func() {
		due, err := s.ClaimLogoutDeliveries(ctx, now, time.Minute, 10)
		if err != nil {
			t.Errorf("ClaimLogoutDeliveries in the callback = %v", err)
		}
		seen = append(seen, due)
	})

	mustDo(t, "EndSession(s1)", s.EndSession(ctx, "s1", now))
	if len(seen) != 1 || len(seen[0]) != 1 || seen[0][0].SessionID != "s1" {
		t.Fatalf("after EndSession(s1) the callback ran %d times and claimed %v, want once with s1's notice", len(seen), seen)
	}
	if err := s.EndSession(ctx, "unknown", now); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("EndSession(unknown) = %v, want ErrNotFound", err)
	}
	if len(seen) != 1 {
		t.Errorf("a failed EndSession ran the callback (%d calls in all, want 1)", len(seen))
	}
	// An operator's reset-mfa ends s2 in its own transaction: its notice
	// goes out at once too.
	mustDo(t, "ResetTOTP(u1)", s.ResetTOTP(ctx, "u1", now))
	if len(seen) != 2 || len(seen[1]) != 1 || seen[1][0].SessionID != "s2" {
		t.Errorf("after ResetTOTP the callback ran %d times in all and last claimed %v, want a second call with s2's notice", len(seen), seen[len(seen)-1])
	}
	mustDo(t, "DisableUser(u1)", s.DisableUser(ctx, "u1", now))
	if len(seen) != 3 {
		t.Errorf("after DisableUser the callback ran %d times in all, want 3", len(seen))
	}

	s.OnLogoutQueued(nil)
	mustDo(t, "EndUserSessions(u1)", s.EndUserSessions(ctx, "u1", now))
	if len(seen) != 3 {
		t.Errorf("the callback ran after OnLogoutQueued(nil) (%d calls, want 3)", len(seen))
	}
}

func mustDo(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s = %v", what, err)
	}
}
