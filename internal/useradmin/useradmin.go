// Package useradmin carries out an operator's actions on one employee
// account: show it, disable and enable it, release its locks, reset its
// authenticator, change its NIP. Each action that changes something is
// recorded in the audit log under the operator's name; resetting the
// authenticator also mails the employee, because it is the one action that
// lowers an account's protection without the employee's doing.
package useradmin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/asnidp/asnidp/internal/alert"
	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/i18n"
	"github.com/asnidp/asnidp/internal/mail"
	"github.com/asnidp/asnidp/internal/nip"
	"github.com/asnidp/asnidp/storage"
)

// Store is the storage the actions use.
type Store interface {
	UserByNIP(ctx context.Context, nip string) (*storage.User, error)
	Unlock(ctx context.Context, userID string, now time.Time) error
	ResetTOTP(ctx context.Context, userID string, now time.Time) error
	DisableUser(ctx context.Context, userID string, now time.Time) error
	EnableUser(ctx context.Context, userID string, now time.Time) (storage.UserState, error)
	ChangeNIP(ctx context.Context, userID, newNIP string, now time.Time) error
}

// Auditor records security events (internal/audit.Recorder).
type Auditor interface {
	Record(ctx context.Context, e storage.AuditEvent)
}

// Admin performs the actions.
type Admin struct {
	Store Store
	// Audit records every change under Actor (audit.Operator(name)).
	Audit Auditor
	Actor string
	// Mail and Mails send the notice of an authenticator reset, in the
	// language of Lang.
	Mail  mail.Sender
	Mails *mail.Renderer
	Lang  *i18n.Localizer
	// Links, when set, puts a "Bukan saya?" link in the reset notice.
	Links *alert.Links
	Now   func() time.Time
	// Why, when set, is the reason the operator gave for the action (the
	// console asks for one); it is recorded in the Detail of each row.
	Why string
}

// Errors an operator can act on.
var (
	ErrNoUser          = errors.New("no account has this NIP")
	ErrNotDisabled     = errors.New("the account is not disabled")
	ErrNoAuthenticator = errors.New("the account has no authenticator bound")
	ErrSameNIP         = errors.New("the new NIP is the current one")
	ErrNIPTaken        = errors.New("another account has the new NIP")
)

// User finds the account of a NIP in any of its spellings.
func (a *Admin) User(ctx context.Context, rawNIP string) (*storage.User, error) {
	return Lookup(ctx, a.Store, rawNIP)
}

// UserFinder finds accounts by canonical NIP.
type UserFinder interface {
	UserByNIP(ctx context.Context, nip string) (*storage.User, error)
}

// Lookup finds the account of a NIP in any of its spellings: a malformed
// NIP says what is wrong with it, an unknown one is ErrNoUser.
func Lookup(ctx context.Context, s UserFinder, rawNIP string) (*storage.User, error) {
	canonical, err := nip.Normalize(rawNIP)
	if err != nil {
		return nil, fmt.Errorf("NIP: %w", err)
	}
	u, err := s.UserByNIP(ctx, canonical)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNoUser, canonical)
	}
	if err != nil {
		return nil, fmt.Errorf("load account: %w", err)
	}
	return u, nil
}

func (a *Admin) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Admin) record(ctx context.Context, typ string, u *storage.User, reason, detail string) {
	if a.Audit == nil {
		return
	}
	if a.Why != "" {
		detail = strings.TrimSpace(detail + fmt.Sprintf(" reason=%q", a.Why))
	}
	a.Audit.Record(ctx, storage.AuditEvent{
		Type: typ, Outcome: audit.Success, NIP: u.NIP, UserID: u.ID,
		Actor: a.Actor, Reason: reason, Detail: detail,
	})
}

// Disable switches the account off and, in the same transaction, ends
// every session and revokes every token it holds (E4): the next request
// of any of them is refused. Disabling a disabled account revokes again;
// wasDisabled tells.
func (a *Admin) Disable(ctx context.Context, rawNIP string) (u *storage.User, wasDisabled bool, err error) {
	if u, err = a.User(ctx, rawNIP); err != nil {
		return nil, false, err
	}
	if err := a.Store.DisableUser(ctx, u.ID, a.now()); err != nil {
		return nil, false, fmt.Errorf("disable account: %w", err)
	}
	a.record(ctx, audit.UserDisabled, u, "operator", "previous_state="+string(u.State))
	return u, u.State == storage.StateDisabled, nil
}

// Enable returns a disabled account to the state its credentials give.
func (a *Admin) Enable(ctx context.Context, rawNIP string) (*storage.User, storage.UserState, error) {
	u, err := a.User(ctx, rawNIP)
	if err != nil {
		return nil, "", err
	}
	state, err := a.Store.EnableUser(ctx, u.ID, a.now())
	if errors.Is(err, storage.ErrConflict) {
		return nil, "", fmt.Errorf("%w (state %s)", ErrNotDisabled, u.State)
	}
	if err != nil {
		return nil, "", fmt.Errorf("enable account: %w", err)
	}
	a.record(ctx, audit.UserEnabled, u, "operator", "state="+string(state))
	return u, state, nil
}

