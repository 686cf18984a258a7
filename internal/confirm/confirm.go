// Package confirm issues and checks the confirmation tokens of the agency
// console's actions on an account (unlock, reset-mfa, disable, enable,
// import).
//
// An action takes two requests: the first states it (operator, action,
// target, reason) and is answered with a page that shows what will happen
// and carries a token; the second carries the token back and does it. The
// token is bound by an HMAC to everything the first request stated, so it
// confirms exactly that action: another operator, action, target or reason
// does not verify. It expires (Options.TTL, 5 minutes by default) and is
// single use: the first redemption records its random ID in the database,
// so a replay is refused by every process sharing it.
//
// The token carries no secret of the account and nothing the operator did
// not state; it is safe in a form field.
package confirm

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/asnidp/asnidp/storage"
)

// Binding is what a token confirms.
type Binding struct {
	// OperatorSub is the sub of the operator who stated the action.
	OperatorSub string
	// Action names the action (internal/access's action names).
	Action string
	// Target is the NIP acted on (for an import, the ID of the upload).
	Target string
	// Reason is the operator's reason as it will be recorded; it is bound
	// by its hash, so the token does not carry it.
	Reason string
}

// Store records used tokens (storage.ConfirmationStore).
type Store interface {
	UseConfirmation(ctx context.Context, id string, expiresAt, now time.Time) error
}

// Options tunes a Confirmer; zero fields take the defaults.
type Options struct {
	// TTL is how long a token stays valid (DefaultTTL).
	TTL time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time
	// Rand is the source of token IDs (crypto/rand).
	Rand io.Reader
}

// DefaultTTL is long enough to read a confirmation page, short enough
// that a token left in a browser's history is dead.
const DefaultTTL = 5 * time.Minute

// Errors of Redeem. ErrInvalid covers a malformed token, a forged one and
// one of another binding alike: they are not told apart.
var (
	ErrInvalid  = errors.New("confirmation is not valid for this action")
	ErrExpired  = errors.New("confirmation has expired")
	ErrReplayed = errors.New("confirmation was already used")
	// ErrIncomplete: Issue needs every field of the binding.
	ErrIncomplete = errors.New("a confirmation needs the operator, the action, the target and a reason")
)

// Confirmer issues and redeems tokens under one key.
type Confirmer struct {
	key   []byte
	store Store
	ttl   time.Duration
	now   func() time.Time
	rand  io.Reader
}

// New returns a Confirmer whose tokens are keyed with key, derived from
// the master key for this purpose only (seal.Sealer.DeriveKey with
// "console-confirm"), and recorded in store.
func New(key [32]byte, store Store, opts Options) *Confirmer {
	c := &Confirmer{key: key[:], store: store, ttl: opts.TTL, now: opts.Now, rand: opts.Rand}
	if c.ttl <= 0 {
		c.ttl = DefaultTTL
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	return c
}

// version starts every token and the MAC input, so a later format cannot
// be confused with this one.
const version = "c1"

// idLen is the random ID's length: 128 bits.
const idLen = 16

// Issue returns a token confirming b, valid for the TTL from now.
func (c *Confirmer) Issue(b Binding) (string, error) {
	if b.OperatorSub == "" || b.Action == "" || b.Target == "" || strings.TrimSpace(b.Reason) == "" {
		return "", ErrIncomplete
	}
	id := make([]byte, idLen)
	if _, err := io.ReadFull(c.rand, id); err != nil {
		return "", fmt.Errorf("make confirmation id: %w", err)
	}
	exp := c.now().Add(c.ttl).Unix()
	enc := base64.RawURLEncoding
	return strings.Join([]string{version, enc.EncodeToString(id), strconv.FormatInt(exp, 10),
		enc.EncodeToString(c.mac(id, exp, b))}, "."), nil
}

// Redeem checks that token confirms b and has not expired, then uses it
// up. Of any number of redemptions of one token, in any processes on one
// database, at most one succeeds.
func (c *Confirmer) Redeem(ctx context.Context, token string, b Binding) error {
	id, exp, mac, ok := parse(token)
	if !ok || !hmac.Equal(mac, c.mac(id, exp, b)) {
		return ErrInvalid
	}
	now := c.now()
	expiresAt := time.Unix(exp, 0)
	if !now.Before(expiresAt) {
		return ErrExpired
	}
	err := c.store.UseConfirmation(ctx, base64.RawURLEncoding.EncodeToString(id), expiresAt, now)
	if errors.Is(err, storage.ErrConflict) {
		return ErrReplayed
	}
	if err != nil {
		return fmt.Errorf("record confirmation: %w", err)
	}
	return nil
}

// parse splits a token into its ID, expiry and MAC.
func parse(token string) (id []byte, exp int64, mac []byte, ok bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 4 || parts[0] != version {
		return nil, 0, nil, false
	}
	enc := base64.RawURLEncoding.Strict()
	id, err := enc.DecodeString(parts[1])
	if err != nil || len(id) != idLen {
		return nil, 0, nil, false
	}
	exp, err = strconv.ParseInt(parts[2], 10, 64)
	if err != nil || exp <= 0 || strconv.FormatInt(exp, 10) != parts[2] {
		return nil, 0, nil, false
	}
	mac, err = enc.DecodeString(parts[3])
	if err != nil || len(mac) != sha256.Size {
		return nil, 0, nil, false
	}
	return id, exp, mac, true
}

// mac binds id, expiry and b. Each field is length-prefixed, so no shift
// of characters between fields ("ab"+"c" and "a"+"bc") yields the same
// input.
func (c *Confirmer) mac(id []byte, exp int64, b Binding) []byte {
	reason := sha256.Sum256([]byte(b.Reason))
	h := hmac.New(sha256.New, c.key)
	for _, field := range [][]byte{[]byte(version), id, []byte(strconv.FormatInt(exp, 10)),
		[]byte(b.OperatorSub), []byte(b.Action), []byte(b.Target), reason[:]} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(field)))
		h.Write(n[:])
		h.Write(field)
	}
	return h.Sum(nil)
}
