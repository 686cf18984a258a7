-- Marks an authorization code presented after it was redeemed, so the
-- redemption that won a race can see it and revoke its own tokens.

-- +goose Up
ALTER TABLE auth_requests ADD COLUMN code_reused_at BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE auth_requests DROP COLUMN code_reused_at;
