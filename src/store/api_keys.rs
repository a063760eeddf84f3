//! API keys and their calls: one row per accepted call, keyed by its nonce and a digest of the call
//! (`auth::api_key::call_key`), which both refuses an exact replay (on every app instance) and
//! counts a key's recent calls for rate limiting. Two different calls may share a nonce (the
//! original provider's script sends the timestamp as the nonce); a replayed one never passes.

use super::statement;
use chrono::{DateTime, Duration, Utc};

use sqlx::{FromRow, Row};

use super::users::{PrincipalRow, acting_for, principal_columns, principal_from_rows, principal_joins};
use super::{Store, StoreResult, connection, execute, on_pool};
use crate::domain::principal::Principal;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRecord {
    pub id: i64,
    pub key_id: String,
    pub name: String,
    pub user_id: i64,
    pub user_name: String,
    pub user_email: String,
    pub account_id: i64,
    pub secret_ciphertext: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What checking a signature needs, and all a process may keep of a key between calls: a key's
/// secret never changes, and whether it may still be used is decided afresh by every call (see
/// [`Store::record_api_call`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeySecret {
    pub id: i64,
    pub key_id: String,
    pub secret_ciphertext: String,
}

/// The owner's principal rows, each with the call's count for this minute (PostgreSQL).
#[derive(sqlx::FromRow)]
struct SpentRow {
    calls: Option<i64>,
    #[sqlx(flatten)]
    owner: PrincipalRow,
}

#[derive(Debug, Clone)]
pub enum ApiCall {
    /// Spent and counted; the call is made as the key's owner.
    Accepted(Principal),
    /// The key was revoked or its owner disabled; nothing was spent.
    Unusable,
    /// This very call (nonce, method, target and body) was already made with this key.
    Replayed,
    /// The key made too many calls in the last minute; retry after this many seconds.
    RateLimited { retry_after_seconds: u64 },
}

const COLUMNS: &str = "SELECT k.id, k.key_id, k.name, k.user_id, u.first_name || ' ' || u.last_name AS user_name, \
                       u.email AS user_email, k.account_id, k.secret_ciphertext, k.created_at, k.last_used_at, k.revoked_at \
                       FROM api_keys k JOIN users u ON u.id = k.user_id";

/// How often `last_used_at` is written: a busy key does not write it on every call.
const LAST_USED_RESOLUTION_SECONDS: i64 = 60;

/// A usable key by its key id (`$1`).
pub(super) const SECRET_SQL: &str =
    "SELECT id, key_id, secret_ciphertext FROM api_keys WHERE key_id = $1 AND revoked_at IS NULL";

/// Spends call key `$2` (the nonce and the call's digest) of key `$1` at `$3` if the key is usable,
/// and counts the call in minute `$4`; `last_used_at` is written when older than `$5`.
const SPEND_SQLITE: &str = concat!(
    "INSERT OR IGNORE INTO api_nonces (api_key_id, nonce, seen_at) SELECT k.id, $2, $3 FROM api_keys k \
     JOIN users u ON u.id = k.user_id WHERE k.id = $1 AND k.revoked_at IS NULL AND u.enabled; \
     INSERT INTO api_rate (api_key_id, minute, calls) SELECT $1, $4, 1 WHERE changes() = 1 \
     ON CONFLICT (api_key_id, minute) DO UPDATE SET calls = api_rate.calls + 1 RETURNING calls; \
     UPDATE api_keys SET last_used_at = $3 WHERE id = $1 AND changes() = 1 AND (last_used_at IS NULL OR last_used_at < $5); \
     SELECT ",
    principal_columns!(),
    " FROM api_keys k JOIN users u ON u.id = k.user_id ",
    principal_joins!(),
    " WHERE k.id = $1 AND k.revoked_at IS NULL"
);

/// As [`SPEND_SQLITE`], in one statement: each of the owner's rows carries the count (`NULL` if
/// nothing was spent). Its transaction commits without waiting for the WAL to reach the disk
/// (`set_config(…, true)`: `synchronous_commit` off for this transaction only, every other write
/// still waits). A crash of the database may forget the nonces and counts of its last fraction of
/// a second; waiting for the disk on every signed call took a quarter of its time.
const SPEND_POSTGRES: &str = concat!(
    "WITH spent AS (INSERT INTO api_nonces (api_key_id, nonce, seen_at) SELECT k.id, $2, $3 FROM api_keys k \
     JOIN users u ON u.id = k.user_id WHERE k.id = $1 AND k.revoked_at IS NULL AND u.enabled \
     ON CONFLICT DO NOTHING RETURNING api_key_id), \
     rate AS (INSERT INTO api_rate (api_key_id, minute, calls) SELECT api_key_id, $4, 1 FROM spent \
     ON CONFLICT (api_key_id, minute) DO UPDATE SET calls = api_rate.calls + 1 RETURNING calls), \
     touched AS (UPDATE api_keys SET last_used_at = $3 WHERE id IN (SELECT api_key_id FROM spent) \
     AND (last_used_at IS NULL OR last_used_at < $5)) \
     SELECT (SELECT calls FROM rate) AS calls, set_config('synchronous_commit', 'off', true) AS commit_mode, ",
    principal_columns!(),
    " FROM api_keys k JOIN users u ON u.id = k.user_id ",
    principal_joins!(),
    " WHERE k.id = $1 AND k.revoked_at IS NULL"
);

