//! One store for both databases: an enum over a SQLite and a PostgreSQL pool, chosen from the URL.
//! Queries are written once with `$n` placeholders (both drivers accept them) and run on either
//! pool through [`on_pool!`]; per-backend branches exist only where the dialects really differ.

mod accounts;
mod activity;
mod api_keys;
mod attachments;
mod audit;
mod bulk;
pub mod bytes;
mod calls;
mod counters;
mod delivery_log;
mod fh_auth;
mod files_db;
mod identity;
mod listing;
mod nodelay;
mod notification_settings;
mod outbox;
mod plans;
pub mod pooler;
mod reach;
pub mod replicas;
pub mod request;
mod secrets;
mod sessions;
pub mod sql;
pub mod statement;
mod throttle;
mod ticket_changes;
mod tickets;
mod two_factor;
mod users;
mod webhooks;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use crate::domain::ticket::{Severity, TicketStatus};
pub use pooler::Pooler;
pub use request::Seat;

pub use accounts::{AccountSummary, NewUser, PasswordToken, PasswordTokenOwner, StaffMember};
pub use activity::DashboardFigures;
pub use api_keys::{ApiCall, ApiKeyRecord, ApiKeySecret};
pub use attachments::{AttachmentRecord, NewAttachment, NewAttachments, OverQuota, ScanJob};
pub use audit::{AuditEntry, AuditRecord};
pub use delivery_log::{DeliveryDetail, DeliveryRecord, DeliveryState};
pub use identity::{AccountUser, IdentityError, RoleRecord, UserRow};
pub use listing::{OpenIncidentCounts, QueueCounts, TicketPage, TicketRow};
pub use notification_settings::{NotificationSettings, TicketReader};
pub use outbox::{Channel, ClaimedDelivery, NewDelivery, OutboxDepth, OutboxEvent, Settled, Target};
pub use plans::Planned;
pub use reach::Unreachable;
pub use replicas::{ProbeGuard, ReadStore, ReplicaHealth, ReplicaSettings, Replicas};
pub use sessions::SessionRecord;
pub use throttle::AttemptLimits;
pub use ticket_changes::{ChangeError, ChangeResult, CommentInput, NewComment, NewTicket};
pub use tickets::{CommentRecord, EventRecord, PersonRef, TicketRecord};
pub use two_factor::TwoFactorRecord;
pub use users::Credentials;
pub use webhooks::{EndpointSettings, WebhookDelivery, WebhookEndpoint};

/// A connection of `$pool` (the database at `$seat`) for one statement or transaction, as a
/// `Result`: the request's inside a request (see `request`), one of its own outside. It borrows
/// `$held` (the request's slot) or `$own`, which the caller declares so that they outlive the
/// statement.
macro_rules! connection {
    ($pool:expr, $seat:expr, $held:ident, $own:ident) => {{
        $held = $crate::store::request::slot().await;
        $crate::store::request::connection($held.as_deref_mut(), $seat, &mut $own, $pool).await
    }};
}

/// Runs `$body` with `$pool` bound to a connection of whichever database the store holds (see
/// `connection!`). The body is compiled once per backend, so the same query text and row types
/// serve both. Behind a transaction-mode pooler the body runs in a transaction of its own (see
/// `pooler::Pinned`).
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite(pool, _) => {
                let mut held;
                let mut own = None;
                match $crate::store::connection!(pool, $crate::store::request::Seat::Primary, held, own) {
                    Ok($pool) => $body,
                    Err(error) => Err(error.into()),
                }
            }
            $crate::store::Store::Postgres(pool, link) => {
                let mut held;
                let mut own = None;
                match $crate::store::connection!(pool, link.seat, held, own) {
                    Ok(conn) => match $crate::store::pooler::Pinned::begin(conn, link.pooler).await {
                        Ok(mut pinned) => {
                            let out = {
                                let $pool = pinned.conn();
                                $body
                            };
                            pinned.end(out).await
                        }
                        Err(error) => Err(error.into()),
                    },
                    Err(error) => Err(error.into()),
                }
            }
        }
    };
}

