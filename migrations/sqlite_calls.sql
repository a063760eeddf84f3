-- SQLite only: the spent nonces and call counts of signed API calls, in a second file attached to
-- every connection as `calls` (see `store::calls`). They live minutes and are purged, so this
-- file needs no migrations: a connection creates what is missing, and a lost file costs only the
-- nonces and counts of the last minutes.
PRAGMA calls.journal_mode = WAL;
PRAGMA calls.synchronous = NORMAL;
-- Its pages are written by every signed call and read by nothing else: a small cache will do.
PRAGMA calls.cache_size = -512;
-- `nonce` holds the call's key: the nonce, a space and a digest of the call (see
-- `auth::api_key::call_key`), so that only an exact replay collides.
CREATE TABLE IF NOT EXISTS calls.api_nonces (
    api_key_id  BIGINT NOT NULL,
    nonce       TEXT NOT NULL,
    seen_at     TEXT NOT NULL,
    PRIMARY KEY (api_key_id, nonce)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS calls.api_rate (
    api_key_id  BIGINT NOT NULL,
    minute      BIGINT NOT NULL,
    calls       BIGINT NOT NULL,
    PRIMARY KEY (api_key_id, minute)
) WITHOUT ROWID;
