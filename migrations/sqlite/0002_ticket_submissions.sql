-- A one-time key from the "open a ticket" form, so a resubmitted form opens one ticket.
ALTER TABLE tickets ADD COLUMN submission_key TEXT;
CREATE UNIQUE INDEX tickets_submission_key ON tickets (submission_key);
-- The support queue's "not labelled" filter and count.
CREATE INDEX tickets_open_unlabelled ON tickets (created_at DESC, id DESC)
    WHERE severity IS NULL AND status <> 'closed';
