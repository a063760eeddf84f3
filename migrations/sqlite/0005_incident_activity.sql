-- When each visible ticket was closed, so that the activity counters below can follow changes.
ALTER TABLE ticket_visibility ADD COLUMN closed_at TEXT;
UPDATE ticket_visibility SET closed_at = (SELECT t.closed_at FROM tickets t WHERE t.id = ticket_visibility.ticket_id);

-- Each user's incidents opened and closed per hour (hours since the Unix epoch, UTC), kept in
-- step by the store: the dashboard's 30-day chart reads at most 720 rows per user and groups
-- them into days of the reader's time zone.
CREATE TABLE incident_activity (
    user_id  BIGINT NOT NULL REFERENCES users (id),
    hour     BIGINT NOT NULL,
    opened   BIGINT NOT NULL,
    closed   BIGINT NOT NULL,
    PRIMARY KEY (user_id, hour)
) WITHOUT ROWID;
INSERT INTO incident_activity (user_id, hour, opened, closed)
    SELECT user_id, hour, SUM(opened), SUM(closed) FROM (
        SELECT user_id, CAST(strftime('%s', created_at) AS INTEGER) / 3600 AS hour, 1 AS opened, 0 AS closed
        FROM ticket_visibility WHERE severity IS NOT NULL
        UNION ALL
        SELECT user_id, CAST(strftime('%s', closed_at) AS INTEGER) / 3600 AS hour, 0 AS opened, 1 AS closed
        FROM ticket_visibility WHERE severity IS NOT NULL AND closed_at IS NOT NULL
    ) AS events GROUP BY user_id, hour;

-- The support desk's chart reads incidents opened and closed across every account.
CREATE INDEX tickets_incidents_created ON tickets (created_at) WHERE severity IS NOT NULL;
CREATE INDEX tickets_incidents_closed ON tickets (closed_at) WHERE severity IS NOT NULL AND closed_at IS NOT NULL;
