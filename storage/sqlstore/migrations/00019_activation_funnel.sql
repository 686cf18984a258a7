-- When each account was activated, and the indexes the activation funnel
-- of the agency console reads. Portable SQL as in 00001_init.sql.

-- +goose Up
-- The first time an authenticator was bound (0: never). It stays when the
-- authenticator is reset or replaced and when the account is disabled: it
-- dates the activation, which the daily trend counts, not the state.
ALTER TABLE users ADD COLUMN activated_at BIGINT NOT NULL DEFAULT 0;

-- Backfill from the audit log, which records every binding as a
-- successful mfa.enrolled row under the account's unchanging ID (an
-- authenticator replaced later is also mfa.enrolled; the first row is the
-- activation). One aggregate over the type index, not a lookup per user.
UPDATE users SET activated_at = e.first_at
FROM (SELECT user_id, MIN(at) AS first_at FROM audit_events
      WHERE type = 'mfa.enrolled' AND outcome = 'success' AND user_id <> ''
      GROUP BY user_id) AS e
WHERE e.user_id = users.id;

-- An account with a bound authenticator but no such row was written
-- outside the login pages; its creation is the best date there is (never
-- later than the activation).
UPDATE users SET activated_at = CASE WHEN created_at > 0 THEN created_at ELSE updated_at END
WHERE activated_at = 0 AND totp_secret IS NOT NULL;

-- The funnel: per agency and state, with the last sign-in, so counting
-- 1,000,000 accounts reads this index alone (covering), never the table.
CREATE INDEX users_funnel ON users (instansi, state, last_login_at);
-- The daily trend, nationally and per agency.
CREATE INDEX users_activated ON users (activated_at);
CREATE INDEX users_instansi_activated ON users (instansi, activated_at);
-- The pending list, by NIP for keyset pagination, per agency and per
-- agency and work unit. Partial: only accounts not active yet are in
-- them, so they shrink as the campaign goes on. Queries must repeat the
-- state condition word for word for SQLite to use them.
CREATE INDEX users_pending ON users (instansi, nip)
    WHERE state IN ('provisioned', 'password_set');
CREATE INDEX users_pending_unit ON users (instansi, unit_kerja, nip)
    WHERE state IN ('provisioned', 'password_set');

-- +goose Down
DROP INDEX users_pending_unit;
DROP INDEX users_pending;
DROP INDEX users_instansi_activated;
DROP INDEX users_activated;
DROP INDEX users_funnel;
ALTER TABLE users DROP COLUMN activated_at;
