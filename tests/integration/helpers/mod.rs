//! Starts the real portal on a random port with a fresh database (SQLite, or PostgreSQL when it is
//! reachable) filled with the demo data set, and talks HTTP to it. One file per concern; every
//! test module takes them all with `use crate::helpers::*;`.

mod api_signing;
mod app;
mod clamav;
mod database;
mod fixtures;
mod http;
mod pgbouncer;
mod processes;
/// Methods of `TestApp` and the `on_test_pool!` macro: nothing a test names by path.
mod queries;
mod receiver;
mod sign_in;
mod smtp;
mod standby;
mod uploads;

pub use api_signing::*;
pub use app::*;
pub use clamav::*;
pub use database::*;
pub use fixtures::*;
pub use http::*;
// Used by `tests/pooler`.
#[allow(unused_imports)]
pub use pgbouncer::*;
pub use receiver::*;
pub use sign_in::*;
pub use smtp::*;
pub use standby::*;
pub use uploads::*;
