package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/asnidp/asnidp/storage"
)

// issuedEvent is the audit row a token response stores with its tokens.
func issuedEvent(id string) *storage.AuditEvent {
	return &storage.AuditEvent{ID: "ev-" + id, Time: t0, Type: "token.issued", Outcome: storage.OutcomeSuccess,
		UserID: "user-1", ClientID: "rp", Detail: "grant=authorization_code"}
}

// checkIssued reports whether the access token id and its audit row
// exist, against want.
func checkIssued(t *testing.T, s storage.Store, when, id string, want bool) {
	t.Helper()
	_, err := s.AccessTokenByID(t.Context(), id)
	if got := err == nil; got != want {
		t.Errorf("%s: access token %s stored = %v (%v), want %v", when, id, got, err, want)
	}
	events, err := s.AuditEvents(t.Context(), storage.AuditFilter{Type: "token.issued"})
	if err != nil {
		t.Fatalf("AuditEvents = %v", err)
	}
	found := false
	for _, e := range events {
		found = found || e.ID == "ev-"+id
	}
	if found != want {
		t.Errorf("%s: audit row of %s stored = %v, want %v", when, id, found, want)
	}
}

// codeIssue redeems code-1 for the access token id (and a new refresh
// family when refresh is set).
func codeIssue(id string, refresh bool) *storage.Issue {
	iss := &storage.Issue{CodeHash: "code-1", Access: newAccessToken(id, "rp"), Audit: issuedEvent(id)}
	iss.Access.GrantID = "ar1"
	if refresh {
		iss.Refresh = newRefreshToken("rt-"+id, "rp", "fam-"+id)
		iss.Refresh.GrantID = "ar1"
		iss.Access.RefreshTokenID = iss.Refresh.ID
	}
	return iss
}

// D7: a code's redemption, its tokens and their audit row are one write:
// the first issue stores all of them; a used, expired or unknown code is
// ErrConflict and stores nothing, so no second set of tokens ever exists.
func testIssueTokensCode(t *testing.T, s storage.Store) {
	ctx := t.Context()
	exp := withTwoCodes(t, s)

	at := t0.Add(10 * time.Second)
	must(t, s.IssueTokens(ctx, codeIssue("at1", true), at))
	checkIssued(t, s, "first issue", "at1", true)
	if rt, err := s.RefreshTokenByHash(ctx, "hash-rt-at1"); err != nil || rt.FamilyID != "fam-at1" {
		t.Errorf("refresh token of the first issue = %+v, %v; want family fam-at1", rt, err)
	}
	if got := getAuthRequest(t, s, "ar1"); !got.CodeUsedAt.Equal(at) {
		t.Errorf("code-1 used at %v after the issue, want %v", got.CodeUsedAt, at)
	}

	wantErr(t, "IssueTokens(code-1) again", s.IssueTokens(ctx, codeIssue("at2", true), at.Add(time.Second)), storage.ErrConflict)
	checkIssued(t, s, "second issue of code-1", "at2", false)
	_, err := s.RefreshTokenByHash(ctx, "hash-rt-at2")
	wantErr(t, "refresh token of the refused issue", err, storage.ErrNotFound)

	expired := codeIssue("at3", false)
	expired.CodeHash = "code-2"
	wantErr(t, "IssueTokens(code-2) at its expiry", s.IssueTokens(ctx, expired, exp), storage.ErrConflict)
	checkIssued(t, s, "issue of an expired code", "at3", false)
	if got := getAuthRequest(t, s, "ar2"); !got.CodeUsedAt.IsZero() {
		t.Errorf("expired code-2 marked used at %v by a refused issue", got.CodeUsedAt)
	}

	unknown := codeIssue("at4", false)
	unknown.CodeHash = "code-x"
	wantErr(t, "IssueTokens(unknown code)", s.IssueTokens(ctx, unknown, at), storage.ErrConflict)
	checkIssued(t, s, "issue of an unknown code", "at4", false)

	// A replay still reads as a reuse afterwards (the caller's next step).
	_, err = s.RedeemAuthCode(ctx, "code-1", at.Add(2*time.Second))
	wantErr(t, "RedeemAuthCode(code-1) after the issue", err, storage.ErrConflict)
}

