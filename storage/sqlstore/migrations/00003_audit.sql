-- The audit log, and the index operator tools need to find an agency's
-- accounts (leavers of an import, activation reports). Portable SQL as in
-- 00001_init.sql: BIGINT unix microseconds.

-- +goose Up
CREATE TABLE audit_events (
    id         TEXT   NOT NULL PRIMARY KEY,
    at         BIGINT NOT NULL,
    type       TEXT   NOT NULL,
    outcome    TEXT   NOT NULL DEFAULT '',
    reason     TEXT   NOT NULL DEFAULT '',
    nip        TEXT   NOT NULL DEFAULT '',
    user_id    TEXT   NOT NULL DEFAULT '',
    client_id  TEXT   NOT NULL DEFAULT '',
    ip         TEXT   NOT NULL DEFAULT '',
    user_agent TEXT   NOT NULL DEFAULT '',
    actor      TEXT   NOT NULL DEFAULT '',
    detail     TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_nip ON audit_events (nip, at);
CREATE INDEX audit_events_user_id ON audit_events (user_id, at);
CREATE INDEX audit_events_type ON audit_events (type, at);

CREATE INDEX users_instansi ON users (instansi, unit_kerja);

-- +goose Down
DROP INDEX users_instansi;
DROP TABLE audit_events;
