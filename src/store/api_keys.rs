//! API keys and their calls: one row per accepted nonce, which both refuses a replayed nonce (on
//! every app instance) and counts a key's recent calls for rate limiting.

use chrono::{DateTime, Duration, Utc};

use super::users::{PrincipalRow, principal_columns, principal_from_rows, principal_joins};
use super::{Store, StoreError, StoreResult, execute, in_transaction, on_pool};
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

/// What checking a signed call needs: the key and, if they are enabled, its owner as a principal.
#[derive(Debug, Clone)]
pub struct ApiKeyCaller {
    pub id: i64,
    pub key_id: String,
    pub user_id: i64,
    pub secret_ciphertext: String,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// `None` if the owner is disabled.
    pub owner: Option<Principal>,
}

/// One row per role grant of the owner, each with the key's columns.
#[derive(sqlx::FromRow)]
struct CallerRow {
    #[sqlx(flatten)]
    owner: PrincipalRow,
    key_row_id: i64,
    key_id: String,
    key_secret: String,
    key_last_used_at: Option<DateTime<Utc>>,
    key_revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiCall {
    Accepted,
    /// This nonce was already used with this key.
    Replayed,
    /// The key made too many calls in the last minute; retry after this many seconds.
    RateLimited {
        retry_after_seconds: u64,
    },
}

const COLUMNS: &str = "SELECT k.id, k.key_id, k.name, k.user_id, u.first_name || ' ' || u.last_name AS user_name, \
                       u.email AS user_email, k.account_id, k.secret_ciphertext, k.created_at, k.last_used_at, k.revoked_at \
                       FROM api_keys k JOIN users u ON u.id = k.user_id";

/// How often `last_used_at` is written: a busy key does not write it on every call.
const LAST_USED_RESOLUTION_SECONDS: i64 = 60;

/// The key (`$1`) and its owner's principal rows.
pub(super) const CALLER_SQL: &str = concat!(
    "SELECT ",
    principal_columns!(),
    ", k.id AS key_row_id, k.key_id, k.secret_ciphertext AS key_secret, k.last_used_at AS key_last_used_at, \
     k.revoked_at AS key_revoked_at FROM api_keys k JOIN users u ON u.id = k.user_id ",
    principal_joins!(),
    " WHERE k.key_id = $1"
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
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql)
            .bind(user_id).bind(account_id).bind(name).bind(key_id).bind(secret_ciphertext).bind(at)
            .fetch_one(pool).await)?)
    }

    /// The account's keys, newest first, revoked ones included.
    pub async fn account_api_keys(&self, account_id: i64) -> StoreResult<Vec<ApiKeyRecord>> {
        let sql = format!("{COLUMNS} WHERE k.account_id = $1 ORDER BY k.created_at DESC, k.id DESC");
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(account_id).fetch_all(pool).await)?,
        )
    }

    pub async fn api_key(&self, key_id: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let sql = format!("{COLUMNS} WHERE k.key_id = $1");
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(key_id).fetch_optional(pool).await)?,
        )
    }

    /// The key and its owner in one query: this runs on every signed API call.
    pub async fn api_key_caller(&self, key_id: &str) -> StoreResult<Option<ApiKeyCaller>> {
        let rows: Vec<CallerRow> =
            on_pool!(self, pool => sqlx::query_as(CALLER_SQL).bind(key_id).fetch_all(pool).await)?;
        let Some(first) = rows.first() else { return Ok(None) };
        Ok(Some(ApiKeyCaller {
            id: first.key_row_id,
            key_id: first.key_id.clone(),
            user_id: first.owner.id,
            secret_ciphertext: first.key_secret.clone(),
            last_used_at: first.key_last_used_at,
            revoked_at: first.key_revoked_at,
            owner: principal_from_rows(rows.iter().map(|row| &row.owner)),
        }))
    }

    /// Revokes a key at once; `false` if it was already revoked.
    pub async fn revoke_api_key(&self, id: i64, at: DateTime<Utc>) -> StoreResult<bool> {
        let done = execute!(
            self,
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL").bind(at).bind(id)
        )?;
        Ok(done == 1)
    }

    /// Spends the nonce (a replayed one is refused by the primary key) and counts the call against
    /// the key's rate for this minute, in one transaction and as few round trips as each database
    /// allows: this runs on every signed API call. A call over the rate still spends its nonce.
    pub async fn record_api_call(
        &self,
        key: &ApiKeyCaller,
        nonce: &str,
        now: DateTime<Utc>,
        limit_per_minute: u32,
    ) -> StoreResult<ApiCall> {
        let minute = now.timestamp().div_euclid(60);
        let stale_before = now - Duration::seconds(LAST_USED_RESOLUTION_SECONDS);
        let calls: StoreResult<i64> = async {
            match self {
                // SQLite runs the statements of one query in turn; PostgreSQL takes them as one.
                Store::Sqlite(..) => in_transaction!(self, tx => {
                    let sql = "INSERT INTO api_nonces (api_key_id, nonce, seen_at) VALUES ($1, $2, $3); \
                               UPDATE api_keys SET last_used_at = $3 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $5); \
                               INSERT INTO api_rate (api_key_id, minute, calls) VALUES ($1, $4, 1) \
                               ON CONFLICT (api_key_id, minute) DO UPDATE SET calls = api_rate.calls + 1 RETURNING calls";
                    let rows: Vec<i64> = sqlx::query_scalar(sql)
                        .bind(key.id).bind(nonce).bind(now).bind(minute).bind(stale_before)
                        .fetch_all(&mut *tx).await?;
                    rows.last().copied().unwrap_or_default()
                }),
                Store::Postgres(_) => {
                    let sql = "WITH spent AS (INSERT INTO api_nonces (api_key_id, nonce, seen_at) VALUES ($1, $2, $3) RETURNING api_key_id), \
                               touched AS (UPDATE api_keys SET last_used_at = $3 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $5)) \
                               INSERT INTO api_rate (api_key_id, minute, calls) SELECT api_key_id, $4, 1 FROM spent \
                               ON CONFLICT (api_key_id, minute) DO UPDATE SET calls = api_rate.calls + 1 RETURNING calls";
                    Ok(on_pool!(self, pool => sqlx::query_scalar(sql)
                        .bind(key.id).bind(nonce).bind(now).bind(minute).bind(stale_before)
                        .fetch_one(pool).await)?)
                }
            }
        }
        .await;
        match calls {
            Err(StoreError::Duplicate(_)) => Ok(ApiCall::Replayed),
            Err(error) => Err(error),
            Ok(calls) if calls > i64::from(limit_per_minute) => {
                let retry = 60 - now.timestamp().rem_euclid(60);
                Ok(ApiCall::RateLimited { retry_after_seconds: retry.max(1) as u64 })
            }
            Ok(_) => Ok(ApiCall::Accepted),
        }
    }

    /// Nonces older than the timestamp window can never be replayed (the timestamp check refuses
    /// them first), so they need not be kept.
    pub async fn purge_api_nonces(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let minute = before.timestamp().div_euclid(60);
        execute!(self, sqlx::query("DELETE FROM api_rate WHERE minute < $1").bind(minute))?;
        Ok(execute!(self, sqlx::query("DELETE FROM api_nonces WHERE seen_at < $1").bind(before))?)
    }
}
