-- The whole domain of PRODUCT.md. Keep in step with migrations/postgres/0001_schema.sql.

CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY,
    number        BIGINT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    mfa_required  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TEXT NOT NULL
);

CREATE TABLE users (
    id                INTEGER PRIMARY KEY,
    -- NULL for the provider's support staff, who belong to no customer account.
    account_id        BIGINT REFERENCES accounts (id),
    email             TEXT NOT NULL UNIQUE,
    first_name        TEXT NOT NULL,
    last_name         TEXT NOT NULL,
    password_hash     TEXT,
    is_support        BOOLEAN NOT NULL DEFAULT FALSE,
    is_support_admin  BOOLEAN NOT NULL DEFAULT FALSE,
    enabled           BOOLEAN NOT NULL DEFAULT TRUE,
    time_zone         TEXT NOT NULL DEFAULT 'UTC',
    totp_secret       TEXT,
    totp_enabled_at   TEXT,
    created_at        TEXT NOT NULL,
    last_sign_in_at   TEXT,
    password_changed_at TEXT,
    CHECK ((account_id IS NULL) = is_support)
);
CREATE INDEX users_account ON users (account_id);

CREATE TABLE roles (
    id          INTEGER PRIMARY KEY,
    account_id  BIGINT NOT NULL REFERENCES accounts (id),
    name        TEXT NOT NULL,
    -- 'admin', 'technical' or 'billing' for the provider-defined roles; their permissions live in code.
    builtin     TEXT,
    created_at  TEXT NOT NULL,
    UNIQUE (account_id, name)
);

CREATE TABLE role_permissions (
    role_id     BIGINT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    permission  TEXT NOT NULL,
    PRIMARY KEY (role_id, permission)
);

CREATE TABLE role_members (
    role_id  BIGINT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL REFERENCES users (id),
    PRIMARY KEY (role_id, user_id)
);
CREATE INDEX role_members_user ON role_members (user_id);

-- Ticket numbers are ATS-<id>; start where real-looking numbers start (see below).
CREATE TABLE tickets (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id            BIGINT NOT NULL REFERENCES accounts (id),
    summary               TEXT NOT NULL,
    description           TEXT NOT NULL DEFAULT '',
    opener_id             BIGINT NOT NULL REFERENCES users (id),
    status                TEXT NOT NULL,
    -- 1 Low .. 4 Critical; NULL while the ticket is not labelled as a security incident.
    severity              INTEGER,
    closure_requested_by  BIGINT REFERENCES users (id),
    closure_requested_at  TEXT,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    closed_at             TEXT,
    -- Bumped on every change, so a change made from a stale page is detected.
    version               BIGINT NOT NULL DEFAULT 1,
    CHECK (status IN ('open', 'requires_attention', 'closed')),
    CHECK (severity BETWEEN 1 AND 4)
);
-- The support queue: open incidents across accounts, most severe and newest first.
CREATE INDEX tickets_open_incidents ON tickets (severity DESC, created_at DESC, id DESC)
    WHERE severity IS NOT NULL AND status <> 'closed';
CREATE INDEX tickets_open_incidents_by_account ON tickets (account_id, severity DESC, created_at DESC, id DESC)
    WHERE severity IS NOT NULL AND status <> 'closed';
CREATE INDEX tickets_account_created ON tickets (account_id, created_at DESC);
INSERT INTO sqlite_sequence (name, seq) VALUES ('tickets', 100000);

CREATE TABLE ticket_recipients (
    ticket_id  BIGINT NOT NULL REFERENCES tickets (id),
    user_id    BIGINT NOT NULL REFERENCES users (id),
    added_by   BIGINT REFERENCES users (id),
    added_at   TEXT NOT NULL,
    PRIMARY KEY (ticket_id, user_id)
);
CREATE INDEX ticket_recipients_user ON ticket_recipients (user_id);

-- One row per (user, ticket) the user may see as opener or recipient, carrying the columns the
-- incident lists filter and sort on. Kept in step by the store on every change, so a user's list
-- reads only their own rows instead of every ticket of the account.
CREATE TABLE ticket_visibility (
    user_id     BIGINT NOT NULL REFERENCES users (id),
    ticket_id   BIGINT NOT NULL REFERENCES tickets (id),
    severity    INTEGER,
    status      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (user_id, ticket_id)
);
CREATE INDEX ticket_visibility_open_incidents ON ticket_visibility (user_id, severity DESC, created_at DESC, ticket_id DESC)
    WHERE severity IS NOT NULL AND status <> 'closed';
