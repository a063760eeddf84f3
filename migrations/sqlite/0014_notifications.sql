-- Notifications. A change that someone should hear of writes a row to `notification_events` in
-- its own transaction (the outbox): a committed change always notifies, a rolled-back one never.
-- A sender in each instance fans each event out into `notification_deliveries`, one per mail or
-- webhook call, and sends those with retries.
CREATE TABLE notification_events (
    id           INTEGER PRIMARY KEY,
    ticket_id    BIGINT NOT NULL REFERENCES tickets (id),
    kind         TEXT NOT NULL,
    actor_id     BIGINT REFERENCES users (id),
    -- The comment the notice carries (a reply, a reason, a resolution); never an internal note.
    comment_id   BIGINT REFERENCES comments (id),
    -- The ticket's severity after the change (a rank), for thresholds.
    severity     SMALLINT,
    created_at   TEXT NOT NULL,
    -- A sender is fanning it out until then; another takes it over only after.
    claimed_until TEXT,
    expanded_at  TEXT
);
CREATE INDEX notification_events_waiting ON notification_events (id) WHERE expanded_at IS NULL;
CREATE INDEX notification_events_ticket ON notification_events (ticket_id, id);

CREATE TABLE notification_deliveries (
    id             INTEGER PRIMARY KEY,
    event_id       BIGINT NOT NULL REFERENCES notification_events (id),
    channel        TEXT NOT NULL,
    -- A mail to a user, or to an address of the desk's; a webhook call to an endpoint.
    user_id        BIGINT REFERENCES users (id),
    address        TEXT,
    endpoint_id    BIGINT,
    -- Waits for the user's daily digest instead of going out on its own.
    digest         BOOLEAN NOT NULL DEFAULT FALSE,
    -- pending, sent, failed (given up after a day), dropped (no longer visible to its reader),
    -- recorded (mail is off: kept to be read on the desk's page)
    state          TEXT NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    due_at         TEXT NOT NULL,
    -- A sender holds it until then; another takes it over only after.
    claimed_until  TEXT,
    last_error     TEXT,
    response_code  INTEGER,
    subject        TEXT,
    created_at     TEXT NOT NULL,
    sent_at        TEXT
);

-- One-click unsubscribe links already used (their hash): each works once.
CREATE TABLE used_unsubscribe_links (
    link_hash  TEXT PRIMARY KEY,
    used_at    TEXT NOT NULL
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (due_at) WHERE state = 'pending';
CREATE INDEX notification_deliveries_recent ON notification_deliveries (id DESC);

-- What a user wants to hear of. No row: every kind, every severity, at once.
CREATE TABLE notification_preferences (
    user_id        BIGINT PRIMARY KEY REFERENCES users (id),
    -- Kinds turned off, by code, comma-separated.
    muted_kinds    TEXT NOT NULL DEFAULT '',
    min_severity   SMALLINT,
    digest         BOOLEAN NOT NULL DEFAULT FALSE,
    -- The hour of the user's own day the digest goes out.
    digest_hour    SMALLINT NOT NULL DEFAULT 8
);

-- "Don't notify me" on a ticket's page.
CREATE TABLE ticket_mutes (
    user_id    BIGINT NOT NULL REFERENCES users (id),
    ticket_id  BIGINT NOT NULL REFERENCES tickets (id),
    PRIMARY KEY (user_id, ticket_id)
);
