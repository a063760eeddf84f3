-- The open-incident indexes carry the columns the lists filter on (severity and status), so that
-- a page reads the visibility rows it skips, and those it shows, from the index alone. Without
-- them, once a large table was vacuumed, the planner read all of the heavy user's open incidents
-- through the severity index (an index-only scan) and sorted them by date, rather than walking
-- the date index and fetching a row of the table for each one skipped: 9 ms instead of 0.4 ms.
DROP INDEX ticket_visibility_open_incidents;
CREATE INDEX ticket_visibility_open_incidents ON ticket_visibility (user_id, severity DESC, created_at DESC, ticket_id DESC, status)
    WHERE severity IS NOT NULL AND status <> 'closed';
DROP INDEX ticket_visibility_open_incidents_created;
CREATE INDEX ticket_visibility_open_incidents_created ON ticket_visibility (user_id, created_at DESC, ticket_id DESC, severity, status)
    WHERE severity IS NOT NULL AND status <> 'closed';
