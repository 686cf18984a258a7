package storagetest

import (
	"testing"
	"time"

	"github.com/asnidp/asnidp/storage"
)

func testCounter(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const w = time.Minute
	start := t0 // t0 is on a minute boundary
	steps := []struct {
		key    string
		window time.Duration
		now    time.Time
		want   int
	}{
		{"ip:192.0.2.1", w, start, 1},
		{"ip:192.0.2.1", w, start.Add(30 * time.Second), 2},
		{"ip:192.0.2.1", w, start.Add(w - time.Microsecond), 3},
		{"ip:192.0.2.2", w, start.Add(time.Second), 1},         // other key
		{"ip:192.0.2.1", time.Hour, start.Add(time.Second), 1}, // other window length
		{"ip:192.0.2.1", w, start.Add(w), 1},                   // next window
		{"ip:192.0.2.1", w, start.Add(w + time.Second), 2},
	}
	for _, st := range steps {
		got, err := s.IncrementCounter(ctx, st.key, st.window, st.now)
		if err != nil {
			t.Fatalf("IncrementCounter(%q, %v, %v) = %v", st.key, st.window, st.now, err)
		}
		if got != st.want {
			t.Errorf("IncrementCounter(%q, %v, %v) = %d, want %d", st.key, st.window, st.now, got, st.want)
		}
	}

	reads := []struct {
		key    string
		window time.Duration
		now    time.Time
		want   int
	}{
		{"ip:192.0.2.1", w, start.Add(10 * time.Second), 3},
		{"ip:192.0.2.1", w, start.Add(w + 59*time.Second), 2},
		{"ip:192.0.2.1", w, start.Add(2 * w), 0},
		{"ip:192.0.2.1", w, start.Add(-time.Second), 0},
		{"ip:192.0.2.1", time.Hour, start.Add(50 * time.Minute), 1},
		{"ip:192.0.2.2", w, start, 1},
		{"nip:198609262015051001", w, start, 0},
	}
	for _, r := range reads {
		got, err := s.Counter(ctx, r.key, r.window, r.now)
		if err != nil || got != r.want {
			t.Errorf("Counter(%q, %v, %v) = %d, %v; want %d, nil", r.key, r.window, r.now, got, err, r.want)
		}
	}

	if _, err := s.IncrementCounter(ctx, "k", 0, t0); err == nil {
		t.Errorf("IncrementCounter with a zero window = nil error, want an error")
	}
}

// I2: increments from every process count.
func testCounterRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const n = 50
	counts := make([]int, n)
	errs := race(n, func(i int) error {
		var err error
		counts[i], err = s.IncrementCounter(ctx, "nip:198609262015051001", time.Hour, t0.Add(time.Duration(i)*time.Millisecond))
		return err
	})
	if wins, _ := tally(t, "IncrementCounter", errs, nil); wins != n {
		t.Fatalf("%d of %d concurrent IncrementCounter calls succeeded, want all", wins, n)
	}
	checkCounts(t, "IncrementCounter", counts)
	if got, err := s.Counter(ctx, "nip:198609262015051001", time.Hour, t0); got != n || err != nil {
		t.Errorf("Counter after %d concurrent increments = %d, %v; want %d, nil", n, got, err, n)
	}
}

func testResetCounter(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for i := range 3 {
		for _, key := range []string{"a", "b"} {
			_, err := s.IncrementCounter(ctx, key, time.Minute, t0.Add(time.Duration(i)*time.Minute))
			must(t, err)
		}
	}
	must(t, s.ResetCounter(ctx, "a"))
	for i := range 3 {
		now := t0.Add(time.Duration(i) * time.Minute)
		for key, want := range map[string]int{"a": 0, "b": 1} {
			if got, err := s.Counter(ctx, key, time.Minute, now); got != want || err != nil {
				t.Errorf("after ResetCounter(a): Counter(%q, %v) = %d, %v; want %d, nil", key, now, got, err, want)
			}
		}
	}
	wantErr(t, "ResetCounter(unknown)", s.ResetCounter(ctx, "unknown"), nil)
}

// A count taken back leaves the other windows and keys alone and never
// goes below zero.
func testDecrementCounter(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for range 2 {
		_, err := s.IncrementCounter(ctx, "a", time.Minute, t0)
		must(t, err)
	}
	_, err := s.IncrementCounter(ctx, "a", time.Minute, t0.Add(time.Minute))
	must(t, err)
	must(t, s.DecrementCounter(ctx, "a", time.Minute, t0))
	for _, c := range []struct {
		now  time.Time
		want int
	}{{t0, 1}, {t0.Add(time.Minute), 1}} {
		if got, err := s.Counter(ctx, "a", time.Minute, c.now); got != c.want || err != nil {
			t.Errorf("after DecrementCounter: Counter(a, %v) = %d, %v; want %d, nil", c.now, got, err, c.want)
		}
	}
	must(t, s.DecrementCounter(ctx, "a", time.Minute, t0))
	must(t, s.DecrementCounter(ctx, "a", time.Minute, t0))
	if got, err := s.Counter(ctx, "a", time.Minute, t0); got != 0 || err != nil {
		t.Errorf("Counter after more decrements than hits = %d, %v; want 0, nil", got, err)
	}
	must(t, s.DecrementCounter(ctx, "never", time.Minute, t0))
	if got, _ := s.Counter(ctx, "never", time.Minute, t0); got != 0 {
		t.Errorf("DecrementCounter of a missing counter made it %d", got)
	}
}
