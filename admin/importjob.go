package admin

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/provision"
)

// An import is applied in the background, so a national file of a
// hundred thousand rows does not hold a request open for its whole write:
// the apply page waits ImportWait for it, then shows the rows written so
// far, refreshing itself every second (no script: the pages' CSP allows
// none), until the result. Jobs live in the process that applies them,
// like the upload before them.

// DefaultImportWait is how long the apply page waits for an import before
// it shows its progress instead.
const DefaultImportWait = 2 * time.Second

// jobLifetime is how long a finished import's result can be shown.
const jobLifetime = 10 * time.Minute

// importJob is one import being applied; it counts its rows as
// provision.Progress.
type importJob struct {
	owner    string // the operator's sub: only they see it
	name     string
	plan     *provision.Plan
	total    atomic.Int64
	written  atomic.Int64
	finished chan struct{}
	err      error // set before finished is closed
	doneAt   time.Time
}

func (j *importJob) Start(total int) { j.total.Store(int64(total)) }
func (j *importJob) Add(n int)       { j.written.Add(int64(n)) }
func (j *importJob) Finish()         {}

func (j *importJob) done() bool {
	select {
	case <-j.finished:
		return true
	default:
		return false
	}
}

// importJobs holds this process's import jobs by ID.
type importJobs struct {
	mu   sync.Mutex
	jobs map[string]*importJob
}

// start applies plan with im in the background and returns the job's ID.
func (js *importJobs) start(owner, name string, im *provision.Importer, plan *provision.Plan, now func() time.Time) (string, *importJob) {
	j := &importJob{owner: owner, name: name, plan: plan, finished: make(chan struct{})}
	im.Progress = j
	id := rand.Text()
	js.mu.Lock()
	if js.jobs == nil {
		js.jobs = map[string]*importJob{}
	}
	for k, old := range js.jobs {
		if old.done() && now().Sub(old.doneAt) > jobLifetime {
			delete(js.jobs, k)
		}
	}
	js.jobs[id] = j
	js.mu.Unlock()
	go func() {
		// Not the request's context: the import goes on when the page is
		// left, and each of its transactions is all or nothing.
		j.err = im.Apply(context.Background(), plan)
		j.doneAt = now()
		close(j.finished)
	}()
	return id, j
}

// get returns the job id of owner, or nil: another operator's job is
// none of theirs.
func (js *importJobs) get(id, owner string) *importJob {
	js.mu.Lock()
	defer js.mu.Unlock()
	if j := js.jobs[id]; j != nil && j.owner == owner {
		return j
	}
	return nil
}

// progressView is an import being applied.
type progressView struct {
	layout
	Name    string
	Written int64
	Total   int64
	Percent int64
}

// awaitImport shows the job's result when it ends within wait, otherwise
// sends the browser to its progress page.
func (h *Handler) awaitImport(c echo.Context, id string, j *importJob, wait time.Duration) error {
	progress := Path + "/import/progress?job=" + id
	if wait < 0 {
		return c.Redirect(http.StatusSeeOther, progress)
	}
	select {
	case <-j.finished:
		return h.importResult(c, j)
	case <-time.After(wait):
		return c.Redirect(http.StatusSeeOther, progress)
	}
}

// importProgress is the progress page of one of the operator's imports.
func (h *Handler) importProgress(c echo.Context) error {
	j := h.jobs.get(c.QueryParam("job"), operatorOf(c).UserID)
	if j == nil {
		return fail(http.StatusNotFound, "console.import.gone", errors.New("no such import job of this operator"))
	}
	if j.done() {
		return h.importResult(c, j)
	}
	v := &progressView{layout: layout{Title: "console.import.progress_title", Refresh: 1}, Name: j.name,
		Written: j.written.Load(), Total: j.total.Load()}
	if v.Total > 0 {
		v.Percent = 100 * v.Written / v.Total
	}
	return h.render(c, http.StatusOK, "console_import_progress", v)
}

func (h *Handler) importResult(c echo.Context, j *importJob) error {
	if j.err != nil {
		return j.err
	}
	return h.render(c, http.StatusOK, "console_import_preview", &previewView{layout: layout{Title: "console.import.done_title"},
		Name: j.name, Plan: j.plan, Applied: true})
}
