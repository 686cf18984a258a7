-- The agency console: who may use it with which role, and the
-- confirmation tokens of its actions that were used. Portable SQL as in
-- 00001_init.sql: BIGINT unix microseconds, CHECK constraints both engines
-- enforce.

-- +goose Up
-- One role per account. An agency or helpdesk role names one agency, the
-- national role none; the storage checks that the agency exists.
CREATE TABLE operators (
    user_id    TEXT   NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT   NOT NULL CHECK (role IN ('national', 'agency', 'helpdesk')),
    instansi   TEXT   NOT NULL DEFAULT '',
    granted_by TEXT   NOT NULL DEFAULT '',
    granted_at BIGINT NOT NULL DEFAULT 0,
    CHECK ((role = 'national' AND instansi = '') OR (role <> 'national' AND instansi <> ''))
);

-- A used confirmation token by its random id, kept until the token
-- expires: a replay finds its row.
CREATE TABLE used_confirmations (
    id         TEXT   NOT NULL PRIMARY KEY,
    expires_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX used_confirmations_expires_at ON used_confirmations (expires_at);

-- +goose Down
DROP TABLE used_confirmations;
DROP TABLE operators;
