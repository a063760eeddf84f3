//! The store's only way to make a statement: sqlx's `query`, `query_as` and `query_scalar`, with
//! the process's choice of prepared statements. sqlx names each statement it prepares
//! (`sqlx_s_1`, …) and keeps it on the connection; a connection pooler in transaction mode
//! (PgBouncer before 1.21) hands each transaction to any server connection, where those names are
//! missing or another client's. Behind one, every PostgreSQL statement is an unnamed one, parsed
//! and bound within one transaction (see `Pooler`). `clippy.toml` refuses sqlx's own constructors
//! elsewhere in the crate, so a statement cannot bypass the choice.

#![allow(clippy::disallowed_methods)]

use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::database::HasStatementCache;
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::{Database, FromRow, SqlSafeStr};

/// Set once, never cleared: the process reaches its PostgreSQL through a transaction-mode pooler.
/// Process-wide because the choice belongs to the deployment, and statements are made far from
/// any connection; a directly reached database only loses its statement cache by it.
static UNNAMED: AtomicBool = AtomicBool::new(false);

/// From now on, PostgreSQL statements are unnamed (SQLite's keep their cache).
pub fn use_unnamed_statements() {
    UNNAMED.store(true, Ordering::Relaxed);
}

/// Whether PostgreSQL statements are unnamed in this process.
pub fn unnamed_statements() -> bool {
    UNNAMED.load(Ordering::Relaxed)
}

fn persistent<DB: Database>() -> bool {
    !(unnamed_statements() && DB::NAME == sqlx::Postgres::NAME)
}

/// `sqlx::query`, prepared as the process chooses.
pub fn query<'a, DB: Database + HasStatementCache>(sql: impl SqlSafeStr) -> Query<'a, DB, <DB as Database>::Arguments> {
    sqlx::query(sql).persistent(persistent::<DB>())
}

/// `sqlx::query_as`, prepared as the process chooses.
pub fn query_as<'q, DB, O>(sql: impl SqlSafeStr) -> QueryAs<'q, DB, O, <DB as Database>::Arguments>
where
    DB: Database + HasStatementCache,
    O: for<'r> FromRow<'r, DB::Row>,
{
    sqlx::query_as(sql).persistent(persistent::<DB>())
}

/// `sqlx::query_scalar`, prepared as the process chooses.
pub fn query_scalar<'q, DB, O>(sql: impl SqlSafeStr) -> QueryScalar<'q, DB, O, <DB as Database>::Arguments>
where
    DB: Database + HasStatementCache,
    (O,): for<'r> FromRow<'r, DB::Row>,
{
    sqlx::query_scalar(sql).persistent(persistent::<DB>())
}
