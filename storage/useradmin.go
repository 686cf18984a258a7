package storage

import (
	"context"
	"time"
)

// UserFilter selects users. Zero fields do not filter.
type UserFilter struct {
	// Instansi matches the agency exactly.
	Instansi string
	// States keeps users in any of these states.
	States []UserState
}

// Grouping is how CountUsers groups its counts.
type Grouping string

const (
	GroupNone      Grouping = ""
	GroupInstansi  Grouping = "instansi"
	GroupUnitKerja Grouping = "unit_kerja" // per agency and work unit: unit names repeat across agencies
)

// StateCount is how many users of one group are in one state.
type StateCount struct {
	// Instansi is set when grouped by instansi or unit kerja, UnitKerja
	// when grouped by unit kerja.
	Instansi  string
	UnitKerja string
	State     UserState
	Count     int
}

// UserAdminStore is what operators need beyond UserStore: bulk
// provisioning, listing and counting, and the account actions that must
// be atomic.
type UserAdminStore interface {
	// UpsertUserProfiles writes a batch in one transaction. A user whose
	// NIP is new is inserted as given (ID, personnel fields, state) with
	// CreatedAt and UpdatedAt now. For a NIP that exists, the personnel
	// fields (name, email, instansi, unit kerja, jabatan, jenis pegawai)
	// are overwritten when any of them differs, UpdatedAt becomes now, and
	// a changed email is no longer verified; the ID, state, credentials and
	// counters stay. A row that differs in nothing is not written at all.
	// Two concurrent batches naming the same new NIP both succeed and the
	// NIP ends up with one user. The NIPs of one batch must be distinct.
	// events, the audit rows describing the batch, are appended in the
	// same transaction (as AppendAudit would), so every committed change
	// has its row and a refused batch leaves none.
	UpsertUserProfiles(ctx context.Context, users []*User, events []*AuditEvent, now time.Time) error
	// UsersByNIPs returns the users that have one of nips, in no
	// particular order; NIPs without a user are skipped.
	UsersByNIPs(ctx context.Context, nips []string) ([]*User, error)
	// ForEachUser calls fn with each user matching f, ordered by NIP. fn
	// must not call the store (the query is still open). An error from fn
	// stops the walk and is returned.
	ForEachUser(ctx context.Context, f UserFilter, fn func(*User) error) error
	// CountUsers counts the users matching f per group and state; groups
	// and states without users are absent. The result is ordered by
	// group, then state.
	CountUsers(ctx context.Context, f UserFilter, by Grouping) ([]StateCount, error)
	// ChangeNIP gives the user a new NIP and keeps its ID, the sub relying
	// parties know. A NIP held by another user is ErrAlreadyExists; an
	// unknown user is ErrNotFound.
	ChangeNIP(ctx context.Context, userID, newNIP string, now time.Time) error
	// DisableUser, in one transaction, sets the state to disabled and
	// revokes every session and every access and refresh token of the
	// user; each session ends as LogoutStore.EndSession ends one, its
	// back-channel logout notices queued. Disabling a disabled user
	// revokes again and is no error.
	DisableUser(ctx context.Context, userID string, now time.Time) error
	// EnableUser returns a disabled account to the state its credentials
	// give (provisioned without a password, password_set without an
	// authenticator, active with both) and returns that state. A user who
	// is not disabled is ErrConflict.
	EnableUser(ctx context.Context, userID string, now time.Time) (UserState, error)
}
