package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/asnidp/asnidp/storage"
)

const idle = 30 * time.Minute

func getSession(t *testing.T, s storage.Store, id string) *storage.Session {
	t.Helper()
	sess, err := s.SessionByID(t.Context(), id)
	if err != nil {
		t.Fatalf("SessionByID(%q) = %v, want a session", id, err)
	}
	return sess
}

func testSessionCreateAndGet(t *testing.T, s storage.Store) {
	ctx := t.Context()
	want := newSession("s1", "u1")
	must(t, s.CreateSession(ctx, want))
	if diff := cmp.Diff(want, getSession(t, s, "s1"), cmpOpts...); diff != "" {
		t.Errorf("SessionByID(s1) mismatch (-want +got):\n%s", diff)
	}
	got, err := s.SessionByTokenHash(ctx, want.TokenHash, idle, t0)
	if err != nil {
		t.Fatalf("SessionByTokenHash(s1's hash) = %v", err)
	}
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("SessionByTokenHash mismatch (-want +got):\n%s", diff)
	}

	// A zero LastSeenAt starts the idle timer at creation.
	fresh := newSession("s2", "u1")
	fresh.LastSeenAt = time.Time{}
	must(t, s.CreateSession(ctx, fresh))
	if got := getSession(t, s, "s2").LastSeenAt; !got.Equal(fresh.CreatedAt) {
		t.Errorf("LastSeenAt of a session created without one = %v, want CreatedAt %v", got, fresh.CreatedAt)
	}

	sameID := newSession("s1", "u2")
	sameID.TokenHash = "other-hash"
	wantErr(t, "CreateSession with a taken ID", s.CreateSession(ctx, sameID), storage.ErrAlreadyExists)
	sameHash := newSession("s3", "u2")
	sameHash.TokenHash = want.TokenHash
	wantErr(t, "CreateSession with a taken token hash", s.CreateSession(ctx, sameHash), storage.ErrAlreadyExists)
	_, err = s.SessionByID(ctx, "nope")
	wantErr(t, "SessionByID(nope)", err, storage.ErrNotFound)
}

// E3: idle and absolute timeouts hold whatever the browser sends.
func testSessionByTokenHash(t *testing.T, s storage.Store) {
	ctx := t.Context()
	live := newSession("live", "u1")
	must(t, s.CreateSession(ctx, live))
	revoked := newSession("revoked", "u1")
	must(t, s.CreateSession(ctx, revoked))
	must(t, s.RevokeSession(ctx, "revoked", t0))

	tests := []struct {
		name    string
		hash    string
		idle    time.Duration
		now     time.Time
		wantErr error
	}{
		{"fresh", live.TokenHash, idle, t0, nil},
		{"idle almost over", live.TokenHash, idle, t0.Add(idle - time.Second), nil},
		{"idle over", live.TokenHash, idle, t0.Add(idle), storage.ErrNotFound},
		{"longer idle allowed", live.TokenHash, 13 * time.Hour, t0.Add(idle), nil},
		{"absolute end", live.TokenHash, 13 * time.Hour, live.ExpiresAt, storage.ErrNotFound},
		{"no idle allowance", live.TokenHash, 0, t0, storage.ErrNotFound},
		{"revoked", revoked.TokenHash, idle, t0, storage.ErrNotFound},
		{"unknown", "no-such-hash", idle, t0, storage.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.SessionByTokenHash(ctx, tc.hash, tc.idle, tc.now)
			wantErr(t, fmt.Sprintf("SessionByTokenHash(%q, %v, %v)", tc.hash, tc.idle, tc.now), err, tc.wantErr)
			if tc.wantErr == nil && (got == nil || got.ID != "live") {
				t.Errorf("SessionByTokenHash returned %+v, want session live", got)
			}
		})
	}
}

