package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// windowOf returns the length in microseconds of window and the start of
// the fixed window that holds now, in unix microseconds.
func windowOf(window time.Duration, now time.Time) (length, start int64, err error) {
	length = window.Microseconds()
	if length <= 0 {
		return 0, 0, fmt.Errorf("invalid counter window %v", window)
	}
	t := now.UnixMicro()
	start = t - t%length
	if t%length < 0 { // floor for times before 1970
		start -= length
	}
	return length, start, nil
}

// IncrementCounter adds one in a single upsert ... RETURNING, so concurrent
// calls from any process each count and each get their own new total.
func (s *Store) IncrementCounter(ctx context.Context, key string, window time.Duration, now time.Time) (_ int, err error) {
	defer wrap(&err, "IncrementCounter")
	length, start, err := windowOf(window, now)
	if err != nil {
		return 0, err
	}
	var n int
	err = queryRow(ctx, s.db, `INSERT INTO counters (key, window_len, window_start, window_end, hits)
		VALUES (?, ?, ?, ?, 1)
		ON CONFLICT (key, window_len, window_start) DO UPDATE SET hits = counters.hits + 1
		RETURNING hits`, key, length, start, start+length).Scan(&n)
	return n, err
}

// DecrementCounter takes one back from key's counter in now's window.
func (s *Store) DecrementCounter(ctx context.Context, key string, window time.Duration, now time.Time) (err error) {
	defer wrap(&err, "DecrementCounter")
	length, start, err := windowOf(window, now)
	if err != nil {
		return err
	}
	_, err = exec(ctx, s.db, `UPDATE counters SET hits = hits - 1
		WHERE key = ? AND window_len = ? AND window_start = ? AND hits > 0`, key, length, start)
	return err
}

// Counter returns key's count in the window that holds now (0 if none).
func (s *Store) Counter(ctx context.Context, key string, window time.Duration, now time.Time) (_ int, err error) {
	defer wrap(&err, "Counter")
	length, start, err := windowOf(window, now)
	if err != nil {
		return 0, err
	}
	var n int
	err = get(ctx, s.db, &n, `SELECT hits FROM counters
		WHERE key = ? AND window_len = ? AND window_start = ?`, key, length, start)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, err
}

// ResetCounter deletes every window of key.
func (s *Store) ResetCounter(ctx context.Context, key string) (err error) {
	defer wrap(&err, "ResetCounter")
	_, err = exec(ctx, s.db, `DELETE FROM counters WHERE key = ?`, key)
	return err
}
