package main

import (
	"net/http"
	"net/url"
	"testing"
)

// TestClients_I6_CLIChangesReachTheServer: the serving process keeps its
// clients in memory, and the CLI changes them from a process of its own.
// A removed client, and a client registered again with a new secret, are
// refused (old secret) and accepted (new secret) by the server once the
// configured bound (database.client_cache) has passed, however often the
// server used the client before.
func TestClients_I6_CLIChangesReachTheServer(t *testing.T) {
	o := startOP(t)
	bound := o.cfg.Database.ClientCache
	form := url.Values{"grant_type": {"client_credentials"}}
	token := func(secret string) *oauthResponse {
		t.Helper()
		return mustOAuthPost(t, o, tokenPath, "svc", secret, form)
	}
	old := o.addClient("--id", "svc", "--grant", "client_credentials")
	for range 3 { // used, and so kept in memory
		if got := token(old); got.status != http.StatusOK {
			t.Fatalf("client_credentials with the secret = %d %s, want 200", got.status, got.body)
		}
	}

	o.mustCLI("", "client", "remove", "svc")
	o.clock.Advance(bound)
	wantOAuthError(t, "removed client, one bound later", token(old), http.StatusUnauthorized, "invalid_client")

	fresh := o.addClient("--id", "svc", "--grant", "client_credentials")
	o.clock.Advance(bound)
	wantOAuthError(t, "old secret after the client was registered again", token(old), http.StatusUnauthorized, "invalid_client")
	if got := token(fresh); got.status != http.StatusOK {
		t.Errorf("client_credentials with the new secret = %d %s, want 200", got.status, got.body)
	}

	// And the other way: the new secret stops working once the client is
	// removed again, while the server had just used it.
	o.mustCLI("", "client", "remove", "svc")
	o.clock.Advance(bound)
	wantOAuthError(t, "new secret after the second removal", token(fresh), http.StatusUnauthorized, "invalid_client")
}
