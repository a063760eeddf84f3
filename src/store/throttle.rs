//! Sign-in attempts, counted in the database so that throttling holds across app instances.

use chrono::{DateTime, Utc};

use super::{Store, StoreResult, execute, on_pool};

impl Store {
    /// Failed attempts since `since` for this email and for this client address.
    pub async fn recent_sign_in_failures(
        &self,
        email: &str,
        client_ip: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<(i64, i64)> {
        let by_email =
            "SELECT COUNT(*) FROM sign_in_attempts WHERE email = $1 AND attempted_at > $2 AND succeeded = FALSE";
        let by_ip =
            "SELECT COUNT(*) FROM sign_in_attempts WHERE client_ip = $1 AND attempted_at > $2 AND succeeded = FALSE";
        let email_count: i64 =
            on_pool!(self, pool => sqlx::query_scalar(by_email).bind(email).bind(since).fetch_one(pool).await)?;
        let ip_count: i64 =
            on_pool!(self, pool => sqlx::query_scalar(by_ip).bind(client_ip).bind(since).fetch_one(pool).await)?;
        Ok((email_count, ip_count))
    }

    pub async fn record_sign_in_attempt(
        &self,
        email: &str,
        client_ip: &str,
        succeeded: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let sql = "INSERT INTO sign_in_attempts (email, client_ip, succeeded, attempted_at) VALUES ($1, $2, $3, $4)";
        execute!(self, sqlx::query(sql).bind(email).bind(client_ip).bind(succeeded).bind(at))?;
        Ok(())
    }

    /// A successful sign-in forgives the account's earlier failures (not the address's).
    pub async fn clear_sign_in_failures(&self, email: &str) -> StoreResult<()> {
        let sql = "DELETE FROM sign_in_attempts WHERE email = $1 AND succeeded = FALSE";
        execute!(self, sqlx::query(sql).bind(email))?;
        Ok(())
    }

    pub async fn purge_sign_in_attempts(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let sql = "DELETE FROM sign_in_attempts WHERE attempted_at < $1";
        let done = execute!(self, sqlx::query(sql).bind(before))?;
        Ok(done)
    }
}
