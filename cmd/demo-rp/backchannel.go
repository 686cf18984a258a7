package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// backchannelEvent is the member of a logout token's events claim that
// makes it a logout token (Back-Channel Logout 1.0 §2.4).
const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

const (
	// maxLogoutToken bounds what is parsed at all; a real token is well
	// under 2 KiB.
	maxLogoutToken = 16 << 10
	// logoutClockSkew is how far the OP's clock may run ahead of ours.
	logoutClockSkew = 30 * time.Second
)

// errLogoutToken is what the OP learns about a token that does not check
// out: 400, without the reason (it goes to our log).
var errLogoutToken = errors.New("invalid logout token")

// logoutVerifier validates logout tokens as Back-Channel Logout 1.0 §2.6
// says: the signature with a key of the OP's JWKS (RS256, never none), iss,
// aud, iat, exp, jti, the events claim, sid and/or sub, and no nonce (so an
// ID token can never pass as a logout token). It remembers each jti until
// its token expires, so a replayed token ends nothing more.
type logoutVerifier struct {
	issuer   string
	clientID string
	keys     oidc.KeySet

	mu   sync.Mutex
	seen map[string]time.Time // jti → exp
}

func newLogoutVerifier(issuer, clientID string, keys oidc.KeySet) *logoutVerifier {
	return &logoutVerifier{issuer: issuer, clientID: clientID, keys: keys, seen: map[string]time.Time{}}
}

// verify returns the claims of a valid token. fresh is false when the
// token's jti was seen before.
func (v *logoutVerifier) verify(ctx context.Context, token string, now time.Time) (claims *oidc.LogoutTokenClaims, fresh bool, err error) {
	claims, err = v.check(ctx, token, now)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", errLogoutToken, err)
	}
	return claims, v.firstUse(claims.JWTID, claims.Expiration.AsTime(), now), nil
}

func (v *logoutVerifier) check(ctx context.Context, token string, now time.Time) (*oidc.LogoutTokenClaims, error) {
	if token == "" || len(token) > maxLogoutToken {
		return nil, errors.New("missing or oversized")
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("not exactly one signature")
	}
	if typ, _ := jws.Signatures[0].Protected.ExtraHeaders[jose.HeaderType].(string); !acceptedType(typ) {
		return nil, fmt.Errorf("typ %q is not a logout token type", typ)
	}
	payload, err := v.keys.VerifySignature(ctx, jws)
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}

	var raw map[string]json.RawMessage
	if err := json.Unmarshal(payload, &raw); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	if _, ok := raw["nonce"]; ok {
		return nil, errors.New("has a nonce")
	}
	var c oidc.LogoutTokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	switch {
	case c.Issuer != v.issuer:
		return nil, fmt.Errorf("iss %q is not %q", c.Issuer, v.issuer)
	case !slices.Contains(c.Audience, v.clientID):
		return nil, fmt.Errorf("aud %v does not contain %q", c.Audience, v.clientID)
	case c.IssuedAt == 0:
		return nil, errors.New("no iat")
	case c.IssuedAt.AsTime().After(now.Add(logoutClockSkew)):
		return nil, errors.New("iat is in the future")
	case c.Expiration == 0:
		return nil, errors.New("no exp")
	case !now.Before(c.Expiration.AsTime().Add(logoutClockSkew)):
		return nil, errors.New("expired")
	case c.JWTID == "":
		return nil, errors.New("no jti")
	case c.SessionID == "" && c.Subject == "":
		return nil, errors.New("neither sid nor sub")
	}
	if _, ok := c.Events[backchannelEvent].(map[string]any); !ok {
		return nil, errors.New("events has no back-channel logout member with an object value")
	}
	return &c, nil
}

// acceptedType: the OP may type the token explicitly (logout+jwt), as the
// specification recommends, or generically; any other type is another
// kind of token.
func acceptedType(typ string) bool {
	switch strings.TrimPrefix(strings.ToLower(typ), "application/") {
	case "", "jwt", "logout+jwt":
		return true
	}
	return false
}

// firstUse records jti until exp and reports whether it is new.
func (v *logoutVerifier) firstUse(jti string, exp, now time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for id, until := range v.seen {
		if now.After(until.Add(logoutClockSkew)) {
			delete(v.seen, id)
		}
	}
	if _, ok := v.seen[jti]; ok {
		return false
	}
	v.seen[jti] = exp
	return true
}

// backchannelLogout receives a logout token from the OP (Back-Channel
// Logout 1.0 §2.5) and ends the local sessions it names: 200 once done
// (or when there was nothing to end), 400 for a token that does not check
// out, 503 while the OP's keys cannot be had, so the OP tries again.
func (a *app) backchannelLogout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, 2*maxLogoutToken)
	if err := r.ParseForm(); err != nil || len(r.PostForm["logout_token"]) != 1 {
		a.log.WarnContext(r.Context(), "back-channel logout without one logout_token")
		writeJSONError(w, http.StatusBadRequest, "invalid_request", "one logout_token is required")
		return
	}
	v, err := a.logoutVerifier(r.Context())
	if err != nil {
		a.log.ErrorContext(r.Context(), "back-channel logout: discovery", "err", err)
		writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the provider's keys cannot be loaded")
		return
	}
	claims, fresh, err := v.verify(r.Context(), r.PostForm.Get("logout_token"), a.now())
	if err != nil {
		a.log.WarnContext(r.Context(), "back-channel logout refused", "err", err)
		writeJSONError(w, http.StatusBadRequest, "invalid_request", "the logout token is invalid")
		return
	}
	if !fresh {
		a.log.InfoContext(r.Context(), "back-channel logout token seen before; nothing more to end", "jti", claims.JWTID)
		w.WriteHeader(http.StatusOK)
		return
	}
	n := a.sessions.endMatching(claims.SessionID, claims.Subject)
	a.log.InfoContext(r.Context(), "back-channel logout", "sid", claims.SessionID, "sub", claims.Subject, "sessions_ended", n)
	w.WriteHeader(http.StatusOK)
}

func writeJSONError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}
