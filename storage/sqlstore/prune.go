package sqlstore

import (
	"context"
	"time"
)

// usedCodeRetention is how long an auth request outlives the redemption of
// its code, so a replayed code is still recognised (ErrConflict, and the
// caller revokes what the first redemption issued) instead of looking
// unknown.
const usedCodeRetention = 24 * time.Hour

// Prune deletes what expired before now: auth requests past ExpiresAt whose
// code (if any) has expired and, if used, was used more than
// usedCodeRetention ago; access and refresh tokens past ExpiresAt
// (a rotated refresh token stays until then, so its reuse is still caught);
// sessions past ExpiresAt or revoked; counters whose window has ended;
// alert tokens, pushed authorization requests, client assertion IDs and
// used confirmation IDs past ExpiresAt; dead or finished self-resets.
// Signing keys are left to the keys package. Each table is pruned in its
// own statement so no long transaction holds the write lock.
func (s *Store) Prune(ctx context.Context, now time.Time) (_ int64, err error) {
	defer wrap(&err, "Prune")
	us := micros(now)
	return deleteEach(ctx, s, []deletion{
		{`DELETE FROM auth_requests WHERE expires_at <= ? AND code_expires_at <= ?
			AND (code_used_at = 0 OR code_used_at <= ?)`,
			[]any{us, us, micros(now.Add(-usedCodeRetention))}},
		{`DELETE FROM access_tokens WHERE expires_at <= ?`, []any{us}},
		{`DELETE FROM refresh_tokens WHERE expires_at <= ?`, []any{us}},
		{`DELETE FROM sessions WHERE expires_at <= ? OR revoked_at <> 0`, []any{us}},
		{`DELETE FROM counters WHERE window_end <= ?`, []any{us}},
		{`DELETE FROM alert_tokens WHERE expires_at <= ?`, []any{us}},
		{`DELETE FROM pushed_auth_requests WHERE expires_at <= ?`, []any{us}},
		{`DELETE FROM client_assertions WHERE expires_at <= ?`, []any{us}},
		{`DELETE FROM used_confirmations WHERE expires_at <= ?`, []any{us}},
		// A self-reset whose code was never confirmed is dead once the
		// code expired; a finished one is kept a day for the employee's
		// questions, its audit rows for good.
		{`DELETE FROM mfa_self_resets WHERE (eligible_at = 0 AND code_expires_at <= ?)
			OR ((cancelled_at <> 0 OR completed_at <> 0) AND created_at <= ?)`,
			[]any{us, micros(now.Add(-usedCodeRetention))}},
	})
}

// deletion is one pruning statement and its arguments.
type deletion struct {
	query string
	args  []any
}

// deleteEach runs each deletion in its own statement and returns how many
// rows they removed together.
func deleteEach(ctx context.Context, s *Store, ds []deletion) (int64, error) {
	var total int64
	for _, d := range ds {
		n, err := exec(ctx, s.db, d.query, d.args...)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}
