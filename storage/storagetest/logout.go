package storagetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/asnidp/asnidp/storage"
)

// logoutFixture: user u1 with session s1 in which clients "rp" (with a
// back-channel URI, issued a code) and "plain" (no URI) took part, and a
// second session s2 of the same user where only "rp" took part.
func logoutFixture(t *testing.T, s storage.Store) {
	t.Helper()
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "198609262015051001")))
	must(t, s.CreateClient(ctx, newClient("rp")))
	plain := newClient("plain")
	plain.BackchannelLogoutURI = ""
	must(t, s.CreateClient(ctx, plain))
	for _, sid := range []string{"s1", "s2"} {
		must(t, s.CreateSession(ctx, newSession(sid, "u1")))
	}
	for _, c := range []struct{ ar, client, session string }{
		{"ar-1", "rp", "s1"}, {"ar-2", "plain", "s1"}, {"ar-3", "rp", "s2"},
	} {
		must(t, s.CreateAuthRequest(ctx, newAuthRequest(c.ar, c.client)))
		must(t, s.SetAuthRequestUser(ctx, c.ar, "u1", t0))
		must(t, s.CompleteAuthRequest(ctx, c.ar, c.session, t0))
		must(t, s.SaveAuthCode(ctx, c.ar, "code-"+c.ar, t0.Add(time.Minute)))
	}
	at := newAccessToken("at-s1", "rp")
	at.UserID, at.SessionID = "u1", "s1"
	must(t, s.CreateAccessToken(ctx, at))
	rt := newRefreshToken("rt-s1", "rp", "fam-1")
	rt.UserID, rt.SessionID, rt.Scopes = "u1", "s1", []string{"openid", "offline_access"}
	must(t, s.CreateRefreshToken(ctx, rt))
}

// E4 and back-channel logout: ending a session revokes its tokens and
// queues exactly one notice per participating client with a URI.
func testEndSession(t *testing.T, s storage.Store) {
	ctx := t.Context()
	logoutFixture(t, s)
	must(t, s.EndSession(ctx, "s1", t0))

	if _, err := s.SessionByTokenHash(ctx, "cookie-hash-s1", time.Hour, t0); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("SessionByTokenHash(s1) after EndSession = %v, want ErrNotFound", err)
	}
	at, err := s.AccessTokenByID(ctx, "at-s1")
	must(t, err)
	rt, err := s.RefreshTokenByHash(ctx, "hash-rt-s1")
	must(t, err)
	if at.RevokedAt.IsZero() || rt.RevokedAt.IsZero() {
		t.Errorf("tokens of the ended session: access revoked %v, refresh (offline) revoked %v; want both", !at.RevokedAt.IsZero(), !rt.RevokedAt.IsZero())
	}

	got, err := s.ClaimLogoutDeliveries(ctx, t0, time.Minute, 10)
	must(t, err)
	if len(got) != 1 || got[0].ClientID != "rp" || got[0].SessionID != "s1" || got[0].UserID != "u1" || got[0].URI != "https://rp.example/logout" {
		t.Fatalf("ClaimLogoutDeliveries = %+v, want one for rp/s1/u1", got)
	}

	// Ending it again queues nothing more; an unknown session is not found.
	must(t, s.EndSession(ctx, "s1", t0))
	if again, err := s.ClaimLogoutDeliveries(ctx, t0.Add(2*time.Minute), time.Minute, 10); err != nil || len(again) != 1 {
		t.Errorf("after a second EndSession, %d deliveries (err %v), want the same single one", len(again), err)
	}
	wantErr(t, "EndSession(unknown)", s.EndSession(ctx, "nope", t0), storage.ErrNotFound)
}

func testEndUserSessions(t *testing.T, s storage.Store) {
	ctx := t.Context()
	logoutFixture(t, s)
	loose := newAccessToken("at-loose", "rp")
	loose.UserID, loose.SessionID = "u1", ""
	must(t, s.CreateAccessToken(ctx, loose))
	must(t, s.EndUserSessions(ctx, "u1", t0))

	for _, sid := range []string{"s1", "s2"} {
		if _, err := s.SessionByTokenHash(ctx, "cookie-hash-"+sid, time.Hour, t0); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("session %s after EndUserSessions: %v, want ErrNotFound", sid, err)
		}
	}
	got, err := s.AccessTokenByID(ctx, "at-loose")
	must(t, err)
	if got.RevokedAt.IsZero() {
		t.Error("a token of the user issued outside any session survived EndUserSessions")
	}
	due, err := s.ClaimLogoutDeliveries(ctx, t0, time.Minute, 10)
	must(t, err)
	if len(due) != 2 {
		t.Errorf("deliveries after EndUserSessions = %d, want 2 (rp in s1 and s2)", len(due))
	}
	must(t, s.EndUserSessions(ctx, "", t0))
}

