-- Spent nonces and call counts are written on every signed API call and live a few minutes. Each
-- row is written through a read of its key in the same statement, and keys are never deleted, so
-- the foreign keys guarded nothing but cost a lookup of the key per row written.
CREATE TABLE api_nonces_new (
    api_key_id  BIGINT NOT NULL,
    nonce       TEXT NOT NULL,
    seen_at     TEXT NOT NULL,
    PRIMARY KEY (api_key_id, nonce)
) WITHOUT ROWID;
INSERT INTO api_nonces_new (api_key_id, nonce, seen_at) SELECT api_key_id, nonce, seen_at FROM api_nonces;
DROP TABLE api_nonces;
ALTER TABLE api_nonces_new RENAME TO api_nonces;
CREATE TABLE api_rate_new (
    api_key_id  BIGINT NOT NULL,
    minute      BIGINT NOT NULL,
    calls       BIGINT NOT NULL,
    PRIMARY KEY (api_key_id, minute)
) WITHOUT ROWID;
INSERT INTO api_rate_new (api_key_id, minute, calls) SELECT api_key_id, minute, calls FROM api_rate;
DROP TABLE api_rate;
ALTER TABLE api_rate_new RENAME TO api_rate;
