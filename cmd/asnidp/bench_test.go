package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/asnidp/asnidp/internal/config"
	"github.com/asnidp/asnidp/internal/cookie"
	"github.com/asnidp/asnidp/internal/cputime"
	"github.com/asnidp/asnidp/storage"
	"github.com/asnidp/asnidp/storage/sqlstore/sqlstoretest"
)

// benchClients is how many requests per core are in flight at once, as
// with many relying parties and browsers: while one waits for the
// database, another uses the CPU.
const benchClients = 4

// benchApp is the whole HTTP handler on a SQLite file (or a PostgreSQL
// schema), driven in-process so the figures measure asnidp, not the
// loopback network.
type benchApp struct {
	*app
	handler http.Handler
	secret  string
	user    *storage.User
	pw      string
}

func newBenchApp(b *testing.B) *benchApp {
	b.Helper()
	return newBenchAppOn(b, "ASNIDP_DATABASE_DSN="+filepath.Join(b.TempDir(), "bench.db"))
}

// benchEngines runs a token benchmark on SQLite and on PostgreSQL (the
// latter only with ASNIDP_TEST_POSTGRES_DSN set, as the tests).
func benchEngines(b *testing.B, run func(b *testing.B, ba *benchApp)) {
	b.Run("sqlite", func(b *testing.B) { run(b, newBenchApp(b)) })
	b.Run("postgres", func(b *testing.B) {
		run(b, newBenchAppOn(b, "ASNIDP_DATABASE_DRIVER=postgres", "ASNIDP_DATABASE_DSN="+sqlstoretest.NewPostgresSchema(b)))
	})
}

func newBenchAppOn(b *testing.B, database ...string) *benchApp {
	b.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	cfg, err := config.Load("", append([]string{
		"ASNIDP_ISSUER=http://127.0.0.1:8080",
		"ASNIDP_MASTER_KEY=" + base64.StdEncoding.EncodeToString(key),
		"ASNIDP_LOG_LEVEL=error",
	}, database...))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	a, err := openApp(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	h, err := a.handler()
	if err != nil {
		b.Fatal(err)
	}
	ba := &benchApp{app: a, handler: h, secret: "bench-secret-" + rand.Text()}
	ba.registerBenchClient(b, "")
	ba.pw = "kopi tubruk pagi hari"
	hash, err := a.hasher.Hash(ctx, ba.pw)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	ba.user = &storage.User{ID: uuid.NewString(), NIP: "198609262015051001", Name: "Bench", Email: "bench@example.go.id",
		State: storage.StatePasswordSet, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	if err := a.store.CreateUser(ctx, ba.user); err != nil {
		b.Fatal(err)
	}
	return ba
}

// registerBenchClient (re)registers the "bench" client with ID tokens
// signed by alg (RS256 when empty).
func (ba *benchApp) registerBenchClient(b *testing.B, alg string) {
	b.Helper()
	c := &storage.Client{ID: "bench", RedirectURIs: []string{rpRedirect},
		GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}, IDTokenAlg: alg}
	if err := registerClient(context.Background(), ba.app, c, ba.secret, true); err != nil {
		b.Fatal(err)
	}
}

func (ba *benchApp) post(path string, form url.Values, basic bool, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth("bench", ba.secret)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	ba.handler.ServeHTTP(rec, req)
	return rec
}

// doneAuthRequest stores an auth request that went through both factors,
// with a code, as the login pages and the callback leave it.
func (ba *benchApp) doneAuthRequest(b *testing.B, p pkce, code, browserHash string, done bool) string {
	b.Helper()
	ctx := context.Background()
	now := time.Now()
	ar := &storage.AuthRequest{ID: "ar_" + rand.Text(), BrowserHash: browserHash, ClientID: "bench", RedirectURI: rpRedirect,
		Scopes: []string{"openid", "profile"}, ResponseType: "code", CodeChallenge: p.challenge, CodeChallengeMethod: "S256",
		Nonce: "n", MaxAge: -1, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := ba.store.CreateAuthRequest(ctx, ar); err != nil {
		b.Fatal(err)
	}
	if !done {
		return ar.ID
	}
	if err := ba.store.SetAuthRequestUser(ctx, ar.ID, ba.user.ID, now); err != nil {
		b.Fatal(err)
	}
	if err := ba.store.SetAuthRequestOTP(ctx, ar.ID, now); err != nil {
		b.Fatal(err)
	}
	if err := ba.store.CompleteAuthRequest(ctx, ar.ID, "s_bench", now); err != nil {
		b.Fatal(err)
	}
	if err := ba.store.SaveAuthCode(ctx, ar.ID, ba.secrets.Hash(code), now.Add(time.Hour)); err != nil {
		b.Fatal(err)
	}
	return ar.ID
}

// BenchmarkTokenCodeExchange measures /oauth/token for authorization_code:
// read the code's request, check PKCE and the client, store the code's
// redemption with the access token and its audit row, sign the ID token.
func BenchmarkTokenCodeExchange(b *testing.B) {
	benchEngines(b, func(b *testing.B, ba *benchApp) { benchCodeExchange(b, ba) })
}

// BenchmarkTokenCodeExchangeES256 is the same for a client registered
// with ES256 ID tokens: the signature is no longer the bound.
func BenchmarkTokenCodeExchangeES256(b *testing.B) {
	benchEngines(b, func(b *testing.B, ba *benchApp) {
		ba.registerBenchClient(b, "ES256")
		benchCodeExchange(b, ba)
	})
}

func benchCodeExchange(b *testing.B, ba *benchApp) {
	p := newPKCE()
	codes := make([]string, b.N)
	for i := range codes {
		codes[i] = "code-" + rand.Text()
		ba.doneAuthRequest(b, p, codes[i], "", true)
	}
	ba.parallel(b, func(i int) (url.Values, bool) {
		return url.Values{"grant_type": {"authorization_code"}, "code": {codes[i]},
			"redirect_uri": {rpRedirect}, "code_verifier": {p.verifier}}, true
	})
}

// BenchmarkTokenRefresh measures /oauth/token for refresh_token: load the
// token and its user, rotate it with the new access token and the audit
// row in one transaction, sign the ID token.
func BenchmarkTokenRefresh(b *testing.B) {
	benchEngines(b, func(b *testing.B, ba *benchApp) {
		ctx := context.Background()
		now := time.Now()
		tokens := make([]string, b.N)
		for i := range tokens {
			tokens[i] = "rt_" + rand.Text()
			rt := &storage.RefreshToken{ID: uuid.NewString(), TokenHash: ba.secrets.Hash(tokens[i]), FamilyID: uuid.NewString(),
				GrantID: "ar_" + rand.Text(), ClientID: "bench", UserID: ba.user.ID, Scopes: []string{"openid", "profile", "offline_access"},
				Audience: []string{"bench"}, SessionID: "s_bench", AuthTime: now, AMR: []string{"pwd", "otp"},
				CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := ba.store.CreateRefreshToken(ctx, rt); err != nil {
				b.Fatal(err)
			}
		}
		ba.parallel(b, func(i int) (url.Values, bool) {
			return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tokens[i]}}, true
		})
	})
}

// BenchmarkTokenClientCredentials measures service-to-service tokens:
// authenticate the client, store the opaque token with its audit row.
func BenchmarkTokenClientCredentials(b *testing.B) {
	benchEngines(b, func(b *testing.B, ba *benchApp) {
		ba.parallel(b, func(int) (url.Values, bool) {
			return url.Values{"grant_type": {"client_credentials"}}, true
		})
	})
}

// parallel posts b.N token requests, the i-th with form(i), from
// benchClients goroutines per core, and reports requests per second.
func (ba *benchApp) parallel(b *testing.B, form func(i int) (url.Values, bool)) {
	var next atomic.Int64
	b.SetParallelism(benchClients)
	b.ResetTimer()
	cpu := cputime.Process()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			f, basic := form(int(next.Add(1) - 1))
			rec := ba.post("/oauth/token", f, basic)
			if rec.Code != http.StatusOK {
				b.Fatalf("token = %d %s", rec.Code, rec.Body)
			}
		}
	})
	b.StopTimer()
	cputime.Report(b, cpu)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkPasswordLogin measures the NIP + password step: throttling
