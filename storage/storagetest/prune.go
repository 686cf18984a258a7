package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/asnidp/asnidp/storage"
)

// G6: expired rows go; live ones, rows still needed to catch a replay, and
// signing keys stay.
func testPrune(t *testing.T, s storage.Store) {
	ctx := t.Context()
	now := t0.Add(time.Hour)
	must(t, s.CreateClient(ctx, newClient("rp")))

	// Auth requests.
	ar := func(id string, expiresAt time.Time, code string, codeExpiresAt, usedAt time.Time) {
		r := newAuthRequest(id, "rp")
		r.ExpiresAt = expiresAt
		must(t, s.CreateAuthRequest(ctx, r))
		if code != "" {
			must(t, s.SaveAuthCode(ctx, id, code, codeExpiresAt))
		}
		if !usedAt.IsZero() {
			_, err := s.RedeemAuthCode(ctx, code, usedAt)
			must(t, err)
		}
	}
	ar("ar-live", now.Add(10*time.Minute), "", time.Time{}, time.Time{})
	ar("ar-expired", now.Add(-time.Second), "", time.Time{}, time.Time{})
	ar("ar-code-expired", now.Add(-time.Second), "code-expired", now.Add(-10*time.Minute), time.Time{})
	ar("ar-code-live", now.Add(-time.Second), "code-live", now.Add(30*time.Second), time.Time{})
	ar("ar-code-used", now.Add(-time.Second), "code-used", now.Add(time.Minute), now.Add(-time.Minute))

	// Tokens.
	must(t, s.CreateRefreshToken(ctx, newRefreshToken("rt-live", "rp", "f1")))
	must(t, s.RotateRefreshToken(ctx, "hash-rt-live", newRefreshToken("rt-next", "rp", ""), t0))
	rt := newRefreshToken("rt-expired", "rp", "f2")
	rt.ExpiresAt = now.Add(-time.Second)
	must(t, s.CreateRefreshToken(ctx, rt))
	at := newAccessToken("at-live", "rp")
	at.ExpiresAt = now.Add(time.Minute)
	must(t, s.CreateAccessToken(ctx, at))
	at = newAccessToken("at-revoked", "rp")
	at.ExpiresAt = now.Add(time.Minute)
	must(t, s.CreateAccessToken(ctx, at))
	must(t, s.RevokeAccessToken(ctx, "at-revoked", t0))
	at = newAccessToken("at-expired", "rp")
	at.ExpiresAt = now.Add(-time.Second)
	must(t, s.CreateAccessToken(ctx, at))

	// Sessions.
	must(t, s.CreateSession(ctx, newSession("s-live", "u1")))
	sess := newSession("s-expired", "u1")
	sess.ExpiresAt = now
	must(t, s.CreateSession(ctx, sess))
	must(t, s.CreateSession(ctx, newSession("s-revoked", "u1")))
	must(t, s.RevokeSession(ctx, "s-revoked", t0))

	// Counters: one window over, one current.
	_, err := s.IncrementCounter(ctx, "c-old", time.Minute, t0)
	must(t, err)
	_, err = s.IncrementCounter(ctx, "c-now", time.Minute, now)
	must(t, err)

	// A signing key long past: not Prune's to remove.
	_, err = s.AddSigningKey(ctx, newSigningKey("k-old", t0.Add(-100*24*time.Hour)), t0.Add(-200*24*time.Hour))
	must(t, err)

	n, err := s.Prune(ctx, now)
	if err != nil {
		t.Fatalf("Prune(now) = %v", err)
	}
	// ar-expired, ar-code-expired, rt-expired, at-expired, s-expired,
	// s-revoked, c-old.
	if n != 7 {
		t.Errorf("Prune(now) = %d, want 7", n)
	}
	checkExists(t, s, "after Prune(now)", map[record]bool{
		{authReq, "ar-live"}: true, {authReq, "ar-expired"}: false, {authReq, "ar-code-expired"}: false,
		{authReq, "ar-code-live"}: true, {authReq, "ar-code-used"}: true,
		{refresh, "hash-rt-live"}: true, {refresh, "hash-rt-next"}: true, {refresh, "hash-rt-expired"}: false,
		{access, "at-live"}: true, {access, "at-revoked"}: true, {access, "at-expired"}: false,
		{session, "s-live"}: true, {session, "s-expired"}: false, {session, "s-revoked"}: false,
	})
	if got, err := s.Counter(ctx, "c-now", time.Minute, now); got != 1 || err != nil {
		t.Errorf("Counter(c-now) after Prune = %d, %v; want 1, nil", got, err)
	}
	if got, err := s.Counter(ctx, "c-old", time.Minute, t0); got != 0 || err != nil {
		t.Errorf("Counter(c-old) after Prune = %d, %v; want 0 (pruned), nil", got, err)
	}
	// D7 still holds for the used code kept for that purpose.
	_, err = s.RedeemAuthCode(ctx, "code-used", now)
	wantErr(t, "RedeemAuthCode(code-used) after Prune", err, storage.ErrConflict)

	// Two days on, everything but the key is gone.
	later := now.Add(48 * time.Hour)
	n, err = s.Prune(ctx, later)
	if err != nil {
		t.Fatalf("Prune(later) = %v", err)
	}
	// ar-live, ar-code-live, ar-code-used, rt-live, rt-next, at-live,
	// at-revoked, s-live, c-now.
	if n != 9 {
		t.Errorf("Prune(later) = %d, want 9", n)
	}
	checkExists(t, s, "after Prune(later)", map[record]bool{
		{authReq, "ar-live"}: false, {authReq, "ar-code-live"}: false, {authReq, "ar-code-used"}: false,
		{refresh, "hash-rt-live"}: false, {refresh, "hash-rt-next"}: false,
		{access, "at-live"}: false, {access, "at-revoked"}: false, {session, "s-live"}: false,
	})
	if n, err := s.Prune(ctx, later); n != 0 || err != nil {
		t.Errorf("Prune(later) again = %d, %v; want 0, nil", n, err)
	}
	keys, err := s.SigningKeys(ctx)
	if err != nil || len(keys) != 1 {
		t.Errorf("SigningKeys() after Prune = %d keys, %v; want 1, nil", len(keys), err)
	}
}

// record names a row for checkExists: its kind and its ID (a hash for
// refresh tokens).
type record struct{ kind, id string }

const (
	authReq = "auth request"
	refresh = "refresh token"
	access  = "access token"
	session = "session"
)

// checkExists reports records whose presence is not the wanted one,
// reading them in ways that ignore expiry.
func checkExists(t *testing.T, s storage.Store, when string, want map[record]bool) {
	t.Helper()
	ctx := t.Context()
	for r, wantThere := range want {
		var err error
		switch r.kind {
		case authReq:
			// Rebinding checks no expiry and reports an absent row.
			err = s.RebindAuthRequest(ctx, r.id, "probe")
		case refresh:
			_, err = s.RefreshTokenByHash(ctx, r.id)
		case access:
			_, err = s.AccessTokenByID(ctx, r.id)
		case session:
			_, err = s.SessionByID(ctx, r.id)
		}
		switch {
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			t.Errorf("%s: reading %s %s = %v", when, r.kind, r.id, err)
		case (err == nil) != wantThere:
			t.Errorf("%s: %s %s present = %v, want %v", when, r.kind, r.id, err == nil, wantThere)
		}
	}
}