// Unlock clears every failure count, the password delay and both locks.
func (a *Admin) Unlock(ctx context.Context, rawNIP string) (*storage.User, error) {
	u, err := a.User(ctx, rawNIP)
	if err != nil {
		return nil, err
	}
	if err := a.Store.Unlock(ctx, u.ID, a.now()); err != nil {
		return nil, fmt.Errorf("unlock account: %w", err)
	}
	a.record(ctx, audit.UserUnlocked, u, "operator", fmt.Sprintf("password_locked=%t totp_locked=%t failed_passwords=%d failed_totp=%d",
		u.PasswordLocked, u.TOTPLocked, u.FailedPasswords, u.FailedTOTP))
	return u, nil
}

// ResetMFA is the path for a lost phone: it unbinds the authenticator
// (the account goes back to password_set and enrols again at its next
// login), ends every session, revokes every token, and mails the
// employee. The reset stands even when the mail cannot be sent; mailErr
// reports that, so the operator can tell the employee another way.
func (a *Admin) ResetMFA(ctx context.Context, rawNIP string) (u *storage.User, mailErr, err error) {
	if u, err = a.User(ctx, rawNIP); err != nil {
		return nil, nil, err
	}
	if !u.HasAuthenticator() {
		return nil, nil, ErrNoAuthenticator
	}
	// One transaction unbinds the seed, ends every session (relying
	// parties with back-channel logout are told) and revokes every token:
	// no session survives to enrol a phone of its own.
	if err := a.Store.ResetTOTP(ctx, u.ID, a.now()); err != nil {
		return nil, nil, fmt.Errorf("reset authenticator: %w", err)
	}
	a.record(ctx, audit.MFAReset, u, "operator", "")
	return u, a.notify(ctx, u, "mfa_reset"), nil
}

// notify mails u the named notice.
func (a *Admin) notify(ctx context.Context, u *storage.User, name string) error {
	if a.Mail == nil || a.Mails == nil || a.Lang == nil {
		return errors.New("mail is not configured")
	}
	d := mail.Data{Name: u.Name, NIP: u.NIP, Fields: map[string]string{}}
	if a.Links != nil {
		link, err := a.Links.New(ctx, u, name)
		if err != nil {
			return err
		}
		d.Fields["not_me_url"] = link
	}
	m, err := a.Mails.Render(u.Email, a.Lang, name, d)
	if err != nil {
		return fmt.Errorf("render mail: %w", err)
	}
	if err := a.Mail.Send(ctx, m); err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	return nil
}

// ChangeNIP gives the account a new NIP, as when a PPPK is appointed PNS.
// The sub stays, so relying parties keep their link to the person;
// sessions and tokens stay too, and the nip claim carries the new value
// from the next token on.
func (a *Admin) ChangeNIP(ctx context.Context, rawOld, rawNew string) (*storage.User, error) {
	u, err := a.User(ctx, rawOld)
	if err != nil {
		return nil, err
	}
	newNIP, err := nip.Normalize(rawNew)
	if err != nil {
		return nil, fmt.Errorf("new NIP: %w", err)
	}
	if newNIP == u.NIP {
		return nil, ErrSameNIP
	}
	err = a.Store.ChangeNIP(ctx, u.ID, newNIP, a.now())
	if errors.Is(err, storage.ErrAlreadyExists) {
		return nil, fmt.Errorf("%w: %s", ErrNIPTaken, newNIP)
	}
	if err != nil {
		return nil, fmt.Errorf("change NIP: %w", err)
	}
	old := u.NIP
	u.NIP = newNIP
	a.record(ctx, audit.UserNIPChanged, u, "operator", "old_nip="+old)
	return u, nil
}

// WriteUser prints what an operator needs to help an employee; now tells
// whether the password delay is still running. No credential is printed,
// only whether one exists.
func WriteUser(w io.Writer, u *storage.User, now time.Time) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	yesNo := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	when := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format(time.RFC3339)
	}
	delay := "no"
	if now.Before(u.LockedUntil) {
		delay = "until " + u.LockedUntil.UTC().Format(time.RFC3339)
	}
	rows := [][2]string{
		{"NIP", u.NIP},
		{"sub", u.ID},
		{"state", string(u.State)},
		{"name", u.Name},
		{"email", u.Email + map[bool]string{true: " (verified)", false: ""}[u.EmailVerified]},
		{"instansi", u.Instansi},
		{"unit kerja", u.UnitKerja},
		{"jabatan", u.Jabatan},
		{"jenis pegawai", u.JenisPegawai},
		{"password set", yesNo(u.PasswordHash != "")},
		{"authenticator bound", yesNo(u.HasAuthenticator())},
		{"locked until", delay},
		{"password locked", yesNo(u.PasswordLocked) + " (released by a password reset or unlock)"},
		{"authenticator locked", yesNo(u.TOTPLocked) + " (released by a password reset, unlock or reset-mfa)"},
		{"failed passwords", fmt.Sprint(u.FailedPasswords)},
		{"failed codes", fmt.Sprint(u.FailedTOTP)},
		{"last login", when(u.LastLoginAt)},
		{"created", when(u.CreatedAt)},
		{"updated", when(u.UpdatedAt)},
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}
