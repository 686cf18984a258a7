package main

// Timing comparisons (docs/security.md C1, G5): answers must not take
// measurably longer for accounts that exist. They are benchmarks, not
// tests: each runs its cases interleaved, reports the median and p95 of
// each, and fails when the p95 of two cases differ by more than the 50 ms
// docs/security.md allows.
//
//	go test ./cmd/asnidp -run '^$' -bench 'Reset_C1|Login_G5' -benchtime 1000x

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/asnidp/asnidp/internal/config"
	"github.com/asnidp/asnidp/internal/cookie"
	"github.com/asnidp/asnidp/internal/mail/mailtest"
	"github.com/asnidp/asnidp/storage"
)

// timingApp is the whole server on a SQLite file behind an httptest
// server, its mail going to an in-process SMTP server.
type timingApp struct {
	*app
	srv  *httptest.Server
	mail *mailtest.Server
	hash string // a valid password hash, shared by the known accounts
	seq  int
}

const timingPassword = "kopi tubruk pagi hari"

func newTimingApp(b *testing.B, env ...string) *timingApp {
	b.Helper()
	smtp := mailtest.Start(b)
	key := make([]byte, 32)
	rand.Read(key)
	cfg, err := config.Load("", append([]string{
		"ASNIDP_ISSUER=http://127.0.0.1:8080",
		"ASNIDP_MASTER_KEY=" + base64.StdEncoding.EncodeToString(key),
		"ASNIDP_DATABASE_DSN=" + filepath.Join(b.TempDir(), "timing.db"),
		"ASNIDP_LOG_LEVEL=error",
		"ASNIDP_CAPTCHA_ENABLED=false",
		"ASNIDP_MAIL_DRIVER=smtp",
		"ASNIDP_MAIL_SMTP_HOST=" + smtp.Host,
		"ASNIDP_MAIL_SMTP_PORT=" + strconv.Itoa(smtp.Port),
		"ASNIDP_MAIL_SMTP_TLS=none",
		"ASNIDP_MAIL_FROM=no-reply@asn.example.go.id",
		"ASNIDP_PASSWORD_IP_FAILURES=100000000",
		"ASNIDP_RESET_IP_REQUESTS_PER_HOUR=100000000",
		"ASNIDP_RESET_IP_CODE_FAILURES_PER_HOUR=100000000",
	}, env...))
	if err != nil {
		b.Fatal(err)
	}
	a, err := openApp(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	h, err := a.handler()
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	hash, err := a.hasher.Hash(context.Background(), timingPassword)
	if err != nil {
		b.Fatal(err)
	}
	if err := registerClient(context.Background(), a, &storage.Client{ID: "timing", RedirectURIs: []string{rpRedirect},
		GrantTypes: []string{"authorization_code"}}, "timing-secret-0123456789", false); err != nil {
		b.Fatal(err)
	}
	return &timingApp{app: a, srv: srv, mail: smtp, hash: hash}
}

// nextNIP returns a valid NIP never used before in this app: birth dates
// count up from 1970.
func (ta *timingApp) nextNIP() string {
	ta.seq++
	birth := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, ta.seq)
	return birth.Format("20060102") + "2015051001"
}

// account creates an account with a NIP of its own: with a password, or
// provisioned, with an email or without.
func (ta *timingApp) account(b *testing.B, withPassword bool, email string) string {
	b.Helper()
	now := time.Now()
	u := &storage.User{ID: uuid.NewString(), NIP: ta.nextNIP(), Name: "Timing", Email: email,
		State: storage.StateProvisioned, CreatedAt: now, UpdatedAt: now}
	if withPassword {
		u.PasswordHash, u.State = ta.hash, storage.StatePasswordSet
	}
	if err := ta.store.CreateUser(context.Background(), u); err != nil {
		b.Fatal(err)
	}
	return u.NIP
}

// timingClient is one browser: a cookie jar, no redirects followed.
func timingClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// csrfOf primes c with a CSRF cookie and returns it.
func (ta *timingApp) csrfOf(b *testing.B, c *http.Client) string {
	b.Helper()
	resp, err := c.Get(ta.srv.URL + "/login/reset")
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	u, _ := url.Parse(ta.srv.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == cookie.CSRF {
			return ck.Value
		}
	}
	b.Fatal("no CSRF cookie")
	return ""
}

// postTimed posts form and returns the status and how long the answer
// took.
func postTimed(b *testing.B, c *http.Client, u string, form url.Values) (int, time.Duration) {
	b.Helper()
	start := time.Now()
	resp, err := c.PostForm(u, form)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}

// samples collects durations per case and reports them.
type samples map[string][]time.Duration

func (s samples) report(b *testing.B, maxGap time.Duration) {
	b.Helper()
	var names []string
	for name := range s {
		names = append(names, name)
	}
	slices.Sort(names)
	p95 := map[string]time.Duration{}
	for _, name := range names {
		d := slices.Clone(s[name])
		slices.Sort(d)
		p95[name] = d[len(d)*95/100]
		b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "p50-ms:"+name)
		b.ReportMetric(float64(p95[name].Microseconds())/1000, "p95-ms:"+name)
	}
	for _, x := range names {
		for _, y := range names {
			if gap := p95[x] - p95[y]; gap > maxGap {
				b.Errorf("p95 of %q is %v above %q (%v vs %v over %d samples); want at most %v",
					x, gap, y, p95[x], p95[y], len(s[x]), maxGap)
			}
		}
	}
}

