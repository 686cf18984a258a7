package main

import (
	"slices"
	"sync"
	"time"
)

// recorder collects every journey of one phase: latencies per step, the
// outcome kinds, and per-second buckets for the plots. It is safe for
// concurrent use.
type recorder struct {
	start time.Time

	mu       sync.Mutex
	steps    map[string][]time.Duration
	journeys []time.Duration // completed (kind ok) journeys
	kinds    map[string]int  // journey outcome kinds
	failedAt map[string]int  // "step/kind" of failed journeys
	examples map[string]string
	buckets  []bucket
	totpWait int
	// notStarted counts arrivals the generator could not send: no
	// employee free (every one waiting for their authenticator) or the
	// in-flight cap reached. They are the generator's limit, not the
	// server's.
	notStarted map[string]int
}

// bucket is one second of the phase.
type bucket struct {
	ok, busy, failed int
	journey          []time.Duration
	nonHashing       []time.Duration
}

func newRecorder(start time.Time) *recorder {
	return &recorder{start: start, steps: map[string][]time.Duration{}, kinds: map[string]int{},
		failedAt: map[string]int{}, examples: map[string]string{}, notStarted: map[string]int{}}
}

func (r *recorder) bucket(t time.Time) *bucket {
	i := max(0, int(t.Sub(r.start)/time.Second))
	for len(r.buckets) <= i {
		r.buckets = append(r.buckets, bucket{})
	}
	return &r.buckets[i]
}

// add records one finished journey; its buckets are those of the second
// it ended in.
func (r *recorder) add(j journeyResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	end := j.start
	if n := len(j.steps); n > 0 {
		end = j.steps[n-1].start.Add(j.steps[n-1].dur)
	}
	b := r.bucket(end)
	for i, s := range j.steps {
		failed := i == len(j.steps)-1 && j.kind != kindOK
		if failed {
			continue // a failed step's time says how it failed, not how fast it was
		}
		r.steps[s.name] = append(r.steps[s.name], s.dur)
		if s.name != stepPassword {
			b.nonHashing = append(b.nonHashing, s.dur)
		}
	}
	r.kinds[j.kind]++
	if j.totpWait > 0 {
		r.totpWait++
	}
	switch j.kind {
	case kindOK:
		b.ok++
		b.journey = append(b.journey, j.total)
		r.journeys = append(r.journeys, j.total)
	case kindBusy:
		b.busy++
		r.failedAt[j.failedStep+"/"+j.kind]++
	default:
		b.failed++
		key := j.failedStep + "/" + j.kind
		r.failedAt[key]++
		if _, seen := r.examples[key]; !seen && j.err != nil {
			r.examples[key] = j.err.Error()
		}
	}
}

func (r *recorder) skip(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notStarted[reason]++
}

// latency is a latency summary in milliseconds.
type latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func summarize(ds []time.Duration) latency {
	if len(ds) == 0 {
		return latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return latency{Count: len(s), P50: ms(quantile(s, 0.50)), P95: ms(quantile(s, 0.95)),
		P99: ms(quantile(s, 0.99)), Max: ms(s[len(s)-1])}
}

// quantile of sorted s, nearest rank.
func quantile(s []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
