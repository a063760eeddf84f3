//! One database connection per request. sqlx pings a connection every time it goes back to the
//! pool (a round trip to SQLite's connection thread, or to PostgreSQL), so a request that ran four
//! statements paid four extra round trips. Inside [`scope`] the store's statements run on one
//! connection, checked out at the request's first statement and returned when the request ends.
//! A request holds at most one connection of each database it uses (the primary, and a read
//! replica for the pages that may read one), writes included, so requests cannot wait on each
//! other for a second one of the same pool.
//!
//! The slot also knows what the read replicas' rule needs (see `replicas`): whether the request
//! may change anything (its method) and on whose behalf it runs.

use std::future::Future;
use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::{Pool, Postgres, Sqlite};
use tokio::sync::{Mutex, OwnedMutexGuard};

pub enum Held {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

/// Which database a connection belongs to: the primary (every write, and reads that must see
/// them) or a read replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seat {
    Primary,
    Replica,
}

/// One request's connections and the facts about it the store needs.
pub struct Slot {
    primary: Option<Held>,
    replica: Option<Held>,
    /// The request's method is safe (GET, HEAD): it changes nothing the user reads back.
    safe: bool,
    /// The user the request acts for, once its credentials are checked.
    acting_for: Option<i64>,
    /// How far a replica must have replayed to serve that user (their `read_fence`).
    read_fence: i64,
    /// The replica this request reads (an index into the instance's replicas), whose connection
    /// the replica seat holds.
    replica_read: Option<usize>,
}

impl Slot {
    fn seat(&mut self, seat: Seat) -> &mut Option<Held> {
        match seat {
            Seat::Primary => &mut self.primary,
            Seat::Replica => &mut self.replica,
        }
    }
}

type Shared = Arc<Mutex<Slot>>;

tokio::task_local! {
    static SLOT: Shared;
}

/// Runs one request's future with connections of its own for the store's statements. `safe`:
/// the request's method changes nothing (GET, HEAD).
pub async fn scope<F: Future>(safe: bool, request: F) -> F::Output {
    let slot = Slot { primary: None, replica: None, safe, acting_for: None, read_fence: 0, replica_read: None };
    SLOT.scope(Arc::new(Mutex::new(slot)), request).await
}

/// The request's slot, locked; `None` outside a request (background tasks, the CLI), where
/// statements take a connection from the pool each.
pub async fn slot() -> Option<OwnedMutexGuard<Slot>> {
    let slot = SLOT.try_with(Arc::clone).ok()?;
    Some(slot.lock_owned().await)
}

/// Notes the user the request acts for (a session's, an API key's owner, an FH-AUTH token's) and
/// their read fence.
pub async fn acting_for(user_id: i64, read_fence: i64) {
    if let Some(mut slot) = slot().await {
        slot.acting_for = Some(user_id);
        slot.read_fence = read_fence;
    }
}

/// How far a replica must have replayed to serve this request: its user's read fence, or 0.
pub async fn read_fence() -> i64 {
    slot().await.map_or(0, |slot| slot.read_fence)
}

/// The user whose own change this request may have made: the one it acts for, unless its
/// method is safe. `None` outside a request.
pub async fn changed_by() -> Option<i64> {
    let slot = slot().await?;
    if slot.safe { None } else { slot.acting_for }
}

/// Whether this request may read a replica at all: only a safe one (a form re-rendered after a
/// POST reads the primary, which its own writes went to).
pub async fn may_read_replica() -> bool {
    match slot().await {
        Some(slot) => slot.safe,
        None => false,
    }
}

/// The replica this request read last, so that its reads stay on one replica.
pub async fn replica_read() -> Option<usize> {
    slot().await.and_then(|slot| slot.replica_read)
}

/// This request reads replica `index` from now on; a connection to another replica is let go.
pub async fn read_replica(index: usize) {
    if let Some(mut slot) = slot().await
        && slot.replica_read.replace(index) != Some(index)
    {
        slot.replica.take();
    }
}

/// Gives the request's connections back before a long wait that needs no database (a password
/// hash), so that a burst of sign-ins does not hold the pool.
pub async fn release() {
    if let Some(mut slot) = slot().await {
        slot.primary.take();
        slot.replica.take();
    }
}

/// Closes the request's connection to `seat` instead of returning it to the pool: a statement
/// abandoned midway (a probe that timed out, a replica that went away) leaves it in an unknown
/// state.
pub async fn discard(seat: Seat) {
    let Some(mut slot) = slot().await else { return };
    match slot.seat(seat).take() {
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

/// A connection of `pool`, which is `seat`'s: the request's (from its `slot`), checked out on
/// first use, or outside a request one of `own`.
pub async fn connection<'a, DB: Holdable>(
    slot: Option<&'a mut Slot>,
    seat: Seat,
    own: &'a mut Option<PoolConnection<DB>>,
    pool: &Pool<DB>,
) -> Result<&'a mut DB::Connection, sqlx::Error> {
    let Some(slot) = slot else { return Ok(&mut **own.insert(pool.acquire().await?)) };
    let held = slot.seat(seat);
    if held.as_mut().and_then(DB::held).is_none() {
        *held = Some(DB::hold(pool.acquire().await?));
    }
    held.as_mut().and_then(DB::held).map(|conn| &mut **conn).ok_or(sqlx::Error::PoolClosed)
}