// E3: activity extends the idle timer, never the absolute expiry.
func testTouchSession(t *testing.T, s storage.Store) {
	ctx := t.Context()
	want := newSession("s1", "u1")
	must(t, s.CreateSession(ctx, want))

	touchAt := t0.Add(20 * time.Minute)
	must(t, s.TouchSession(ctx, "s1", touchAt))
	want.LastSeenAt = touchAt
	if diff := cmp.Diff(want, getSession(t, s, "s1"), cmpOpts...); diff != "" {
		t.Errorf("after TouchSession (-want +got):\n%s", diff)
	}
	// Alive past the first idle deadline thanks to the touch.
	if _, err := s.SessionByTokenHash(ctx, want.TokenHash, idle, t0.Add(40*time.Minute)); err != nil {
		t.Errorf("SessionByTokenHash 20 min after a touch = %v, want the session", err)
	}
	// A late, out-of-order touch does not move the timer back.
	must(t, s.TouchSession(ctx, "s1", t0.Add(time.Minute)))
	if got := getSession(t, s, "s1").LastSeenAt; !got.Equal(touchAt) {
		t.Errorf("after an older touch LastSeenAt = %v, want %v", got, touchAt)
	}
	// Touching forever never passes the absolute end.
	must(t, s.TouchSession(ctx, "s1", want.ExpiresAt.Add(-time.Second)))
	_, err := s.SessionByTokenHash(ctx, want.TokenHash, idle, want.ExpiresAt)
	wantErr(t, "SessionByTokenHash at ExpiresAt after touches", err, storage.ErrNotFound)

	wantErr(t, "TouchSession(nope)", s.TouchSession(ctx, "nope", t0), storage.ErrNotFound)
}

// E2: after each factor the cookie changes and the old value is dead.
func testRotateSessionToken(t *testing.T, s storage.Store) {
	ctx := t.Context()
	sess := newSession("s1", "u1")
	must(t, s.CreateSession(ctx, sess))
	must(t, s.CreateSession(ctx, newSession("s2", "u2")))

	rotateAt := t0.Add(time.Minute)
	must(t, s.RotateSessionToken(ctx, "s1", "rotated-hash", rotateAt))
	_, err := s.SessionByTokenHash(ctx, sess.TokenHash, idle, rotateAt)
	wantErr(t, "SessionByTokenHash(old hash) after rotation", err, storage.ErrNotFound)
	got, err := s.SessionByTokenHash(ctx, "rotated-hash", idle, rotateAt)
	if err != nil {
		t.Fatalf("SessionByTokenHash(new hash) = %v", err)
	}
	if got.ID != "s1" || got.TokenHash != "rotated-hash" || !got.ExpiresAt.Equal(sess.ExpiresAt) {
		t.Errorf("rotated session: ID %q, TokenHash %q, ExpiresAt %v; want s1, rotated-hash, %v",
			got.ID, got.TokenHash, got.ExpiresAt, sess.ExpiresAt)
	}

	wantErr(t, "RotateSessionToken to another session's hash",
		s.RotateSessionToken(ctx, "s1", "cookie-hash-s2", rotateAt), storage.ErrAlreadyExists)
	wantErr(t, "RotateSessionToken(nope)", s.RotateSessionToken(ctx, "nope", "h", rotateAt), storage.ErrNotFound)

	must(t, s.RevokeSession(ctx, "s2", rotateAt))
	wantErr(t, "RotateSessionToken of a revoked session",
		s.RotateSessionToken(ctx, "s2", "revived-hash", rotateAt), storage.ErrConflict)
	_, err = s.SessionByTokenHash(ctx, "revived-hash", idle, rotateAt)
	wantErr(t, "SessionByTokenHash(revived-hash)", err, storage.ErrNotFound)
}

// E4: after logout the cookie is dead, the record stays readable.
func testRevokeSession(t *testing.T, s storage.Store) {
	ctx := t.Context()
	want := newSession("s1", "u1")
	must(t, s.CreateSession(ctx, want))
	revokeAt := t0.Add(time.Minute)
	must(t, s.RevokeSession(ctx, "s1", revokeAt))
	wantErr(t, "RevokeSession(s1) again", s.RevokeSession(ctx, "s1", revokeAt.Add(time.Minute)), nil)

	want.RevokedAt = revokeAt
	if diff := cmp.Diff(want, getSession(t, s, "s1"), cmpOpts...); diff != "" {
		t.Errorf("SessionByID after RevokeSession (-want +got):\n%s", diff)
	}
	_, err := s.SessionByTokenHash(ctx, want.TokenHash, idle, revokeAt)
	wantErr(t, "SessionByTokenHash after RevokeSession", err, storage.ErrNotFound)
	wantErr(t, "RevokeSession(nope)", s.RevokeSession(ctx, "nope", revokeAt), storage.ErrNotFound)
}