impl Store {
    pub async fn create_api_key(
        &self,
        user_id: i64,
        account_id: i64,
        name: &str,
        key_id: &str,
        secret_ciphertext: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<i64> {
        let sql = "INSERT INTO api_keys (user_id, account_id, name, key_id, secret_ciphertext, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
        Ok(on_pool!(self, pool => statement::query_scalar(sql)
            .bind(user_id).bind(account_id).bind(name).bind(key_id).bind(secret_ciphertext).bind(at)
            .fetch_one(pool).await)?)
    }

    /// The account's keys, newest first, revoked ones included.
    pub async fn account_api_keys(&self, account_id: i64) -> StoreResult<Vec<ApiKeyRecord>> {
        let sql = format!("{COLUMNS} WHERE k.account_id = $1 ORDER BY k.created_at DESC, k.id DESC");
        Ok(
            on_pool!(self, pool => statement::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(account_id).fetch_all(pool).await)?,
        )
    }

    pub async fn api_key(&self, key_id: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let sql = format!("{COLUMNS} WHERE k.key_id = $1");
        Ok(
            on_pool!(self, pool => statement::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(key_id).fetch_optional(pool).await)?,
        )
    }

    /// A key that is not revoked, by its key id.
    pub async fn api_key_secret(&self, key_id: &str) -> StoreResult<Option<ApiKeySecret>> {
        Ok(on_pool!(self, pool => statement::query_as(SECRET_SQL).bind(key_id).fetch_optional(pool).await)?)
    }

    /// Revokes a key at once; `false` if it was already revoked.
    pub async fn revoke_api_key(&self, id: i64, at: DateTime<Utc>) -> StoreResult<bool> {
        let done = execute!(
            self,
            statement::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(at)
                .bind(id)
        )?;
        Ok(done == 1)
    }

    /// Spends the call's key (its nonce with a digest of the call, see `auth::api_key::call_key`),
    /// counts the call against the key's rate for this minute and reads the key's owner, in one
    /// round trip: this runs on every signed API call, after the signature is checked. Nothing is
    /// spent for a key revoked or an owner disabled since the key was read, and a call over the
    /// rate still spends its nonce.
    pub async fn record_api_call(
        &self,
        key: &ApiKeySecret,
        call_key: &str,
        now: DateTime<Utc>,
        limit_per_minute: u32,
    ) -> StoreResult<ApiCall> {
        let minute = now.timestamp().div_euclid(60);
        let stale_before = now - Duration::seconds(LAST_USED_RESOLUTION_SECONDS);
        let (calls, owner) = match self {
            // The statements run in turn, each its own transaction (a transaction would be two
            // more round trips to the connection's thread); the nonce is the one that matters.
            Store::Sqlite(pool, writer) => {
                let mut held;
                let mut own = None;
                // The connection first, then the writer's turn (see `WriteLock`).
                let conn = connection!(pool, super::Seat::Primary, held, own)?;
                let _writing = writer.lock().await;
                let rows = statement::query(SPEND_SQLITE)
                    .bind(key.id)
                    .bind(call_key)
                    .bind(now)
                    .bind(minute)
                    .bind(stale_before)
                    .fetch_all(conn)
                    .await?;
                let mut calls = None;
                let mut owner = Vec::with_capacity(rows.len());
                // The count comes back as a row of one column (none if nothing was spent), then
                // the owner's rows.
                for row in &rows {
                    if row.len() == 1 {
                        calls = Some(row.try_get::<i64, _>(0)?);
                    } else {
                        owner.push(PrincipalRow::from_row(row)?);
                    }
                }
                (calls, owner)
            }
            Store::Postgres(..) => {
                let rows: Vec<SpentRow> = on_pool!(self, pool => statement::query_as(SPEND_POSTGRES)
                    .bind(key.id).bind(call_key).bind(now).bind(minute).bind(stale_before)
                    .fetch_all(pool).await)?;
                let calls = rows.first().and_then(|row| row.calls);
                (calls, rows.into_iter().map(|row| row.owner).collect())
            }
        };
        let principal = principal_from_rows(&owner);
        acting_for(&principal, &owner).await;
        let Some(owner) = principal else { return Ok(ApiCall::Unusable) };
        Ok(match calls {
            None => ApiCall::Replayed,
            Some(calls) if calls > i64::from(limit_per_minute) => {
                let retry = 60 - now.timestamp().rem_euclid(60);
                ApiCall::RateLimited { retry_after_seconds: retry.max(1) as u64 }
            }
            Some(_) => ApiCall::Accepted(owner),
        })
    }

    /// Nonces older than the timestamp window can never be replayed (the timestamp check refuses
    /// them first), so they need not be kept.
    pub async fn purge_api_nonces(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let minute = before.timestamp().div_euclid(60);
        execute!(self, statement::query("DELETE FROM api_rate WHERE minute < $1").bind(minute))?;
        Ok(execute!(self, statement::query("DELETE FROM api_nonces WHERE seen_at < $1").bind(before))?)
    }
}
