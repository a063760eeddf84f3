-- Calls per key per minute (minutes since the Unix epoch): one counter to bump and read per call,
-- where counting a busy key's recent nonces read thousands of rows.
CREATE TABLE api_rate (
    api_key_id  BIGINT NOT NULL REFERENCES api_keys (id),
    minute      BIGINT NOT NULL,
    calls       BIGINT NOT NULL,
    PRIMARY KEY (api_key_id, minute)
);
DROP INDEX api_nonces_key_seen;
