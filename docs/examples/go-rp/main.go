// Command go-rp is a minimal relying party for asnidp written with
// zitadel/oidc's rp package: authorization code flow with PKCE S256 and
// state kept in encrypted cookies, the response's iss checked (RFC 9207),
// ID token verification, then userinfo.
// After sign-in it answers the ID token's claims and userinfo as JSON.
//
// Register it once, then run it:
//
//	asnidp client add --id go-rp --redirect-uri http://localhost:9090/callback
//	RP_CLIENT_SECRET=<printed secret> go run ./docs/examples/go-rp
//	# open http://localhost:9090/login
//
// Or, with private_key_jwt instead of a secret (the app keeps its private
// key; asnidp gets the public one as a JWKS):
//
//	asnidp client add --id go-rp --redirect-uri http://localhost:9090/callback --jwks-file go-rp.jwks.json
//	go run ./docs/examples/go-rp -key-file go-rp.key.pem -key-id <kid in the JWKS>
//
// Or with ES256 ID tokens and RFC 9068 JWT access tokens, which the app
// verifies offline as its API would:
//
//	asnidp client add --id go-rp --redirect-uri http://localhost:9090/callback --id-token-alg ES256 --access-token jwt
//	RP_CLIENT_SECRET=<printed secret> go run ./docs/examples/go-rp -id-token-alg ES256
//
// main_test.go runs exactly this handler against a real asnidp.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/client"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"
)

// Config is what a relying party needs to know about itself and asnidp.
type Config struct {
	Issuer       string // e.g. https://sso.example.go.id
	ClientID     string
	ClientSecret string
	RedirectURI  string // registered exactly, e.g. https://app.example.go.id/callback
	// PrivateKeyPEM (PKCS #8 or PKCS #1; RSA or EC P-256) and KeyID
	// authenticate the app with private_key_jwt instead of ClientSecret.
	PrivateKeyPEM []byte
	KeyID         string
	// IDTokenAlg is the algorithm the client registered for its tokens
	// (id_token_signed_response_alg): RS256 (when empty) or ES256. The
	// app accepts that one only.
	IDTokenAlg string
}

func main() {
	var cfg Config
	flag.StringVar(&cfg.Issuer, "issuer", "http://localhost:8080", "asnidp issuer URL")
	flag.StringVar(&cfg.ClientID, "client-id", "go-rp", "client_id")
	flag.StringVar(&cfg.RedirectURI, "redirect-uri", "http://localhost:9090/callback", "registered redirect URI")
	listen := flag.String("listen", "127.0.0.1:9090", "listen address")
	keyFile := flag.String("key-file", "", "private key (PEM) for private_key_jwt, instead of RP_CLIENT_SECRET")
	flag.StringVar(&cfg.KeyID, "key-id", "", "kid of that key in the JWKS registered with asnidp")
	flag.StringVar(&cfg.IDTokenAlg, "id-token-alg", "RS256", "the algorithm registered for the client's tokens: RS256 or ES256")
	flag.Parse()
	cfg.ClientSecret = os.Getenv("RP_CLIENT_SECRET") // keep secrets out of flags (ps shows them)
	if *keyFile != "" {
		pem, err := os.ReadFile(*keyFile)
		if err != nil {
			log.Fatal(err)
		}
		cfg.PrivateKeyPEM = pem
	}

	h, err := NewHandler(context.Background(), cfg)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("open %s", strings.TrimSuffix(cfg.RedirectURI, "/callback")+"/login")
	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// NewHandler discovers asnidp and serves /login (to asnidp) and /callback
// (back from it).
func NewHandler(ctx context.Context, cfg Config) (http.Handler, error) {
	// Keys for the cookies that carry state and the PKCE verifier across
	// the redirect; random per start is fine for a single process.
	hashKey, blockKey := make([]byte, 32), make([]byte, 32)
	rand.Read(hashKey)
	rand.Read(blockKey)
	var cookieOpts []httphelper.CookieHandlerOpt
	if strings.HasPrefix(cfg.RedirectURI, "http://") {
		cookieOpts = append(cookieOpts, httphelper.WithUnsecure()) // local development only
	}
	cookies := httphelper.NewCookieHandler(hashKey, blockKey, cookieOpts...)
	alg := cfg.IDTokenAlg
	if alg == "" {
		alg = "RS256"
	}

	opts := []rp.Option{
		rp.WithPKCE(cookies), // asnidp requires PKCE with S256
		rp.WithVerifierOpts(rp.WithSupportedSigningAlgorithms(alg)),
		rp.WithHTTPClient(&http.Client{Timeout: 10 * time.Second}),
	}
	var exchangeOpts []rp.URLParamOpt
	if cfg.PrivateKeyPEM != nil {
		assertion, err := privateKeyJWT(cfg)
		if err != nil {
			return nil, err
		}
		// client_id goes in the form beside the assertion, no Basic header.
		opts = append(opts, rp.WithAuthStyle(oauth2.AuthStyleInParams))
		exchangeOpts = append(exchangeOpts, assertion)
	}
	provider, err := rp.NewRelyingPartyOIDC(ctx, cfg.Issuer, cfg.ClientID, cfg.ClientSecret, cfg.RedirectURI,
		[]string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, "asn"}, opts...)
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.Handle("GET /login", rp.AuthURLHandler(rand.Text, provider))
	mux.Handle("GET /callback", requireIssuer(provider.Issuer(), rp.CodeExchangeHandler(rp.UserinfoCallback(signedIn(alg)), provider, exchangeOpts...)))
	return mux, nil
}

