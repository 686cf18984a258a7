package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"
)

// pendingLifetime bounds a sign-in from /login to /callback.
const pendingLifetime = 10 * time.Minute

// app is one relying party: its pages, its OIDC client and its sessions.
//
// The flow: / without a session tries a silent sign-in (prompt=none), so a
// browser that is signed in to asnidp through another service gets in
// without any page; when asnidp answers login_required, /masuk offers the
// "Masuk" button, which starts an interactive sign-in. /login stores state,
// nonce and the PKCE verifier in an encrypted cookie and sends the browser
// to asnidp; /callback checks state, redeems the code with the verifier,
// verifies the ID token (signature, iss, aud, exp, nonce, acr) and loads
// userinfo. rp's own handlers keep state and verifier in cookies named
// "state" and "pkce", which two apps on one host would overwrite for each
// other (cookies ignore ports), so each app names its own.
type app struct {
	cfg        AppConfig
	issuer     string
	requireACR string
	scopes     []string
	log        *slog.Logger
	now        func() time.Time
	httpClient *http.Client

	// sessionCookies hold the session ID for the browser's session;
	// pendingCookies hold a sign-in in progress for pendingLifetime.
	sessionCookies *httphelper.CookieHandler
	pendingCookies *httphelper.CookieHandler
	sessions       *sessions
	history        map[string][]Job
	pages          *pages
	mux            *http.ServeMux

	mu     sync.Mutex
	rp     rp.RelyingParty // discovered on first use, so the OP may start later
	logout *logoutVerifier
}

func newApp(cfg Config, ac AppConfig, log *slog.Logger, now func() time.Time) (*app, error) {
	pg, err := newPages(ac, cfg.Issuer)
	if err != nil {
		return nil, err
	}
	a := &app{
		cfg:        ac,
		issuer:     cfg.Issuer,
		requireACR: cfg.RequireACR,
		log:        log,
		now:        now,
		httpClient: &http.Client{Timeout: 10 * time.Second},
		sessions:   newSessions(),
		pages:      pg,
	}
	switch ac.Kind {
	case kindProfil:
		a.scopes = []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, "asn"}
	case kindRiwayat:
		a.scopes = []string{oidc.ScopeOpenID, oidc.ScopeProfile, "asn"}
		if a.history, err = loadHistory(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown app kind %q", ac.Kind)
	}
	hashKey, blockKey := cfg.cookieKeys(ac.ID)
	opts := []httphelper.CookieHandlerOpt{httphelper.WithSameSite(http.SameSiteLaxMode)}
	if strings.HasPrefix(ac.URL, "http://") {
		opts = append(opts, httphelper.WithUnsecure())
	}
	a.sessionCookies = httphelper.NewCookieHandler(hashKey, blockKey, opts...)
	a.pendingCookies = httphelper.NewCookieHandler(hashKey, blockKey, append(opts, httphelper.WithMaxAge(int(pendingLifetime/time.Second)))...)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /masuk", a.landing)
	mux.HandleFunc("GET /login", a.login)
	mux.HandleFunc("GET /callback", a.callback)
	mux.HandleFunc("POST /logout", a.logoutHandler)
	mux.HandleFunc("POST /backchannel-logout", a.backchannelLogout)
	mux.HandleFunc("GET /static/demo.css", serveCSS)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.renderError(w, http.StatusNotFound, "Halaman tidak ditemukan.")
	})
	a.mux = mux
	return a, nil
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// No script anywhere; forms post only to this app, and the logout
	// form's redirect goes on to the OP's end_session.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' "+a.issuer+"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	a.mux.ServeHTTP(w, r)
}

func (a *app) sessionCookie() string { return a.cfg.ID + "_session" }
func (a *app) pendingCookie() string { return a.cfg.ID + "_signin" }

// relyingParty discovers the OP on first use and keeps the client.
func (a *app) relyingParty(ctx context.Context) (rp.RelyingParty, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rp != nil {
		return a.rp, nil
	}
	verify := []rp.VerifierOption{
		rp.WithNonce(nonceFrom),
		rp.WithSupportedSigningAlgorithms("RS256"),
	}
	if a.requireACR != "" {
		verify = append(verify, rp.WithACRVerifier(oidc.DefaultACRVerifier([]string{a.requireACR})))
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	party, err := rp.NewRelyingPartyOIDC(ctx, a.issuer, a.cfg.ID, a.cfg.Secret, a.cfg.RedirectURI(), a.scopes,
		rp.WithHTTPClient(a.httpClient),
		rp.WithLogger(a.log),
		rp.WithVerifierOpts(verify...),
	)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", a.issuer, err)
	}
	a.rp = party
	a.logout = newLogoutVerifier(a.issuer, a.cfg.ID, party.IDTokenVerifier().KeySet)
	return party, nil
}

