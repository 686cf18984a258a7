-- One schema for SQLite and PostgreSQL, so it sticks to portable SQL:
--   * times are BIGINT unix microseconds, 0 meaning "not set";
--   * booleans are SMALLINT 0/1;
--   * string lists are JSON arrays in TEXT;
--   * byte strings are BYTEA. SQLite gives that type name NUMERIC affinity,
--     which stores a blob value unchanged, and only blobs are written there.
-- Rows that belong to a client go with it when the client is deleted.

-- +goose Up
CREATE TABLE users (
    id               TEXT     NOT NULL PRIMARY KEY,
    nip              TEXT     NOT NULL UNIQUE,
    name             TEXT     NOT NULL DEFAULT '',
    email            TEXT     NOT NULL DEFAULT '',
    email_verified   SMALLINT NOT NULL DEFAULT 0,
    instansi         TEXT     NOT NULL DEFAULT '',
    unit_kerja       TEXT     NOT NULL DEFAULT '',
    jabatan          TEXT     NOT NULL DEFAULT '',
    jenis_pegawai    TEXT     NOT NULL DEFAULT '',
    state            TEXT     NOT NULL
        CHECK (state IN ('provisioned', 'password_set', 'active', 'disabled')),
    password_hash    TEXT     NOT NULL DEFAULT '',
    totp_secret      BYTEA,
    totp_last_step   BIGINT   NOT NULL DEFAULT 0,
    failed_passwords INTEGER  NOT NULL DEFAULT 0,
    failed_totp      INTEGER  NOT NULL DEFAULT 0,
    locked_until     BIGINT   NOT NULL DEFAULT 0,
    password_locked  SMALLINT NOT NULL DEFAULT 0,
    totp_locked      SMALLINT NOT NULL DEFAULT 0,
    last_login_at    BIGINT   NOT NULL DEFAULT 0,
    created_at       BIGINT   NOT NULL DEFAULT 0,
    updated_at       BIGINT   NOT NULL DEFAULT 0
);

CREATE TABLE clients (
    id                        TEXT     NOT NULL PRIMARY KEY,
    name                      TEXT     NOT NULL DEFAULT '',
    secret_hash               TEXT     NOT NULL DEFAULT '',
    is_public                 SMALLINT NOT NULL DEFAULT 0,
    redirect_uris             TEXT     NOT NULL DEFAULT '[]',
    post_logout_redirect_uris TEXT     NOT NULL DEFAULT '[]',
    grant_types               TEXT     NOT NULL DEFAULT '[]',
    pkce_optional             SMALLINT NOT NULL DEFAULT 0,
    backchannel_logout_uri    TEXT     NOT NULL DEFAULT '',
    is_static                 SMALLINT NOT NULL DEFAULT 0,
    created_at                BIGINT   NOT NULL DEFAULT 0
);

