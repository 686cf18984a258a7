package keys

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
)

// bothSeries are the default options (both algorithms) with the test's
// clock and logger.
func bothSeries(t testing.TB, c *clock) Options {
	return Options{Now: c.Now, Logger: testLogger(t)}
}

// Init makes one key per algorithm; both are published with their alg, and
// each signs its own algorithm only.
func TestSeries_InitMakesOneKeyPerAlgorithm(t *testing.T) {
	c := newClock()
	m := newManager(t, newStore(t), newSealer(t, newMasterKey(t)), bothSeries(t, c))
	rs, err := m.Signer(t.Context(), jose.RS256)
	if err != nil {
		t.Fatalf("Signer(RS256): %v", err)
	}
	es, err := m.Signer(t.Context(), jose.ES256)
	if err != nil {
		t.Fatalf("Signer(ES256): %v", err)
	}
	if _, ok := rs.Private.(*rsa.PrivateKey); !ok || rs.Algorithm != jose.RS256 {
		t.Errorf("RS256 signer is %T %s", rs.Private, rs.Algorithm)
	}
	if k, ok := es.Private.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() || es.Algorithm != jose.ES256 {
		t.Errorf("ES256 signer is %T %s, want a P-256 key", es.Private, es.Algorithm)
	}
	if rs.ID == es.ID {
		t.Fatalf("both series share kid %q", rs.ID)
	}
	if _, err := m.Signer(t.Context(), jose.PS256); !errors.Is(err, ErrNoSigningKey) {
		t.Errorf("Signer(PS256) error = %v, want %v", err, ErrNoSigningKey)
	}
	pub, err := m.PublicKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, k := range pub {
		got[k.KeyID] = k.Algorithm + "/" + k.Use
	}
	want := map[string]string{rs.ID: "RS256/sig", es.ID: "ES256/sig"}
	if !cmp.Equal(got, want) {
		t.Errorf("published keys = %v, want %v", got, want)
	}
	// A restart loads both from the store and makes no new ones.
	restarted := newManager(t, m.store, m.sealer, bothSeries(t, c))
	if rows := mustRows(t, m.store); len(rows) != 2 {
		t.Errorf("store after restart has %d keys, want 2", len(rows))
	}
	again, err := restarted.Signer(t.Context(), jose.ES256)
	if err != nil || again.ID != es.ID {
		t.Errorf("ES256 signer after restart = %v, %v; want %q", again, err, es.ID)
	}
}

// The series rotate on their own schedule: a pending ES256 key neither
// stops nor delays an RS256 rotation, and each series keeps its signer.
func TestSeries_RotateIndependently(t *testing.T) {
	c := newClock()
	m := newManager(t, newStore(t), newSealer(t, newMasterKey(t)), bothSeries(t, c))
	rs1, _ := m.Signer(t.Context(), jose.RS256)
	es1, _ := m.Signer(t.Context(), jose.ES256)

	next, err := m.Rotate(t.Context(), jose.ES256)
	if err != nil || next.Algorithm != "ES256" || next.Status != StatusNext {
		t.Fatalf("Rotate(ES256) = %+v, %v; want a next ES256 key", next, err)
	}
	if _, err := m.Rotate(t.Context(), jose.ES256); !errors.Is(err, ErrRotationPending) {
		t.Errorf("second Rotate(ES256) error = %v, want %v", err, ErrRotationPending)
	}
	rsNext, err := m.Rotate(t.Context(), jose.RS256)
	if err != nil || rsNext.Algorithm != "RS256" {
		t.Fatalf("Rotate(RS256) while an ES256 key is pending = %+v, %v", rsNext, err)
	}
	if _, err := m.Rotate(t.Context(), "HS256"); err == nil || !strings.Contains(err.Error(), "HS256") {
		t.Errorf("Rotate(HS256) error = %v, want a refusal naming it", err)
	}
	status := map[string]string{}
	for _, k := range mustList(t, m) {
		status[k.ID] = k.Algorithm + ":" + k.Status
	}
	want := map[string]string{rs1.ID: "RS256:current", es1.ID: "ES256:current", next.ID: "ES256:next", rsNext.ID: "RS256:next"}
	if !cmp.Equal(status, want) {
		t.Errorf("List = %v, want %v", status, want)
	}

	c.Advance(m.opts.PublishLead)
	maintain(t, m)
	if k, _ := m.Signer(t.Context(), jose.ES256); k.ID != next.ID {
		t.Errorf("ES256 signer after the lead = %q, want %q", k.ID, next.ID)
	}
	if k, _ := m.Signer(t.Context(), jose.RS256); k.ID != rsNext.ID {
		t.Errorf("RS256 signer after the lead = %q, want %q", k.ID, rsNext.ID)
	}
	// Each old key goes once its own successor has signed for Retention.
	c.Advance(m.opts.Retention)
	maintain(t, m)
	ids := map[string]bool{}
	for _, k := range mustList(t, m) {
		ids[k.ID] = true
	}
	if !cmp.Equal(ids, map[string]bool{next.ID: true, rsNext.ID: true}) {
		t.Errorf("keys after retention = %v, want only %q and %q", ids, next.ID, rsNext.ID)
	}
}

