-- Clients that authenticate with their own keys and push their
-- authorization requests: the registered key set (by value or by URI),
-- the per-client PAR requirement, pushed requests (RFC 9126) and the JWT
-- IDs of client assertions (RFC 7523) seen, so a replay is refused by
-- every process. Portable SQL as in 00001_init.sql.

-- +goose Up
ALTER TABLE clients ADD COLUMN jwks TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN jwks_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN require_par SMALLINT NOT NULL DEFAULT 0;

-- One row per push; the request_uri itself is only in the client's answer.
CREATE TABLE pushed_auth_requests (
    uri_hash   TEXT   NOT NULL PRIMARY KEY,
    client_id  TEXT   NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    params     TEXT   NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL DEFAULT 0,
    used_at    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX pushed_auth_requests_expires_at ON pushed_auth_requests (expires_at);

-- A client assertion's jti, kept until the assertion expires.
CREATE TABLE client_assertions (
    client_id  TEXT   NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    jti        TEXT   NOT NULL,
    expires_at BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX client_assertions_expires_at ON client_assertions (expires_at);

-- +goose Down
DROP TABLE client_assertions;
DROP TABLE pushed_auth_requests;
ALTER TABLE clients DROP COLUMN require_par;
ALTER TABLE clients DROP COLUMN jwks_uri;
ALTER TABLE clients DROP COLUMN jwks;
