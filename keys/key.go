package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"slices"
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

// add generates a key of alg that signs from activeAt and stores it unless
// a key of alg active after notBefore exists; it returns the stored row or
// nil when another key won.
func (m *Manager) add(ctx context.Context, alg jose.SignatureAlgorithm, now, activeAt, notBefore time.Time) (*storage.SigningKey, error) {
	k, err := m.generate(alg, now, activeAt)
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
	m.opts.Logger.InfoContext(ctx, "signing key added", "kid", k.ID, "alg", k.Algorithm, "active_at", k.ActiveAt)
	return k, nil
}

// generate makes a new key of alg with a random kid, its private part
// sealed.
func (m *Manager) generate(alg jose.SignatureAlgorithm, now, activeAt time.Time) (*storage.SigningKey, error) {
	b := make([]byte, kidBytes)
	if _, err := io.ReadFull(m.opts.Rand, b); err != nil {
		return nil, fmt.Errorf("generate key ID: %w", err)
	}
	kid := base64.RawURLEncoding.EncodeToString(b)
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, m.opts.Bits)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("generate signing key: algorithm %q is not one of %v", alg, Algorithms)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s signing key: %w", alg, err)
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
	pub, err := publicJWK(kid, alg, priv.Public()).MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode public key %q: %w", kid, err)
	}
	return &storage.SigningKey{
		ID:            kid,
		Algorithm:     string(alg),
		PrivateSealed: sealed,
		PublicJWK:     pub,
		CreatedAt:     now,
		ActiveAt:      activeAt,
	}, nil
}

func publicJWK(kid string, alg jose.SignatureAlgorithm, pub crypto.PublicKey) jose.JSONWebKey {
	return jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: string(alg), Use: "sig"}
}

// open unseals and checks one stored key. Every error names the kid, so an
// operator knows which row to look at.
func (m *Manager) open(r *storage.SigningKey) (*entry, error) {
	alg := jose.SignatureAlgorithm(r.Algorithm)
	if !slices.Contains(Algorithms, alg) {
		return nil, fmt.Errorf("load signing key %q: algorithm %q is not one of %v", r.ID, r.Algorithm, Algorithms)
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
	priv, err := checkPrivate(alg, parsed)
	if err != nil {
		return nil, fmt.Errorf("load signing key %q: %w", r.ID, err)
	}
	// The public JWK is stored beside the sealed key for readers of the
	// database; it must describe the same key, or the row was altered.
	var stored jose.JSONWebKey
	if err := stored.UnmarshalJSON(r.PublicJWK); err != nil {
		return nil, fmt.Errorf("parse public key %q: %w", r.ID, err)
	}
	pub, ok := stored.Key.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(priv.Public()) || stored.KeyID != r.ID || stored.Algorithm != r.Algorithm {
		return nil, fmt.Errorf("load signing key %q: stored public key does not match the private key", r.ID)
	}
	return &entry{
		key:       &Key{ID: r.ID, Algorithm: alg, Private: priv},
		public:    publicJWK(r.ID, alg, priv.Public()),
		createdAt: r.CreatedAt,
		activeAt:  r.ActiveAt,
		sealed:    r.PrivateSealed,
		publicJWK: r.PublicJWK,
	}, nil
}

// checkPrivate accepts a parsed private key only when it is the kind alg
// signs with: an RSA key of at least MinBits for RS256, a P-256 key for
// ES256. A row whose algorithm column was changed fails here.
func checkPrivate(alg jose.SignatureAlgorithm, parsed any) (crypto.Signer, error) {
	switch k := parsed.(type) {
	case *rsa.PrivateKey:
		if alg != jose.RS256 {
			return nil, fmt.Errorf("an RSA key cannot sign %s", alg)
		}
		if n := k.N.BitLen(); n < MinBits {
			return nil, fmt.Errorf("%d bits is below the minimum of %d", n, MinBits)
		}
		return k, nil
	case *ecdsa.PrivateKey:
		if alg != jose.ES256 || k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("a %s EC key cannot sign %s", k.Curve.Params().Name, alg)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("%T is not an RSA or EC key", parsed)
	}
}