CREATE INDEX ticket_visibility_user_created ON ticket_visibility (user_id, created_at DESC, ticket_id DESC);
CREATE INDEX ticket_visibility_ticket ON ticket_visibility (ticket_id);

CREATE TABLE comments (
    id              INTEGER PRIMARY KEY,
    ticket_id       BIGINT NOT NULL REFERENCES tickets (id),
    author_id       BIGINT NOT NULL REFERENCES users (id),
    body            TEXT NOT NULL,
    -- Internal support notes are never shown to customers.
    internal        BOOLEAN NOT NULL DEFAULT FALSE,
    -- A one-time key from the comment form, so a resubmitted form stores one comment.
    submission_key  TEXT,
    created_at      TEXT NOT NULL,
    UNIQUE (ticket_id, submission_key)
);
CREATE INDEX comments_ticket ON comments (ticket_id, created_at);

CREATE TABLE ticket_events (
    id          INTEGER PRIMARY KEY,
    ticket_id   BIGINT NOT NULL REFERENCES tickets (id),
    actor_id    BIGINT REFERENCES users (id),
    kind        TEXT NOT NULL,
    from_value  TEXT,
    to_value    TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, created_at);
CREATE INDEX ticket_events_kind_created ON ticket_events (kind, created_at);

CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY,
    occurred_at  TEXT NOT NULL,
    request_id   TEXT,
    actor_id     BIGINT REFERENCES users (id),
    actor_email  TEXT,
    account_id   BIGINT REFERENCES accounts (id),
    action       TEXT NOT NULL,
    target       TEXT,
    detail       TEXT,
    client_ip    TEXT
);
CREATE INDEX audit_log_occurred ON audit_log (occurred_at DESC);
CREATE INDEX audit_log_account ON audit_log (account_id, occurred_at DESC);
CREATE INDEX audit_log_actor ON audit_log (actor_id, occurred_at DESC);
CREATE INDEX audit_log_action ON audit_log (action, occurred_at DESC);

CREATE TABLE api_keys (
    id                 INTEGER PRIMARY KEY,
    user_id            BIGINT NOT NULL REFERENCES users (id),
    account_id         BIGINT NOT NULL REFERENCES accounts (id),
    name               TEXT NOT NULL,
    key_id             TEXT NOT NULL UNIQUE,
    -- Encrypted with the server's key from configuration; never stored or shown in plain text.
    secret_ciphertext  TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    last_used_at       TEXT,
    revoked_at         TEXT
);
CREATE INDEX api_keys_user ON api_keys (user_id);
CREATE INDEX api_keys_account ON api_keys (account_id);

CREATE TABLE api_nonces (
    api_key_id  BIGINT NOT NULL REFERENCES api_keys (id),
    nonce       TEXT NOT NULL,
    seen_at     TEXT NOT NULL,
    PRIMARY KEY (api_key_id, nonce)
);
CREATE INDEX api_nonces_seen ON api_nonces (seen_at);

-- Server-side sessions behind actix-session; the id is a SHA-256 of the cookie's session key.
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    user_id     BIGINT REFERENCES users (id),
    state       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE sign_in_attempts (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL,
    client_ip     TEXT NOT NULL,
    succeeded     BOOLEAN NOT NULL,
    attempted_at  TEXT NOT NULL
);
CREATE INDEX sign_in_attempts_email ON sign_in_attempts (email, attempted_at);
CREATE INDEX sign_in_attempts_ip ON sign_in_attempts (client_ip, attempted_at);

-- One-time links to set a password (new users, resets).
CREATE TABLE password_tokens (
    id          INTEGER PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users (id),
    token_hash  TEXT NOT NULL UNIQUE,
    created_by  BIGINT REFERENCES users (id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
);

-- Secrets the server generates for itself when none is configured (the session cookie key), so
-- that every instance sharing this database agrees on them.
CREATE TABLE server_secrets (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