// BenchmarkReset_C1_Timing times reset steps 1 to 3 (NIP, email, a wrong
// code) for an unknown NIP, a known NIP with its registered email (a mail
// is queued), with another email, without an email, and disabled.
func BenchmarkReset_C1_Timing(b *testing.B) {
	ta := newTimingApp(b)
	type tcase struct {
		name  string
		setup func() (nip, email string)
	}
	cases := []tcase{
		{"unknown", func() (string, string) { n := ta.nextNIP(); return n, emailOf(n) }},
		{"known", func() (string, string) {
			e := "t" + strconv.Itoa(ta.seq+1) + "@example.go.id"
			return ta.account(b, false, e), e
		}},
		{"wrong-email", func() (string, string) { return ta.account(b, false, "x@example.go.id"), "y@example.go.id" }},
		{"no-email", func() (string, string) { return ta.account(b, false, ""), "y@example.go.id" }},
		{"disabled", func() (string, string) {
			n := ta.account(b, true, "d@example.go.id")
			u, _ := ta.store.UserByNIP(context.Background(), n)
			ta.store.SetState(context.Background(), u.ID, storage.StateDisabled, time.Now())
			return n, "d@example.go.id"
		}},
	}
	got := samples{}
	for b.Loop() {
		for _, tc := range cases {
			b.StopTimer()
			nip, email := tc.setup()
			c := timingClient()
			csrf := ta.csrfOf(b, c)
			b.StartTimer()
			var total time.Duration
			for _, step := range []struct {
				path string
				form url.Values
				want int
			}{
				{"/login/reset", url.Values{"csrf": {csrf}, "nip": {nip}}, http.StatusSeeOther},
				{"/login/reset/email", url.Values{"csrf": {csrf}, "email": {email}}, http.StatusSeeOther},
				{"/login/reset/code", url.Values{"csrf": {csrf}, "code": {"00000000"}}, http.StatusUnauthorized},
			} {
				status, d := postTimed(b, c, ta.srv.URL+step.path, step.form)
				if status != step.want {
					b.Fatalf("%s: %s = %d, want %d", tc.name, step.path, status, step.want)
				}
				total += d
			}
			got[tc.name] = append(got[tc.name], total)
		}
	}
	got.report(b, 50*time.Millisecond)
}

// BenchmarkLogin_G5_UnknownVsKnown times the password step for an unknown
// NIP, a known one with a wrong or an empty password, and a provisioned
// account (no password yet) with an empty one: each must pay one argon2id
// hash, so their times overlap.
func BenchmarkLogin_G5_UnknownVsKnown(b *testing.B) {
	ta := newTimingApp(b)
	cases := []struct {
		name     string
		nip      func() string
		password string
	}{
		{"unknown", ta.nextNIP, "salah sekali"},
		{"known-wrong", func() string { return ta.account(b, true, "k@example.go.id") }, "salah sekali"},
		{"known-empty", func() string { return ta.account(b, true, "k@example.go.id") }, ""},
		{"provisioned-empty", func() string { return ta.account(b, false, "p@example.go.id") }, ""},
	}
	got := samples{}
	for b.Loop() {
		for _, tc := range cases {
			b.StopTimer()
			nip := tc.nip()
			c := timingClient()
			csrf := ta.csrfOf(b, c)
			browser := "browser-" + rand.Text()
			u, _ := url.Parse(ta.srv.URL)
			c.Jar.SetCookies(u, []*http.Cookie{{Name: cookie.Browser, Value: browser, Path: "/"}})
			now := time.Now()
			ar := &storage.AuthRequest{ID: "ar_" + rand.Text(), BrowserHash: ta.secrets.Hash(browser), ClientID: "timing",
				RedirectURI: rpRedirect, Scopes: []string{"openid"}, ResponseType: "code", CodeChallenge: newPKCE().challenge,
				CodeChallengeMethod: "S256", MaxAge: -1, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := ta.store.CreateAuthRequest(context.Background(), ar); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			status, d := postTimed(b, c, ta.srv.URL+"/login/", url.Values{"csrf": {csrf}, "id": {ar.ID}, "nip": {nip}, "password": {tc.password}})
			if status != http.StatusUnauthorized {
				b.Fatalf("%s: login = %d, want 401", tc.name, status)
			}
			got[tc.name] = append(got[tc.name], d)
		}
	}
	got.report(b, 50*time.Millisecond)
	// Without the dummy hash an unknown NIP answers in a fraction of the
	// time of a known one: far outside the band above, but say it plainly.
	med := func(name string) time.Duration {
		d := slices.Clone(got[name])
		slices.Sort(d)
		return d[len(d)/2]
	}
	if med("unknown") < med("known-wrong")/2 || med("provisioned-empty") < med("known-wrong")/2 {
		b.Errorf("medians: unknown %v, provisioned %v, known %v: the accounts without a hash do not pay one",
			med("unknown"), med("provisioned-empty"), med("known-wrong"))
	}
}
