//! Server-side session rows. The id is a SHA-256 of the cookie's session key, so reading this
//! table never yields a usable cookie.

use super::statement;
use chrono::{DateTime, Utc};

use super::{Store, StoreResult, execute, in_transaction, on_pool};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRecord {
    pub state: String,
    pub created_at: DateTime<Utc>,
}

/// Ends every session of user `$user_id` within transaction `$tx`, on every app instance at once:
/// the browser sessions and the FH-AUTH codes and tokens, which are the API's sessions of the same
/// password. Every place that ends a user's sessions (disabled, password changed or set, "sign out
/// everywhere", two-factor reset) goes through this, so none can forget the tokens.
macro_rules! end_sessions {
    ($tx:ident, $user_id:expr) => {{
        statement::query("DELETE FROM sessions WHERE user_id = $1").bind($user_id).execute(&mut *$tx).await?;
        statement::query("DELETE FROM fh_auth_tokens WHERE user_id = $1").bind($user_id).execute(&mut *$tx).await?;
    }};
}
pub(super) use end_sessions;

/// The live session `$1` at time `$2`.
pub(super) const LOAD_SESSION_SQL: &str = "SELECT state, created_at FROM sessions WHERE id = $1 AND expires_at > $2";

impl Store {
    pub async fn load_session(&self, id: &str, now: DateTime<Utc>) -> StoreResult<Option<SessionRecord>> {
        Ok(on_pool!(self, pool => statement::query_as(LOAD_SESSION_SQL).bind(id).bind(now).fetch_optional(pool).await)?)
    }

    pub async fn insert_session(
        &self,
        id: &str,
        user_id: Option<i64>,
        state: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let sql = "INSERT INTO sessions (id, user_id, state, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)";
        execute!(self, statement::query(sql).bind(id).bind(user_id).bind(state).bind(now).bind(expires_at))?;
        Ok(())
    }

    /// Replaces the state of a live session; `false` if it has ended meanwhile (signed out elsewhere).
    pub async fn update_session(
        &self,
        id: &str,
        user_id: Option<i64>,
        state: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let sql = "UPDATE sessions SET user_id = $1, state = $2, expires_at = $3 WHERE id = $4 AND expires_at > $5";
        let done = execute!(self, statement::query(sql).bind(user_id).bind(state).bind(expires_at).bind(id).bind(now))?;
        Ok(done == 1)
    }

    pub async fn extend_session(&self, id: &str, expires_at: DateTime<Utc>) -> StoreResult<()> {
        let sql = "UPDATE sessions SET expires_at = $1 WHERE id = $2";
        execute!(self, statement::query(sql).bind(expires_at).bind(id))?;
        Ok(())
    }

    pub async fn delete_session(&self, id: &str) -> StoreResult<()> {
        execute!(self, statement::query("DELETE FROM sessions WHERE id = $1").bind(id))?;
        Ok(())
    }

    /// Ends every session of a user ("sign out everywhere", a two-factor reset), on every app
    /// instance at once, except the browser session `keep` if given; FH-AUTH tokens always end
    /// (see `end_sessions!`). The number of sessions and tokens ended.
    pub async fn delete_sessions_of_user(&self, user_id: i64, keep: Option<&str>) -> StoreResult<u64> {
        in_transaction!(self, tx => {
            let sessions = statement::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
                .bind(user_id).bind(keep.unwrap_or("")).execute(&mut *tx).await?.rows_affected();
            let tokens = statement::query("DELETE FROM fh_auth_tokens WHERE user_id = $1")
                .bind(user_id).execute(&mut *tx).await?.rows_affected();
            sessions + tokens
        })
    }

    pub async fn purge_expired_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let sql = "DELETE FROM sessions WHERE expires_at <= $1";
        let done = execute!(self, statement::query(sql).bind(now))?;
        Ok(done)
    }
}
