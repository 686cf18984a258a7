package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/asnidp/asnidp/storage"
)

// revokedAt returns when the access token id was revoked (zero if not).
func accessRevokedAt(t *testing.T, s storage.Store, id string) time.Time {
	t.Helper()
	at, err := s.AccessTokenByID(t.Context(), id)
	if err != nil {
		t.Fatalf("AccessTokenByID(%q) = %v", id, err)
	}
	return at.RevokedAt
}

// refreshRevokedAt returns when the refresh token with tokenHash was
// revoked (zero if not).
func refreshRevokedAt(t *testing.T, s storage.Store, tokenHash string) time.Time {
	t.Helper()
	rt, err := s.RefreshTokenByHash(t.Context(), tokenHash)
	if err != nil {
		t.Fatalf("RefreshTokenByHash(%q) = %v", tokenHash, err)
	}
	return rt.RevokedAt
}

// checkRevoked reports access tokens (by ID) and refresh tokens (by hash)
// whose revocation state is not the wanted one.
func checkRevoked(t *testing.T, s storage.Store, when string, access, refresh map[string]bool) {
	t.Helper()
	for id, want := range access {
		if got := !accessRevokedAt(t, s, id).IsZero(); got != want {
			t.Errorf("%s: access token %s revoked = %v, want %v", when, id, got, want)
		}
	}
	for hash, want := range refresh {
		if got := !refreshRevokedAt(t, s, hash).IsZero(); got != want {
			t.Errorf("%s: refresh token %s revoked = %v, want %v", when, hash, got, want)
		}
	}
}

func testAccessToken(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateClient(ctx, newClient("rp")))
	want := newAccessToken("at1", "rp")
	want.RefreshTokenID = "rt1"
	must(t, s.CreateAccessToken(ctx, want))
	// client_credentials: the subject is the client, no grant or session.
	cc := &storage.AccessToken{ID: "at2", ClientID: "rp", UserID: "rp", Scopes: []string{"api"},
		CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
	must(t, s.CreateAccessToken(ctx, cc))

	for _, w := range []*storage.AccessToken{want, cc} {
		got, err := s.AccessTokenByID(ctx, w.ID)
		if err != nil {
			t.Fatalf("AccessTokenByID(%q) = %v", w.ID, err)
		}
		if diff := cmp.Diff(w, got, cmpOpts...); diff != "" {
			t.Errorf("AccessTokenByID(%q) mismatch (-want +got):\n%s", w.ID, diff)
		}
	}
	wantErr(t, "CreateAccessToken(at1) again", s.CreateAccessToken(ctx, newAccessToken("at1", "rp")), storage.ErrAlreadyExists)
	wantErr(t, "CreateAccessToken for an unknown client", s.CreateAccessToken(ctx, newAccessToken("at3", "ghost")), storage.ErrNotFound)
	_, err := s.AccessTokenByID(ctx, "nope")
	wantErr(t, "AccessTokenByID(nope)", err, storage.ErrNotFound)

	revokeAt := t0.Add(time.Minute)
	must(t, s.RevokeAccessToken(ctx, "at1", revokeAt))
	wantErr(t, "RevokeAccessToken(at1) again", s.RevokeAccessToken(ctx, "at1", revokeAt.Add(time.Minute)), nil)
	want.RevokedAt = revokeAt // the first revocation counts
	got, err := s.AccessTokenByID(ctx, "at1")
	if err != nil {
		t.Fatalf("AccessTokenByID(at1) after revoke = %v, want the revoked record", err)
	}
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("AccessTokenByID(at1) after revoke mismatch (-want +got):\n%s", diff)
	}
	checkRevoked(t, s, "after RevokeAccessToken(at1)", map[string]bool{"at2": false}, nil)
	wantErr(t, "RevokeAccessToken(nope)", s.RevokeAccessToken(ctx, "nope", revokeAt), storage.ErrNotFound)
}

