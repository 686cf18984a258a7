-- Recovery codes, the second factor of an employee who cannot open the
-- authenticator app. Portable SQL as in 00001_init.sql.

-- +goose Up
-- One row per code, by its keyed hash; a used code keeps its row with
-- used_at set, so it is refused rather than unknown, and the account page
-- can say how many are left.
CREATE TABLE recovery_codes (
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT   NOT NULL,
    created_at BIGINT NOT NULL DEFAULT 0,
    used_at    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, code_hash)
);
-- When the employee last put off saving codes; the offer can be skipped
-- once.
ALTER TABLE users ADD COLUMN recovery_skipped_at BIGINT NOT NULL DEFAULT 0;
-- When a recovery code was accepted for a pending login: it must enrol a
-- new authenticator before it completes.
ALTER TABLE auth_requests ADD COLUMN recovery_at BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE auth_requests DROP COLUMN recovery_at;
ALTER TABLE users DROP COLUMN recovery_skipped_at;
DROP TABLE recovery_codes;
