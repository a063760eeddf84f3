-- The primary's write-ahead log position (in bytes) after a user's last change: a read replica
-- serves that user only once it has replayed this far.
ALTER TABLE users ADD COLUMN read_fence BIGINT;
