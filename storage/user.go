package storage

import (
	"context"
	"time"
)

// UserState is where an account stands in its life cycle (docs/security.md).
// A temporary lockout is a timer on the user, not a state.
type UserState string

const (
	StateProvisioned UserState = "provisioned"  // imported, no password yet
	StatePasswordSet UserState = "password_set" // password, no authenticator
	StateActive      UserState = "active"       // password and authenticator
	StateDisabled    UserState = "disabled"     // switched off by an operator
)

// User is an employee account. ID is the stable opaque subject (a UUID); NIP
// can change and is never used as a key by relying parties.
type User struct {
	ID            string
	NIP           string
	Name          string
	Email         string
	EmailVerified bool
	Instansi      string
	UnitKerja     string
	Jabatan       string
	JenisPegawai  string
	State         UserState

	// PasswordHash is an argon2id PHC string, empty while provisioned.
	PasswordHash string
	// TOTPSecret is the sealed authenticator seed, nil when none is bound.
	TOTPSecret []byte
	// TOTPLastStep is the highest TOTP time step ever accepted (0 = none).
	TOTPLastStep int64

	// FailedPasswords and FailedTOTP count consecutive failures.
	FailedPasswords int
	FailedTOTP      int
	// LockedUntil delays the next password check (progressive delay).
	LockedUntil time.Time
	// PasswordLocked is set after the hard failure cap: only a reset by
	// email releases it.
	PasswordLocked bool
	// TOTPLocked is set after the TOTP failure cap: an operator or an email
	// reset releases it.
	TOTPLocked bool

	LastLoginAt time.Time
	// ActivatedAt is when an authenticator was first bound (zero: never).
	// A reset or a replacement of the authenticator leaves it as it is.
	ActivatedAt time.Time
	// RecoverySkippedAt is when the employee put off saving recovery
	// codes (zero: never); the offer can be put off once.
	RecoverySkippedAt time.Time
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// HasAuthenticator reports whether a TOTP seed is bound.
func (u *User) HasAuthenticator() bool { return len(u.TOTPSecret) > 0 }

// PasswordChange is what ChangePassword writes.
type PasswordChange struct {
	UserID string
	// CurrentHash is the hash the change was verified against.
	CurrentHash string
	NewHash     string
	// KeepSessionID is the session the change was made in; it stays.
	KeepSessionID string
}

// UserStore persists accounts.
type UserStore interface {
	// CreateUser inserts u; a taken ID or NIP is ErrAlreadyExists.
	CreateUser(ctx context.Context, u *User) error
	// UserByID and UserByNIP return ErrNotFound when there is no such user.
	UserByID(ctx context.Context, id string) (*User, error)
	UserByNIP(ctx context.Context, nip string) (*User, error)
	// UpdateProfile overwrites the personnel fields (name, email, instansi,
	// unit kerja, jabatan, jenis pegawai) of the user with u.ID; it never
	// touches credentials, counters or state.
	UpdateProfile(ctx context.Context, u *User, now time.Time) error
	// SetState changes the account state.
	SetState(ctx context.Context, userID string, state UserState, now time.Time) error

	// SetPassword stores a new password hash, moves a provisioned account to
	// password_set, clears the password failure count, the delay and the
	// password lock. It revokes nothing; see RevokeUserSessions.
	SetPassword(ctx context.Context, userID, passwordHash string, now time.Time) error
	// ChangePassword is an employee's change of password from a live
	// session, in one transaction: it stores c.NewHash as SetPassword does,
	// ends every other session and revokes every token not issued in
	// c.KeepSessionID as EndOtherSessions does, and forgets the factors
	// verified on the user's pending authorization requests (a login that
	// got past the old password starts again). It returns the IDs of the
	// sessions it ended. When the stored hash is no longer c.CurrentHash
	// (a reset or another change won) or c.KeepSessionID is not a live
	// session of the user, the result is ErrConflict and nothing changes;
	// an unknown user is ErrNotFound.
	ChangePassword(ctx context.Context, c PasswordChange, now time.Time) ([]string, error)

	// RecordPasswordFailure atomically adds one consecutive failure, sets
	// LockedUntil to lockedUntil (when non-zero) and PasswordLocked when
	// lock is true, and returns the new count. Concurrent calls each count.
	RecordPasswordFailure(ctx context.Context, userID string, lockedUntil time.Time, lock bool, now time.Time) (int, error)
	// ReleasePasswordFailure takes back the failure that RecordPasswordFailure
	// counted as count, for an attempt whose password was never compared
	// (the hasher was busy): when the account's count is still count and
	// its password is not locked, the count drops by one and LockedUntil
	// returns to lockedUntil, in one conditional update. It reports whether
	// it did; a count that another attempt moved since stays as it is, and
	// an unknown user is ErrNotFound.
	ReleasePasswordFailure(ctx context.Context, userID string, count int, lockedUntil time.Time, now time.Time) (bool, error)
	// RecordLogin clears the password failure count and delay and stamps
	// LastLoginAt.
	RecordLogin(ctx context.Context, userID string, now time.Time) error

	// BindTOTP stores a sealed seed and the step its confirmation code used,
	// moves the account to active, and stamps ActivatedAt with now when it
	// is still zero (the first binding activates). It fails with ErrConflict when a seed
	// is already bound (a bound seed changes only through ReplaceTOTP or
	// ResetTOTP).
	BindTOTP(ctx context.Context, userID string, sealedSecret []byte, step int64, now time.Time) error
	// AcceptTOTPStep is the replay guard: it stores step as the last
	// accepted one only if it is strictly greater than the stored one
	// (compare-and-set), and clears the TOTP failure count. A step at or
	// below the stored one is ErrConflict. Safe across processes.
	AcceptTOTPStep(ctx context.Context, userID string, step int64, now time.Time) error
	// RecordTOTPFailure atomically adds one consecutive TOTP failure, sets
	// TOTPLocked when lock is true, and returns the new count.
	RecordTOTPFailure(ctx context.Context, userID string, lock bool, now time.Time) (int, error)
	// ReplaceTOTP swaps the bound seed current for next in one conditional
	// write, stores step (the new seed's confirmation code) as the last
	// accepted step and clears the TOTP failure count. When current is not
	// the bound seed (none is bound, or it changed meanwhile) the result is
	// ErrConflict and nothing changes: the account always holds exactly one
	// of the two seeds, never none. The state, disabled included, stays.
	ReplaceTOTP(ctx context.Context, userID string, current, next []byte, step int64, now time.Time) error
	// ResetTOTP is an operator's reset of the second factor, in one
	// transaction: it removes the seed, the recovery codes and the last
	// step, clears the TOTP
	// lock and counter, moves an active account back to password_set, and
	// ends every session of the user and revokes every token as
	// EndUserSessions does. So no session that outlives the reset can
	// reach the enrolment of a new seed.
	ResetTOTP(ctx context.Context, userID string, now time.Time) error
	// Unlock clears every failure counter, delay and lock.
	Unlock(ctx context.Context, userID string, now time.Time) error
}