func testRefreshToken(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateClient(ctx, newClient("rp")))
	want := newRefreshToken("rt1", "rp", "fam1")
	must(t, s.CreateRefreshToken(ctx, want))
	got, err := s.RefreshTokenByHash(ctx, "hash-rt1")
	if err != nil {
		t.Fatalf("RefreshTokenByHash(hash-rt1) = %v", err)
	}
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("RefreshTokenByHash(hash-rt1) mismatch (-want +got):\n%s", diff)
	}

	sameID := newRefreshToken("rt1", "rp", "fam2")
	sameID.TokenHash = "hash-other"
	wantErr(t, "CreateRefreshToken with a taken ID", s.CreateRefreshToken(ctx, sameID), storage.ErrAlreadyExists)
	sameHash := newRefreshToken("rt2", "rp", "fam2")
	sameHash.TokenHash = "hash-rt1"
	wantErr(t, "CreateRefreshToken with a taken hash", s.CreateRefreshToken(ctx, sameHash), storage.ErrAlreadyExists)
	_, err = s.RefreshTokenByHash(ctx, "hash-nope")
	wantErr(t, "RefreshTokenByHash(hash-nope)", err, storage.ErrNotFound)
}

// withFamily makes client "rp", refresh token rt1 of family fam1 and the
// access token at1 issued with it.
func withFamily(t *testing.T, s storage.Store) {
	t.Helper()
	ctx := t.Context()
	must(t, s.CreateClient(ctx, newClient("rp")))
	must(t, s.CreateRefreshToken(ctx, newRefreshToken("rt1", "rp", "fam1")))
	at := newAccessToken("at1", "rp")
	at.RefreshTokenID = "rt1"
	must(t, s.CreateAccessToken(ctx, at))
}

// nextToken is what a rotation of the family would write.
func nextToken(id string) *storage.RefreshToken {
	rt := newRefreshToken(id, "rp", "")
	rt.CreatedAt = t0.Add(time.Minute)
	return rt
}

// D9: rotation marks the old token used and adds the next to the family;
// presenting a rotated token again revokes the family and its access
// tokens.
func testRotateRefreshToken(t *testing.T, s storage.Store) {
	ctx := t.Context()
	withFamily(t, s)
	// An unrelated family must come through untouched.
	must(t, s.CreateRefreshToken(ctx, newRefreshToken("other", "rp", "fam-other")))
	expired := newRefreshToken("old", "rp", "fam-old")
	expired.ExpiresAt = t0
	must(t, s.CreateRefreshToken(ctx, expired))

	rotateAt := t0.Add(time.Minute)
	rt2 := nextToken("rt2")
	must(t, s.RotateRefreshToken(ctx, "hash-rt1", rt2, rotateAt))
	if rt2.FamilyID != "fam1" {
		t.Errorf("RotateRefreshToken set next.FamilyID = %q, want fam1", rt2.FamilyID)
	}
	old, err := s.RefreshTokenByHash(ctx, "hash-rt1")
	if err != nil {
		t.Fatalf("RefreshTokenByHash(hash-rt1) = %v", err)
	}
	if !old.UsedAt.Equal(rotateAt) || !old.RevokedAt.IsZero() {
		t.Errorf("rotated token: UsedAt %v, RevokedAt %v; want %v, zero", old.UsedAt, old.RevokedAt, rotateAt)
	}
	want := nextToken("rt2")
	want.FamilyID = "fam1"
	got, err := s.RefreshTokenByHash(ctx, "hash-rt2")
	if err != nil {
		t.Fatalf("RefreshTokenByHash(hash-rt2) = %v", err)
	}
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("next token mismatch (-want +got):\n%s", diff)
	}
	at2 := newAccessToken("at2", "rp")
	at2.RefreshTokenID = "rt2"
	must(t, s.CreateAccessToken(ctx, at2))

	// Reuse of rt1: refused, and everything of the family is revoked.
	reuseAt := t0.Add(2 * time.Minute)
	wantErr(t, "RotateRefreshToken(rt1) again", s.RotateRefreshToken(ctx, "hash-rt1", nextToken("rt3"), reuseAt), storage.ErrConflict)
	checkRevoked(t, s, "after reuse of rt1",
		map[string]bool{"at1": true, "at2": true},
		map[string]bool{"hash-rt1": true, "hash-rt2": true, "hash-other": false})
	_, err = s.RefreshTokenByHash(ctx, "hash-rt3")
	wantErr(t, "RefreshTokenByHash(hash-rt3) of the refused rotation", err, storage.ErrNotFound)

	// The revoked successor cannot rotate either.
	wantErr(t, "RotateRefreshToken(rt2) after family revocation", s.RotateRefreshToken(ctx, "hash-rt2", nextToken("rt4"), reuseAt), storage.ErrConflict)

	// Expired or unknown: not found, and nothing is marked.
	wantErr(t, "RotateRefreshToken(expired)", s.RotateRefreshToken(ctx, "hash-old", nextToken("rt5"), t0), storage.ErrNotFound)
	if got := refreshRevokedAt(t, s, "hash-old"); !got.IsZero() {
		t.Errorf("expired token revoked at %v by a refused rotation, want untouched", got)
	}
	wantErr(t, "RotateRefreshToken(unknown)", s.RotateRefreshToken(ctx, "hash-nope", nextToken("rt6"), t0), storage.ErrNotFound)
	for _, hash := range []string{"hash-rt5", "hash-rt6"} {
		_, err := s.RefreshTokenByHash(ctx, hash)
		wantErr(t, "RefreshTokenByHash("+hash+") of a refused rotation", err, storage.ErrNotFound)
	}
}

