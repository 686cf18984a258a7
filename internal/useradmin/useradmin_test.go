package useradmin

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/i18n"
	"github.com/asnidp/asnidp/internal/mail"
	"github.com/asnidp/asnidp/storage"
	"github.com/asnidp/asnidp/storage/sqlstore"
	"github.com/asnidp/asnidp/templates"
)

var t0 = time.Date(2025, time.June, 2, 8, 0, 0, 0, time.UTC)

const (
	nipSiti = "198609262015051001"
	nipBudi = "199001012022212002"
)

type fixture struct {
	store *sqlstore.Store
	admin *Admin
	mails *bytes.Buffer
}

// newFixture is an admin on a fresh SQLite file with Siti (active, a
// session and tokens) and Budi (provisioned).
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	s, err := sqlstore.Open(ctx, sqlstore.Options{Driver: sqlstore.DriverSQLite, DSN: filepath.Join(t.TempDir(), "asnidp.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	catalog, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	renderer, err := mail.NewRenderer(templates.FS, "ASN Digital", "https://sso.example.go.id")
	if err != nil {
		t.Fatal(err)
	}
	mails := &bytes.Buffer{}
	f := &fixture{store: s, mails: mails, admin: &Admin{
		Store: s,
		Audit: audit.New(s, slog.New(slog.DiscardHandler), func() time.Time { return t0 }),
		Actor: audit.Operator("budi.admin"),
		Mail:  mail.LogSender{Log: slog.New(slog.NewTextHandler(mails, nil))},
		Mails: renderer,
		Lang:  catalog.Localizer(),
		Now:   func() time.Time { return t0 },
	}}
	must(t, s.CreateUser(ctx, &storage.User{
		ID: "sub-siti", NIP: nipSiti, Name: "Siti Aminah", Email: "siti@example.go.id", State: storage.StateActive,
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", TOTPSecret: []byte("sealed"), TOTPLastStep: 99,
		FailedPasswords: 7, FailedTOTP: 100, TOTPLocked: true, PasswordLocked: true, LockedUntil: t0.Add(time.Hour),
		CreatedAt: t0, UpdatedAt: t0,
	}))
	must(t, s.CreateUser(ctx, &storage.User{ID: "sub-budi", NIP: nipBudi, Name: "Budi", Email: "budi@example.go.id",
		State: storage.StateProvisioned, CreatedAt: t0, UpdatedAt: t0}))
	must(t, s.CreateClient(ctx, &storage.Client{ID: "rp"}))
	must(t, s.CreateSession(ctx, &storage.Session{ID: "sess", TokenHash: "cookie", UserID: "sub-siti", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}))
	must(t, s.CreateAccessToken(ctx, &storage.AccessToken{ID: "at", ClientID: "rp", UserID: "sub-siti", SessionID: "sess", ExpiresAt: t0.Add(time.Hour)}))
	must(t, s.CreateRefreshToken(ctx, &storage.RefreshToken{ID: "rt", TokenHash: "rt-hash", FamilyID: "f", ClientID: "rp",
		UserID: "sub-siti", Scopes: []string{"openid", "offline_access"}, ExpiresAt: t0.Add(time.Hour)}))
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
}

func (f *fixture) user(t *testing.T, nip string) *storage.User {
	t.Helper()
	u, err := f.store.UserByNIP(context.Background(), nip)
	if err != nil {
		t.Fatalf("UserByNIP(%s) = %v", nip, err)
	}
	return u
}

// allRevoked reports whether Siti's session, access and refresh token are
// all revoked.
func (f *fixture) allRevoked(t *testing.T) bool {
	t.Helper()
	ctx := t.Context()
	sess, err1 := f.store.SessionByID(ctx, "sess")
	at, err2 := f.store.AccessTokenByID(ctx, "at")
	rt, err3 := f.store.RefreshTokenByHash(ctx, "rt-hash")
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	return !sess.RevokedAt.IsZero() && !at.RevokedAt.IsZero() && !rt.RevokedAt.IsZero()
}

// events returns the audit events of one type.
func (f *fixture) events(t *testing.T, typ string) []*storage.AuditEvent {
	t.Helper()
	list, err := f.store.AuditEvents(t.Context(), storage.AuditFilter{Type: typ})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func wantOneEvent(t *testing.T, f *fixture, typ, nip, sub string) *storage.AuditEvent {
	t.Helper()
	list := f.events(t, typ)
	if len(list) != 1 || list[0].NIP != nip || list[0].UserID != sub || list[0].Actor != "operator:budi.admin" || list[0].Outcome != "success" {
		t.Fatalf("audit events %s = %+v, want one for %s/%s by operator:budi.admin", typ, list, nip, sub)
	}
	return list[0]
}

// E4: a disabled account loses every session and token at once.
func TestDisable_E4(t *testing.T) {
	f := newFixture(t)
	u, was, err := f.admin.Disable(t.Context(), "19860926 201505 1 001")
	if err != nil || was || u.ID != "sub-siti" {
		t.Fatalf("Disable = %v, %v, %v; want Siti, not disabled before", u, was, err)
	}
	if st := f.user(t, nipSiti).State; st != storage.StateDisabled {
		t.Errorf("state = %q, want disabled", st)
	}
	if !f.allRevoked(t) {
		t.Error("session and tokens not all revoked by Disable")
	}
	if e := wantOneEvent(t, f, audit.UserDisabled, nipSiti, "sub-siti"); e.Detail != "previous_state=active" {
		t.Errorf("disable event detail = %q", e.Detail)
	}
	if _, was, err := f.admin.Disable(t.Context(), nipSiti); err != nil || !was {
		t.Errorf("second Disable = %v, %v; want it to say the account was disabled already", was, err)
	}
}

func TestEnable(t *testing.T) {
	f := newFixture(t)
	if _, _, err := f.admin.Enable(t.Context(), nipSiti); !errors.Is(err, ErrNotDisabled) {
		t.Errorf("Enable of an active account = %v, want ErrNotDisabled", err)
	}
	if _, _, err := f.admin.Disable(t.Context(), nipSiti); err != nil {
		t.Fatal(err)
	}
	_, state, err := f.admin.Enable(t.Context(), nipSiti)
	if err != nil || state != storage.StateActive {
		t.Errorf("Enable = %q, %v; want active (password and authenticator kept)", state, err)
	}
	if st := f.user(t, nipSiti).State; st != storage.StateActive {
		t.Errorf("stored state = %q, want active", st)
	}
	if e := wantOneEvent(t, f, audit.UserEnabled, nipSiti, "sub-siti"); e.Detail != "state=active" {
		t.Errorf("enable event detail = %q", e.Detail)
	}
}

func TestUnlock(t *testing.T) {
	f := newFixture(t)
	if _, err := f.admin.Unlock(t.Context(), nipSiti); err != nil {
		t.Fatal(err)
	}
	u := f.user(t, nipSiti)
	if u.PasswordLocked || u.TOTPLocked || u.FailedPasswords != 0 || u.FailedTOTP != 0 || !u.LockedUntil.IsZero() {
		t.Errorf("after Unlock: password locked %v, totp locked %v, failures %d/%d, locked until %v; want all clear",
			u.PasswordLocked, u.TOTPLocked, u.FailedPasswords, u.FailedTOTP, u.LockedUntil)
	}
	if !u.HasAuthenticator() || u.State != storage.StateActive {
		t.Error("Unlock touched the authenticator or the state")
	}
	e := wantOneEvent(t, f, audit.UserUnlocked, nipSiti, "sub-siti")
	if e.Detail != "password_locked=true totp_locked=true failed_passwords=7 failed_totp=100" {
		t.Errorf("unlock event detail = %q", e.Detail)
	}
}

func TestResetMFA(t *testing.T) {
	f := newFixture(t)
	u, mailErr, err := f.admin.ResetMFA(t.Context(), nipSiti)
	if err != nil || mailErr != nil || u.ID != "sub-siti" {
		t.Fatalf("ResetMFA = %v, mail %v, %v", u, mailErr, err)
	}
	got := f.user(t, nipSiti)
	if got.HasAuthenticator() || got.TOTPLastStep != 0 || got.TOTPLocked || got.State != storage.StatePasswordSet {
		t.Errorf("after ResetMFA: authenticator %v, last step %d, locked %v, state %q; want none, 0, false, password_set",
			got.HasAuthenticator(), got.TOTPLastStep, got.TOTPLocked, got.State)
	}
	if got.PasswordHash == "" {
		t.Error("ResetMFA removed the password")
	}
	if !f.allRevoked(t) {
		t.Error("session and tokens not all revoked by ResetMFA")
	}
	wantOneEvent(t, f, audit.MFAReset, nipSiti, "sub-siti")
	sent := f.mails.String()
	for _, want := range []string{"to=siti@example.go.id", "Authenticator akun ASN Digital Anda telah dilepas oleh admin", "Yth. Siti Aminah,"} {
		if !strings.Contains(sent, want) {
			t.Errorf("mail lacks %q:\n%s", want, sent)
		}
	}

	if _, _, err := f.admin.ResetMFA(t.Context(), nipBudi); !errors.Is(err, ErrNoAuthenticator) {
		t.Errorf("ResetMFA without an authenticator = %v, want ErrNoAuthenticator", err)
	}
}

// The reset stands when the mail cannot go out; the operator is told.
func TestResetMFA_MailFailure(t *testing.T) {
	f := newFixture(t)
	f.admin.Mails = nil
	_, mailErr, err := f.admin.ResetMFA(t.Context(), nipSiti)
	if err != nil || mailErr == nil {
		t.Fatalf("ResetMFA without mail = mail %v, %v; want the reset done and a mail error", mailErr, err)
	}
	if f.user(t, nipSiti).HasAuthenticator() {
		t.Error("authenticator still bound")
	}
}

func TestChangeNIP(t *testing.T) {
	f := newFixture(t)
	const newNIP = "198609262024211001" // appointed PNS: a new number
	u, err := f.admin.ChangeNIP(t.Context(), nipSiti, "1986-0926-2024-21-1-001")
	if err != nil || u.NIP != newNIP {
		t.Fatalf("ChangeNIP = %v, %v", u, err)
	}
	got := f.user(t, newNIP)
	if got.ID != "sub-siti" || !got.HasAuthenticator() || got.PasswordHash == "" {
		t.Errorf("after ChangeNIP: sub %q, authenticator %v, password %v; want the same account", got.ID, got.HasAuthenticator(), got.PasswordHash != "")
	}
	if f.allRevoked(t) {
		t.Error("ChangeNIP revoked the session or tokens; the sub is unchanged, so they stay")
	}
	if e := wantOneEvent(t, f, audit.UserNIPChanged, newNIP, "sub-siti"); e.Detail != "old_nip="+nipSiti {
		t.Errorf("change-nip event detail = %q", e.Detail)
	}

	tests := []struct {
		name     string
		old, new string
		want     error
	}{
		{"unknown old", nipSiti, "199505052022212003", ErrNoUser},
		{"same", newNIP, newNIP, ErrSameNIP},
		{"taken", newNIP, nipBudi, ErrNIPTaken},
	}
	for _, tc := range tests {
		if _, err := f.admin.ChangeNIP(t.Context(), tc.old, tc.new); !errors.Is(err, tc.want) {
			t.Errorf("%s: ChangeNIP(%s, %s) = %v, want %v", tc.name, tc.old, tc.new, err, tc.want)
		}
	}
	if _, err := f.admin.ChangeNIP(t.Context(), newNIP, "12345"); err == nil || !strings.Contains(err.Error(), "new NIP: the NIP must have exactly 18 digits") {
		t.Errorf("ChangeNIP to a malformed NIP = %v", err)
	}
}

func TestUser_Unknown(t *testing.T) {
	f := newFixture(t)
	if _, err := f.admin.User(t.Context(), "199505052022212003"); !errors.Is(err, ErrNoUser) {
		t.Errorf("User(unknown) = %v, want ErrNoUser", err)
	}
	if _, err := f.admin.User(t.Context(), "1986%"); err == nil || errors.Is(err, ErrNoUser) {
		t.Errorf("User(malformed) = %v, want a NIP error", err)
	}
}

func TestWriteUser(t *testing.T) {
	f := newFixture(t)
	var b bytes.Buffer
	if err := WriteUser(&b, f.user(t, nipSiti), t0); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"NIP:                   " + nipSiti,
		"sub:                   sub-siti",
		"state:                 active",
		"authenticator bound:   yes",
		"locked until:          until 2025-06-02T09:00:00Z",
		"password locked:       yes",
		"last login:            never",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("user show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "argon2") || strings.Contains(out, "sealed") {
		t.Errorf("user show prints a credential:\n%s", out)
	}
}
