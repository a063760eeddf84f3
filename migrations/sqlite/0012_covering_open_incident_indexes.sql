-- The open-incident indexes carry the columns the lists filter on (severity and status), so that
-- a page reads the visibility rows it skips, and those it shows, from the index alone. The heavy
-- user's newest Critical and High incidents skipped three rows for each one shown, and each was a
-- read of a row scattered through a table of millions.
DROP INDEX ticket_visibility_open_incidents;
CREATE INDEX ticket_visibility_open_incidents ON ticket_visibility (user_id, severity DESC, created_at DESC, ticket_id DESC, status)
    WHERE severity IS NOT NULL AND status <> 'closed';
DROP INDEX ticket_visibility_open_incidents_created;
CREATE INDEX ticket_visibility_open_incidents_created ON ticket_visibility (user_id, created_at DESC, ticket_id DESC, severity, status)
    WHERE severity IS NOT NULL AND status <> 'closed';