// reads and writes, one argon2id verification, recording the factor.
func BenchmarkPasswordLogin(b *testing.B) {
	ba := newBenchApp(b)
	jar := cookie.Jar{}
	// Many employees sign in at once; one employee's logins are not
	// concurrent (those are refused by design, see B3).
	nips := []string{ba.user.NIP}
	for i := range 4 * benchClients * runtime.GOMAXPROCS(0) {
		u := *ba.user
		u.ID, u.NIP = uuid.NewString(), fmt.Sprintf("198609262015051%03d", i+2)
		if err := ba.store.CreateUser(context.Background(), &u); err != nil {
			b.Fatal(err)
		}
		nips = append(nips, u.NIP)
	}
	type attempt struct{ id, browser, nip string }
	attempts := make([]attempt, b.N)
	for i := range attempts {
		attempts[i].browser = "browser-" + rand.Text()
		attempts[i].id = ba.doneAuthRequest(b, newPKCE(), "", ba.secrets.Hash(attempts[i].browser), false)
		attempts[i].nip = nips[i%len(nips)]
	}
	const csrf = "0123456789012345678901234567890123456789012"
	var next atomic.Int64
	b.SetParallelism(benchClients)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			a := attempts[next.Add(1)-1]
			rec := ba.post("/login/", url.Values{"id": {a.id}, "csrf": {csrf}, "nip": {a.nip}, "password": {ba.pw}}, false,
				jar.New(cookie.Browser, a.browser, 0, http.SameSiteLaxMode), jar.New(cookie.CSRF, csrf, 0, http.SameSiteStrictMode))
			if rec.Code != http.StatusSeeOther {
				b.Fatalf("login = %d %s", rec.Code, rec.Body)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

// BenchmarkDiscovery measures the pre-rendered discovery document.
func BenchmarkDiscovery(b *testing.B) {
	ba := newBenchApp(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := httptest.NewRecorder()
			ba.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/openid-configuration", nil))
			if rec.Code != http.StatusOK {
				b.Fatal(fmt.Sprint(rec.Code))
			}
		}
	})
}
