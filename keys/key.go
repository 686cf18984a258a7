package keys

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/asnidp/asnidp/storage"
)

// firstKeyNotBefore is the notBefore of the first key's conditional insert:
// every stored key is active after it, so the insert happens only into an
// empty store, whichever process gets there first.
var firstKeyNotBefore = time.Unix(0, 0).UTC()

// kidBytes is the entropy of a key ID: enough that two processes never
// pick the same one.
const kidBytes = 16

// privateAAD ties a sealed private key to its row, so a sealed key copied
// into another row does not open.
func privateAAD(kid string) []byte {
	return []byte("signing_keys.private:" + kid)
}

// add generates a key that signs from activeAt and stores it unless a key
// active after notBefore exists; it returns the stored row or nil when
// another key won.
func (m *Manager) add(ctx context.Context, now, activeAt, notBefore time.Time) (*storage.SigningKey, error) {
	k, err := m.generate(now, activeAt)
	if err != nil {
		return nil, err
	}
	ok, err := m.store.AddSigningKey(ctx, k, notBefore)
	if err != nil {
		return nil, fmt.Errorf("store signing key %q: %w", k.ID, err)
	}
	if !ok {
		return nil, nil
	}
	m.opts.Logger.InfoContext(ctx, "signing key added", "kid", k.ID, "active_at", k.ActiveAt)
	return k, nil
}

// generate makes a new RSA key with a random kid, its private part sealed.
func (m *Manager) generate(now, activeAt time.Time) (*storage.SigningKey, error) {
	b := make([]byte, kidBytes)
	if _, err := io.ReadFull(m.opts.Rand, b); err != nil {
		return nil, fmt.Errorf("generate key ID: %w", err)
	}
	kid := base64.RawURLEncoding.EncodeToString(b)
	priv, err := rsa.GenerateKey(rand.Reader, m.opts.Bits)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encode signing key %q: %w", kid, err)
	}
	sealed, err := m.sealer.Seal(der, privateAAD(kid))
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("seal signing key %q: %w", kid, err)
	}
	pub, err := publicJWK(kid, &priv.PublicKey).MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode public key %q: %w", kid, err)
	}
	return &storage.SigningKey{
		ID:            kid,
		Algorithm:     string(jose.RS256),
		PrivateSealed: sealed,
		PublicJWK:     pub,
		CreatedAt:     now,
		ActiveAt:      activeAt,
	}, nil
}

func publicJWK(kid string, pub *rsa.PublicKey) jose.JSONWebKey {
	return jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"}
}

// open unseals and checks one stored key. Every error names the kid, so an
// operator knows which row to look at.
func (m *Manager) open(r *storage.SigningKey) (*entry, error) {
	if r.Algorithm != string(jose.RS256) {
		return nil, fmt.Errorf("load signing key %q: algorithm %q is not %s", r.ID, r.Algorithm, jose.RS256)
	}
	der, err := m.sealer.Open(r.PrivateSealed, privateAAD(r.ID))
	if err != nil {
		return nil, fmt.Errorf("open signing key %q: %w", r.ID, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("parse signing key %q: %w", r.ID, err)
	}
	priv, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("parse signing key %q: %T is not an RSA key", r.ID, parsed)
	}
	if n := priv.N.BitLen(); n < MinBits {
		return nil, fmt.Errorf("load signing key %q: %d bits is below the minimum of %d", r.ID, n, MinBits)
	}
	// The public JWK is stored beside the sealed key for readers of the
	// database; it must describe the same key, or the row was altered.
	var stored jose.JSONWebKey
	if err := stored.UnmarshalJSON(r.PublicJWK); err != nil {
		return nil, fmt.Errorf("parse public key %q: %w", r.ID, err)
	}
	if pub, ok := stored.Key.(*rsa.PublicKey); !ok || !pub.Equal(&priv.PublicKey) || stored.KeyID != r.ID {
		return nil, fmt.Errorf("load signing key %q: stored public key does not match the private key", r.ID)
	}
	return &entry{
		key:       &Key{ID: r.ID, Algorithm: jose.RS256, Private: priv},
		public:    publicJWK(r.ID, &priv.PublicKey),
		createdAt: r.CreatedAt,
		activeAt:  r.ActiveAt,
		sealed:    r.PrivateSealed,
		publicJWK: r.PublicJWK,
	}, nil
}
