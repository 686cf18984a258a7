-- The back-channel logout queue. Portable SQL as in 00001_init.sql.

-- +goose Up
CREATE TABLE logout_deliveries (
    id              TEXT    NOT NULL PRIMARY KEY,
    client_id       TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    uri             TEXT    NOT NULL,
    session_id      TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL,
    UNIQUE (client_id, session_id)
);
CREATE INDEX logout_deliveries_due ON logout_deliveries (next_attempt_at);
CREATE INDEX auth_requests_session ON auth_requests (session_id);

-- +goose Down
DROP INDEX auth_requests_session;
DROP TABLE logout_deliveries;
