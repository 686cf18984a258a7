package storagetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/asnidp/asnidp/storage"
)

func newPushed(hash, clientID string) *storage.PushedAuthRequest {
	return &storage.PushedAuthRequest{
		URIHash:  hash,
		ClientID: clientID,
		Params: map[string]string{
			"response_type": "code", "redirect_uri": "https://rp.example/cb", "state": "s t&a=te", "scope": "openid",
		},
		CreatedAt: t0,
		ExpiresAt: t0.Add(time.Minute),
	}
}

func testClientKeysAndPAR(t *testing.T, s storage.Store) {
	ctx := t.Context()
	c := newClient("keys")
	c.SecretHash = ""
	c.JWKS = `{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":"x","y":"y"}]}`
	c.JWKSURI = "https://rp.example/jwks.json"
	c.RequirePAR = true
	must(t, s.CreateClient(ctx, c))
	got, err := s.ClientByID(ctx, "keys")
	if err != nil {
		t.Fatalf("ClientByID(keys) = %v", err)
	}
	if diff := cmp.Diff(c, got, cmpOpts...); diff != "" {
		t.Errorf("ClientByID(keys) mismatch (-want +got):\n%s", diff)
	}
	if !got.HasKeys() {
		t.Errorf("HasKeys() = false for a client with a key set")
	}
	c.JWKS, c.JWKSURI, c.RequirePAR = "", "", false
	must(t, s.UpsertClient(ctx, c))
	if got, _ := s.ClientByID(ctx, "keys"); got.HasKeys() || got.RequirePAR {
		t.Errorf("after UpsertClient without keys: JWKS %q, JWKSURI %q, RequirePAR %v; want none", got.JWKS, got.JWKSURI, got.RequirePAR)
	}
}

func testPushedAuthRequest(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateClient(ctx, newClient("rp")))
	must(t, s.CreateClient(ctx, newClient("other")))
	want := newPushed("h1", "rp")
	must(t, s.CreatePushedAuthRequest(ctx, want))
	wantErr(t, "CreatePushedAuthRequest(h1) again", s.CreatePushedAuthRequest(ctx, newPushed("h1", "rp")), storage.ErrAlreadyExists)
	wantErr(t, "CreatePushedAuthRequest for an unknown client", s.CreatePushedAuthRequest(ctx, newPushed("h9", "ghost")), storage.ErrNotFound)

	// Another client's request_uri is refused and left for its owner.
	_, err := s.ConsumePushedAuthRequest(ctx, "h1", "other", t0)
	wantErr(t, "ConsumePushedAuthRequest(h1) by another client", err, storage.ErrNotFound)

	got, err := s.ConsumePushedAuthRequest(ctx, "h1", "rp", t0.Add(time.Second))
	if err != nil {
		t.Fatalf("ConsumePushedAuthRequest(h1) = %v", err)
	}
	want.UsedAt = t0.Add(time.Second)
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("ConsumePushedAuthRequest(h1) mismatch (-want +got):\n%s", diff)
	}
	_, err = s.ConsumePushedAuthRequest(ctx, "h1", "rp", t0.Add(2*time.Second))
	wantErr(t, "ConsumePushedAuthRequest(h1) again", err, storage.ErrConflict)

	must(t, s.CreatePushedAuthRequest(ctx, newPushed("h2", "rp")))
	_, err = s.ConsumePushedAuthRequest(ctx, "h2", "rp", t0.Add(time.Minute))
	wantErr(t, "ConsumePushedAuthRequest(h2) at its expiry", err, storage.ErrNotFound)
	_, err = s.ConsumePushedAuthRequest(ctx, "nope", "rp", t0)
	wantErr(t, "ConsumePushedAuthRequest(unknown)", err, storage.ErrNotFound)

	// Prune removes expired pushes, used or not, and keeps live ones.
	must(t, s.CreatePushedAuthRequest(ctx, newPushed("h3", "rp")))
	p := newPushed("h4", "rp")
	p.ExpiresAt = t0.Add(time.Hour)
	must(t, s.CreatePushedAuthRequest(ctx, p))
	if _, err := s.Prune(ctx, t0.Add(2*time.Minute)); err != nil {
		t.Fatalf("Prune = %v", err)
	}
	if _, err := s.ConsumePushedAuthRequest(ctx, "h4", "rp", t0.Add(2*time.Minute)); err != nil {
		t.Errorf("ConsumePushedAuthRequest(h4) after Prune = %v, want the live request kept", err)
	}

	// Deleting the client takes its pushes along.
	must(t, s.CreatePushedAuthRequest(ctx, newPushed("h5", "other")))
	must(t, s.DeleteClient(ctx, "other"))
	must(t, s.CreateClient(ctx, newClient("other")))
	_, err = s.ConsumePushedAuthRequest(ctx, "h5", "other", t0)
	wantErr(t, "ConsumePushedAuthRequest(h5) after its client was deleted", err, storage.ErrNotFound)
}

func testConsumePushedAuthRequestRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateClient(ctx, newClient("rp")))
	must(t, s.CreatePushedAuthRequest(ctx, newPushed("h1", "rp")))
	errs := race(10, func(int) error {
		_, err := s.ConsumePushedAuthRequest(ctx, "h1", "rp", t0.Add(time.Second))
		return err
	})
	if wins, losses := tally(t, "ConsumePushedAuthRequest", errs, storage.ErrConflict); wins != 1 || losses != 9 {
		t.Errorf("10 parallel ConsumePushedAuthRequest: %d won, %d refused; want 1 and 9", wins, losses)
	}
}

func testUseClientAssertion(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateClient(ctx, newClient("rp")))
	must(t, s.CreateClient(ctx, newClient("other")))
	exp := t0.Add(time.Minute)
	wantErr(t, "UseClientAssertion(j1)", s.UseClientAssertion(ctx, "rp", "j1", exp, t0), nil)
	wantErr(t, "UseClientAssertion(j1) again", s.UseClientAssertion(ctx, "rp", "j1", exp, t0.Add(time.Second)), storage.ErrConflict)
	wantErr(t, "UseClientAssertion(j1) of another client", s.UseClientAssertion(ctx, "other", "j1", exp, t0), nil)
	wantErr(t, "UseClientAssertion for an unknown client", s.UseClientAssertion(ctx, "ghost", "j2", exp, t0), storage.ErrNotFound)
	// Once the first assertion expired, its jti no longer blocks: the
	// assertion itself would be refused by its exp.
	wantErr(t, "UseClientAssertion(j1) after its expiry", s.UseClientAssertion(ctx, "rp", "j1", exp.Add(time.Minute), exp), nil)
	wantErr(t, "UseClientAssertion(j1) replayed after reuse", s.UseClientAssertion(ctx, "rp", "j1", exp.Add(time.Minute), exp.Add(time.Second)), storage.ErrConflict)

	if _, err := s.Prune(ctx, exp.Add(2*time.Minute)); err != nil {
		t.Fatalf("Prune = %v", err)
	}
	wantErr(t, "UseClientAssertion(j1) after Prune", s.UseClientAssertion(ctx, "rp", "j1", exp.Add(3*time.Minute), exp.Add(2*time.Minute)), nil)
}

func testUseClientAssertionRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateClient(ctx, newClient("rp")))
	errs := race(10, func(int) error {
		return s.UseClientAssertion(ctx, "rp", "j1", t0.Add(time.Minute), t0)
	})
	if wins, losses := tally(t, "UseClientAssertion", errs, storage.ErrConflict); wins != 1 || losses != 9 {
		t.Errorf("10 parallel UseClientAssertion: %d won, %d refused; want 1 and 9", wins, losses)
	}
}