/// Runs `$body` in a write transaction bound to `$tx`, committing if the body finishes and rolling
/// back if it returns early with `?`. SQLite takes the write lock up front (`BEGIN IMMEDIATE`), so a
/// transaction that reads then writes waits for the busy timeout instead of failing with SQLITE_BUSY.
macro_rules! in_transaction {
    ($store:expr, $tx:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite(pool, writer) => {
                let mut held;
                let mut own = None;
                // The connection first, then the writer's turn (see `WriteLock`).
                let conn = $crate::store::connection!(pool, $crate::store::request::Seat::Primary, held, own)?;
                let _writing = writer.lock().await;
                let mut $tx = sqlx::Connection::begin_with(conn, "BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                Ok(out)
            }
            $crate::store::Store::Postgres(pool, link) => {
                let mut held;
                let mut own = None;
                let conn = $crate::store::connection!(pool, link.seat, held, own)?;
                let mut $tx = sqlx::Connection::begin(conn).await?;
                let out = $body;
                $tx.commit().await?;
                Ok(out)
            }
        }
    };
}

/// Runs a statement that changes rows on whichever database the store holds (as [`on_pool!`]);
/// yields the number of rows it changed.
macro_rules! execute {
    ($store:expr, $query:expr) => {
        match $store {
            $crate::store::Store::Sqlite(pool, writer) => {
                let mut held;
                let mut own = None;
                // The connection first, then the writer's turn (see `WriteLock`).
                match $crate::store::connection!(pool, $crate::store::request::Seat::Primary, held, own) {
                    Ok(conn) => {
                        let _writing = writer.lock().await;
                        $query.execute(conn).await.map(|done| done.rows_affected())
                    }
                    Err(error) => Err(error),
                }
            }
            $crate::store::Store::Postgres(pool, link) => {
                let mut held;
                let mut own = None;
                match $crate::store::connection!(pool, link.seat, held, own) {
                    Ok(conn) => match $crate::store::pooler::Pinned::begin(conn, link.pooler).await {
                        Ok(mut pinned) => {
                            let out = $query.execute(pinned.conn()).await.map(|done| done.rows_affected());
                            pinned.end(out).await
                        }
                        Err(error) => Err(error),
                    },
                    Err(error) => Err(error),
                }
            }
        }
    };
}

pub(crate) use {connection, execute, in_transaction, on_pool};

/// SQLite takes one writer at a time. Writers of this process queue here, in order and without
/// sleeping, instead of in SQLite's busy handler, whose growing back-off made the slowest writes
/// hundreds of milliseconds under load. A writer holds its connection before it queues: the one
/// whose turn it is must never wait for the pool while the others hold every connection waiting
/// for it.
pub type WriteLock = Arc<tokio::sync::Mutex<()>>;

#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqlitePool, WriteLock),
    Postgres(PgPool, PgLink),
}

/// How a PostgreSQL pool is reached and what it is to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PgLink {
    pub pooler: Pooler,
    /// The primary, or a read replica (only ever behind a `ReadStore`).
    pub seat: Seat,
}

#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// How long a request waits for a connection before the page answers 503.
    pub acquire_timeout: Duration,
    /// `DATABASE_POOLER`: whether PostgreSQL is behind a pooler in transaction mode.
    pub pooler: Pooler,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings { max_connections: 10, acquire_timeout: Duration::from_secs(3), pooler: Pooler::None }
    }
}

/// How the connection pool is used at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    pub in_use: u32,
    pub idle: u32,
    pub max: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is too busy; worth retrying later (503).
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// A uniqueness rule refused the write.
    #[error("a record with the same key already exists")]
    Duplicate(#[source] sqlx::Error),
    #[error("the database reported an error")]
    Other(#[source] sqlx::Error),
    /// A bounded wait for the database ran out (a pool's own wait is `Unavailable`); retry later (503).
    #[error("the database did not answer within {0:?}")]
    NoAnswer(Duration),
    #[error("the database could not be migrated")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the database URL is not valid: {0}")]
    BadUrl(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            // A connection cut mid-handshake (a server going down or coming up) reads garbage.
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::BeginFailed => StoreError::Unavailable(error),
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate(error),
            sqlx::Error::Database(db) if is_transient(db.code().as_deref()) => StoreError::Unavailable(error),
            _ => StoreError::Other(error),
        }
    }
}