// D9, I4: many simultaneous rotations of one token: one wins, the rest
// see a reused token, the family ends revoked and does not fork.
func testRotateRefreshTokenRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	withFamily(t, s)
	const n = 10
	errs := race(n, func(i int) error {
		return s.RotateRefreshToken(ctx, "hash-rt1", nextToken(fmt.Sprintf("next%d", i)), t0.Add(time.Minute))
	})
	wins, losses := tally(t, "RotateRefreshToken", errs, storage.ErrConflict)
	if wins != 1 || losses != n-1 {
		t.Fatalf("%d concurrent RotateRefreshToken: %d succeeded, %d ErrConflict; want 1, %d", n, wins, losses, n-1)
	}
	for i, err := range errs {
		hash := fmt.Sprintf("hash-next%d", i)
		rt, getErr := s.RefreshTokenByHash(ctx, hash)
		if err != nil {
			wantErr(t, "RefreshTokenByHash("+hash+") of a losing rotation", getErr, storage.ErrNotFound)
			continue
		}
		if getErr != nil {
			t.Fatalf("RefreshTokenByHash(%s) of the winning rotation = %v", hash, getErr)
		}
		if rt.FamilyID != "fam1" || rt.RevokedAt.IsZero() {
			t.Errorf("winning rotation's token: FamilyID %q, RevokedAt %v; want fam1, revoked", rt.FamilyID, rt.RevokedAt)
		}
	}
	checkRevoked(t, s, "after the race", map[string]bool{"at1": true}, map[string]bool{"hash-rt1": true})
}

func testRevokeRefreshFamily(t *testing.T, s storage.Store) {
	ctx := t.Context()
	withFamily(t, s)
	must(t, s.RotateRefreshToken(ctx, "hash-rt1", nextToken("rt2"), t0))
	at2 := newAccessToken("at2", "rp")
	at2.RefreshTokenID = "rt2"
	must(t, s.CreateAccessToken(ctx, at2))
	must(t, s.CreateRefreshToken(ctx, newRefreshToken("x1", "rp", "fam2")))
	atx := newAccessToken("atx", "rp")
	atx.RefreshTokenID = "x1"
	must(t, s.CreateAccessToken(ctx, atx))

	revokeAt := t0.Add(time.Minute)
	must(t, s.RevokeRefreshFamily(ctx, "fam1", revokeAt))
	checkRevoked(t, s, "after RevokeRefreshFamily(fam1)",
		map[string]bool{"at1": true, "at2": true, "atx": false},
		map[string]bool{"hash-rt1": true, "hash-rt2": true, "hash-x1": false})
	if got := refreshRevokedAt(t, s, "hash-rt2"); !got.Equal(revokeAt) {
		t.Errorf("rt2 RevokedAt = %v, want %v", got, revokeAt)
	}
	wantErr(t, "RevokeRefreshFamily(fam1) again", s.RevokeRefreshFamily(ctx, "fam1", revokeAt.Add(time.Hour)), nil)
	if got := refreshRevokedAt(t, s, "hash-rt2"); !got.Equal(revokeAt) {
		t.Errorf("after revoking again rt2 RevokedAt = %v, want the first time %v", got, revokeAt)
	}
	wantErr(t, "RevokeRefreshFamily(unknown)", s.RevokeRefreshFamily(ctx, "nope", revokeAt), nil)
}

