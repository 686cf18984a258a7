-- Password reset (account activation) and captchas. Portable SQL as in
-- 00001_init.sql: BIGINT unix microseconds (0 = unset).

-- +goose Up
-- One row per browser going through the reset, for known and unknown NIPs
-- alike; user_id is '' for an unknown NIP. code_hash is '' when no code
-- was mailed or the code was voided.
CREATE TABLE reset_requests (
    id               TEXT    NOT NULL PRIMARY KEY,
    token_hash       TEXT    NOT NULL UNIQUE,
    auth_request_id  TEXT    NOT NULL DEFAULT '',
    nip              TEXT    NOT NULL,
    user_id          TEXT    NOT NULL DEFAULT '',
    code_hash        TEXT    NOT NULL DEFAULT '',
    code_issued_at   BIGINT  NOT NULL DEFAULT 0,
    code_expires_at  BIGINT  NOT NULL DEFAULT 0,
    code_attempts    INTEGER NOT NULL DEFAULT 0,
    code_verified_at BIGINT  NOT NULL DEFAULT 0,
    completed_at     BIGINT  NOT NULL DEFAULT 0,
    created_at       BIGINT  NOT NULL DEFAULT 0,
    expires_at       BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX reset_requests_nip ON reset_requests (nip);
CREATE INDEX reset_requests_user_id ON reset_requests (user_id);
CREATE INDEX reset_requests_expires_at ON reset_requests (expires_at);

-- Every code sent (or pretended sent) per NIP, for the per-minute, hour and
-- day limits; a send whose mail could not be delivered is deleted.
CREATE TABLE reset_sends (
    nip        TEXT   NOT NULL,
    request_id TEXT   NOT NULL,
    sent_at    BIGINT NOT NULL
);
CREATE INDEX reset_sends_nip ON reset_sends (nip, sent_at);
CREATE INDEX reset_sends_request_id ON reset_sends (request_id);

CREATE TABLE captchas (
    id           TEXT   NOT NULL PRIMARY KEY,
    action       TEXT   NOT NULL,
    binding_hash TEXT   NOT NULL,
    answer       TEXT   NOT NULL,
    created_at   BIGINT NOT NULL DEFAULT 0,
    expires_at   BIGINT NOT NULL DEFAULT 0,
    used_at      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX captchas_expires_at ON captchas (expires_at);

-- +goose Down
DROP TABLE captchas;
DROP TABLE reset_sends;
DROP TABLE reset_requests;
