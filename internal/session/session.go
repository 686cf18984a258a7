// Package session reads the two things a browser carries that prove who
// it is to the OP: the SSO session cookie, and the binding cookie that ties
// an authorization request to the browser that started it. The OIDC
// provider and the login pages both check them; configured once here, the
// two can never disagree on the cookie names, the idle timeout or the
// comparison.
package session

import (
	"context"
	"net/http"
	"time"

	"github.com/asnidp/asnidp/internal/cookie"
	"github.com/asnidp/asnidp/internal/secret"
	"github.com/asnidp/asnidp/storage"
)

// Store finds sessions by the hash of their cookie value.
type Store interface {
	SessionByTokenHash(ctx context.Context, tokenHash string, idle time.Duration, now time.Time) (*storage.Session, error)
}

// Options configure the checks.
type Options struct {
	Cookies cookie.Jar
	// Hash is the keyed hash cookie values are stored under.
	Hash *secret.MAC
	// Idle ends a session that was not used for this long (E3).
	Idle time.Duration
	Now  func() time.Time
}

// Browsers checks what a browser's cookies prove.
type Browsers struct {
	opts  Options
	store Store
}

// New returns the checks over store.
func New(opts Options, store Store) *Browsers {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Browsers{opts: opts, store: store}
}

// Session returns the live SSO session whose value the cookies in h carry.
// It is storage.ErrNotFound when there is no cookie, or the session is
// unknown, revoked, idle for longer than Idle or past its absolute end.
func (b *Browsers) Session(ctx context.Context, h http.Header) (*storage.Session, error) {
	token := b.opts.Cookies.ValueFromHeader(h, cookie.Session)
	if token == "" {
		return nil, storage.ErrNotFound
	}
	return b.store.SessionByTokenHash(ctx, b.opts.Hash.Hash(token), b.opts.Idle, b.opts.Now())
}

// Started reports whether the cookies in h carry the binding value of ar,
// that is whether this browser started the auth request (or was given its
// binding after a verified factor). An auth request ID alone, seen or
// guessed, proves nothing (A5, E2).
func (b *Browsers) Started(h http.Header, ar *storage.AuthRequest) bool {
	v := b.opts.Cookies.ValueFromHeader(h, cookie.Browser)
	return v != "" && ar.BrowserHash != "" && b.opts.Hash.Equal(ar.BrowserHash, v)
}
