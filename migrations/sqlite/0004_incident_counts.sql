-- Each user's open incidents per severity and status, kept in step with `ticket_visibility` by the
-- store: the tables' totals and the dashboard's tiles read a handful of counters instead of
-- counting thousands of rows for a user who receives many tickets.
CREATE TABLE incident_counts (
    user_id   BIGINT NOT NULL REFERENCES users (id),
    severity  INTEGER NOT NULL,
    status    TEXT NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (user_id, severity, status)
) WITHOUT ROWID;
INSERT INTO incident_counts (user_id, severity, status, n)
    SELECT user_id, severity, status, COUNT(*) FROM ticket_visibility
    WHERE severity IS NOT NULL AND status <> 'closed'
    GROUP BY user_id, severity, status;

-- A user's open incidents newest first (the default of several sorts and of the dashboard panel).
CREATE INDEX ticket_visibility_open_incidents_created ON ticket_visibility (user_id, created_at DESC, ticket_id DESC)
    WHERE severity IS NOT NULL AND status <> 'closed';