// Maintain rotates each series when its own current key is due.
func TestSeries_MaintainRotatesEach(t *testing.T) {
	c := newClock()
	m := newManager(t, newStore(t), newSealer(t, newMasterKey(t)), bothSeries(t, c))
	c.Advance(m.opts.RotationPeriod)
	maintain(t, m)
	count := map[string]int{}
	for _, k := range mustList(t, m) {
		count[k.Algorithm+":"+k.Status]++
	}
	want := map[string]int{"RS256:current": 1, "RS256:next": 1, "ES256:current": 1, "ES256:next": 1}
	if !cmp.Equal(count, want) {
		t.Errorf("keys after the rotation period = %v, want %v", count, want)
	}
}

// An ES256 token names its kid and alg; it verifies with its own key and
// with nothing else, and a header that claims RS256 over the EC key's kid
// does not verify (kid and alg are never confused).
func TestSeries_KidAndAlgNeverConfused(t *testing.T) {
	c := newClock()
	m := newManager(t, newStore(t), newSealer(t, newMasterKey(t)), bothSeries(t, c))
	es, _ := m.Signer(t.Context(), jose.ES256)
	rs, _ := m.Signer(t.Context(), jose.RS256)
	tok := signWith(t, es, `{"sub":"ec"}`)
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	if h := jws.Signatures[0].Header; h.KeyID != es.ID || h.Algorithm != "ES256" {
		t.Errorf("header = kid %q alg %q, want %q ES256", h.KeyID, h.Algorithm, es.ID)
	}
	pub := publishedByID(t, m)
	if _, err := jws.Verify(pub[es.ID]); err != nil {
		t.Errorf("ES256 token does not verify with its key: %v", err)
	}
	if _, err := jws.Verify(pub[rs.ID]); err == nil {
		t.Errorf("ES256 token verified with the RSA key")
	}
	// An RS256 signature over the EC kid: the published EC key refuses it.
	forged := signWith(t, &Key{ID: es.ID, Algorithm: jose.RS256, Private: rs.Private}, `{"sub":"forged"}`)
	fj, err := jose.ParseSignedCompact(forged, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fj.Verify(pub[es.ID]); err == nil {
		t.Errorf("an RS256 signature verified with the ES256 key of the same kid")
	}
}

func publishedByID(t *testing.T, m *Manager) map[string]jose.JSONWebKey {
	t.Helper()
	keys, err := m.PublicKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]jose.JSONWebKey{}
	for _, k := range keys {
		out[k.KeyID] = k
	}
	return out
}

func mustList(t *testing.T, m *Manager) []KeyInfo {
	t.Helper()
	l, err := m.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return l
}
