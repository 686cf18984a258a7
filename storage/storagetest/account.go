package storagetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/asnidp/asnidp/storage"
)

// changeFixture: user u1 (with failures on both factors) signed in in
// sessions "here" (where the change is made) and "there", a refresh token
// in each, a pending login past the password, and user u2 with a session.
func changeFixture(t *testing.T, s storage.Store) *storage.User {
	t.Helper()
	ctx := t.Context()
	u := newUser("u1", "198609262015051001")
	u.FailedPasswords, u.LockedUntil, u.FailedTOTP = 3, t0.Add(-time.Second), 2
	must(t, s.CreateUser(ctx, u))
	must(t, s.CreateUser(ctx, newUser("u2", "199001012022032002")))
	must(t, s.CreateClient(ctx, newClient("rp")))
	for _, sess := range []*storage.Session{newSession("here", "u1"), newSession("there", "u1"), newSession("bobs", "u2")} {
		must(t, s.CreateSession(ctx, sess))
	}
	for _, sid := range []string{"here", "there"} {
		rt := newRefreshToken("rt-"+sid, "rp", "fam-"+sid)
		rt.UserID, rt.SessionID = "u1", sid
		must(t, s.CreateRefreshToken(ctx, rt))
	}
	must(t, s.CreateAuthRequest(ctx, newAuthRequest("ar-pending", "rp")))
	must(t, s.SetAuthRequestUser(ctx, "ar-pending", "u1", t0))
	return u
}

// E4: a change of password from a live session keeps that session and
// ends every other one with its tokens, in the same transaction as the
// new hash; a stale current hash or a dead session changes nothing.
func testChangePassword(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := changeFixture(t, s)
	now := t0.Add(time.Minute)
	c := storage.PasswordChange{UserID: "u1", CurrentHash: u.PasswordHash, NewHash: "$argon2id$new", KeepSessionID: "here"}

	refused := []struct {
		name string
		edit func(*storage.PasswordChange)
		want error
	}{
		{"stale current hash", func(c *storage.PasswordChange) { c.CurrentHash = "$argon2id$older" }, storage.ErrConflict},
		{"another user's session", func(c *storage.PasswordChange) { c.KeepSessionID = "bobs" }, storage.ErrConflict},
		{"unknown session", func(c *storage.PasswordChange) { c.KeepSessionID = "nope" }, storage.ErrConflict},
		{"unknown user", func(c *storage.PasswordChange) { c.UserID = "nobody" }, storage.ErrNotFound},
	}
	for _, tc := range refused {
		bad := c
		tc.edit(&bad)
		_, err := s.ChangePassword(ctx, bad, now)
		wantErr(t, "ChangePassword with "+tc.name, err, tc.want)
	}
	if diff := cmp.Diff(u, getUser(t, s, "u1"), cmpOpts...); diff != "" {
		t.Fatalf("a refused ChangePassword changed the user (-want +got):\n%s", diff)
	}
	if !getSession(t, s, "there").RevokedAt.IsZero() {
		t.Fatal("a refused ChangePassword ended a session")
	}

	ended, err := s.ChangePassword(ctx, c, now)
	if err != nil {
		t.Fatalf("ChangePassword = %v", err)
	}
	if len(ended) != 1 || ended[0] != "there" {
		t.Errorf("ChangePassword ended %v, want [there]", ended)
	}
	want := *u
	want.PasswordHash, want.FailedPasswords, want.LockedUntil, want.UpdatedAt = "$argon2id$new", 0, time.Time{}, now
	if diff := cmp.Diff(&want, getUser(t, s, "u1"), cmpOpts...); diff != "" {
		t.Errorf("user after ChangePassword (-want +got):\n%s", diff)
	}
	for id, wantRevoked := range map[string]bool{"here": false, "there": true, "bobs": false} {
		if got := !getSession(t, s, id).RevokedAt.IsZero(); got != wantRevoked {
			t.Errorf("session %s revoked = %v, want %v", id, got, wantRevoked)
		}
	}
	checkRevoked(t, s, "after ChangePassword", nil, map[string]bool{"hash-rt-here": false, "hash-rt-there": true})
	ar, err := s.AuthRequestByID(ctx, "ar-pending", now)
	must(t, err)
	if ar.UserID != "" || !ar.PasswordAt.IsZero() {
		t.Errorf("pending login kept its password factor (user %q at %v), want it cleared", ar.UserID, ar.PasswordAt)
	}

	// The old hash is no longer current: the same change again loses.
	_, err = s.ChangePassword(ctx, c, now)
	wantErr(t, "ChangePassword against the replaced hash", err, storage.ErrConflict)

	// A revoked session can change nothing.
	must(t, s.RevokeSession(ctx, "here", now))
	next := storage.PasswordChange{UserID: "u1", CurrentHash: "$argon2id$new", NewHash: "$argon2id$newer", KeepSessionID: "here"}
	_, err = s.ChangePassword(ctx, next, now)
	wantErr(t, "ChangePassword from a revoked session", err, storage.ErrConflict)
}

// G3: of concurrent changes verified against the same password exactly
// one is stored.
func testChangePasswordRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := changeFixture(t, s)
	errs := race(8, func(i int) error {
		_, err := s.ChangePassword(ctx, storage.PasswordChange{
			UserID: "u1", CurrentHash: u.PasswordHash, NewHash: "$argon2id$new-" + string(rune('a'+i)), KeepSessionID: "here",
		}, t0)
		return err
	})
	if wins, _ := tally(t, "ChangePassword", errs, storage.ErrConflict); wins != 1 {
		t.Errorf("%d of 8 concurrent changes of one password succeeded, want 1", wins)
	}
}
