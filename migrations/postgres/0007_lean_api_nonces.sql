-- A spent nonce is written on every signed API call: keep it to the table and its primary key and
-- let the few-times-an-hour purge scan the table instead of maintaining a time index per call.
DROP INDEX api_nonces_seen;
