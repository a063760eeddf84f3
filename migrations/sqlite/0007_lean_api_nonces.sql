-- A spent nonce is written on every signed API call: keep it to one b-tree (the primary key) and
-- let the few-times-an-hour purge scan the table instead of maintaining a time index per call.
CREATE TABLE api_nonces_new (
    api_key_id  BIGINT NOT NULL REFERENCES api_keys (id),
    nonce       TEXT NOT NULL,
    seen_at     TEXT NOT NULL,
    PRIMARY KEY (api_key_id, nonce)
) WITHOUT ROWID;
INSERT INTO api_nonces_new (api_key_id, nonce, seen_at) SELECT api_key_id, nonce, seen_at FROM api_nonces;
DROP TABLE api_nonces;
ALTER TABLE api_nonces_new RENAME TO api_nonces;
