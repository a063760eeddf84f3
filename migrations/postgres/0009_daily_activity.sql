-- Each user's incidents opened and closed per day of their own time zone (days since
-- 1970-01-01 of the local date), so the dashboard's 30-day chart reads at most 30 rows. The zone
-- the rows were built in is kept with the user; the store builds a user's rows from
-- ticket_visibility on their first dashboard and again after their time zone changes, so every
-- user starts without rows here.
DROP TABLE incident_activity;
CREATE TABLE incident_activity (
    user_id  BIGINT NOT NULL REFERENCES users (id),
    day      BIGINT NOT NULL,
    opened   BIGINT NOT NULL,
    closed   BIGINT NOT NULL,
    PRIMARY KEY (user_id, day)
);
ALTER TABLE users ADD COLUMN activity_zone TEXT;
