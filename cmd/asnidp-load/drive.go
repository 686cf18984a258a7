package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// pool hands out employees ready to sign in. An employee returns to it
// when their authenticator can show an unused code without waiting.
type pool struct {
	free chan *employee
}

// newPool returns an empty pool for n employees; each joins it through
// release.
func newPool(n int) *pool {
	return &pool{free: make(chan *employee, n)}
}

// release puts e back once its next code can be typed at once. The
// channel holds every employee, so the send never blocks.
func (p *pool) release(e *employee) {
	if d := time.Until(e.readyAt()); d > 0 {
		time.AfterFunc(d, func() { p.free <- e })
		return
	}
	p.free <- e
}

// load is how one phase sends journeys: at a target arrival rate, or with
// a fixed number of employees signing in at once.
type load struct {
	rate        float64 // journeys started per second; 0 = concurrency mode
	concurrency int
	duration    time.Duration
	maxInFlight int
}

// phase runs journeys as l says, then waits for those in flight.
type phase struct {
	name string
	j    *journeys
	rec  *recorder
	// inFlight is the journeys started and not finished.
	inFlight atomic.Int64
	// holdLeft is how many more sign-ins stay signed in for the checks
	// after the run; their employees leave the pool.
	holdLeft atomic.Int64
	mu       sync.Mutex
	held     []*heldTokens
}

func (ph *phase) one(ctx context.Context, p *pool, e *employee) {
	ph.inFlight.Add(1)
	defer ph.inFlight.Add(-1)
	hold := ph.holdLeft.Add(-1) >= 0
	r := ph.j.run(ctx, e, hold)
	ph.rec.add(r)
	if r.held != nil {
		ph.mu.Lock()
		ph.held = append(ph.held, r.held)
		ph.mu.Unlock()
		return
	}
	p.release(e)
}

func (ph *phase) run(ctx context.Context, p *pool, l load) {
	stopAt := time.Now().Add(l.duration)
	arrivals, cancel := context.WithDeadline(ctx, stopAt)
	defer cancel()
	var wg sync.WaitGroup
	if l.rate > 0 {
		interval := time.Duration(float64(time.Second) / l.rate)
		next := time.Now()
		for arrivals.Err() == nil {
			if d := time.Until(next); d > 0 {
				select {
				case <-arrivals.Done():
				case <-time.After(d):
				}
				if arrivals.Err() != nil {
					break
				}
			}
			next = next.Add(interval)
			if l.maxInFlight > 0 && ph.inFlight.Load() >= int64(l.maxInFlight) {
				ph.rec.skip("in_flight_cap")
				continue
			}
			select {
			case e := <-p.free:
				wg.Go(func() { ph.one(ctx, p, e) })
			default:
				ph.rec.skip("no_employee_ready")
			}
		}
	} else {
		for range l.concurrency {
			wg.Go(func() {
				for {
					select {
					case <-arrivals.Done():
						return
					case e := <-p.free:
						ph.one(ctx, p, e)
					}
				}
			})
		}
	}
	wg.Wait()
}

// runEach signs every employee in once (their first sign-in enrols the
// authenticator), conc at a time, and releases each into p.
func (ph *phase) runEach(ctx context.Context, p *pool, emps []*employee, conc int) {
	work := make(chan *employee)
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for e := range work {
				ph.one(ctx, p, e)
			}
		})
	}
	for _, e := range emps {
		select {
		case work <- e:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
}
