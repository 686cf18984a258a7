-- Per-client token formats: the ID token signing algorithm
-- (id_token_signed_response_alg; empty is RS256) and RFC 9068 JWT access
-- tokens. Portable SQL as in 00001_init.sql.

-- +goose Up
ALTER TABLE clients ADD COLUMN id_token_alg TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN access_token_jwt SMALLINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE clients DROP COLUMN access_token_jwt;
ALTER TABLE clients DROP COLUMN id_token_alg;
