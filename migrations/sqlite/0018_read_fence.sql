-- PostgreSQL's read replicas serve a user only past this position (see the PostgreSQL migration);
-- SQLite has no replicas and leaves it empty, so that both schemas stay the same.
ALTER TABLE users ADD COLUMN read_fence BIGINT;
