package provision

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/storage"
)

// Store is the storage an import uses.
type Store interface {
	UsersByNIPs(ctx context.Context, nips []string) ([]*storage.User, error)
	UpsertUserProfiles(ctx context.Context, users []*storage.User, events []*storage.AuditEvent, now time.Time) error
	ForEachUser(ctx context.Context, f storage.UserFilter, fn func(*storage.User) error) error
	DisableUser(ctx context.Context, userID string, now time.Time) error
}

// Auditor records security events (internal/audit.Recorder): Record
// stores one itself; Prepare and Emit frame one the import stores in the
// transaction of the account change it describes.
type Auditor interface {
	Record(ctx context.Context, e storage.AuditEvent)
	Prepare(ctx context.Context, e *storage.AuditEvent)
	Emit(ctx context.Context, e *storage.AuditEvent)
}

// DefaultBatchSize is how many rows one transaction writes: large enough
// that commits cost little, small enough that a transaction never holds
// the write lock long enough to stall logins on SQLite.
const DefaultBatchSize = 2000

// Importer plans and applies imports.
type Importer struct {
	Store Store
	// Audit, when set, records each account an import creates, updates or
	// disables, and the import itself, under Actor.
	Audit Auditor
	Actor string
	// Source names the file in the audit record.
	Source string
	// Now stamps the writes; NewID makes the sub of a new account (a
	// random UUID when nil).
	Now   func() time.Time
	NewID func() string
	// BatchSize rows per transaction; DefaultBatchSize when zero.
	BatchSize int
	// Progress, when set, follows Apply.
	Progress Progress
}

// Change is one account in a plan.
type Change struct {
	NIP  string
	Name string
	// UserID is the sub, empty for an account still to create.
	UserID string
	// State is the stored state of an existing account.
	State storage.UserState
	// Fields lists what an update changes.
	Fields []string

	write *storage.User
}

// Plan is what an import would do. Each list is ordered by NIP.
type Plan struct {
	// Disable lists the leavers: accounts of Instansi the file no longer
	// lists. They come first, because they are what an operator must
	// check before a real run.
	Disable  []Change
	Instansi string
	Create   []Change
	Update   []Change
	// Unchanged counts listed accounts that already match the file.
	Unchanged int
	// ListedDisabled are disabled accounts the file lists. An import does
	// not enable them again: an operator disabled them, and only an
	// operator enables them (`asnidp user enable`). Their personnel fields
	// are still brought up to date.
	ListedDisabled []Change
}

// Refusals of a leaver run (--disable-missing), each the mark of a wrong
// file or a misspelt agency rather than of an agency whose every employee
// left.
var (
	// ErrUnknownAgency: no account at all, in any state, has the agency.
	ErrUnknownAgency = errors.New("no account has this instansi")
	// ErrNoAgencyRows: the file lists nobody in the agency.
	ErrNoAgencyRows = errors.New("the file lists nobody in this instansi")
)

