package op

// A client's own keys (RFC 7517), registered by value or published at its
// jwks_uri. They verify two kinds of JWT the client signs: its
// private_key_jwt assertions at the token, introspection, revocation and
// PAR endpoints (RFC 7523), and its request objects (RFC 9101). Both go
// through verifyClientJWS, which is where the rules of the catalogue's D16
// and D18 live:
//
//   - only RS256, PS256 and ES256; go-jose refuses anything else before a
//     key is looked at, so "none" and HMAC (which would take a public key
//     as the secret) never verify;
//   - the key is chosen by kid and must fit the header's alg: an RSA key
//     for RS256/PS256, a P-256 key for ES256, and the key's own alg if it
//     names one. An ES256 header naming an RSA key's kid (or the reverse)
//     finds no key. Without a kid the set must hold exactly one key that
//     fits;
//   - a jwks_uri set is fetched with a timeout, a size bound and no
//     redirects, cached for Config.JWKSCacheTTL, and fetched again (at most
//     every jwksRefetchAfter) when a kid is not in it, so a client can
//     rotate its keys.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/asnidp/asnidp/storage"
)

// ClientSigningAlgorithms are the algorithms a client may sign its
// assertions and request objects with.
var ClientSigningAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.PS256}

const (
	// maxJWKSBytes bounds a registered or fetched key set.
	maxJWKSBytes = 64 << 10
	// jwksFetchTimeout bounds one fetch of a client's jwks_uri.
	jwksFetchTimeout = 5 * time.Second
	// jwksRefetchAfter is the least time between two fetches of one
	// jwks_uri, also after a failed fetch.
	jwksRefetchAfter = 30 * time.Second
	// minRSABits is the shortest RSA key accepted.
	minRSABits = 2048
)

// ParseClientJWKS checks a client's key set: a JWKS JSON document of public
// signing keys, each with a unique kid, RSA of at least 2048 bits (alg
// RS256 or PS256, or none) or EC P-256 (ES256, or none). It returns the set
// re-encoded, as it is stored.
func ParseClientJWKS(data []byte) (string, error) {
	set, err := parseClientJWKS(data)
	if err != nil {
		return "", err
	}
	out, err := json.Marshal(set)
	if err != nil {
		return "", fmt.Errorf("encode key set: %w", err)
	}
	return string(out), nil
}

func parseClientJWKS(data []byte) (*jose.JSONWebKeySet, error) {
	if len(data) > maxJWKSBytes {
		return nil, fmt.Errorf("key set is larger than %d KiB", maxJWKSBytes>>10)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JWKS (RFC 7517) document: %w", err)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New(`key set has no keys (want {"keys": [...]})`)
	}
	var errs []error
	seen := map[string]bool{}
	for i, k := range set.Keys {
		if err := checkClientKey(k); err != nil {
			errs = append(errs, fmt.Errorf("key %d (kid %q): %w", i, k.KeyID, err))
			continue
		}
		if seen[k.KeyID] {
			errs = append(errs, fmt.Errorf("key %d: kid %q is not unique", i, k.KeyID))
		}
		seen[k.KeyID] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &set, nil
}

func checkClientKey(k jose.JSONWebKey) error {
	if k.KeyID == "" {
		return errors.New("has no kid")
	}
	if k.Use != "" && k.Use != "sig" {
		return fmt.Errorf("use is %q, want sig", k.Use)
	}
	switch k.Key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey:
		return errors.New("is a private key: register the public key only")
	case *rsa.PublicKey, *ecdsa.PublicKey:
	default:
		return fmt.Errorf("key type %T is not supported (want RSA or EC P-256)", k.Key)
	}
	if !k.Valid() {
		return errors.New("is not a valid key")
	}
	switch key := k.Key.(type) {
	case *rsa.PublicKey:
		if key.N.BitLen() < minRSABits {
			return fmt.Errorf("RSA key has %d bits, want at least %d", key.N.BitLen(), minRSABits)
		}
		if k.Algorithm != "" && k.Algorithm != string(jose.RS256) && k.Algorithm != string(jose.PS256) {
			return fmt.Errorf("alg %q does not fit an RSA key (want RS256 or PS256)", k.Algorithm)
		}
	case *ecdsa.PublicKey:
		if key.Curve != elliptic.P256() {
			return errors.New("EC key is not on P-256")
		}
		if k.Algorithm != "" && k.Algorithm != string(jose.ES256) {
			return fmt.Errorf("alg %q does not fit a P-256 key (want ES256)", k.Algorithm)
		}
	}
	return nil
}

