-- The original provider's API, for integrations that move over unchanged.
-- An account administrator's two switches: FH-AUTH (tokens from a user's email and password) is
-- off until they turn it on; `require_query_signing` refuses API key calls signed the original way
-- (the path without its query string) and accepts only the portal's documented form.
ALTER TABLE accounts ADD COLUMN fh_auth_enabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE accounts ADD COLUMN require_query_signing BOOLEAN NOT NULL DEFAULT FALSE;

-- FH-AUTH codes (step one, two minutes, spent once) and access tokens (15 minutes, extended by a
-- reissue, never beyond the session's absolute lifetime). Only a SHA-256 of each is kept. They
-- end with the user's sessions: every statement that deletes a user's sessions deletes these.
CREATE TABLE fh_auth_tokens (
    token_hash  TEXT PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users (id),
    kind        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX fh_auth_tokens_user ON fh_auth_tokens (user_id);
CREATE INDEX fh_auth_tokens_expires ON fh_auth_tokens (expires_at);
