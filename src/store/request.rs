//! One database connection per request. sqlx pings a connection every time it goes back to the
//! pool (a round trip to SQLite's connection thread, or to PostgreSQL), so a request that ran four
//! statements paid four extra round trips. Inside [`scope`] the store's statements run on one
//! connection, checked out at the request's first statement and returned when the request ends.
//! A request holds at most one connection, writes included, so requests cannot wait on each other
//! for a second one.

use std::future::Future;
use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{Mutex, OwnedMutexGuard};

pub enum Held {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

type Slot = Arc<Mutex<Option<Held>>>;

tokio::task_local! {
    static SLOT: Slot;
}

/// Runs one request's future with a connection of its own for the store's statements.
pub async fn scope<F: Future>(request: F) -> F::Output {
    SLOT.scope(Slot::default(), request).await
}

/// The request's connection slot, locked; `None` outside a request (background tasks, the CLI),
/// where statements take a connection from the pool each.
pub async fn slot() -> Option<OwnedMutexGuard<Option<Held>>> {
    let slot = SLOT.try_with(Arc::clone).ok()?;
    Some(slot.lock_owned().await)
}

/// Gives the request's connection back before a long wait that needs no database (a password
/// hash), so that a burst of sign-ins does not hold the pool.
pub async fn release() {
    if let Some(mut held) = slot().await {
        held.take();
    }
}

/// A SQLite connection: the request's (`held`, its slot), checked out on first use, or outside a
/// request one of `own`.
pub async fn sqlite<'a>(
    held: Option<&'a mut Option<Held>>,
    own: &'a mut Option<PoolConnection<Sqlite>>,
    pool: &SqlitePool,
) -> Result<&'a mut SqliteConnection, sqlx::Error> {
    let Some(held) = held else { return Ok(&mut **own.insert(pool.acquire().await?)) };
    if !matches!(held, Some(Held::Sqlite(_))) {
        *held = Some(Held::Sqlite(pool.acquire().await?));
    }
    match held {
        Some(Held::Sqlite(conn)) => Ok(&mut **conn),
        _ => Err(sqlx::Error::PoolClosed),
    }
}

/// As [`sqlite`], for PostgreSQL.
pub async fn postgres<'a>(
    held: Option<&'a mut Option<Held>>,
    own: &'a mut Option<PoolConnection<Postgres>>,
    pool: &PgPool,
) -> Result<&'a mut PgConnection, sqlx::Error> {
    let Some(held) = held else { return Ok(&mut **own.insert(pool.acquire().await?)) };
    if !matches!(held, Some(Held::Postgres(_))) {
        *held = Some(Held::Postgres(pool.acquire().await?));
    }
    match held {
        Some(Held::Postgres(conn)) => Ok(&mut **conn),
        _ => Err(sqlx::Error::PoolClosed),
    }
}