// One transaction: when a later write of the issue fails (here a taken
// access token ID), the code stays unused and no refresh token or audit
// row is left behind.
func testIssueTokensAtomic(t *testing.T, s storage.Store) {
	ctx := t.Context()
	withRequest(t, s)
	must(t, s.SaveAuthCode(ctx, "ar1", "code-1", t0.Add(time.Minute)))
	must(t, s.CreateAccessToken(ctx, newAccessToken("taken", "rp")))

	iss := codeIssue("taken", true)
	wantErr(t, "IssueTokens with a taken access token ID", s.IssueTokens(ctx, iss, t0), storage.ErrAlreadyExists)
	if got := getAuthRequest(t, s, "ar1"); !got.CodeUsedAt.IsZero() {
		t.Errorf("code-1 marked used at %v by a failed issue, want unused", got.CodeUsedAt)
	}
	_, err := s.RefreshTokenByHash(ctx, "hash-rt-taken")
	wantErr(t, "refresh token of the failed issue", err, storage.ErrNotFound)
	events, err := s.AuditEvents(ctx, storage.AuditFilter{Type: "token.issued"})
	if err != nil || len(events) != 0 {
		t.Errorf("audit rows after a failed issue = %d (%v), want none", len(events), err)
	}
	// The code is still good for the real issue.
	must(t, s.IssueTokens(ctx, codeIssue("at1", false), t0))
	checkIssued(t, s, "issue after the failed one", "at1", true)
}

// G3, I4: of many simultaneous issues for one code exactly one stores
// tokens; the rest are ErrConflict and leave nothing.
func testIssueTokensCodeRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	withRequest(t, s)
	must(t, s.SaveAuthCode(ctx, "ar1", "code-1", t0.Add(time.Minute)))
	const n = 20
	errs := race(n, func(i int) error {
		return s.IssueTokens(ctx, codeIssue(fmt.Sprintf("at%d", i), true), t0)
	})
	if wins, losses := tally(t, "IssueTokens", errs, storage.ErrConflict); wins != 1 || losses != n-1 {
		t.Errorf("%d concurrent IssueTokens of one code: %d succeeded, %d ErrConflict; want 1, %d", n, wins, losses, n-1)
	}
	for i, err := range errs {
		checkIssued(t, s, fmt.Sprintf("goroutine %d (err %v)", i, err), fmt.Sprintf("at%d", i), err == nil)
	}
}

// rotateIssue rotates rt1 into id with the access token at-id.
func rotateIssue(id string) *storage.Issue {
	at := newAccessToken("at-"+id, "rp")
	at.RefreshTokenID = id
	e := issuedEvent("at-" + id)
	return &storage.Issue{RotateHash: "hash-rt1", Refresh: nextToken(id), Access: at, Audit: e}
}

// D9: a rotation with its tokens and audit row is one write; presenting
// the rotated token again revokes the family (committed) and stores no
// token; an expired one is ErrNotFound and stores nothing.
func testIssueTokensRotate(t *testing.T, s storage.Store) {
	ctx := t.Context()
	withFamily(t, s)
	expired := newRefreshToken("old", "rp", "fam-old")
	expired.ExpiresAt = t0
	must(t, s.CreateRefreshToken(ctx, expired))

	rotateAt := t0.Add(time.Minute)
	iss := rotateIssue("rt2")
	must(t, s.IssueTokens(ctx, iss, rotateAt))
	if iss.Refresh.FamilyID != "fam1" {
		t.Errorf("IssueTokens set Refresh.FamilyID = %q, want fam1", iss.Refresh.FamilyID)
	}
	checkIssued(t, s, "rotation", "at-rt2", true)
	if old, err := s.RefreshTokenByHash(ctx, "hash-rt1"); err != nil || !old.UsedAt.Equal(rotateAt) {
		t.Errorf("rotated token = %+v, %v; want used at %v", old, err, rotateAt)
	}

	wantErr(t, "IssueTokens(rt1) again", s.IssueTokens(ctx, rotateIssue("rt3"), rotateAt.Add(time.Minute)), storage.ErrConflict)
	checkIssued(t, s, "reuse of rt1", "at-rt3", false)
	checkRevoked(t, s, "after reuse of rt1",
		map[string]bool{"at1": true, "at-rt2": true},
		map[string]bool{"hash-rt1": true, "hash-rt2": true})
	_, err := s.RefreshTokenByHash(ctx, "hash-rt3")
	wantErr(t, "refresh token of the refused rotation", err, storage.ErrNotFound)

	late := rotateIssue("rt4")
	late.RotateHash = "hash-old"
	wantErr(t, "IssueTokens(expired refresh token)", s.IssueTokens(ctx, late, t0), storage.ErrNotFound)
	checkIssued(t, s, "rotation of an expired token", "at-rt4", false)

	// Malformed issues are refused before anything is written.
	both := codeIssue("at5", true)
	both.RotateHash = "hash-rt2"
	if err := s.IssueTokens(ctx, both, t0); err == nil {
		t.Error("IssueTokens with a code and a rotation = nil, want an error")
	}
	if err := s.IssueTokens(ctx, &storage.Issue{CodeHash: "code-1"}, t0); err == nil {
		t.Error("IssueTokens without an access token = nil, want an error")
	}
}

