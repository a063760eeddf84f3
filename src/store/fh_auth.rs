//! FH-AUTH, the original API's username-and-password flow: one-time codes (step one) and access
//! tokens (step two). Only a SHA-256 of each is stored. They belong to the user's sessions: every
//! statement that ends a user's sessions deletes them too (see `end_sessions!`).

use super::statement;
use chrono::{DateTime, Duration, Utc};

use super::users::{PrincipalRow, acting_for, principal_columns, principal_from_rows, principal_joins};
use super::{Store, StoreResult, execute, in_transaction, on_pool};
use crate::domain::principal::Principal;

const CODE: &str = "code";
const ACCESS: &str = "access";

/// The principal of live access token `$1` at `$2`.
const PRINCIPAL_OF_TOKEN: &str = concat!(
    "SELECT ",
    principal_columns!(),
    " FROM fh_auth_tokens t JOIN users u ON u.id = t.user_id ",
    principal_joins!(),
    " WHERE t.token_hash = $1 AND t.kind = 'access' AND t.expires_at > $2"
);

impl Store {
    /// Stores a code of step one for `user_id`, usable once until `expires_at`.
    pub async fn insert_fh_auth_code(
        &self,
        code_hash: &str,
        user_id: i64,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let sql = "INSERT INTO fh_auth_tokens (token_hash, user_id, kind, created_at, expires_at) \
                   VALUES ($1, $2, $3, $4, $5)";
        execute!(self, statement::query(sql).bind(code_hash).bind(user_id).bind(CODE).bind(at).bind(expires_at))?;
        Ok(())
    }

    /// Spends a live code and stores an access token in its place, in one transaction; the code's
    /// user, or `None` if the code is unknown, expired or spent (by a racing exchange too).
    pub async fn exchange_fh_auth_code(
        &self,
        code_hash: &str,
        token_hash: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<Option<i64>> {
        in_transaction!(self, tx => {
            let user: Option<i64> = statement::query_scalar(
                "DELETE FROM fh_auth_tokens WHERE token_hash = $1 AND kind = $2 AND expires_at > $3 RETURNING user_id")
                .bind(code_hash).bind(CODE).bind(now)
                .fetch_optional(&mut *tx).await?;
            if let Some(user_id) = user {
                statement::query("INSERT INTO fh_auth_tokens (token_hash, user_id, kind, created_at, expires_at) \
                             VALUES ($1, $2, $3, $4, $5)")
                    .bind(token_hash).bind(user_id).bind(ACCESS).bind(now).bind(expires_at)
                    .execute(&mut *tx).await?;
            }
            user
        })
    }

    /// Who a live access token belongs to, if they are still enabled: one statement, on every
    /// call made with it.
    pub async fn fh_auth_principal(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<Principal>> {
        let rows: Vec<PrincipalRow> = on_pool!(self, pool => statement::query_as(PRINCIPAL_OF_TOKEN)
            .bind(token_hash).bind(now).fetch_all(pool).await)?;
        let principal = principal_from_rows(&rows);
        acting_for(&principal, &rows).await;
        Ok(principal)
    }

    /// Extends a live access token by `ttl` from `now`, never beyond `max_age` after it was first
    /// issued; the new expiry, or `None` if the token is unknown or has expired.
    pub async fn extend_fh_auth_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
        ttl: Duration,
        max_age: Duration,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        in_transaction!(self, tx => {
            let issued: Option<DateTime<Utc>> = statement::query_scalar(
                "SELECT created_at FROM fh_auth_tokens WHERE token_hash = $1 AND kind = $2 AND expires_at > $3")
                .bind(token_hash).bind(ACCESS).bind(now)
                .fetch_optional(&mut *tx).await?;
            match issued {
                Some(issued) => {
                    let until = (now + ttl).min(issued + max_age);
                    statement::query("UPDATE fh_auth_tokens SET expires_at = $1 WHERE token_hash = $2")
                        .bind(until).bind(token_hash).execute(&mut *tx).await?;
                    Some(until).filter(|until| *until > now)
                }
                None => None,
            }
        })
    }

    /// Ends one access token (issued to someone who may no longer have it).
    pub async fn revoke_fh_auth_token(&self, token_hash: &str) -> StoreResult<()> {
        execute!(self, statement::query("DELETE FROM fh_auth_tokens WHERE token_hash = $1").bind(token_hash))?;
        Ok(())
    }

    /// Ends the FH-AUTH tokens of every user of an account (FH-AUTH turned off).
    pub async fn revoke_account_fh_auth_tokens(&self, account_id: i64) -> StoreResult<u64> {
        let sql = "DELETE FROM fh_auth_tokens WHERE user_id IN (SELECT id FROM users WHERE account_id = $1)";
        Ok(execute!(self, statement::query(sql).bind(account_id))?)
    }

    pub async fn purge_expired_fh_auth_tokens(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        Ok(execute!(self, statement::query("DELETE FROM fh_auth_tokens WHERE expires_at <= $1").bind(now))?)
    }

    /// Turns the account's switches for the original API.
    pub async fn set_account_api_access(
        &self,
        account_id: i64,
        fh_auth_enabled: bool,
        require_query_signing: bool,
    ) -> StoreResult<()> {
        let sql = "UPDATE accounts SET fh_auth_enabled = $1, require_query_signing = $2 WHERE id = $3";
        execute!(self, statement::query(sql).bind(fh_auth_enabled).bind(require_query_signing).bind(account_id))?;
        Ok(())
    }
}
