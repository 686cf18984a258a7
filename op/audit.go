package op

import (
	"context"

	oidcop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/storage"
)

// Auditor records security events (internal/audit.Recorder). The client's
// IP and user agent come from the request context (audit.Middleware).
// Events carry identifiers only, never a code or a token.
type Auditor interface {
	Record(ctx context.Context, e storage.AuditEvent)
	// Prepare stamps an event that the caller stores itself, in the
	// transaction of the change it describes; Emit logs it after the
	// commit.
	Prepare(ctx context.Context, e *storage.AuditEvent)
	Emit(ctx context.Context, e *storage.AuditEvent)
}

// record audits e; without an Auditor it does nothing.
func (p *Provider) record(ctx context.Context, e storage.AuditEvent) {
	if p.cfg.Audit != nil {
		p.cfg.Audit.Record(ctx, e)
	}
}

// issuedEvent is the audit event of the tokens of one token request.
func (p *Provider) issuedEvent(req oidcop.TokenRequest, t *storage.AccessToken) *storage.AuditEvent {
	e := &storage.AuditEvent{Type: audit.TokenIssued, UserID: t.UserID, ClientID: t.ClientID}
	switch req.(type) {
	case *authRequest:
		e.Detail = "grant=authorization_code"
	case *refreshRequest:
		e.Type, e.Detail = audit.TokenRefreshed, "grant=refresh_token"
	case *clientCredentialsRequest:
		e.UserID, e.Detail = "", "grant=client_credentials"
	}
	if t.SessionID != "" {
		e.Detail += " sid=" + t.SessionID
	}
	return e
}
