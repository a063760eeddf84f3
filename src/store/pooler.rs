//! PostgreSQL behind a connection pooler in transaction mode (PgBouncer): each transaction of a
//! client runs on whichever server connection is free, and between transactions a client holds
//! none. What holds a server connection's state beyond one transaction breaks there, and this
//! module is where the store gives it up:
//! - Named prepared statements (sqlx's cache): every statement is unnamed (`statement`), and one
//!   that is not already in a transaction runs in one of its own ([`Pinned`]), since sqlx parses
//!   and binds it in two exchanges that the pooler could send to two server connections.
//! - Startup parameters PgBouncer 1.18 refuses (`extra_float_digits`, `options`): not sent; the
//!   settings `options` carried belong on the database (`ALTER DATABASE … SET`), and start-up
//!   warns when they are missing (`check_settings`).
//! - The migrator's session-level advisory lock: migrations run in one transaction under
//!   `pg_advisory_xact_lock` on the same key ([`migrate`]).
//!
//! Already fine in transaction mode, and kept: `pg_advisory_xact_lock` (sign-in throttling),
//! `set_config(…, true)` (`SET LOCAL`), `FOR UPDATE SKIP LOCKED` (the outbox, the scanner), all
//! within one transaction. The portal uses no session `SET`, `LISTEN`/`NOTIFY`, temporary table,
//! cursor held across transactions or session advisory lock; the plans test's `SET`s run on a
//! direct connection.

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection, Postgres, Transaction};

use super::statement;

/// How the portal reaches PostgreSQL: directly (or through a pooler in session mode, which is the
/// same to it), or through a pooler in transaction mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pooler {
    #[default]
    None,
    Transaction,
}

/// `DATABASE_POOLER` is not one of the modes.
#[derive(Debug, thiserror::Error)]
#[error("\"{0}\" is not none, session or transaction")]
pub struct UnknownPooler(String);

impl Pooler {
    /// `none` (the default), `session` (a pooler in session mode keeps a server connection per
    /// client: nothing changes) or `transaction`.
    pub fn parse(text: &str) -> Result<Pooler, UnknownPooler> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "none" | "session" => Ok(Pooler::None),
            "transaction" => Ok(Pooler::Transaction),
            _ => Err(UnknownPooler(text.to_string())),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Pooler::None => "none",
            Pooler::Transaction => "transaction",
        }
    }
}

/// A PostgreSQL connection for one statement: as it is, or behind a transaction-mode pooler inside
/// a transaction of its own, so that the statement's exchanges all reach one server connection.
pub enum Pinned<'c> {
    Direct(&'c mut PgConnection),
    Transaction(Transaction<'c, Postgres>),
}

impl<'c> Pinned<'c> {
    /// Begins a transaction behind a transaction-mode pooler, unless `conn` is in one already.
    pub async fn begin(conn: &'c mut PgConnection, pooler: Pooler) -> Result<Pinned<'c>, sqlx::Error> {
        if pooler == Pooler::Transaction && !conn.is_in_transaction() {
            Ok(Pinned::Transaction(Connection::begin(conn).await?))
        } else {
            Ok(Pinned::Direct(conn))
        }
    }

    pub fn conn(&mut self) -> &mut PgConnection {
        match self {
            Pinned::Direct(conn) => conn,
            Pinned::Transaction(tx) => tx,
        }
    }

    /// Commits what the statement did if it succeeded, and rolls it back at once if it failed (so
    /// the pooler gets its server connection back now, not at the connection's next use).
    pub async fn end<T, E: From<sqlx::Error>>(self, out: Result<T, E>) -> Result<T, E> {
        let Pinned::Transaction(tx) = self else { return out };
        match out {
            Ok(value) => {
                tx.commit().await?;
                Ok(value)
            }
            Err(error) => {
                let _ = tx.rollback().await;
                Err(error)
            }
        }
    }
}

/// Runs the migrations through a transaction-mode pooler: on a connection of their own, in one
/// transaction that holds the migrator's lock (`pg_advisory_xact_lock` on the key sqlx's own
/// session lock uses, so a directly connected instance migrating at the same time waits too).
/// Each migration is a savepoint in it. sqlx's migrator names its statements; they are
/// deallocated before the commit, so the server connection goes back to the pool without them.
/// A failure drops the connection mid-transaction, which makes the pooler close its server
/// connection, statements and all. Start-up's check of the database's settings runs here too.
pub async fn migrate(options: &PgConnectOptions, mut migrator: Migrator) -> Result<(), MigrateError> {
    migrator.set_locking(false);
    let mut conn = options.connect().await?;
    let mut tx = Connection::begin(&mut conn).await?;
    let database: String = statement::query_scalar("SELECT current_database()").fetch_one(&mut *tx).await?;
    statement::query("SELECT pg_advisory_xact_lock($1)").bind(migration_lock_id(&database)).execute(&mut *tx).await?;
    // `run` over `&mut PgConnection` makes the future not `Send` (sqlx's own note on `run_direct`).
    migrator.run_direct(None, &mut *tx, false).await?;
    check_settings(&mut tx).await?;
    sqlx::raw_sql("DEALLOCATE ALL").execute(&mut *tx).await?;
    tx.commit().await?;
    let _ = conn.close().await;
    Ok(())
}

/// The key of sqlx's migration lock for `database` (sqlx-postgres `generate_lock_id`): a multiple
/// of the database name's CRC-32.
fn migration_lock_id(database: &str) -> i64 {
    0x3d32_ad9e * i64::from(crc32(database.as_bytes()))
}

/// CRC-32 (ISO-HDLC, the zlib one), bit by bit: run once per start.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// Settings the direct connection sends in its startup packet, which a pooler does not pass on:
/// (name, wanted value).
pub const DATABASE_SETTINGS: [(&str, &str); 2] = [("max_parallel_workers_per_gather", "0"), ("jit", "off")];

/// Warns, once at start-up, about each of [`DATABASE_SETTINGS`] that the database does not have:
/// the plans then differ from those the portal is tested with.
pub async fn check_settings(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    for (name, wanted) in DATABASE_SETTINGS {
        let value: String =
            statement::query_scalar("SELECT current_setting($1)").bind(name).fetch_one(&mut *conn).await?;
        if value != wanted {
            tracing::warn!(
                setting = name,
                value,
                wanted,
                "through a pooler the portal cannot set this per connection: ALTER DATABASE <db> SET {name} = {wanted}"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migration_lock_is_the_one_sqlx_takes() {
        // crc32("postgres") = 0x156a8775 (zlib); sqlx multiplies it by its constant.
        assert_eq!(crc32(b"postgres"), 0x156a_8775);
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(migration_lock_id("postgres"), 0x3d32_ad9e * 0x156a_8775_i64);
    }

    #[test]
    fn pooler_modes_parse() {
        assert_eq!(Pooler::parse("").unwrap(), Pooler::None);
        assert_eq!(Pooler::parse("session").unwrap(), Pooler::None);
        assert_eq!(Pooler::parse(" Transaction ").unwrap(), Pooler::Transaction);
        assert!(Pooler::parse("statement").is_err());
    }
}
