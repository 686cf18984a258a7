// Package alert makes the one-time "Bukan saya?" links of security mails.
// A link's page (in package login) ends every session of the account; this
// package only makes the link: a random token, stored as a keyed hash bound
// to the account, that expires after TTL.
package alert

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/asnidp/asnidp/internal/secret"
	"github.com/asnidp/asnidp/storage"
)

// TTL is how long a link works: long enough for a mail read the next week.
const TTL = 7 * 24 * time.Hour

// Path is where a link's page is served.
const Path = "/login/not-me"

// Store keeps the links.
type Store interface {
	CreateAlertToken(ctx context.Context, t *storage.AlertToken) error
}

// Links makes links for the issuer.
type Links struct {
	Store  Store
	MAC    *secret.MAC
	Issuer string
	Now    func() time.Time
}

// New stores a fresh link for u, naming the mail purpose it goes in, and
// returns its URL.
func (l *Links) New(ctx context.Context, u *storage.User, purpose string) (string, error) {
	token := secret.Token()
	now := l.now()
	if err := l.Store.CreateAlertToken(ctx, &storage.AlertToken{
		TokenHash: l.Hash(token), UserID: u.ID, Purpose: purpose, CreatedAt: now, ExpiresAt: now.Add(TTL),
	}); err != nil {
		return "", fmt.Errorf("store not-me link: %w", err)
	}
	return l.Issuer + Path + "?t=" + url.QueryEscape(token), nil
}

// Hash is the stored form of a link's token.
func (l *Links) Hash(token string) string { return l.MAC.Hash("alert:" + token) }

func (l *Links) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}
