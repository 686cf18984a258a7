-- The authentication context class an authorization request asked for
-- and the provider chose among its acr_values: the step-up level asks for
-- a second factor entered in this very request, even inside an SSO
-- session. Empty: the provider's default level. Portable SQL as in
-- 00001_init.sql.

-- +goose Up
ALTER TABLE auth_requests ADD COLUMN acr TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE auth_requests DROP COLUMN acr;
