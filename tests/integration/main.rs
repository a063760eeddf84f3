//! One integration-test binary: each test starts the real portal on a random port with its own
//! fresh database and talks HTTP to it, on SQLite and on PostgreSQL.

// Tests read and write their databases directly, never through a pooler: sqlx's own statements are fine.
#![allow(clippy::disallowed_methods)]

mod helpers;

/// This binary runs PostgreSQL directly; `tests/pooler` runs part of it through PgBouncer.
pub const THROUGH_PGBOUNCER: bool = false;

mod api;
mod attachments;
mod authorization;
mod browser;
mod browser_attachments;
mod compression;
mod concurrency;
mod dashboard;
mod fh_auth;
mod fuzz;
mod identity;
mod incidents;
mod lifecycle;
mod metrics;
mod multipart_fuzz;
mod notification_preferences;
mod notifications;
mod original_api;
mod outages;
mod plans;
mod public_url;
mod replicas;
mod route_matrix;
mod scanning;
mod schema;
mod security;
mod sign_in;
mod signing;
mod startup;
mod two_factor;
mod webhooks;
