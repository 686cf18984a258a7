package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestLoad_OAuth(t *testing.T) {
	path := writeConfig(t, "issuer: https://sso.example.go.id\nmaster_key: x\n")
	c, err := Load(path, []string{"ASNIDP_OAUTH_REQUIRE_PUSHED_AUTHORIZATION_REQUESTS=true"})
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	if !c.OAuth.RequirePushedAuthorizationRequests || c.OAuth.JWKSCache != 5*time.Minute {
		t.Errorf("oauth = %+v, want PAR required from the environment and the default jwks_cache of 5m", c.OAuth)
	}
}

// Each bad oauth key or key registration of a client is named by its path.
func TestLoad_OAuthProblems(t *testing.T) {
	path := writeConfig(t, `issuer: https://sso.example.go.id
master_key: x
oauth:
  require_pushed_authorization_requests: maybe
  jwks_cache: 2s
clients:
  - id: a
    public: true
    jwks_uri: https://a.example/jwks
    redirect_uris: [https://a.example/cb]
  - id: b
    secret: b-secret-of-sixteen-chars
    jwks_file: b.json
    redirect_uris: [https://b.example/cb]
  - id: c
    jwks_file: c.json
    jwks_uri: https://c.example/jwks
    redirect_uris: [https://c.example/cb]
`)
	_, err := Load(path, nil)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Load = %v, want *Error", err)
	}
	for _, want := range []string{"require_pushed_authorization_requests", "oauth.jwks_cache:", "clients[0].jwks_file:", "clients[1].secret:", "clients[2].jwks_uri:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q:\n%v", want, err)
		}
	}
}
