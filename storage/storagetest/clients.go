package storagetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/asnidp/asnidp/storage"
)

func testClientCreateAndGet(t *testing.T, s storage.Store) {
	ctx := t.Context()
	confidential := newClient("simpeg")
	public := &storage.Client{
		ID:           "mobile",
		Name:         "Aplikasi Mobile",
		Public:       true,
		RedirectURIs: []string{"http://127.0.0.1/cb"},
		GrantTypes:   []string{"authorization_code"},
		CreatedAt:    t0,
		// Token formats round-trip.
		IDTokenAlg:     "ES256",
		AccessTokenJWT: true,
	}
	for _, c := range []*storage.Client{confidential, public} {
		must(t, s.CreateClient(ctx, c))
	}
	for _, want := range []*storage.Client{confidential, public} {
		got, err := s.ClientByID(ctx, want.ID)
		if err != nil {
			t.Fatalf("ClientByID(%q) = %v, want a client", want.ID, err)
		}
		if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
			t.Errorf("ClientByID(%q) mismatch (-want +got):\n%s", want.ID, diff)
		}
	}
	wantErr(t, "CreateClient(simpeg) again", s.CreateClient(ctx, newClient("simpeg")), storage.ErrAlreadyExists)
	_, err := s.ClientByID(ctx, "nobody")
	wantErr(t, `ClientByID("nobody")`, err, storage.ErrNotFound)
}

func testClients(t *testing.T, s storage.Store) {
	ctx := t.Context()
	got, err := s.Clients(ctx)
	if err != nil || len(got) != 0 {
		t.Fatalf("Clients() on an empty store = %v, %v; want none", got, err)
	}
	// Byte order: upper case before lower case, whatever the collation.
	for _, id := range []string{"siasn", "Bkn", "absensi", "mysapk"} {
		must(t, s.CreateClient(ctx, newClient(id)))
	}
	got, err = s.Clients(ctx)
	if err != nil {
		t.Fatalf("Clients() = %v", err)
	}
	want := []*storage.Client{newClient("Bkn"), newClient("absensi"), newClient("mysapk"), newClient("siasn")}
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("Clients() mismatch (-want +got):\n%s", diff)
	}
}

func testUpsertClient(t *testing.T, s storage.Store) {
	ctx := t.Context()
	first := newClient("simpeg")
	must(t, s.UpsertClient(ctx, first))
	got, err := s.ClientByID(ctx, "simpeg")
	if err != nil {
		t.Fatalf("ClientByID after inserting UpsertClient = %v", err)
	}
	if diff := cmp.Diff(first, got, cmpOpts...); diff != "" {
		t.Errorf("ClientByID after inserting UpsertClient mismatch (-want +got):\n%s", diff)
	}

	// Grants of the client survive a replacement.
	must(t, s.CreateAccessToken(ctx, newAccessToken("at1", "simpeg")))

	second := &storage.Client{
		ID:           "simpeg",
		Name:         "SIMPEG v2",
		Public:       true,
		RedirectURIs: []string{"https://simpeg.example/v2/cb"},
		GrantTypes:   []string{"authorization_code"},
		CreatedAt:    t0.Add(time.Hour),
	}
	must(t, s.UpsertClient(ctx, second))
	got, err = s.ClientByID(ctx, "simpeg")
	if err != nil {
		t.Fatalf("ClientByID after replacing UpsertClient = %v", err)
	}
	if diff := cmp.Diff(second, got, cmpOpts...); diff != "" {
		t.Errorf("ClientByID after replacing UpsertClient mismatch (-want +got):\n%s", diff)
	}
	if _, err := s.AccessTokenByID(ctx, "at1"); err != nil {
		t.Errorf("AccessTokenByID(at1) after UpsertClient = %v, want the token kept", err)
	}
}

func testDeleteClient(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateClient(ctx, newClient("simpeg")))
	must(t, s.CreateClient(ctx, newClient("other")))
	must(t, s.CreateAuthRequest(ctx, newAuthRequest("ar1", "simpeg")))
	must(t, s.CreateAccessToken(ctx, newAccessToken("at1", "simpeg")))
	must(t, s.CreateRefreshToken(ctx, newRefreshToken("rt1", "simpeg", "fam1")))
	must(t, s.CreateAccessToken(ctx, newAccessToken("at2", "other")))

	wantErr(t, "DeleteClient(simpeg)", s.DeleteClient(ctx, "simpeg"), nil)
	_, err := s.ClientByID(ctx, "simpeg")
	wantErr(t, "ClientByID(simpeg) after delete", err, storage.ErrNotFound)
	wantErr(t, "DeleteClient(simpeg) again", s.DeleteClient(ctx, "simpeg"), storage.ErrNotFound)

	// What the client was granted goes with it.
	_, err = s.AuthRequestByID(ctx, "ar1", t0)
	wantErr(t, "AuthRequestByID(ar1) after DeleteClient", err, storage.ErrNotFound)
	_, err = s.AccessTokenByID(ctx, "at1")
	wantErr(t, "AccessTokenByID(at1) after DeleteClient", err, storage.ErrNotFound)
	_, err = s.RefreshTokenByHash(ctx, "hash-rt1")
	wantErr(t, "RefreshTokenByHash(rt1) after DeleteClient", err, storage.ErrNotFound)
	_, err = s.AccessTokenByID(ctx, "at2")
	wantErr(t, "AccessTokenByID(at2) of another client", err, nil)
}
