//! Two-factor sign-in state: the encrypted TOTP secret, the last accepted time step, recovery
//! codes, and whether an account requires two-factor sign-in. Every "use" is a conditional write,
//! so two requests presenting the same code cannot both succeed.

use super::statement;
use chrono::{DateTime, Utc};

use super::{Store, StoreResult, execute, in_transaction, on_pool};

/// Deletes a user's recovery codes and stores new ones, inside the caller's transaction.
macro_rules! replace_codes {
    ($tx:ident, $user_id:expr, $hashes:expr) => {
        statement::query("DELETE FROM recovery_codes WHERE user_id = $1").bind($user_id).execute(&mut *$tx).await?;
        for hash in $hashes {
            statement::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind($user_id)
                .bind(hash)
                .execute(&mut *$tx)
                .await?;
        }
    };
}

#[derive(Debug, sqlx::FromRow)]
pub struct TwoFactorRecord {
    /// Encrypted; present while enrolling and once enabled.
    pub secret_ciphertext: Option<String>,
    pub enabled_at: Option<DateTime<Utc>>,
    pub last_step: Option<i64>,
    pub recovery_codes_left: i64,
}

impl TwoFactorRecord {
    pub fn enabled(&self) -> bool {
        self.enabled_at.is_some() && self.secret_ciphertext.is_some()
    }
}

impl Store {
    pub async fn two_factor(&self, user_id: i64) -> StoreResult<Option<TwoFactorRecord>> {
        let sql = "SELECT totp_secret AS secret_ciphertext, totp_enabled_at AS enabled_at, totp_last_step AS last_step, \
                   (SELECT COUNT(*) FROM recovery_codes c WHERE c.user_id = u.id) AS recovery_codes_left \
                   FROM users u WHERE u.id = $1";
        Ok(on_pool!(self, pool => statement::query_as(sql).bind(user_id).fetch_optional(pool).await)?)
    }

    /// Starts (or restarts) an enrolment with a new secret; does nothing once two-factor is on.
    pub async fn begin_two_factor(&self, user_id: i64, secret_ciphertext: &str) -> StoreResult<bool> {
        let sql = "UPDATE users SET totp_secret = $1, totp_last_step = NULL WHERE id = $2 AND totp_enabled_at IS NULL";
        Ok(execute!(self, statement::query(sql).bind(secret_ciphertext).bind(user_id))? == 1)
    }

    /// Turns two-factor on after the first correct code, with fresh recovery codes.
    pub async fn enable_two_factor(
        &self,
        user_id: i64,
        step: i64,
        recovery_hashes: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        in_transaction!(self, tx => {
            let sql = "UPDATE users SET totp_enabled_at = $1, totp_last_step = $2 \
                       WHERE id = $3 AND totp_enabled_at IS NULL AND totp_secret IS NOT NULL";
            let done = statement::query(sql).bind(now).bind(step).bind(user_id).execute(&mut *tx).await?;
            if done.rows_affected() == 1 {
                replace_codes!(tx, user_id, recovery_hashes);
            }
            done.rows_affected() == 1
        })
    }

    /// Spends the time step of a correct code; false if it (or a later one) was already used.
    pub async fn use_totp_step(&self, user_id: i64, step: i64) -> StoreResult<bool> {
        let sql = "UPDATE users SET totp_last_step = $1 \
                   WHERE id = $2 AND totp_enabled_at IS NOT NULL AND (totp_last_step IS NULL OR totp_last_step < $1)";
        Ok(execute!(self, statement::query(sql).bind(step).bind(user_id))? == 1)
    }

    /// Spends a recovery code; false if the user has no such unused code.
    pub async fn use_recovery_code(&self, user_id: i64, code_hash: &str) -> StoreResult<bool> {
        let sql = "DELETE FROM recovery_codes WHERE user_id = $1 AND code_hash = $2";
        Ok(execute!(self, statement::query(sql).bind(user_id).bind(code_hash))? == 1)
    }

    pub async fn replace_recovery_codes(&self, user_id: i64, recovery_hashes: &[String]) -> StoreResult<()> {
        in_transaction!(self, tx => {
            replace_codes!(tx, user_id, recovery_hashes);
        })
    }

    /// Turns two-factor off and forgets the secret and the recovery codes.
    pub async fn disable_two_factor(&self, user_id: i64) -> StoreResult<bool> {
        in_transaction!(self, tx => {
            statement::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
            let sql = "UPDATE users SET totp_secret = NULL, totp_enabled_at = NULL, totp_last_step = NULL \
                       WHERE id = $1 AND totp_secret IS NOT NULL";
            statement::query(sql).bind(user_id).execute(&mut *tx).await?.rows_affected() == 1
        })
    }

    pub async fn set_account_requires_two_factor(&self, account_id: i64, required: bool) -> StoreResult<()> {
        let sql = "UPDATE accounts SET mfa_required = $1 WHERE id = $2";
        execute!(self, statement::query(sql).bind(required).bind(account_id))?;
        Ok(())
    }
}
