//! Sign-in attempts, counted in the database so that throttling holds across app instances.
//!
//! An attempt is reserved before the password or code is checked, as a failure, in one atomic
//! step that also counts the recent failures: a burst of simultaneous guesses gets no more checks
//! than the limit, however many instances share the database. A success turns it round.

use super::statement;
use chrono::{DateTime, Utc};

use super::{Store, StoreResult, execute, in_transaction};

/// How many recent failures an email and a client address may have before attempts are refused.
#[derive(Debug, Clone, Copy)]
pub struct AttemptLimits {
    pub per_email: i64,
    /// `None` for a signed-in user confirming a change: the budget is that user's alone.
    pub per_address: Option<i64>,
    pub since: DateTime<Utc>,
}

/// Inserts the attempt only while both counts of failures since `$4` are under their limits (a
/// re-authentication, `$7`, is not limited by, and does not count towards, its address's).
const RESERVE: &str = "INSERT INTO sign_in_attempts (email, client_ip, succeeded, attempted_at, reauthentication) \
    SELECT $1, $2, FALSE, $3, $7 \
    WHERE (SELECT COUNT(*) FROM sign_in_attempts WHERE email = $1 AND attempted_at > $4 AND succeeded = FALSE) < $5 \
    AND ($7 OR (SELECT COUNT(*) FROM sign_in_attempts \
                WHERE client_ip = $2 AND attempted_at > $4 AND succeeded = FALSE AND reauthentication = FALSE) < $6) \
    RETURNING id";

/// Namespaces of the PostgreSQL advisory locks taken while reserving (`pg_advisory_xact_lock(int, int)`).
const EMAIL_LOCK: i32 = 0x5349_0001;
const ADDRESS_LOCK: i32 = 0x5349_0002;

impl Store {
    /// Reserves one attempt for this email from this address, counted as a failure until
    /// [`Store::sign_in_attempt_succeeded`]; `None` when the recent failures reach a limit.
    pub async fn reserve_sign_in_attempt(
        &self,
        email: &str,
        client_ip: &str,
        at: DateTime<Utc>,
        limits: AttemptLimits,
    ) -> StoreResult<Option<i64>> {
        let postgres = matches!(self, Store::Postgres(..));
        in_transaction!(self, tx => {
            // SQLite's write transaction already admits one reservation at a time. On PostgreSQL
            // two transactions would each count the other's row as not yet there: reservations
            // for one email, and for one address, queue on a lock held until commit. Email
            // first, then address, always: no two can wait for each other.
            if postgres {
                let address = limits.per_address.map(|_| (ADDRESS_LOCK, client_ip));
                for (space, key) in std::iter::once((EMAIL_LOCK, email)).chain(address) {
                    statement::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
                        .bind(space).bind(key).execute(&mut *tx).await?;
                }
            }
            statement::query_scalar::<_, i64>(RESERVE)
                .bind(email).bind(client_ip).bind(at).bind(limits.since).bind(limits.per_email)
                .bind(limits.per_address.unwrap_or(i64::MAX)).bind(limits.per_address.is_none())
                .fetch_optional(&mut *tx).await?
        })
    }

    /// The reserved attempt succeeded: it and the email's earlier failures no longer count (the
    /// address's do).
    pub async fn sign_in_attempt_succeeded(&self, attempt_id: i64, email: &str) -> StoreResult<()> {
        in_transaction!(self, tx => {
            statement::query("UPDATE sign_in_attempts SET succeeded = TRUE WHERE id = $1")
                .bind(attempt_id).execute(&mut *tx).await?;
            statement::query("DELETE FROM sign_in_attempts WHERE email = $1 AND succeeded = FALSE")
                .bind(email).execute(&mut *tx).await?;
        })
    }

    /// The reserved attempt was neither a success nor a failure (a right password still waiting
    /// for its code): it no longer counts.
    pub async fn release_sign_in_attempt(&self, attempt_id: i64) -> StoreResult<()> {
        execute!(self, statement::query("DELETE FROM sign_in_attempts WHERE id = $1").bind(attempt_id))?;
        Ok(())
    }

    pub async fn purge_sign_in_attempts(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let sql = "DELETE FROM sign_in_attempts WHERE attempted_at < $1";
        let done = execute!(self, statement::query(sql).bind(before))?;
        Ok(done)
    }
}