CREATE TABLE auth_requests (
    id                    TEXT   NOT NULL PRIMARY KEY,
    browser_hash          TEXT   NOT NULL DEFAULT '',
    client_id             TEXT   NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    redirect_uri          TEXT   NOT NULL DEFAULT '',
    state                 TEXT   NOT NULL DEFAULT '',
    nonce                 TEXT   NOT NULL DEFAULT '',
    scopes                TEXT   NOT NULL DEFAULT '[]',
    response_type         TEXT   NOT NULL DEFAULT '',
    response_mode         TEXT   NOT NULL DEFAULT '',
    code_challenge        TEXT   NOT NULL DEFAULT '',
    code_challenge_method TEXT   NOT NULL DEFAULT '',
    prompt                TEXT   NOT NULL DEFAULT '[]',
    max_age               BIGINT NOT NULL DEFAULT -1,
    ui_locales            TEXT   NOT NULL DEFAULT '[]',
    login_hint            TEXT   NOT NULL DEFAULT '',
    hint_user_id          TEXT   NOT NULL DEFAULT '',
    user_id               TEXT   NOT NULL DEFAULT '',
    password_at           BIGINT NOT NULL DEFAULT 0,
    otp_at                BIGINT NOT NULL DEFAULT 0,
    auth_time             BIGINT NOT NULL DEFAULT 0,
    session_id            TEXT   NOT NULL DEFAULT '',
    enrol_secret          BYTEA,
    enrol_started_at      BIGINT NOT NULL DEFAULT 0,
    -- NULL until a code is issued; unique so a code names one request.
    code_hash             TEXT,
    code_expires_at       BIGINT NOT NULL DEFAULT 0,
    code_used_at          BIGINT NOT NULL DEFAULT 0,
    created_at            BIGINT NOT NULL DEFAULT 0,
    expires_at            BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX auth_requests_code_hash ON auth_requests (code_hash);
CREATE INDEX auth_requests_client_id ON auth_requests (client_id);
CREATE INDEX auth_requests_expires_at ON auth_requests (expires_at);

CREATE TABLE refresh_tokens (
    id         TEXT   NOT NULL PRIMARY KEY,
    token_hash TEXT   NOT NULL UNIQUE,
    family_id  TEXT   NOT NULL,
    grant_id   TEXT   NOT NULL DEFAULT '',
    client_id  TEXT   NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id    TEXT   NOT NULL DEFAULT '',
    scopes     TEXT   NOT NULL DEFAULT '[]',
    audience   TEXT   NOT NULL DEFAULT '[]',
    session_id TEXT   NOT NULL DEFAULT '',
    auth_time  BIGINT NOT NULL DEFAULT 0,
    amr        TEXT   NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL DEFAULT 0,
    used_at    BIGINT NOT NULL DEFAULT 0,
    revoked_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_grant_id ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_client_id ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE access_tokens (
    id               TEXT   NOT NULL PRIMARY KEY,
    client_id        TEXT   NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id          TEXT   NOT NULL DEFAULT '',
    scopes           TEXT   NOT NULL DEFAULT '[]',
    audience         TEXT   NOT NULL DEFAULT '[]',
    grant_id         TEXT   NOT NULL DEFAULT '',
    refresh_token_id TEXT   NOT NULL DEFAULT '',
    session_id       TEXT   NOT NULL DEFAULT '',
    auth_time        BIGINT NOT NULL DEFAULT 0,
    amr              TEXT   NOT NULL DEFAULT '[]',
    created_at       BIGINT NOT NULL DEFAULT 0,
    expires_at       BIGINT NOT NULL DEFAULT 0,
    revoked_at       BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX access_tokens_grant_id ON access_tokens (grant_id);
CREATE INDEX access_tokens_user_id ON access_tokens (user_id);
CREATE INDEX access_tokens_session_id ON access_tokens (session_id);
CREATE INDEX access_tokens_refresh_token_id ON access_tokens (refresh_token_id);
CREATE INDEX access_tokens_client_id ON access_tokens (client_id);
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);

CREATE TABLE sessions (
    id           TEXT   NOT NULL PRIMARY KEY,
    token_hash   TEXT   NOT NULL UNIQUE,
    user_id      TEXT   NOT NULL,
    auth_time    BIGINT NOT NULL DEFAULT 0,
    amr          TEXT   NOT NULL DEFAULT '[]',
    created_at   BIGINT NOT NULL DEFAULT 0,
    last_seen_at BIGINT NOT NULL DEFAULT 0,
    expires_at   BIGINT NOT NULL DEFAULT 0,
    revoked_at   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE signing_keys (
    id             TEXT   NOT NULL PRIMARY KEY,
    algorithm      TEXT   NOT NULL,
    private_sealed BYTEA  NOT NULL,
    public_jwk     BYTEA  NOT NULL,
    created_at     BIGINT NOT NULL DEFAULT 0,
    active_at      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX signing_keys_active_at ON signing_keys (active_at);

-- One key may be counted in windows of several lengths at once (per
-- minute, per hour, per day), so the length is part of the identity.
CREATE TABLE counters (
    key          TEXT   NOT NULL,
    window_len   BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    window_end   BIGINT NOT NULL,
    hits         BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key, window_len, window_start)
);
CREATE INDEX counters_window_end ON counters (window_end);

-- +goose Down
DROP TABLE counters;
DROP TABLE signing_keys;
DROP TABLE sessions;
DROP TABLE access_tokens;
DROP TABLE refresh_tokens;
DROP TABLE auth_requests;
DROP TABLE clients;
DROP TABLE users;
