//! A representative part of the suite's PostgreSQL tests again, with the portal reaching
//! PostgreSQL through a real PgBouncer in transaction mode, on fewer server connections than
//! its pool: sign-in, the incident tables, the ticket lifecycle, signed API calls and the
//! notification outbox, with the same test functions as `tests/integration`. Its own binary:
//! behind a pooler the process makes every PostgreSQL statement an unnamed one
//! (`store::statement`), which would change what the main binary's tests run.

// Tests read and write their databases directly, never through a pooler: sqlx's own statements are fine.
#![allow(clippy::disallowed_methods)]
// The helpers serve the whole suite; this binary uses part of them.
#![allow(dead_code, unused_imports)]

#[path = "../integration/helpers/mod.rs"]
mod helpers;

/// Every PostgreSQL test of this binary runs through PgBouncer; the SQLite halves return at once.
pub const THROUGH_PGBOUNCER: bool = true;

#[path = "../integration/incidents.rs"]
mod incidents;
#[path = "../integration/lifecycle.rs"]
mod lifecycle;
#[path = "../integration/notifications.rs"]
mod notifications;
mod pooler;
#[path = "../integration/sign_in.rs"]
mod sign_in;
#[path = "../integration/signing.rs"]
mod signing;
