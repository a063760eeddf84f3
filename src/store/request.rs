//! One database connection per request. sqlx pings a connection every time it goes back to the
//! pool (a round trip to SQLite's connection thread, or to PostgreSQL), so a request that ran four
//! statements paid four extra round trips. Inside [`scope`] the store's statements run on one
//! connection, checked out at the request's first statement and returned when the request ends.
//! A request holds at most one connection, writes included, so requests cannot wait on each other
//! for a second one.

use std::future::Future;
use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::{Pool, Postgres, Sqlite};
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

/// Closes the request's connection instead of returning it to the pool: a statement abandoned
/// midway (a probe that timed out) leaves it in an unknown state.
pub async fn discard() {
    let Some(mut held) = slot().await else { return };
    match held.take() {
        Some(Held::Sqlite(mut conn)) => conn.close_on_drop(),
        Some(Held::Postgres(mut conn)) => conn.close_on_drop(),
        None => {}
    }
}

/// The databases whose connections a request's slot holds.
pub trait Holdable: sqlx::Database {
    fn hold(conn: PoolConnection<Self>) -> Held;
    fn held(held: &mut Held) -> Option<&mut PoolConnection<Self>>;
}

impl Holdable for Sqlite {
    fn hold(conn: PoolConnection<Self>) -> Held {
        Held::Sqlite(conn)
    }

    fn held(held: &mut Held) -> Option<&mut PoolConnection<Self>> {
        match held {
            Held::Sqlite(conn) => Some(conn),
            Held::Postgres(_) => None,
        }
    }
}

impl Holdable for Postgres {
    fn hold(conn: PoolConnection<Self>) -> Held {
        Held::Postgres(conn)
    }

    fn held(held: &mut Held) -> Option<&mut PoolConnection<Self>> {
        match held {
            Held::Postgres(conn) => Some(conn),
            Held::Sqlite(_) => None,
        }
    }
}

/// A connection of `pool`: the request's (`held`, its slot), checked out on first use, or outside
/// a request one of `own`.
pub async fn connection<'a, DB: Holdable>(
    held: Option<&'a mut Option<Held>>,
    own: &'a mut Option<PoolConnection<DB>>,
    pool: &Pool<DB>,
) -> Result<&'a mut DB::Connection, sqlx::Error> {
    let Some(held) = held else { return Ok(&mut **own.insert(pool.acquire().await?)) };
    if held.as_mut().and_then(DB::held).is_none() {
        *held = Some(DB::hold(pool.acquire().await?));
    }
    held.as_mut().and_then(DB::held).map(|conn| &mut **conn).ok_or(sqlx::Error::PoolClosed)
}