// privateKeyJWT signs a fresh client assertion (RFC 7523) for each code
// exchange: iss = sub = the client, aud = the issuer, a new jti, valid one
// minute. asnidp accepts each jti once and refuses an exp more than 5
// minutes ahead, so the rp package's own rp.WithJWTProfile, which signs
// assertions valid for an hour, is not used.
func privateKeyJWT(cfg Config) (rp.URLParamOpt, error) {
	signer, err := client.NewSignerFromPrivateKeyByte(cfg.PrivateKeyPEM, cfg.KeyID)
	if err != nil {
		return nil, err
	}
	return func() []oauth2.AuthCodeOption {
		assertion, err := client.SignedJWTProfileAssertion(cfg.ClientID, []string{cfg.Issuer}, time.Minute, signer)
		if err != nil {
			log.Printf("sign client assertion: %v", err)
			return nil // the exchange then fails with invalid_client
		}
		return client.ClientAssertionCodeOptions(assertion)
	}, nil
}

// requireIssuer refuses an authorization response that does not name
// asnidp in iss (RFC 9207 §2.4): one sent by another OP the app talks to,
// or forged to look like asnidp's. asnidp names itself on every response,
// a code or an error (discovery: authorization_response_iss_parameter_supported),
// and the rp package does not look.
func requireIssuer(issuer string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.URL.Query()["iss"]; len(got) != 1 || got[0] != issuer {
			http.Error(w, "authorization response from another issuer", http.StatusBadRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// signedIn runs once the code was redeemed, the ID token verified and
// userinfo loaded. A real app would start its own session here (keep the
// ID token for logout's id_token_hint) and redirect.
// With a JWT access token it also shows what the app's API would accept
// after verifying it offline.
func signedIn(alg string) rp.CodeExchangeUserinfoCallback[*oidc.IDTokenClaims, *oidc.UserInfo] {
	return func(w http.ResponseWriter, r *http.Request, tokens *oidc.Tokens[*oidc.IDTokenClaims], state string, provider rp.RelyingParty, info *oidc.UserInfo) {
		out := map[string]any{"id_token_claims": tokens.IDTokenClaims, "userinfo": info}
		if strings.Count(tokens.AccessToken, ".") == 2 {
			claims, err := verifyAccessToken(r.Context(), provider, alg, tokens.AccessToken)
			if err != nil {
				http.Error(w, "access token: "+err.Error(), http.StatusBadGateway)
				return
			}
			out["access_token_claims"] = claims
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(out)
	}
}

// verifyAccessToken checks an RFC 9068 access token as a resource server
// does (§4): typ at+jwt (never an ID token), the signature by a key of
// the issuer's JWKS with the registered alg, iss, aud and exp. Revocation
// and logout show only at introspection; a token verified offline lives
// until exp.
func verifyAccessToken(ctx context.Context, provider rp.RelyingParty, alg, token string) (*oidc.AccessTokenClaims, error) {
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil {
		return nil, err
	}
	if typ, _ := jws.Signatures[0].Protected.ExtraHeaders[jose.HeaderType].(string); typ != "at+jwt" {
		return nil, fmt.Errorf("typ %q is not at+jwt", typ)
	}
	payload, err := provider.IDTokenVerifier().KeySet.VerifySignature(ctx, jws)
	if err != nil {
		return nil, err
	}
	claims := new(oidc.AccessTokenClaims)
	if err := json.Unmarshal(payload, claims); err != nil {
		return nil, err
	}
	switch {
	case claims.Issuer != provider.Issuer():
		return nil, fmt.Errorf("iss %q", claims.Issuer)
	case !slices.Contains(claims.Audience, provider.OAuthConfig().ClientID):
		return nil, fmt.Errorf("aud %v", claims.Audience)
	case !time.Now().Before(claims.Expiration.AsTime()):
		return nil, errors.New("expired")
	}
	return claims, nil
}