// E4: disabling a user ends all their sessions.
func testRevokeUserSessions(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for _, id := range []string{"a1", "a2"} {
		must(t, s.CreateSession(ctx, newSession(id, "alice")))
	}
	must(t, s.CreateSession(ctx, newSession("b1", "bob")))
	must(t, s.RevokeUserSessions(ctx, "alice", t0))
	for id, wantRevoked := range map[string]bool{"a1": true, "a2": true, "b1": false} {
		if got := !getSession(t, s, id).RevokedAt.IsZero(); got != wantRevoked {
			t.Errorf("after RevokeUserSessions(alice) session %s revoked = %v, want %v", id, got, wantRevoked)
		}
	}
	wantErr(t, "RevokeUserSessions(nobody)", s.RevokeUserSessions(ctx, "nobody", t0), nil)
}

// The account page's list: the live sessions of one user, most recently
// seen first, each with the clients signed in through it (a code, an
// access token or a refresh token issued in it).
func testLiveSessions(t *testing.T, s storage.Store) {
	ctx := t.Context()
	now := t0.Add(time.Hour)
	for _, id := range []string{"rp", "plain", "unused"} {
		c := newClient(id)
		c.Name = map[string]string{"rp": "Riwayat Jabatan", "plain": "Profil Pegawai", "unused": "Lain"}[id]
		must(t, s.CreateClient(ctx, c))
	}
	mk := func(id, user string, lastSeen time.Time, edit func(*storage.Session)) {
		sess := newSession(id, user)
		sess.LastSeenAt = lastSeen
		if edit != nil {
			edit(sess)
		}
		must(t, s.CreateSession(ctx, sess))
	}
	mk("older", "u1", now.Add(-20*time.Minute), nil)
	mk("newer", "u1", now.Add(-time.Minute), func(s *storage.Session) { s.UserAgent, s.IP = "Firefox ✓", "2001:db8::1" })
	mk("idle", "u1", now.Add(-idle), nil)
	mk("expired", "u1", now.Add(-time.Minute), func(s *storage.Session) { s.ExpiresAt = now })
	mk("revoked", "u1", now.Add(-time.Minute), nil)
	must(t, s.RevokeSession(ctx, "revoked", now))
	mk("bobs", "u2", now.Add(-time.Minute), nil)

	// "older": a code for plain and one for rp; "newer": a refresh token
	// and an access token of rp; "unused" took part only in bob's session
	// and in a request that never completed.
	for _, c := range []struct{ ar, client, user, session string }{
		{"ar-1", "plain", "u1", "older"}, {"ar-2", "rp", "u1", "older"}, {"ar-3", "unused", "u2", "bobs"},
	} {
		must(t, s.CreateAuthRequest(ctx, newAuthRequest(c.ar, c.client)))
		must(t, s.SetAuthRequestUser(ctx, c.ar, c.user, t0))
		must(t, s.CompleteAuthRequest(ctx, c.ar, c.session, t0))
		must(t, s.SaveAuthCode(ctx, c.ar, "code-"+c.ar, now.Add(time.Minute)))
	}
	must(t, s.CreateAuthRequest(ctx, newAuthRequest("ar-pending", "unused")))
	rt := newRefreshToken("rt-1", "rp", "fam-1")
	rt.UserID, rt.SessionID = "u1", "newer"
	must(t, s.CreateRefreshToken(ctx, rt))
	at := newAccessToken("at-1", "rp")
	at.UserID, at.SessionID = "u1", "newer"
	must(t, s.CreateAccessToken(ctx, at))

	got, err := s.LiveSessions(ctx, "u1", idle, now)
	if err != nil {
		t.Fatalf("LiveSessions(u1) = %v", err)
	}
	newer, older := newSession("newer", "u1"), newSession("older", "u1")
	newer.LastSeenAt, newer.UserAgent, newer.IP = now.Add(-time.Minute), "Firefox ✓", "2001:db8::1"
	older.LastSeenAt = now.Add(-20 * time.Minute)
	want := []*storage.LiveSession{
		{Session: *newer, Clients: []storage.SessionClient{{ID: "rp", Name: "Riwayat Jabatan"}}},
		{Session: *older, Clients: []storage.SessionClient{{ID: "plain", Name: "Profil Pegawai"}, {ID: "rp", Name: "Riwayat Jabatan"}}},
	}
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("LiveSessions(u1) mismatch (-want +got):\n%s", diff)
	}

	none, err := s.LiveSessions(ctx, "nobody", idle, now)
	if err != nil || len(none) != 0 {
		t.Errorf("LiveSessions(nobody) = %v, %v; want none", none, err)
	}
}