// Deliveries are leased: concurrent claimers never get the same one; a
// failed attempt comes back when due; a finished one is gone.
func testLogoutDeliveryQueue(t *testing.T, s storage.Store) {
	ctx := t.Context()
	logoutFixture(t, s)
	must(t, s.EndSession(ctx, "s1", t0))
	must(t, s.EndSession(ctx, "s2", t0))

	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.ClaimLogoutDeliveries(ctx, t0, time.Minute, 10)
			if err != nil {
				t.Errorf("ClaimLogoutDeliveries: %v", err)
				return
			}
			mu.Lock()
			for _, d := range got {
				seen[d.ID]++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(seen) != 2 {
		t.Fatalf("claimed %d distinct deliveries, want 2", len(seen))
	}
	var ids []string
	for id, n := range seen {
		ids = append(ids, id)
		if n != 1 {
			t.Errorf("delivery %s claimed %d times, want once", id, n)
		}
	}
	if got, _ := s.ClaimLogoutDeliveries(ctx, t0.Add(30*time.Second), time.Minute, 10); len(got) != 0 {
		t.Errorf("%d deliveries claimable during their lease, want 0", len(got))
	}

	must(t, s.RetryLogoutDelivery(ctx, ids[0], t0.Add(5*time.Minute)))
	must(t, s.FinishLogoutDelivery(ctx, ids[1]))
	if got, _ := s.ClaimLogoutDeliveries(ctx, t0.Add(2*time.Minute), time.Minute, 10); len(got) != 0 {
		t.Errorf("%d deliveries due before the retry time, want 0", len(got))
	}
	got, err := s.ClaimLogoutDeliveries(ctx, t0.Add(5*time.Minute), time.Minute, 10)
	must(t, err)
	if len(got) != 1 || got[0].ID != ids[0] || got[0].Attempts != 1 {
		t.Errorf("after retry time: %+v, want %s with 1 attempt", got, ids[0])
	}
	wantErr(t, "RetryLogoutDelivery(finished)", s.RetryLogoutDelivery(ctx, ids[1], t0), storage.ErrNotFound)
}

// E4, "sign out everywhere else": every other session of the user ends as
// EndSession ends one, with its back-channel notices; every token not
// issued in the kept session is revoked; the kept session and its tokens
// stay.
func testEndOtherSessions(t *testing.T, s storage.Store) {
	ctx := t.Context()
	logoutFixture(t, s)
	must(t, s.CreateUser(ctx, newUser("u2", "199001012022032002")))
	must(t, s.CreateSession(ctx, newSession("bobs", "u2")))
	kept := newRefreshToken("rt-s2", "rp", "fam-2")
	kept.UserID, kept.SessionID = "u1", "s2"
	must(t, s.CreateRefreshToken(ctx, kept))
	loose := newAccessToken("at-loose", "rp")
	loose.UserID, loose.SessionID = "u1", ""
	must(t, s.CreateAccessToken(ctx, loose))
	must(t, s.CreateSession(ctx, newSession("s3", "u1")))

	// The kept session must be a live one of this user; otherwise nothing
	// changes.
	must(t, s.RevokeSession(ctx, "s3", t0))
	for _, keep := range []string{"bobs", "s3", "nope", ""} {
		_, err := s.EndOtherSessions(ctx, "u1", keep, t0)
		wantErr(t, "EndOtherSessions(u1, keep "+keep+")", err, storage.ErrConflict)
	}
	if !getSession(t, s, "s1").RevokedAt.IsZero() || !accessRevokedAt(t, s, "at-loose").IsZero() {
		t.Fatal("a refused EndOtherSessions changed something")
	}

	ended, err := s.EndOtherSessions(ctx, "u1", "s2", t0)
	if err != nil {
		t.Fatalf("EndOtherSessions(u1, keep s2) = %v", err)
	}
	if len(ended) != 1 || ended[0] != "s1" {
		t.Errorf("EndOtherSessions ended %v, want [s1]", ended)
	}
	for id, wantRevoked := range map[string]bool{"s1": true, "s2": false, "bobs": false} {
		if got := !getSession(t, s, id).RevokedAt.IsZero(); got != wantRevoked {
			t.Errorf("session %s revoked = %v, want %v", id, got, wantRevoked)
		}
	}
	checkRevoked(t, s, "after EndOtherSessions(u1, keep s2)",
		map[string]bool{"at-s1": true, "at-loose": true},
		map[string]bool{"hash-rt-s1": true, "hash-rt-s2": false})
	due, err := s.ClaimLogoutDeliveries(ctx, t0, time.Minute, 10)
	must(t, err)
	if len(due) != 1 || due[0].SessionID != "s1" || due[0].ClientID != "rp" {
		t.Errorf("deliveries after EndOtherSessions = %+v, want one for rp/s1", due)
	}

	// Again: nothing left to end.
	ended, err = s.EndOtherSessions(ctx, "u1", "s2", t0.Add(time.Minute))
	if err != nil || len(ended) != 0 {
		t.Errorf("EndOtherSessions again = %v, %v; want nothing ended", ended, err)
	}
}
