//! API keys and their calls: one row per accepted nonce, which both refuses a replayed nonce (on
//! every app instance) and counts a key's recent calls for rate limiting.

use chrono::{DateTime, Duration, Utc};

use super::{Store, StoreError, StoreResult, execute, in_transaction, on_pool};

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

    /// Revokes a key at once; `false` if it was already revoked.
    pub async fn revoke_api_key(&self, id: i64, at: DateTime<Utc>) -> StoreResult<bool> {
        let done = execute!(
            self,
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL").bind(at).bind(id)
        )?;
        Ok(done == 1)
    }

    /// Accepts a call if the key is within its rate for this minute and the nonce is new for it.
    pub async fn record_api_call(
        &self,
        key: &ApiKeyRecord,
        nonce: &str,
        now: DateTime<Utc>,
        limit_per_minute: u32,
    ) -> StoreResult<ApiCall> {
        let minute = now.timestamp().div_euclid(60);
        let touch = key.last_used_at.is_none_or(|at| now - at >= Duration::seconds(LAST_USED_RESOLUTION_SECONDS));
        // In a block of its own, so that the body's `?` lands in `outcome` and a duplicate nonce
        // can be told apart from other failures.
        let outcome: StoreResult<ApiCall> = async {
            in_transaction!(self, tx => {
                let calls: i64 = sqlx::query_scalar(
                    "INSERT INTO api_rate (api_key_id, minute, calls) VALUES ($1, $2, 1) \
                     ON CONFLICT (api_key_id, minute) DO UPDATE SET calls = api_rate.calls + 1 RETURNING calls")
                    .bind(key.id).bind(minute).fetch_one(&mut *tx).await?;
                if calls > i64::from(limit_per_minute) {
                    let retry = 60 - now.timestamp().rem_euclid(60);
                    return Ok(ApiCall::RateLimited { retry_after_seconds: retry.max(1) as u64 });
                }
                sqlx::query("INSERT INTO api_nonces (api_key_id, nonce, seen_at) VALUES ($1, $2, $3)")
                    .bind(key.id).bind(nonce).bind(now).execute(&mut *tx).await?;
                if touch {
                    sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2").bind(now).bind(key.id).execute(&mut *tx).await?;
                }
                ApiCall::Accepted
            })
        }
        .await;
        match outcome {
            Err(StoreError::Duplicate(_)) => Ok(ApiCall::Replayed),
            other => other,
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
