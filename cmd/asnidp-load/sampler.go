package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sample is one reading of a server process's /metrics.
type sample struct {
	T          float64 `json:"t_s"` // seconds since the phase started
	Node       string  `json:"node"`
	RSSBytes   float64 `json:"rss_bytes"`
	Goroutines float64 `json:"goroutines"`
	// DBBytes is the database's size on disk at about the same time
	// (SQLite file and its WAL, or the PostgreSQL schema's relations).
	DBBytes float64 `json:"db_bytes,omitempty"`
}

// sampler reads RSS and goroutines from each node's /metrics every
// interval, and the database size when dbSize is set.
type sampler struct {
	nodes    map[string]string // name → base URL
	client   *http.Client
	interval time.Duration
	dbSize   func(context.Context) (int64, error)
	// rows, when set, counts table rows every rowsEvery samples.
	rows      func(context.Context) (map[string]int64, error)
	rowsEvery int

	mu      sync.Mutex
	samples []sample
	counts  []rowSample
	n       int
	errors  int
}

// rowSample is the row count of each counted table at one time.
type rowSample struct {
	T    float64          `json:"t_s"`
	Rows map[string]int64 `json:"rows"`
}

// run samples until ctx ends; start is t = 0.
func (s *sampler) run(ctx context.Context, start time.Time) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		s.once(ctx, start)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *sampler) once(ctx context.Context, start time.Time) {
	if s.rows != nil && s.n%max(1, s.rowsEvery) == 0 {
		if m, err := s.rows(ctx); err == nil {
			s.mu.Lock()
			s.counts = append(s.counts, rowSample{T: time.Since(start).Seconds(), Rows: m})
			s.mu.Unlock()
		}
	}
	s.n++
	var db int64
	if s.dbSize != nil {
		if n, err := s.dbSize(ctx); err == nil {
			db = n
		}
	}
	for name, base := range s.nodes {
		m, err := s.scrape(ctx, base)
		s.mu.Lock()
		if err != nil {
			s.errors++ // a node killed on purpose stops answering
		} else {
			s.samples = append(s.samples, sample{T: time.Since(start).Seconds(), Node: name,
				RSSBytes: m["process_resident_memory_bytes"], Goroutines: m["go_goroutines"], DBBytes: float64(db)})
		}
		s.mu.Unlock()
	}
}

func (s *sampler) rowCounts() []rowSample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]rowSample(nil), s.counts...)
}

func (s *sampler) all() []sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sample(nil), s.samples...)
}

// scrape returns the unlabelled gauges of base's /metrics.
func (s *sampler) scrape(ctx context.Context, base string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: status %d", resp.StatusCode)
	}
	return parseGauges(bufio.NewScanner(resp.Body))
}

// parseGauges reads "name value" lines of the Prometheus text format,
// skipping comments and labelled series.
func parseGauges(sc *bufio.Scanner) (map[string]float64, error) {
	out := map[string]float64{}
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || strings.ContainsRune(line, '{') {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(strings.Fields(value)[0], 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}
