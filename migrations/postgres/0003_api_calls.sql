-- Per-key rate limiting counts a key's recent calls through its accepted nonces.
CREATE INDEX api_nonces_key_seen ON api_nonces (api_key_id, seen_at);
