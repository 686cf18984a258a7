package storage

import (
	"context"
	"time"
)

// StateTally counts accounts per state. It is the one definition of the
// activation figures: the activation report and the console's funnel both
// derive theirs from it, so the two cannot drift apart.
type StateTally struct {
	Provisioned int
	PasswordSet int
	Active      int
	Disabled    int
}

// Add counts n accounts in state st; an unknown state counts nowhere.
func (t *StateTally) Add(st UserState, n int) {
	switch st {
	case StateProvisioned:
		t.Provisioned += n
	case StatePasswordSet:
		t.PasswordSet += n
	case StateActive:
		t.Active += n
	case StateDisabled:
		t.Disabled += n
	}
}

// Total is every account, disabled ones included.
func (t StateTally) Total() int { return t.Provisioned + t.PasswordSet + t.Active + t.Disabled }

// InService is every account not disabled: the funnel's first step, and
// what the activation rate divides by.
func (t StateTally) InService() int { return t.Provisioned + t.PasswordSet + t.Active }

// WithPassword is the accounts in service that have a password, with or
// without an authenticator: the funnel's second step.
func (t StateTally) WithPassword() int { return t.PasswordSet + t.Active }

// Pending is the accounts in service not active yet, the length of the
// pending list.
func (t StateTally) Pending() int { return t.Provisioned + t.PasswordSet }

// Rate is the activation rate: active accounts (password and
// authenticator) over the accounts in service, 0 when none is in service.
func (t StateTally) Rate() float64 {
	if t.InService() == 0 {
		return 0
	}
	return float64(t.Active) / float64(t.InService())
}

// Funnel is the activation funnel of one agency, or of all of them:
// accounts in service → with a password → active → active and signed in
// recently.
type Funnel struct {
	// Instansi is empty in a total over agencies.
	Instansi string
	StateTally
	// SignedIn counts the active accounts whose last sign-in was at or
	// after FunnelFilter.SignedInSince.
	SignedIn int
}

// Plus returns the sum of f and g, keeping f's Instansi.
func (f Funnel) Plus(g Funnel) Funnel {
	f.Provisioned += g.Provisioned
	f.PasswordSet += g.PasswordSet
	f.Active += g.Active
	f.Disabled += g.Disabled
	f.SignedIn += g.SignedIn
	return f
}

// FunnelFilter selects the funnel's accounts.
type FunnelFilter struct {
	// Instansi keeps one agency; empty keeps all.
	Instansi string
	// SignedInSince is where "signed in recently" starts; the zero time
	// counts every active account that ever signed in.
	SignedInSince time.Time
}

// TrendFilter selects the days and the accounts of an activation trend.
type TrendFilter struct {
	// Instansi keeps one agency; empty keeps all.
	Instansi string
	// From is in the first day; days start at midnight in From's
	// location. Days is how many days the trend covers (at least 1).
	From time.Time
	Days int
}

// DayCount is how many accounts were activated on one day.
type DayCount struct {
	// Day is the day's midnight in TrendFilter.From's location.
	Day   time.Time
	Count int
}

// PendingFilter selects pending accounts, those provisioned or with a
// password but no authenticator (disabled ones are not pending).
type PendingFilter struct {
	// Instansi keeps one agency; empty keeps all (a walk over every
	// account, for the command line; the console always names one).
	Instansi string
	// UnitKerja keeps one work unit of Instansi; unit names repeat across
	// agencies, so it needs Instansi.
	UnitKerja string
}

// PendingUser is what the pending list shows of an account: no
// credentials, no counters.
type PendingUser struct {
	ID             string
	NIP            string
	Name           string
	Instansi       string
	UnitKerja      string
	Jabatan        string
	State          UserState
	PasswordLocked bool
	// LastLoginAt is set for an account that got past the password but
	// never bound an authenticator.
	LastLoginAt time.Time
	CreatedAt   time.Time
}

// MaxPendingPage bounds PendingUsers' limit.
const MaxPendingPage = 1000

// FunnelStore is what the activation funnel, its trend and the pending
// list read. Every method reads; none changes a row.
type FunnelStore interface {
	// ActivationFunnel counts the accounts matching f per agency: one
	// Funnel per agency that has accounts, ordered by instansi (byte
	// order, the same on every engine); an unknown agency yields none.
	// The state counts are those CountUsers gives, read in one statement
	// with SignedIn, so each row is consistent in itself.
	ActivationFunnel(ctx context.Context, f FunnelFilter) ([]Funnel, error)
	// ActivationTrend counts the accounts matching f by the day of their
	// ActivatedAt: exactly f.Days entries from f.From's day on, days
	// without activations included with a zero count. Accounts keep
	// counting on the day they were activated whatever their state now.
	// Days are cut at f.From's UTC offset, exact in zones without
	// daylight saving time (Indonesia's three).
	ActivationTrend(ctx context.Context, f TrendFilter) ([]DayCount, error)
	// PendingUsers is one page of the pending list: at most limit
	// (1..MaxPendingPage) pending accounts matching f whose NIP is above
	// after, ordered by NIP. The next page starts after the last NIP of
	// this one; a page shorter than limit is the last. Each page is one
	// index range, however deep it is.
	PendingUsers(ctx context.Context, f PendingFilter, after string, limit int) ([]PendingUser, error)
	// ForEachPendingUser calls fn with every pending account matching f,
	// in NIP order, reading them a page at a time: memory stays flat
	// whatever the length, and no query is open while fn runs, so fn may
	// call the store. An account whose state changes during the walk may
	// be listed or not. An error from fn stops the walk and is returned.
	ForEachPendingUser(ctx context.Context, f PendingFilter, fn func(*PendingUser) error) error
}