// D9, I4: many simultaneous rotations through IssueTokens: one stores its
// tokens, the others see a reuse, and the family ends revoked with only
// the winner's access token besides the original.
func testIssueTokensRotateRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	withFamily(t, s)
	const n = 10
	errs := race(n, func(i int) error {
		return s.IssueTokens(ctx, rotateIssue(fmt.Sprintf("next%d", i)), t0.Add(time.Minute))
	})
	if wins, losses := tally(t, "IssueTokens", errs, storage.ErrConflict); wins != 1 || losses != n-1 {
		t.Fatalf("%d concurrent rotations: %d succeeded, %d ErrConflict; want 1, %d", n, wins, losses, n-1)
	}
	for i, err := range errs {
		id := fmt.Sprintf("at-next%d", i)
		checkIssued(t, s, fmt.Sprintf("rotation %d (err %v)", i, err), id, err == nil)
		if err == nil {
			checkRevoked(t, s, "winner after the race", map[string]bool{id: true}, nil)
		}
	}
	checkRevoked(t, s, "after the race", map[string]bool{"at1": true}, map[string]bool{"hash-rt1": true})
}

// client_credentials: an access token with its audit row, no code, no
// refresh token.
func testIssueTokensPlain(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateClient(ctx, newClient("rp")))
	at := newAccessToken("cc1", "rp")
	at.UserID, at.GrantID, at.SessionID = "rp", "", ""
	must(t, s.IssueTokens(ctx, &storage.Issue{Access: at, Audit: issuedEvent("cc1")}, t0))
	checkIssued(t, s, "client_credentials issue", "cc1", true)
	// Without an audit row it stores the token alone.
	must(t, s.IssueTokens(ctx, &storage.Issue{Access: newAccessToken("cc2", "rp")}, t0))
	if _, err := s.AccessTokenByID(ctx, "cc2"); err != nil {
		t.Errorf("AccessTokenByID(cc2) = %v", err)
	}
}

// Issues written at the same time (which SQLite writes in one transaction
// with a savepoint each) stay separate: one that fails halfway, after its
// code was marked used, leaves its code unused and nothing else behind,
// and takes none of the others with it.
func testIssueTokensTogether(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateClient(ctx, newClient("rp")))
	must(t, s.CreateAccessToken(ctx, newAccessToken("taken", "rp")))
	const n = 16
	for i := range n {
		ar := newAuthRequest(fmt.Sprintf("ar%d", i), "rp")
		must(t, s.CreateAuthRequest(ctx, ar))
		must(t, s.SaveAuthCode(ctx, ar.ID, fmt.Sprintf("code-%d", i), t0.Add(time.Minute)))
	}
	// Odd ones fail at the access token, after the code and the refresh
	// token were written.
	issue := func(i int) *storage.Issue {
		id := fmt.Sprintf("at%d", i)
		iss := codeIssue(id, true)
		iss.CodeHash = fmt.Sprintf("code-%d", i)
		if i%2 == 1 {
			iss.Access.ID = "taken"
		}
		return iss
	}
	errs := race(n, func(i int) error { return s.IssueTokens(ctx, issue(i), t0) })
	for i, err := range errs {
		ok := i%2 == 0
		if ok {
			wantErr(t, fmt.Sprintf("IssueTokens %d", i), err, nil)
		} else {
			wantErr(t, fmt.Sprintf("IssueTokens %d (taken access token ID)", i), err, storage.ErrAlreadyExists)
		}
		if got := getAuthRequest(t, s, fmt.Sprintf("ar%d", i)); got.CodeUsedAt.IsZero() == ok {
			t.Errorf("issue %d (err %v): code used at %v", i, err, got.CodeUsedAt)
		}
		_, rerr := s.RefreshTokenByHash(ctx, fmt.Sprintf("hash-rt-at%d", i))
		if (rerr == nil) != ok {
			t.Errorf("issue %d (err %v): refresh token stored = %v", i, err, rerr == nil)
		}
		if ok {
			checkIssued(t, s, fmt.Sprintf("issue %d", i), fmt.Sprintf("at%d", i), true)
		}
	}
	events, err := s.AuditEvents(ctx, storage.AuditFilter{Type: "token.issued"})
	if err != nil || len(events) != n/2 {
		t.Errorf("audit rows = %d (%v), want %d: one per stored issue", len(events), err, n/2)
	}
}
