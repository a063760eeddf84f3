-- Webhooks: an account's endpoints, which the notification sender calls with the customer-facing
-- events of the account's tickets, signed per the Standard Webhooks specification. Each call is a
-- row of `notification_deliveries` (channel 'webhook', `endpoint_id` set).
-- AUTOINCREMENT: a deleted endpoint's id is never given to another, whose delivery log would
-- otherwise list the calls of the first (PostgreSQL's identity never reuses a value).
CREATE TABLE webhook_endpoints (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      BIGINT NOT NULL REFERENCES accounts (id),
    url             TEXT NOT NULL,
    -- The notice kinds it hears of, by code, comma-separated.
    kinds           TEXT NOT NULL,
    -- Only tickets of this severity (a rank) and above; NULL: every ticket, labelled or not.
    min_severity    SMALLINT,
    -- standard, slack or teams
    format          TEXT NOT NULL,
    enabled         BOOLEAN NOT NULL DEFAULT TRUE,
    -- The signing secret (whsec_…), encrypted like API key secrets and bound to this endpoint.
    secret_ciphertext TEXT NOT NULL,
    -- After a rotation the previous secret signs too, until then.
    previous_secret_ciphertext TEXT,
    previous_secret_until TEXT,
    created_at      TEXT NOT NULL,
    secret_rotated_at TEXT
);
CREATE INDEX webhook_endpoints_account ON webhook_endpoints (account_id, id);

-- What the receiver answered (its first bytes, cleaned) and when it was last tried.
ALTER TABLE notification_deliveries ADD COLUMN response_excerpt TEXT;
ALTER TABLE notification_deliveries ADD COLUMN attempted_at TEXT;
-- An endpoint's delivery log, newest first.
CREATE INDEX notification_deliveries_endpoint ON notification_deliveries (endpoint_id, id DESC)
    WHERE endpoint_id IS NOT NULL;