// logoutVerifier shares the relying party's JWKS cache; discovery runs
// first if no sign-in has yet.
func (a *app) logoutVerifier(ctx context.Context) (*logoutVerifier, error) {
	a.mu.Lock()
	v := a.logout
	a.mu.Unlock()
	if v != nil {
		return v, nil
	}
	if _, err := a.relyingParty(ctx); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.logout, nil
}

type nonceKey struct{}

// nonceFrom gives the ID token verifier the nonce of the sign-in being
// completed.
func nonceFrom(ctx context.Context) string {
	n, _ := ctx.Value(nonceKey{}).(string)
	return n
}

// currentSession returns the browser's live session, or nil.
func (a *app) currentSession(r *http.Request) *session {
	id, err := a.sessionCookies.CheckCookie(r, a.sessionCookie())
	if err != nil {
		return nil
	}
	return a.sessions.get(id, a.now())
}

// home shows the app to a signed-in employee; anyone else is signed in
// silently if asnidp already knows them.
func (a *app) home(w http.ResponseWriter, r *http.Request) {
	s := a.currentSession(r)
	if s == nil {
		http.Redirect(w, r, "/login?silent=1", http.StatusSeeOther)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	data := pageData{Session: s, Profile: s.profile}
	if a.cfg.Kind == kindRiwayat {
		data.History = a.history[s.profile.NIP]
	}
	a.pages.render(w, http.StatusOK, a.cfg.Kind, data)
}

// landing offers the sign-in button.
func (a *app) landing(w http.ResponseWriter, r *http.Request) {
	if a.currentSession(r) != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	a.pages.render(w, http.StatusOK, "masuk", pageData{})
}

// pending is a sign-in between /login and /callback.
type pending struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Silent   bool   `json:"q,omitempty"`
}

// login starts a sign-in: silent (prompt=none) when ?silent=1.
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	party, err := a.relyingParty(r.Context())
	if err != nil {
		a.log.ErrorContext(r.Context(), "sign-in unavailable", "err", err)
		a.renderError(w, http.StatusServiceUnavailable, "Layanan masuk ASN Digital belum dapat dihubungi. Coba lagi sebentar lagi.")
		return
	}
	p := pending{State: rand.Text(), Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier(), Silent: r.URL.Query().Get("silent") == "1"}
	b, _ := json.Marshal(p)
	if err := a.pendingCookies.SetCookie(w, a.pendingCookie(), string(b)); err != nil {
		a.log.ErrorContext(r.Context(), "store sign-in cookie", "err", err)
		a.renderError(w, http.StatusInternalServerError, "Gagal memulai proses masuk.")
		return
	}
	opts := []rp.AuthURLOpt{
		rp.WithCodeChallenge(oidc.NewSHACodeChallenge(p.Verifier)),
		rp.AuthURLOpt(rp.WithURLParam("nonce", p.Nonce)),
	}
	if p.Silent {
		opts = append(opts, rp.WithPrompt(oidc.PromptNone))
	}
	http.Redirect(w, r, rp.AuthURL(p.State, party, opts...), http.StatusSeeOther)
}

