package provision

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Progress follows a long operation counted in rows.
type Progress interface {
	Start(total int)
	Add(n int)
	Finish()
}

// NewProgress reports to w: a bar redrawn in place when w is a terminal,
// otherwise a plain line at every tenth of the work (logs and pipes get a
// few readable lines, not a stream of carriage returns).
func NewProgress(w io.Writer, terminal bool, what string) Progress {
	if terminal {
		return &barProgress{w: w, what: what}
	}
	return &lineProgress{w: w, what: what}
}

type barProgress struct {
	w    io.Writer
	what string
	bar  *progressbar.ProgressBar
}

func (p *barProgress) Start(total int) {
	p.bar = progressbar.NewOptions(total,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(p.what),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionFullWidth(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(p.w) }),
	)
}

func (p *barProgress) Add(n int) { p.bar.Add(n) }

func (p *barProgress) Finish() { p.bar.Finish() }

// lineProgress prints "what: done of total rows (pct%)" each time another
// tenth is done, and once at the end.
type lineProgress struct {
	w           io.Writer
	what        string
	total, done int
	next        int
}

func (p *lineProgress) Start(total int) {
	p.total, p.done = total, 0
	p.next = p.step()
}

func (p *lineProgress) step() int { return max(p.total/10, 1) }

func (p *lineProgress) Add(n int) {
	p.done += n
	if p.done >= p.next && p.done < p.total {
		p.print()
		for p.next <= p.done {
			p.next += p.step()
		}
	}
}

func (p *lineProgress) Finish() {
	if p.total > 0 {
		p.print()
	}
}

func (p *lineProgress) print() {
	fmt.Fprintf(p.w, "%s: %d of %d rows (%d%%)\n", p.what, p.done, p.total, p.done*100/p.total)
}

type nopProgress struct{}

func (nopProgress) Start(int) {}
func (nopProgress) Add(int)   {}
func (nopProgress) Finish()   {}
