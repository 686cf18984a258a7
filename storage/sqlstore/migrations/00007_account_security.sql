-- What protects an account around its factors: the one-time "Bukan saya"
-- links of security mails, the browsers an account has signed in from,
-- and the employee's own reset of a lost authenticator. Portable SQL as in
-- 00001_init.sql.

-- +goose Up
-- One row per link sent; the token itself is only in the mail.
CREATE TABLE alert_tokens (
    token_hash TEXT   NOT NULL PRIMARY KEY,
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT   NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL DEFAULT 0,
    used_at    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX alert_tokens_expires_at ON alert_tokens (expires_at);

-- A browser by the keyed hash of its long-lived device cookie: no
-- fingerprint, only a value the browser keeps.
CREATE TABLE known_devices (
    user_id     TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_hash TEXT   NOT NULL,
    first_seen  BIGINT NOT NULL DEFAULT 0,
    last_seen   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, device_hash)
);

-- The employee's reset of a lost authenticator: a mailed code proves the
-- address, then a waiting period gives the owner time to cancel.
CREATE TABLE mfa_self_resets (
    id              TEXT    NOT NULL PRIMARY KEY,
    user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash       TEXT    NOT NULL DEFAULT '',
    code_expires_at BIGINT  NOT NULL DEFAULT 0,
    code_attempts   INTEGER NOT NULL DEFAULT 0,
    eligible_at     BIGINT  NOT NULL DEFAULT 0,
    cancelled_at    BIGINT  NOT NULL DEFAULT 0,
    completed_at    BIGINT  NOT NULL DEFAULT 0,
    created_at      BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX mfa_self_resets_user_id ON mfa_self_resets (user_id);

-- +goose Down
DROP TABLE mfa_self_resets;
DROP TABLE known_devices;
DROP TABLE alert_tokens;