// Plan compares f with the stored accounts. With disableMissingOf set, the
// accounts of that agency (instansi) that are not disabled and whose NIP
// the file does not list are planned for disabling.
func (im *Importer) Plan(ctx context.Context, f *File, disableMissingOf string) (*Plan, error) {
	if len(f.Errors) > 0 {
		return nil, fmt.Errorf("plan import: the file has %d bad rows", len(f.Errors))
	}
	nips := make([]string, len(f.Records))
	for i, r := range f.Records {
		nips[i] = r.NIP()
	}
	existing, err := im.Store.UsersByNIPs(ctx, nips)
	if err != nil {
		return nil, fmt.Errorf("load accounts: %w", err)
	}
	byNIP := make(map[string]*storage.User, len(existing))
	for _, u := range existing {
		byNIP[u.NIP] = u
	}

	p := &Plan{Instansi: disableMissingOf}
	inAgency := 0
	for _, r := range f.Records {
		old := byNIP[r.NIP()]
		if old == nil {
			u := &storage.User{ID: im.newID(), NIP: r.NIP(), State: storage.StateProvisioned}
			r.apply(u)
			p.Create = append(p.Create, Change{NIP: u.NIP, Name: u.Name, write: u})
			if u.Instansi == disableMissingOf {
				inAgency++
			}
			continue
		}
		u := *old
		r.apply(&u)
		if u.Instansi == disableMissingOf {
			inAgency++
		}
		c := Change{NIP: u.NIP, Name: u.Name, UserID: u.ID, State: u.State}
		if old.State == storage.StateDisabled {
			p.ListedDisabled = append(p.ListedDisabled, c)
		}
		if c.Fields = profileDiff(old, &u); len(c.Fields) == 0 {
			p.Unchanged++
			continue
		}
		c.write = &u
		p.Update = append(p.Update, c)
	}

	if disableMissingOf != "" {
		if err := im.planLeavers(ctx, p, nips, inAgency); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// planLeavers lists the agency's live accounts that the file does not.
func (im *Importer) planLeavers(ctx context.Context, p *Plan, nips []string, inAgency int) error {
	listed := make(map[string]bool, len(nips))
	for _, n := range nips {
		listed[n] = true
	}
	total, live := 0, 0
	err := im.Store.ForEachUser(ctx, storage.UserFilter{Instansi: p.Instansi}, func(u *storage.User) error {
		total++
		if u.State == storage.StateDisabled {
			return nil
		}
		live++
		if !listed[u.NIP] {
			p.Disable = append(p.Disable, Change{NIP: u.NIP, Name: u.Name, UserID: u.ID, State: u.State})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list accounts of instansi %q: %w", p.Instansi, err)
	}
	if total == 0 {
		return fmt.Errorf("%w %q, so there is nothing to disable: check the spelling of --instansi "+
			"(the first import of an agency goes without --disable-missing)", ErrUnknownAgency, p.Instansi)
	}
	if inAgency == 0 && live > 0 {
		return fmt.Errorf("%w %q; refusing to disable all %d of its accounts (check the spelling of --instansi)", ErrNoAgencyRows, p.Instansi, live)
	}
	return nil
}

func (im *Importer) newID() string {
	if im.NewID != nil {
		return im.NewID()
	}
	// Time-ordered (version 7) UUIDs land at the end of the primary-key
	// index instead of at random places in it: a 100,000-row import takes
	// about half the time. They stay opaque to relying parties.
	return uuid.Must(uuid.NewV7()).String()
}

func (im *Importer) now() time.Time {
	if im.Now != nil {
		return im.Now()
	}
	return time.Now()
}

// Apply writes the plan: creates and updates in transactions of BatchSize
// rows, then each leaver disabled (sessions and tokens revoked with it).
// An error stops it; the batches committed so far stay, and running the
// same file again finishes the work, since an import is idempotent.
func (im *Importer) Apply(ctx context.Context, p *Plan) error {
	batch := im.BatchSize
	if batch <= 0 {
		batch = DefaultBatchSize
	}
	writes := make([]Change, 0, len(p.Create)+len(p.Update))
	writes = append(append(writes, p.Create...), p.Update...)
	// One order for every import, so two imports on PostgreSQL lock rows
	// in the same order and cannot deadlock.
	slices.SortFunc(writes, func(a, b Change) int { return strings.Compare(a.NIP, b.NIP) })

	progress := im.Progress
	if progress == nil {
		progress = nopProgress{}
	}
	progress.Start(len(writes) + len(p.Disable))
	defer progress.Finish()

	for start := 0; start < len(writes); start += batch {
		chunk := writes[start:min(start+batch, len(writes))]
		users := make([]*storage.User, len(chunk))
		var events []*storage.AuditEvent
		for i, c := range chunk {
			users[i] = c.write
			if im.Audit != nil {
				events = append(events, im.changeEvent(ctx, c))
			}
		}
		if err := im.Store.UpsertUserProfiles(ctx, users, events, im.now()); err != nil {
			return fmt.Errorf("import stopped after %d of %d rows (run it again to finish): %w", start, len(writes), err)
		}
		for _, e := range events {
			im.Audit.Emit(ctx, e)
		}
		progress.Add(len(chunk))
	}
	for i, c := range p.Disable {
		if err := im.Store.DisableUser(ctx, c.UserID, im.now()); err != nil {
			return fmt.Errorf("disable leaver %s (%d of %d disabled): %w", c.NIP, i, len(p.Disable), err)
		}
		im.record(ctx, storage.AuditEvent{
			Type: audit.UserDisabled, NIP: c.NIP, UserID: c.UserID,
			Reason: "leaver: not in the import file of instansi " + p.Instansi,
		})
		progress.Add(1)
	}
	im.record(ctx, storage.AuditEvent{
		Type:   audit.UserImported,
		Detail: fmt.Sprintf("source=%s %s", im.Source, p.counts()),
	})
	return nil
}

// changeEvent is the audit row of one created or updated account.
func (im *Importer) changeEvent(ctx context.Context, c Change) *storage.AuditEvent {
	e := &storage.AuditEvent{
		Type: audit.UserCreated, NIP: c.NIP, UserID: c.write.ID, Actor: im.Actor,
		Reason: "import", Detail: "source=" + im.Source,
	}
	if c.UserID != "" {
		e.Type = audit.UserUpdated
		e.Detail += " fields=" + strings.Join(c.Fields, ",")
	}
	im.Audit.Prepare(ctx, e)
	return e
}

func (im *Importer) record(ctx context.Context, e storage.AuditEvent) {
	if im.Audit == nil {
		return
	}
	e.Actor = im.Actor
	e.Outcome = audit.Success
	im.Audit.Record(ctx, e)
}

func (p *Plan) counts() string {
	return fmt.Sprintf("created=%d updated=%d unchanged=%d disabled=%d", len(p.Create), len(p.Update), p.Unchanged, len(p.Disable))
}

// Summary is one line of counts; applied says whether the plan was
// written or only planned.
func (p *Plan) Summary(applied bool) string {
	if applied {
		return fmt.Sprintf("created %d, updated %d, unchanged %d, disabled %d", len(p.Create), len(p.Update), p.Unchanged, len(p.Disable))
	}
	return fmt.Sprintf("would create %d, update %d, leave %d unchanged, disable %d", len(p.Create), len(p.Update), p.Unchanged, len(p.Disable))
}

// WriteDetails lists every change, leavers first, one account a line.
func (p *Plan) WriteDetails(w io.Writer) error {
	b := bufio.NewWriter(w)
	for _, c := range p.Disable {
		fmt.Fprintf(b, "disable  %s  %s  (%s; no longer listed for instansi %s)\n", c.NIP, c.Name, c.State, p.Instansi)
	}
	for _, c := range p.Create {
		fmt.Fprintf(b, "create   %s  %s\n", c.NIP, c.Name)
	}
	for _, c := range p.Update {
		fmt.Fprintf(b, "update   %s  %s  (%s)\n", c.NIP, c.Name, strings.Join(c.Fields, ", "))
	}
	for _, c := range p.ListedDisabled {
		fmt.Fprintf(b, "note     %s  %s  is listed but disabled; the import leaves it disabled (asnidp user enable %s)\n", c.NIP, c.Name, c.NIP)
	}
	return b.Flush()
}
