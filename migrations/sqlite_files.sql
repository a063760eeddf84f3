-- SQLite only: the bytes of attachments, in a third file attached to every connection as `files`
-- (see `store::files_db`), so that large blobs never crowd the main file's page cache and their
-- commits never make other connections drop it. Unlike `calls`, this file holds data that exists
-- nowhere else: back it up with the database. Its tables are those of the PostgreSQL migration
-- 0017 (`file_chunks`, `file_uploads`); a connection creates what is missing.
PRAGMA files.journal_mode = WAL;
PRAGMA files.synchronous = NORMAL;
-- Parts are written once and read in order, each by whichever connection is free: a small cache
-- per connection will do (a part's dirty pages beyond it spill to the WAL before the commit).
PRAGMA files.cache_size = -256;
-- A rowid table: WITHOUT ROWID suits small rows, and a part is up to 256 KiB.
CREATE TABLE IF NOT EXISTS files.file_chunks (
    object_key  TEXT NOT NULL,
    part        INTEGER NOT NULL,
    data        BLOB NOT NULL,
    PRIMARY KEY (object_key, part)
);
CREATE TABLE IF NOT EXISTS files.file_uploads (
    object_key  TEXT PRIMARY KEY,
    started_at  TEXT NOT NULL,
    touched_at  TEXT NOT NULL
) WITHOUT ROWID;
