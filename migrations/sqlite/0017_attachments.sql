-- Attachments: files on tickets and comments. The bytes are content addressed: one `blobs` row
-- per account and SHA-256, however often the file is attached; each `attachments` row is one
-- file on one ticket (and comment), with the name and type its uploader gave. The bytes themselves
-- live in the byte store under `blobs.object_key`: on SQLite in the attached `files` file (see
-- `migrations/sqlite_files.sql`), on PostgreSQL in `file_chunks`.
CREATE TABLE blobs (
    id             INTEGER PRIMARY KEY,
    account_id     BIGINT NOT NULL REFERENCES accounts (id),
    sha256         TEXT NOT NULL,
    size           BIGINT NOT NULL,
    -- The byte store's key of the bytes (random; never a name a user gave).
    object_key     TEXT NOT NULL UNIQUE,
    -- The type the bytes are, as detected from them; NULL when unknown.
    detected_type  TEXT,
    -- none (no scanner), pending, clean, infected, unchecked (the scanner was down; allowed).
    scan_state     TEXT NOT NULL,
    -- The signature a scan found.
    scan_detail    TEXT,
    -- The scanner looks at it then (NULL: never again); a scanner holding it pushes it on.
    scan_due_at    TEXT,
    scan_attempts  INTEGER NOT NULL DEFAULT 0,
    scanned_at     TEXT,
    -- made or none, once a preview was tried (images only); NULL before.
    preview_state  TEXT,
    created_at     TEXT NOT NULL
);
CREATE UNIQUE INDEX blobs_content ON blobs (account_id, sha256);
CREATE INDEX blobs_scan_due ON blobs (scan_due_at) WHERE scan_due_at IS NOT NULL;

CREATE TABLE attachments (
    id             INTEGER PRIMARY KEY,
    -- What addresses and links name: random, not guessable.
    public_id      TEXT NOT NULL UNIQUE,
    ticket_id      BIGINT NOT NULL REFERENCES tickets (id),
    -- NULL: attached when the ticket was opened.
    comment_id     BIGINT REFERENCES comments (id),
    blob_id        BIGINT NOT NULL REFERENCES blobs (id),
    -- The name as cleaned for display and headers.
    name           TEXT NOT NULL,
    -- The type the uploader's browser declared (display only; never served as such).
    declared_type  TEXT,
    -- On an internal note: never shown to customers.
    internal       BOOLEAN NOT NULL DEFAULT FALSE,
    uploaded_by    BIGINT NOT NULL REFERENCES users (id),
    created_at     TEXT NOT NULL
);
CREATE INDEX attachments_ticket ON attachments (ticket_id, created_at, id);
CREATE INDEX attachments_blob ON attachments (blob_id);

-- Bytes to delete from the byte store, written in the transaction that made them unreferenced
-- (an attachment's last reference removed, or an upload stored already): deleted after it
-- commits, or by housekeeping after a crash.
CREATE TABLE blob_deletions (
    object_key     TEXT PRIMARY KEY,
    created_at     TEXT NOT NULL
);
