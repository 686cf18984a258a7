package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// kidOf returns the key ID in a JWT's header.
func kidOf(t *testing.T, token string) string {
	t.Helper()
	sig, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("parse token: %v", err)
	}
	return sig.Signatures[0].Header.KeyID
}

func publishedKIDs(t *testing.T, o *testOP) []string {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(fetch(t, o.URL+"/keys")), &set); err != nil {
		t.Fatalf("jwks: %v", err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	return kids
}

// A restart on the same database keeps the signing key and every token;
// a rotation publishes the next key before it signs, new tokens carry it,
// and tokens of the old key still verify (H7 keeps start-up honest).
func TestKeys_RestartAndRotation(t *testing.T) {
	o := startOP(t)
	secret := o.addClient("--id", "profil", "--redirect-uri", rpRedirect)
	u := o.addUser(true)
	r := newRelyingParty(t, o, "profil", secret)
	code, p := r.login(t, o, newBrowser(t), u)
	before := r.exchange(t, code, p)
	oldKID := kidOf(t, before.IDToken)
	published := publishedKIDs(t, o) // the RS256 and the ES256 key
	if len(published) != 2 || !slices.Contains(published, oldKID) {
		t.Fatalf("JWKS = %v, want %s and an ES256 key", published, oldKID)
	}

	o.restart()
	if kids := publishedKIDs(t, o); !slices.Equal(kids, published) {
		t.Errorf("JWKS after restart = %v, want the same %v", kids, published)
	}
	if st := userinfoStatus(t, o.URL, before.AccessToken); st != http.StatusOK {
		t.Errorf("userinfo with a token issued before the restart = %d, want 200", st)
	}

	out := o.mustCLI("", "keys", "rotate")
	newKID := strings.Fields(out)[1]
	// Published at once, signing only after keys.publish_lead.
	o.clock.Advance(o.cfg.Keys.RefreshInterval + time.Second)
	if kids := publishedKIDs(t, o); !slices.Contains(kids, newKID) || !slices.Contains(kids, oldKID) {
		t.Fatalf("JWKS after rotate = %v, want both %s and %s", kids, oldKID, newKID)
	}
	code, p = r.login(t, o, newBrowser(t), u)
	if got := kidOf(t, r.exchange(t, code, p).IDToken); got != oldKID {
		t.Errorf("before publish_lead the ID token is signed by %s, want the current key %s", got, oldKID)
	}

	o.clock.Advance(o.cfg.Keys.PublishLead)
	code, p = r.login(t, o, newBrowser(t), u)
	after := r.exchange(t, code, p)
	if got := kidOf(t, after.IDToken); got != newKID {
		t.Errorf("after publish_lead the ID token is signed by %s, want the new key %s", got, newKID)
	}
	// The old key stays published for keys.retention: its tokens verify.
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(fetch(t, o.URL+"/keys")), &set); err != nil {
		t.Fatal(err)
	}
	sig, err := jose.ParseSigned(before.IDToken, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(oldKID)
	if len(keys) != 1 {
		t.Fatalf("old key %s no longer published right after the rotation", oldKID)
	}
	if _, err := sig.Verify(keys[0]); err != nil {
		t.Errorf("ID token of the old key does not verify against the published JWKS: %v", err)
	}
}
