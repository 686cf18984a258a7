package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// verifier checks ID tokens against the OP's published keys, as a relying
// party does, fetching the key set again when a token names an unknown key.
type verifier struct {
	jwksURL, issuer, clientID string
	client                    *http.Client

	mu   sync.Mutex
	keys jose.JSONWebKeySet
}

// idClaims are the ID token claims the journey checks.
type idClaims struct {
	Issuer   string           `json:"iss"`
	Subject  string           `json:"sub"`
	Audience jsonStringOrList `json:"aud"`
	Nonce    string           `json:"nonce"`
	Expiry   int64            `json:"exp"`
	SID      string           `json:"sid"`
}

// jsonStringOrList is a JWT aud: one string or a list.
type jsonStringOrList []string

func (a *jsonStringOrList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = []string{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

// verify checks the signature, issuer, audience, expiry and, when nonce is
// not empty, the nonce, and returns the claims.
func (v *verifier) verify(ctx context.Context, token, nonce string, now time.Time) (*idClaims, error) {
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w: ID token is not one RS256 JWS", errBadToken)
	}
	kid := jws.Signatures[0].Header.KeyID
	key, err := v.key(ctx, kid)
	if err != nil {
		return nil, err
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, fmt.Errorf("%w: ID token signature does not verify with key %s", errBadToken, kid)
	}
	var c idClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("%w: ID token claims: %v", errBadToken, err)
	}
	switch {
	case c.Issuer != v.issuer:
		return nil, fmt.Errorf("%w: iss %q, want %q", errBadToken, c.Issuer, v.issuer)
	case !slices.Contains(c.Audience, v.clientID):
		return nil, fmt.Errorf("%w: aud %v lacks %q", errBadToken, c.Audience, v.clientID)
	case time.Unix(c.Expiry, 0).Before(now):
		return nil, fmt.Errorf("%w: ID token expired", errBadToken)
	case nonce != "" && c.Nonce != nonce:
		return nil, fmt.Errorf("%w: nonce does not match the request's", errBadToken)
	case c.Subject == "":
		return nil, fmt.Errorf("%w: no sub", errBadToken)
	}
	return &c, nil
}

func (v *verifier) key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if k := v.keys.Key(kid); len(k) == 1 {
		return &k[0], nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.jwksURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS: %w", &statusError{status: resp.StatusCode})
	}
	if err := json.NewDecoder(resp.Body).Decode(&v.keys); err != nil {
		return nil, fmt.Errorf("decode JWKS: %w", err)
	}
	if k := v.keys.Key(kid); len(k) == 1 {
		return &k[0], nil
	}
	return nil, fmt.Errorf("%w: ID token signed by key %q, which the JWKS does not publish", errBadToken, kid)
}