// keyFits reports whether k may verify a signature made with alg.
func keyFits(k jose.JSONWebKey, alg string) bool {
	if k.Algorithm != "" && k.Algorithm != alg {
		return false
	}
	switch key := k.Key.(type) {
	case *rsa.PublicKey:
		return alg == string(jose.RS256) || alg == string(jose.PS256)
	case *ecdsa.PublicKey:
		return alg == string(jose.ES256) && key.Curve == elliptic.P256()
	}
	return false
}

// selectKey picks the one key of set for a signature header's kid and alg.
func selectKey(set *jose.JSONWebKeySet, kid, alg string) (*jose.JSONWebKey, error) {
	var found []jose.JSONWebKey
	for _, k := range set.Keys {
		if (kid == "" || k.KeyID == kid) && keyFits(k, alg) {
			found = append(found, k)
		}
	}
	switch {
	case len(found) == 1:
		return &found[0], nil
	case len(found) > 1:
		return nil, fmt.Errorf("several registered keys fit alg %s; name one with kid", alg)
	case kid != "":
		return nil, fmt.Errorf("no registered key has kid %q and fits alg %s", kid, alg)
	default:
		return nil, fmt.Errorf("no registered key fits alg %s", alg)
	}
}

// verifyClientJWS checks that token is a compact JWS signed by client c with
// one of its keys and returns the payload. typs lists the typ headers
// accepted ("" for none).
func (p *Provider) verifyClientJWS(ctx context.Context, c *storage.Client, token string, typs ...string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(token, ClientSigningAlgorithms)
	if err != nil {
		return nil, fmt.Errorf("not a JWS signed with RS256, PS256 or ES256: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("want exactly one signature")
	}
	h := jws.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !slices.Contains(typs, typ) {
		return nil, fmt.Errorf("typ %q is not accepted here", typ)
	}
	key, err := p.clientKey(ctx, c, h.KeyID, h.Algorithm)
	if err != nil {
		return nil, err
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, fmt.Errorf("signature does not verify with key %q: %w", key.KeyID, err)
	}
	return payload, nil
}

// clientKey finds c's key for kid and alg, fetching c's jwks_uri again
// when the cached set has none.
func (p *Provider) clientKey(ctx context.Context, c *storage.Client, kid, alg string) (*jose.JSONWebKey, error) {
	if c.JWKS != "" {
		set, err := parseClientJWKS([]byte(c.JWKS))
		if err != nil {
			return nil, fmt.Errorf("registered key set: %w", err)
		}
		return selectKey(set, kid, alg)
	}
	if c.JWKSURI == "" {
		return nil, errors.New("client has no registered keys")
	}
	set, err := p.clientKeys.get(ctx, c.JWKSURI, false)
	if err != nil {
		return nil, err
	}
	key, err := selectKey(set, kid, alg)
	if err == nil {
		return key, nil
	}
	if set, err2 := p.clientKeys.get(ctx, c.JWKSURI, true); err2 == nil {
		return selectKey(set, kid, alg)
	}
	return nil, err
}

// keyCache holds the key sets fetched from clients' jwks_uri.
type keyCache struct {
	client *http.Client
	ttl    time.Duration
	now    func() time.Time

	mu   sync.Mutex
	sets map[string]*fetchedSet
}

type fetchedSet struct {
	set *jose.JSONWebKeySet
	err error
	at  time.Time
}

func newKeyCache(ttl time.Duration, now func() time.Time, transport http.RoundTripper) *keyCache {
	return &keyCache{
		client: &http.Client{
			Timeout:   jwksFetchTimeout,
			Transport: transport,
			// Only the registered address is fetched.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		ttl:  ttl,
		now:  now,
		sets: map[string]*fetchedSet{},
	}
}

// get returns the key set at uri: cached while younger than the TTL, or
// with refresh while younger than jwksRefetchAfter; a failed fetch is
// remembered for jwksRefetchAfter so a dead jwks_uri is not hammered.
func (k *keyCache) get(ctx context.Context, uri string, refresh bool) (*jose.JSONWebKeySet, error) {
	now := k.now()
	k.mu.Lock()
	f := k.sets[uri]
	k.mu.Unlock()
	if f != nil {
		age := now.Sub(f.at)
		switch {
		case f.err != nil && age < jwksRefetchAfter:
			return nil, f.err
		case f.err == nil && age < jwksRefetchAfter:
			return f.set, nil
		case f.err == nil && age < k.ttl && !refresh:
			return f.set, nil
		}
	}
	set, err := k.fetch(ctx, uri)
	k.mu.Lock()
	k.sets[uri] = &fetchedSet{set: set, err: err, at: now}
	k.mu.Unlock()
	return set, err
}

func (k *keyCache) fetch(ctx context.Context, uri string) (*jose.JSONWebKeySet, error) {
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks_uri: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks_uri: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch jwks_uri: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch jwks_uri: %w", err)
	}
	set, err := parseClientJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("jwks_uri: %w", err)
	}
	return set, nil
}