// D7: a second code redemption revokes what the first issued.
func testRevokeGrant(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateClient(ctx, newClient("rp")))
	rt := newRefreshToken("rt1", "rp", "fam1")
	rt.GrantID = "g1"
	must(t, s.CreateRefreshToken(ctx, rt))
	at := newAccessToken("at1", "rp")
	at.GrantID, at.RefreshTokenID = "g1", "rt1"
	must(t, s.CreateAccessToken(ctx, at))
	// Issued by a later rotation without the grant ID; found through rt1.
	linked := newAccessToken("at-linked", "rp")
	linked.GrantID, linked.RefreshTokenID = "", "rt1"
	must(t, s.CreateAccessToken(ctx, linked))
	other := newAccessToken("at-other", "rp")
	other.GrantID = "g2"
	must(t, s.CreateAccessToken(ctx, other))
	cc := newAccessToken("at-cc", "rp")
	cc.GrantID, cc.SessionID, cc.UserID = "", "", "rp"
	must(t, s.CreateAccessToken(ctx, cc))

	wantErr(t, `RevokeGrant("")`, s.RevokeGrant(ctx, "", t0), nil)
	checkRevoked(t, s, `after RevokeGrant("")`, map[string]bool{"at-cc": false, "at-linked": false}, nil)

	must(t, s.RevokeGrant(ctx, "g1", t0))
	checkRevoked(t, s, "after RevokeGrant(g1)",
		map[string]bool{"at1": true, "at-linked": true, "at-other": false, "at-cc": false},
		map[string]bool{"hash-rt1": true})
	wantErr(t, "RotateRefreshToken of a revoked grant", s.RotateRefreshToken(ctx, "hash-rt1", nextToken("rt2"), t0), storage.ErrConflict)
}

// C7, E4: a password reset or a disabled account ends every token.
func testRevokeUserTokens(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateClient(ctx, newClient("rp")))
	for _, u := range []string{"alice", "bob"} {
		at := newAccessToken("at-"+u, "rp")
		at.UserID = u
		must(t, s.CreateAccessToken(ctx, at))
		rt := newRefreshToken("rt-"+u, "rp", "fam-"+u)
		rt.UserID = u
		must(t, s.CreateRefreshToken(ctx, rt))
	}
	must(t, s.RevokeUserTokens(ctx, "alice", t0))
	checkRevoked(t, s, "after RevokeUserTokens(alice)",
		map[string]bool{"at-alice": true, "at-bob": false},
		map[string]bool{"hash-rt-alice": true, "hash-rt-bob": false})
	wantErr(t, `RevokeUserTokens("")`, s.RevokeUserTokens(ctx, "", t0), nil)
	checkRevoked(t, s, `after RevokeUserTokens("")`, map[string]bool{"at-bob": false}, nil)
}

// E4: logout ends every token issued in the session, offline_access
// refresh tokens included: a logged-out browser leaves nothing usable.
func testRevokeSessionTokens(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateClient(ctx, newClient("rp")))
	mkRT := func(id, session string, scopes ...string) {
		rt := newRefreshToken(id, "rp", "fam-"+id)
		rt.SessionID, rt.Scopes = session, scopes
		must(t, s.CreateRefreshToken(ctx, rt))
	}
	mkRT("online", "s1", "openid", "profile")
	mkRT("offline", "s1", "openid", "offline_access")
	mkRT("lookalike", "s1", "openid", "offlineXaccess", "offline_access_x")
	mkRT("elsewhere", "s2", "openid")
	mkRT("nosession", "", "openid")
	for id, session := range map[string]string{"at-s1": "s1", "at-s2": "s2", "at-none": ""} {
		at := newAccessToken(id, "rp")
		at.SessionID = session
		must(t, s.CreateAccessToken(ctx, at))
	}

	must(t, s.RevokeSessionTokens(ctx, "s1", t0))
	checkRevoked(t, s, "after RevokeSessionTokens(s1)",
		map[string]bool{"at-s1": true, "at-s2": false, "at-none": false},
		map[string]bool{"hash-online": true, "hash-offline": true, "hash-lookalike": true,
			"hash-elsewhere": false, "hash-nosession": false})
	wantErr(t, `RevokeSessionTokens("")`, s.RevokeSessionTokens(ctx, "", t0), nil)
	checkRevoked(t, s, `after RevokeSessionTokens("")`,
		map[string]bool{"at-none": false}, map[string]bool{"hash-nosession": false})
}
