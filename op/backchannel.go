package op

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"

	"github.com/asnidp/asnidp/storage"
)

// OpenID Connect Back-Channel Logout 1.0: when an SSO session ends, every
// client with a back-channel logout URI that took part in it gets a signed
// logout token by a direct POST. Storage queues the notices in the same
// transaction that ends the session; LogoutSender sends them right after
// and retries with back-off, so a client that is down gets its notice
// later.

// backchannelEvent is the events member a logout token must carry.
const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// Back-off between attempts: 10 s doubling to 1 h, given up after
// logoutMaxAttempts (about a day of trying).
const (
	logoutFirstRetry  = 10 * time.Second
	logoutMaxRetry    = time.Hour
	logoutMaxAttempts = 30
	logoutLease       = time.Minute
	logoutBatch       = 20
	logoutTokenTTL    = 2 * time.Minute
)

// logoutClaims is the logout token's claim set.
type logoutClaims struct {
	Issuer   string              `json:"iss"`
	Audience jwt.Audience        `json:"aud"`
	IssuedAt *jwt.NumericDate    `json:"iat"`
	Expiry   *jwt.NumericDate    `json:"exp"`
	ID       string              `json:"jti"`
	Subject  string              `json:"sub,omitempty"`
	SID      string              `json:"sid,omitempty"`
	Events   map[string]struct{} `json:"events"`
}

// LogoutSender delivers the back-channel logout queue. A notice is sent
// as soon as the session that owes it ends in this process (Wake), and the
// queue is polled besides, for retries after failures and for notices
// queued by other processes (the CLI, other serve processes). Any number
// of processes may run a sender on one database: every delivery is first
// leased by ClaimLogoutDeliveries, so two senders never hold the same
// notice at once.
type LogoutSender struct {
	p      *Provider
	client *http.Client
	wake   chan struct{}
}

// LogoutSender returns a sender that posts logout tokens with client.
func (p *Provider) LogoutSender(client *http.Client) *LogoutSender {
	return &LogoutSender{p: p, client: client, wake: make(chan struct{}, 1)}
}

// Wake makes Run look at the queue now rather than at its next poll. It
// never blocks: wakes that come while Run is busy fold into one more
// round.
func (s *LogoutSender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run delivers due notices when woken and every interval until ctx ends.
func (s *LogoutSender) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.p.DeliverLogouts(ctx, s.client); err != nil && ctx.Err() == nil {
			s.p.log.ErrorContext(ctx, "deliver back-channel logouts", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
		}
	}
}

// DeliverLogouts sends every notice that is due now. The notices of one
// claim are sent concurrently, so one slow client delays no other and a
// claim is done well within its lease: a lease that ran out while its
// notice was still being sent would let another process send it again.
func (p *Provider) DeliverLogouts(ctx context.Context, client *http.Client) error {
	for {
		due, err := p.store.ClaimLogoutDeliveries(ctx, p.now(), logoutLease, logoutBatch)
		if err != nil {
			return fmt.Errorf("claim logout deliveries: %w", err)
		}
		if len(due) == 0 {
			return nil
		}
		errs := make([]error, len(due))
		var wg sync.WaitGroup
		for i, d := range due {
			wg.Go(func() { errs[i] = p.deliverLogout(ctx, client, d) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
}

func (p *Provider) deliverLogout(ctx context.Context, client *http.Client, d *storage.LogoutDelivery) error {
	err := p.postLogoutToken(ctx, client, d)
	if err == nil {
		p.log.InfoContext(ctx, "back-channel logout delivered", "client_id", d.ClientID, "sid", d.SessionID)
		return p.store.FinishLogoutDelivery(ctx, d.ID)
	}
	if d.Attempts+1 >= logoutMaxAttempts {
		p.log.ErrorContext(ctx, "back-channel logout given up", "client_id", d.ClientID, "sid", d.SessionID, "attempts", d.Attempts+1, "err", err)
		return p.store.FinishLogoutDelivery(ctx, d.ID)
	}
	wait := logoutFirstRetry << min(d.Attempts, 20)
	wait = min(wait, logoutMaxRetry)
	p.log.WarnContext(ctx, "back-channel logout failed; will retry", "client_id", d.ClientID, "sid", d.SessionID, "retry_in", wait, "err", err)
	return p.store.RetryLogoutDelivery(ctx, d.ID, p.now().Add(wait))
}

// postLogoutToken sends one logout token; only a 2xx answer counts.
func (p *Provider) postLogoutToken(ctx context.Context, client *http.Client, d *storage.LogoutDelivery) error {
	token, err := p.logoutToken(ctx, d)
	if err != nil {
		return err
	}
	body := url.Values{"logout_token": {token}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URI, strings.NewReader(body))
	if err != nil {
		return fmt.Errorf("build logout request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("post logout token: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("post logout token: client answered %d", resp.StatusCode)
	}
	return nil
}

// logoutToken signs the token for one delivery with the current key of
// the algorithm the client registered for its ID tokens, which it verifies
// logout tokens with too.
func (p *Provider) logoutToken(ctx context.Context, d *storage.LogoutDelivery) (string, error) {
	c, err := p.store.ClientByID(ctx, d.ClientID)
	if err != nil {
		return "", fmt.Errorf("load client %q: %w", d.ClientID, err)
	}
	now := p.now()
	claims := logoutClaims{
		Issuer:   p.cfg.Issuer,
		Audience: jwt.Audience{d.ClientID},
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(logoutTokenTTL)),
		ID:       uuid.NewString(),
		Subject:  d.UserID,
		SID:      d.SessionID,
		Events:   map[string]struct{}{backchannelEvent: {}},
	}
	return p.signJWT(ctx, clientAlg(c), typLogoutToken, claims)
}

// NoRedirects is the HTTP client policy for back-channel calls: a logout
// endpoint that redirects is misconfigured, and following it could carry
// the token elsewhere.
func NoRedirects(*http.Request, []*http.Request) error { return errors.New("redirect refused") }
