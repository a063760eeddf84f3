-- Two-factor sign-in. `users.totp_secret` (encrypted) and `totp_enabled_at` exist since 0001; a
-- secret without `totp_enabled_at` is an enrolment not yet confirmed with a code.
-- The last time step a code was accepted for: a code works once, and never after a later one.
ALTER TABLE users ADD COLUMN totp_last_step BIGINT;

-- Single-use recovery codes, kept as SHA-256 hashes; a used code is deleted.
CREATE TABLE recovery_codes (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);
