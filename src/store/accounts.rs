//! Accounts, their roles and users: what the demo data, the support desk and account
//! administration create.

use super::statement;
use chrono::{DateTime, Utc};

use super::{Store, StoreResult, execute, in_transaction, on_pool};
use crate::domain::permission::BuiltinRole;

#[derive(Debug, Clone)]
pub struct NewUser {
    /// `None` for support staff.
    pub account_id: Option<i64>,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub password_hash: Option<String>,
    pub support_admin: bool,
    pub time_zone: String,
    pub enabled: bool,
}

impl Store {
    /// Creates an account together with its provider-defined roles.
    #[tracing::instrument(skip(self))]
    pub async fn create_account(&self, number: i64, name: &str, at: DateTime<Utc>) -> StoreResult<i64> {
        in_transaction!(self, tx => {
            let id: i64 = statement::query_scalar("INSERT INTO accounts (number, name, created_at) VALUES ($1, $2, $3) RETURNING id")
                .bind(number).bind(name).bind(at)
                .fetch_one(&mut *tx).await?;
            for role in BuiltinRole::ALL {
                statement::query("INSERT INTO roles (account_id, name, builtin, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(id).bind(role.name()).bind(role.code()).bind(at)
                    .execute(&mut *tx).await?;
            }
            id
        })
    }

    #[tracing::instrument(skip(self, user), fields(email = %user.email))]
    pub async fn create_user(&self, user: &NewUser, at: DateTime<Utc>) -> StoreResult<i64> {
        let sql = "INSERT INTO users (account_id, email, first_name, last_name, password_hash, is_support, \
                   is_support_admin, enabled, time_zone, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id";
        Ok(on_pool!(self, pool => statement::query_scalar(sql)
            .bind(user.account_id)
            .bind(user.email.to_lowercase())
            .bind(&user.first_name)
            .bind(&user.last_name)
            .bind(&user.password_hash)
            .bind(user.account_id.is_none())
            .bind(user.support_admin)
            .bind(user.enabled)
            .bind(&user.time_zone)
            .bind(at)
            .fetch_one(pool).await)?)
    }

    pub async fn builtin_role_id(&self, account_id: i64, role: BuiltinRole) -> StoreResult<i64> {
        let sql = "SELECT id FROM roles WHERE account_id = $1 AND builtin = $2";
        Ok(
            on_pool!(self, pool => statement::query_scalar(sql).bind(account_id).bind(role.code()).fetch_one(pool).await)?,
        )
    }

    /// Creates an account-defined role with the given permissions.
    #[tracing::instrument(skip(self))]
    pub async fn add_role_member(&self, role_id: i64, user_id: i64) -> StoreResult<()> {
        let sql = "INSERT INTO role_members (role_id, user_id) VALUES ($1, $2)";
        execute!(self, statement::query(sql).bind(role_id).bind(user_id))?;
        Ok(())
    }

    /// Whether any user exists; `--demo` only fills an empty database.
    pub async fn has_users(&self) -> StoreResult<bool> {
        let sql = "SELECT COUNT(*) FROM users";
        let count: i64 = on_pool!(self, pool => statement::query_scalar(sql).fetch_one(pool).await)?;
        Ok(count > 0)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountSummary {
    pub id: i64,
    pub number: i64,
    pub name: String,
    pub users: i64,
    pub open_incidents: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StaffMember {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub is_support_admin: bool,
    pub enabled: bool,
    pub two_factor: bool,
    pub last_sign_in_at: Option<DateTime<Utc>>,
}

/// A one-time link to set a password: the hash of its token, and how long it lives.
#[derive(Debug, Clone)]
pub struct PasswordToken {
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
    pub created_by: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PasswordTokenOwner {
    pub token_id: i64,
    pub user_id: i64,
    pub name: String,
    pub email: String,
}

/// Inserts a user and, in the same transaction, a set-password token for them.
macro_rules! insert_user_with_token {
    ($tx:expr, $user:expr, $token:expr, $at:expr) => {{
        let user_id: i64 = statement::query_scalar(
            "INSERT INTO users (account_id, email, first_name, last_name, password_hash, is_support, \
             is_support_admin, enabled, time_zone, created_at) \
             VALUES ($1, $2, $3, $4, NULL, $5, $6, TRUE, $7, $8) RETURNING id",
        )
        .bind($user.account_id)
        .bind($user.email.to_lowercase())
        .bind(&$user.first_name)
        .bind(&$user.last_name)
        .bind($user.account_id.is_none())
        .bind($user.support_admin)
        .bind(&$user.time_zone)
        .bind($at)
        .fetch_one(&mut *$tx)
        .await?;
        statement::query(
            "INSERT INTO password_tokens (user_id, token_hash, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(user_id)
        .bind(&$token.token_hash)
        .bind($token.created_by)
        .bind($at)
        .bind($token.expires_at)
        .execute(&mut *$tx)
        .await?;
        user_id
    }};
}

impl Store {
    pub async fn list_accounts(&self) -> StoreResult<Vec<AccountSummary>> {
        let sql = "SELECT a.id, a.number, a.name, \
                   (SELECT COUNT(*) FROM users u WHERE u.account_id = a.id) AS users, \
                   (SELECT COUNT(*) FROM tickets t WHERE t.account_id = a.id AND t.severity IS NOT NULL AND t.status <> 'closed') AS open_incidents, \
                   a.created_at FROM accounts a ORDER BY a.name, a.number";
        Ok(on_pool!(self, pool => statement::query_as(sql).fetch_all(pool).await)?)
    }

    pub async fn account_by_number(&self, number: i64) -> StoreResult<Option<(i64, String)>> {
        let sql = "SELECT id, name FROM accounts WHERE number = $1";
        Ok(on_pool!(self, pool => statement::query_as(sql).bind(number).fetch_optional(pool).await)?)
    }

    /// A new customer account with its provider-defined roles and its first administrator, who
    /// gets a set-password token; all or nothing.
    #[tracing::instrument(skip(self, admin, token))]
    pub async fn create_account_with_admin(
        &self,
        number: i64,
        name: &str,
        admin: &NewUser,
        token: &PasswordToken,
        at: DateTime<Utc>,
    ) -> StoreResult<(i64, i64)> {
        in_transaction!(self, tx => {
            let account_id: i64 = statement::query_scalar("INSERT INTO accounts (number, name, created_at) VALUES ($1, $2, $3) RETURNING id")
                .bind(number).bind(name).bind(at)
                .fetch_one(&mut *tx).await?;
            let mut admin_role = 0;
            for role in BuiltinRole::ALL {
                let id: i64 = statement::query_scalar("INSERT INTO roles (account_id, name, builtin, created_at) VALUES ($1, $2, $3, $4) RETURNING id")
                    .bind(account_id).bind(role.name()).bind(role.code()).bind(at)
                    .fetch_one(&mut *tx).await?;
                if role == BuiltinRole::Admin {
                    admin_role = id;
                }
            }
            let admin = NewUser { account_id: Some(account_id), ..admin.clone() };
            let user_id = insert_user_with_token!(tx, admin, token, at);
            statement::query("INSERT INTO role_members (role_id, user_id) VALUES ($1, $2)")
                .bind(admin_role).bind(user_id)
                .execute(&mut *tx).await?;
            (account_id, user_id)
        })
    }

    /// A new support agent or administrator with a set-password token.
    pub async fn create_staff_member(
        &self,
        member: &NewUser,
        token: &PasswordToken,
        at: DateTime<Utc>,
    ) -> StoreResult<i64> {
        in_transaction!(self, tx => {
            insert_user_with_token!(tx, member, token, at)
        })
    }

    pub async fn list_staff(&self) -> StoreResult<Vec<StaffMember>> {
        let sql = "SELECT id, first_name || ' ' || last_name AS name, email, is_support_admin, enabled, \
                   totp_enabled_at IS NOT NULL AS two_factor, last_sign_in_at FROM users WHERE is_support = TRUE ORDER BY last_name, first_name, id";
        Ok(on_pool!(self, pool => statement::query_as(sql).fetch_all(pool).await)?)
    }

    /// The user a live (unused, unexpired) set-password token belongs to.
    pub async fn password_token_owner(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<PasswordTokenOwner>> {
        let sql = "SELECT p.id AS token_id, u.id AS user_id, u.first_name || ' ' || u.last_name AS name, u.email \
                   FROM password_tokens p JOIN users u ON u.id = p.user_id \
                   WHERE p.token_hash = $1 AND p.used_at IS NULL AND p.expires_at > $2 AND u.enabled = TRUE";
        Ok(on_pool!(self, pool => statement::query_as(sql).bind(token_hash).bind(now).fetch_optional(pool).await)?)
    }

    /// Sets the password through a token, once: `false` if the token was used meanwhile. Ends the
    /// user's other sessions and their other links.
    pub async fn set_password_with_token(
        &self,
        token_id: i64,
        user_id: i64,
        hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        in_transaction!(self, tx => {
            let used = statement::query("UPDATE password_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
                .bind(now).bind(token_id)
                .execute(&mut *tx).await?.rows_affected();
            if used == 0 {
                return Ok(false);
            }
            // One link sets the password; any other still open for the user dies with it.
            statement::query("UPDATE password_tokens SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
                .bind(now).bind(user_id)
                .execute(&mut *tx).await?;
            statement::query("UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
                .bind(hash).bind(now).bind(user_id)
                .execute(&mut *tx).await?;
            super::sessions::end_sessions!(tx, user_id);
            true
        })
    }
}
