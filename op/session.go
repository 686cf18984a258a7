package op

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/asnidp/asnidp/storage"
)

// reusableSession returns the browser's live SSO session when it may
// complete req without any prompt, or nil: prompt=login, an exceeded
// max_age, an id_token_hint for someone else, a disabled user or a
// session without the required factors all mean a fresh login.
func (p *Provider) reusableSession(ctx context.Context, h http.Header, req *oidc.AuthRequest, hintUser string) *storage.Session {
	if slices.Contains(req.Prompt, oidc.PromptLogin) {
		return nil
	}
	now := p.now()
	sess, err := p.cfg.Browsers.Session(ctx, h)
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			p.log.ErrorContext(ctx, "load sso session", "err", err)
		}
		return nil
	}
	// max_age=0 is prompt=login (OIDC Core §3.1.2.1): it must not depend
	// on the clock having moved since the session began.
	if req.MaxAge != nil && (*req.MaxAge == 0 || now.Sub(sess.AuthTime) > time.Duration(*req.MaxAge)*time.Second) {
		return nil
	}
	if hintUser != "" && hintUser != sess.UserID {
		return nil
	}
	if !slices.Contains(sess.AMR, AMRPassword) || (p.cfg.RequireOTP && !hasSecondFactor(sess.AMR)) {
		return nil
	}
	u, err := p.store.UserByID(ctx, sess.UserID)
	if err != nil || u.State == storage.StateDisabled {
		return nil
	}
	return sess
}

// completeFromSession records the session's factors on the new request.
func (p *Provider) completeFromSession(ctx context.Context, ar *storage.AuthRequest, sess *storage.Session) error {
	if err := p.store.SetAuthRequestUser(ctx, ar.ID, sess.UserID, sess.AuthTime); err != nil {
		return fmt.Errorf("record session user: %w", err)
	}
	if hasSecondFactor(sess.AMR) {
		if err := p.store.SetAuthRequestOTP(ctx, ar.ID, sess.AuthTime); err != nil {
			return fmt.Errorf("record session otp: %w", err)
		}
	}
	if slices.Contains(sess.AMR, AMRRecovery) {
		if err := p.store.SetAuthRequestRecovery(ctx, ar.ID, sess.AuthTime); err != nil {
			return fmt.Errorf("record session recovery: %w", err)
		}
	}
	if err := p.store.CompleteAuthRequest(ctx, ar.ID, sess.ID, sess.AuthTime); err != nil {
		return fmt.Errorf("complete from session: %w", err)
	}
	if err := p.store.TouchSession(ctx, sess.ID, p.now()); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// endBrowserSession ends the session in this browser's cookie and the one
// named by sid, each only if it belongs to sub, with the tokens issued in
// them.
func (p *Provider) endBrowserSession(ctx context.Context, h http.Header, sub, sid string) error {
	var ids []string
	if sess, err := p.cfg.Browsers.Session(ctx, h); err == nil && sess.UserID == sub {
		ids = append(ids, sess.ID)
	}
	if sid != "" {
		sess, err := p.store.SessionByID(ctx, sid)
		if err == nil && sess.UserID == sub {
			ids = append(ids, sess.ID)
		}
	}
	for _, id := range ids {
		if err := p.endSession(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// endSession ends a session with its tokens and queues its back-channel
// logout notices (one storage transaction).
func (p *Provider) endSession(ctx context.Context, id string) error {
	if err := p.store.EndSession(ctx, id, p.now()); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

func (p *Provider) endUserSessions(ctx context.Context, userID string) error {
	if err := p.store.EndUserSessions(ctx, userID, p.now()); err != nil {
		return fmt.Errorf("revoke user sessions: %w", err)
	}
	return nil
}