// callback completes a sign-in.
func (a *app) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	raw, err := a.pendingCookies.CheckCookie(r, a.pendingCookie())
	a.pendingCookies.DeleteCookie(w, a.pendingCookie())
	var p pending
	if err == nil {
		err = json.Unmarshal([]byte(raw), &p)
	}
	q := r.URL.Query()
	if err != nil || p.State == "" || subtle.ConstantTimeCompare([]byte(p.State), []byte(q.Get("state"))) != 1 {
		a.log.WarnContext(ctx, "callback without a matching sign-in", "cookie_err", err)
		a.renderError(w, http.StatusBadRequest, "Permintaan masuk tidak dikenali atau sudah kedaluwarsa. Silakan masuk lagi.")
		return
	}
	if e := q.Get("error"); e != "" {
		if p.Silent {
			// Not signed in to asnidp (login_required) or the like: offer
			// the interactive sign-in. This is how every visit without a
			// session goes, so it is no warning.
			a.log.DebugContext(ctx, "silent sign-in declined by the provider", "error", e)
			http.Redirect(w, r, "/masuk", http.StatusSeeOther)
			return
		}
		a.log.WarnContext(ctx, "sign-in refused by the provider", "error", e, "description", q.Get("error_description"))
		a.renderError(w, http.StatusBadRequest, "Proses masuk tidak berhasil ("+e+"). Silakan coba lagi.")
		return
	}
	party, err := a.relyingParty(ctx)
	if err != nil {
		a.log.ErrorContext(ctx, "sign-in unavailable", "err", err)
		a.renderError(w, http.StatusServiceUnavailable, "Layanan masuk ASN Digital belum dapat dihubungi. Coba lagi sebentar lagi.")
		return
	}
	s, err := a.complete(context.WithValue(ctx, nonceKey{}, p.Nonce), party, q.Get("code"), p.Verifier)
	if err != nil {
		a.log.ErrorContext(ctx, "complete sign-in", "err", err)
		a.renderError(w, http.StatusBadGateway, "Proses masuk tidak dapat diselesaikan. Silakan coba lagi.")
		return
	}
	id := a.sessions.add(s, a.now())
	if err := a.sessionCookies.SetCookie(w, a.sessionCookie(), id); err != nil {
		a.sessions.remove(id)
		a.log.ErrorContext(ctx, "store session cookie", "err", err)
		a.renderError(w, http.StatusInternalServerError, "Gagal menyimpan sesi.")
		return
	}
	a.log.InfoContext(ctx, "signed in", "sub", s.sub, "sid", s.sid)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// complete redeems the code, verifies the ID token and reads userinfo.
func (a *app) complete(ctx context.Context, party rp.RelyingParty, code, verifier string) (*session, error) {
	if code == "" {
		return nil, errors.New("no code in the authorization response")
	}
	tokens, err := rp.CodeExchange[*oidc.IDTokenClaims](ctx, code, party, rp.WithCodeVerifier(verifier))
	if err != nil {
		return nil, fmt.Errorf("redeem code: %w", err)
	}
	claims := tokens.IDTokenClaims
	info, err := rp.Userinfo[*oidc.UserInfo](ctx, tokens.AccessToken, oidc.BearerToken, claims.Subject, party)
	if err != nil {
		return nil, fmt.Errorf("load userinfo: %w", err)
	}
	sid, _ := claims.Claims["sid"].(string)
	str := func(k string) string { v, _ := info.Claims[k].(string); return v }
	return &session{
		sub:     claims.Subject,
		sid:     sid,
		idToken: tokens.IDToken,
		profile: Profile{
			Name:         info.Name,
			NIP:          str("nip"),
			Email:        info.Email,
			JenisPegawai: str("jenis_pegawai"),
			Instansi:     str("instansi"),
			UnitKerja:    str("unit_kerja"),
			Jabatan:      str("jabatan"),
			AuthTime:     claims.AuthTime.AsTime(),
			AMR:          claims.AuthenticationMethodsReferences,
			ACR:          claims.AuthenticationContextClassReference,
		},
	}, nil
}

// logoutHandler is "Keluar": it ends the local session and sends the
// browser to the OP's end_session with the ID token as hint, which ends
// the SSO session and comes back to this app's registered post-logout URI.
func (a *app) logoutHandler(w http.ResponseWriter, r *http.Request) {
	s := a.currentSession(r)
	if s == nil {
		http.Redirect(w, r, "/masuk", http.StatusSeeOther)
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.csrf)) != 1 {
		a.renderError(w, http.StatusForbidden, "Permintaan keluar tidak sah. Muat ulang halaman lalu coba lagi.")
		return
	}
	a.sessions.remove(s.id)
	a.sessionCookies.DeleteCookie(w, a.sessionCookie())
	party, err := a.relyingParty(r.Context())
	if err != nil || party.GetEndSessionEndpoint() == "" {
		a.log.ErrorContext(r.Context(), "end_session unavailable", "err", err)
		http.Redirect(w, r, "/masuk", http.StatusSeeOther)
		return
	}
	u, err := url.Parse(party.GetEndSessionEndpoint())
	if err != nil {
		a.renderError(w, http.StatusBadGateway, "Alamat keluar layanan ASN Digital tidak valid.")
		return
	}
	q := u.Query()
	q.Set("id_token_hint", s.idToken)
	q.Set("client_id", a.cfg.ID)
	q.Set("post_logout_redirect_uri", a.cfg.PostLogoutURI())
	u.RawQuery = q.Encode()
	a.log.InfoContext(r.Context(), "signed out", "sub", s.sub, "sid", s.sid)
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

func (a *app) renderError(w http.ResponseWriter, status int, msg string) {
	a.pages.render(w, status, "error", pageData{Message: msg})
}
