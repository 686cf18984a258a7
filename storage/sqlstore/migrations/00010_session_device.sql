-- The browser a session was started in, for the account page's list of
-- active sessions: the User-Agent header (bounded by the login pages) and
-- the client IP. Portable SQL as in 00001_init.sql; rows from before are
-- left empty and shown as an unknown device.

-- +goose Up
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN ip TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE sessions DROP COLUMN ip;
ALTER TABLE sessions DROP COLUMN user_agent;