/// Database error codes that mean "not now" rather than "never": SQLite busy/locked (with their
/// extended codes), PostgreSQL connection exceptions, shutdown, too many connections, and a
/// transaction chosen as a deadlock's or serialization conflict's victim (retrying succeeds).
fn is_transient(code: Option<&str>) -> bool {
    let Some(code) = code else { return false };
    if let Ok(sqlite_code) = code.parse::<i32>() {
        return matches!(sqlite_code & 0xff, 5 | 6);
    }
    code.starts_with("08") || code.starts_with("57P") || matches!(code, "53300" | "40P01" | "40001")
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A ticket's status as stored, decoded once here: a code this program never writes is a broken
/// row, not something to guess at.
fn decode_status(code: &str) -> Result<TicketStatus, sqlx::Error> {
    TicketStatus::from_code(code).ok_or_else(|| sqlx::Error::Decode(format!("unknown ticket status {code:?}").into()))
}

/// A ticket's severity as stored (its rank), decoded once here.
fn decode_severity(rank: Option<i16>) -> Result<Option<Severity>, sqlx::Error> {
    rank.map(|r| Severity::from_rank(r).ok_or_else(|| sqlx::Error::Decode(format!("unknown severity {r}").into())))
        .transpose()
}

/// Turns on SQLite's query planner stability guarantee: plans never depend on bound values. Without
/// it SQLite marks a statement to be compiled again whenever a value it planned with is bound anew
/// (a bound `LIMIT`, a `LIKE` pattern), and sqlx binds every value on every run: a tenth of the CPU
/// of an incident page went to recompiling its query. The plans tests hold the plans to their
/// indexes instead.
async fn stable_plans(conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    use libsqlite3_sys::{SQLITE_DBCONFIG_ENABLE_QPSG, SQLITE_OK, sqlite3_db_config};
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is an open connection, locked for this call; the option takes an int to set and
    // an optional int pointer for the result, which may be null.
    let rc = unsafe {
        sqlite3_db_config(
            db,
            SQLITE_DBCONFIG_ENABLE_QPSG,
            1 as std::ffi::c_int,
            std::ptr::null_mut::<std::ffi::c_int>(),
        )
    };
    if rc == SQLITE_OK {
        Ok(())
    } else {
        Err(sqlx::Error::Configuration(
            format!("SQLite refused the query planner stability guarantee (code {rc})").into(),
        ))
    }
}

impl Store {
    /// Opens a pool for the URL: `postgres://…` selects PostgreSQL, `sqlite:…` (or a bare path)
    /// SQLite. Connections are made lazily, and made again after an outage; start-up first tries
    /// one directly (`reach`), to stop at once with a clear cause.
    pub fn connect(url: &str, settings: &PoolSettings) -> StoreResult<Store> {
        Self::connect_as(url, settings, Seat::Primary)
    }

    /// As [`Store::connect`], for the database at `seat`: a replica's store is only ever read
    /// through a `ReadStore`.
    pub(crate) fn connect_as(url: &str, settings: &PoolSettings, seat: Seat) -> StoreResult<Store> {
        if is_postgres_url(url) {
            let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::BadUrl(e.to_string()))?;
            let pooler = settings.pooler;
            let options = match pooler {
                // Every statement here reads a few rows through an index: a parallel worker (or
                // JIT) only adds milliseconds, and made the planner trade an index walk for a sort.
                Pooler::None => options.options(pooler::DATABASE_SETTINGS),
                // PgBouncer 1.18 refuses both startup parameters; nothing of sqlx's cache is used.
                Pooler::Transaction => {
                    statement::use_unnamed_statements();
                    options.extra_float_digits(None).statement_cache_capacity(0)
                }
            };
            let port = options.get_port();
            let pool = PgPoolOptions::new()
                .max_connections(settings.max_connections)
                // No ping before every query: a dropped connection fails its query (503) and is discarded.
                .test_before_acquire(false)
                .after_connect(move |conn, _| Box::pin(nodelay::after_connect(conn, pooler, port)))
                .acquire_timeout(settings.acquire_timeout)
                .connect_lazy_with(options);
            Ok(Store::Postgres(pool, PgLink { pooler, seat }))
        } else {
            let url = if url.starts_with("sqlite:") { url.to_string() } else { format!("sqlite://{url}") };
            let options = SqliteConnectOptions::from_str(&url)
                .map_err(|e| StoreError::BadUrl(e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // WAL makes NORMAL safe against corruption; it only risks the last commits on power loss.
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
                // Bounded memory per connection: a 2 MiB page cache and the statements in use.
                .pragma("cache_size", "-2048")
                .statement_cache_capacity(32);
            let calls = Arc::<str>::from(calls::location(&options, &url));
            let files = Arc::<str>::from(files_db::location(&options, &url));
            let pool = SqlitePoolOptions::new()
                .max_connections(settings.max_connections)
                // A ping is a round trip to the connection's worker thread, and a file does not hang up.
                .test_before_acquire(false)
                .after_connect(move |conn, _| {
                    let (calls, files) = (Arc::clone(&calls), Arc::clone(&files));
                    Box::pin(async move {
                        stable_plans(conn).await?;
                        calls::attach(conn, &calls).await?;
                        files_db::attach(conn, &files).await
                    })
                })
                .acquire_timeout(settings.acquire_timeout)
                .connect_lazy_with(options);
            Ok(Store::Sqlite(pool, WriteLock::default()))
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Store::Sqlite(..) => "SQLite",
            Store::Postgres(..) => "PostgreSQL",
        }
    }

    pub async fn migrate(&self) -> StoreResult<()> {
        match self {
            Store::Sqlite(pool, _) => sqlx::migrate!("migrations/sqlite").run(pool).await?,
            Store::Postgres(pool, link) if link.pooler == Pooler::Transaction => {
                pooler::migrate(&pool.connect_options(), sqlx::migrate!("migrations/postgres")).await?;
            }
            Store::Postgres(pool, _) => sqlx::migrate!("migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// `/readyz`: can a connection run a query within `within`? A query given up midway leaves its
    /// connection in an unknown state, so the request's connection is then closed, not reused.
    pub async fn ping(&self, within: Duration) -> StoreResult<()> {
        let select = async {
            let _: i64 =
                on_pool!(self, pool => statement::query_scalar("SELECT CAST(1 AS BIGINT)").fetch_one(pool).await)?;
            StoreResult::Ok(())
        };
        match tokio::time::timeout(within, select).await {
            Ok(answered) => answered,
            Err(_) => {
                request::discard(self.seat()).await;
                Err(StoreError::NoAnswer(within))
            }
        }
    }

    /// The pool's connections now: in use by requests, idle, and the most it opens.
    pub fn pool_usage(&self) -> PoolUsage {
        let (open, idle, max) = match self {
            Store::Sqlite(pool, _) => (pool.size(), pool.num_idle(), pool.options().get_max_connections()),
            Store::Postgres(pool, _) => (pool.size(), pool.num_idle(), pool.options().get_max_connections()),
        };
        // Read one after the other, so a connection may have opened or closed in between.
        let idle = u32::try_from(idle).unwrap_or(u32::MAX).min(open);
        PoolUsage { in_use: open - idle, idle, max }
    }

    pub async fn close(&self) {
        match self {
            Store::Sqlite(pool, _) => pool.close().await,
            Store::Postgres(pool, _) => pool.close().await,
        }
    }

    /// Which database this store reads and writes: the primary, or a replica.
    pub fn seat(&self) -> Seat {
        match self {
            Store::Sqlite(..) => Seat::Primary,
            Store::Postgres(_, link) => link.seat,
        }
    }
}

/// `postgres://…` or `postgresql://…`: anything else is a SQLite file.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}
