-- The spent nonces and call counts move to the attached `calls` database (created on connect, see
-- migrations/sqlite_calls.sql). Once main has no tables of these names, the unqualified names in
-- the queries find them there.
INSERT OR IGNORE INTO calls.api_nonces (api_key_id, nonce, seen_at) SELECT api_key_id, nonce, seen_at FROM main.api_nonces;
INSERT OR IGNORE INTO calls.api_rate (api_key_id, minute, calls) SELECT api_key_id, minute, calls FROM main.api_rate;
DROP TABLE main.api_nonces;
DROP TABLE main.api_rate;
