package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/asnidp/asnidp/storage"
)

// Group commit of token issues on SQLite. A commit writes every B-tree
// page the transaction touched to the WAL (an access token and its audit
// row touch about a dozen: two tables, ten indexes), and SQLite commits one
// transaction at a time, so one commit per token response made the commit
// the bound of the token endpoint. Issues that arrive while another
// transaction holds the write lock wait in a queue instead; whoever takes
// the lock next writes every queued issue in one transaction, each inside
// its own savepoint, so each is still all or nothing, and answers each
// caller only after the commit.

// maxIssueGroup bounds the issues of one transaction.
const maxIssueGroup = 64

type issueJob struct {
	ctx  context.Context
	iss  *storage.Issue
	now  time.Time
	done chan error // buffered: the writer never waits for the caller
}

// issueQueue holds the issues waiting for the write lock.
type issueQueue struct {
	mu   sync.Mutex
	jobs []*issueJob
}

func (q *issueQueue) push(j *issueJob) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.jobs = append(q.jobs, j)
}

func (q *issueQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.jobs)
}

func (q *issueQueue) take() []*issueJob {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(len(q.jobs), maxIssueGroup)
	out := q.jobs[:n:n]
	q.jobs = q.jobs[n:]
	return out
}

// issueGrouped queues iss and waits until it is written: by this call, if
// it takes the write lock first, or by another that took it and found iss
// queued. The answer always comes after the commit that made iss durable
// (or rolled it back).
func (s *Store) issueGrouped(ctx context.Context, iss *storage.Issue, now time.Time) error {
	job := &issueJob{ctx: ctx, iss: iss, now: now, done: make(chan error, 1)}
	s.issues.push(job)
	for {
		select {
		case err := <-job.done:
			return err
		case s.writer <- struct{}{}:
			// Whoever held the lock answered its group before letting go,
			// so when job is no longer queued its answer is waiting.
			if s.issues.len() == 1 {
				// Alone: let the requests already running reach the
				// queue first, so that one commit carries them too.
				runtime.Gosched()
			}
			for group := s.issues.take(); len(group) > 0; group = s.issues.take() {
				s.writeIssues(group)
			}
			<-s.writer
		}
		// No case for ctx: a queued issue is written (or, with ctx done,
		// refused) by the next holder of the lock, and waiting for that
		// answer keeps a caller from reporting a failure for tokens that
		// were stored. Transactions are short, so the wait is too.
	}
}

// writeIssues writes a group in one transaction; the caller holds the
// write lock.
func (s *Store) writeIssues(group []*issueJob) {
	errs := make([]error, len(group))
	err := func() error {
		tx, err := s.db.BeginTxx(context.WithoutCancel(group[0].ctx), nil)
		if err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
		if len(group) == 1 {
			// Alone: the transaction itself is all or nothing.
			errs[0] = issueAlone(tx, group[0])
			if errs[0] != nil && !errors.Is(errs[0], storage.ErrConflict) {
				tx.Rollback()
				return nil
			}
		} else {
			for i, j := range group {
				errs[i] = s.issueInSavepoint(tx, j)
			}
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit transaction: %w", err)
		}
		return nil
	}()
	for i, j := range group {
		if err != nil {
			errs[i] = err
		}
		j.done <- errs[i]
	}
}

// issueAlone writes the only issue of a group. A refused code leaves
// nothing to commit and a reused refresh token its family's revocation
// (both ErrConflict), so the transaction is committed for either.
func issueAlone(tx *sqlx.Tx, j *issueJob) error {
	if err := j.ctx.Err(); err != nil {
		return err
	}
	reused, err := issueTx(j.ctx, tx, j.iss, j.now)
	if err == nil && reused {
		return storage.ErrConflict
	}
	return err
}

// issueInSavepoint writes one issue of a group; a failed one is rolled
// back to its savepoint and leaves the others alone.
func (s *Store) issueInSavepoint(tx *sqlx.Tx, j *issueJob) error {
	ctx := j.ctx
	if err := ctx.Err(); err != nil {
		return err
	}
	// The savepoint statements run whatever ctx says, so a cancelled
	// caller cannot leave one open.
	bg := context.WithoutCancel(ctx)
	if _, err := tx.ExecContext(bg, "SAVEPOINT issue"); err != nil {
		return err
	}
	reused, err := issueTx(ctx, tx, j.iss, j.now)
	if err != nil {
		if _, rerr := tx.ExecContext(bg, "ROLLBACK TO issue"); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
	if _, rerr := tx.ExecContext(bg, "RELEASE issue"); rerr != nil {
		return errors.Join(err, rerr)
	}
	if err == nil && reused {
		return storage.ErrConflict
	}
	return err
}
