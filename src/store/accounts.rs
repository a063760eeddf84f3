//! Accounts, their roles and users: what the demo data, the support desk and account
//! administration create.

use chrono::{DateTime, Utc};

use super::{Store, StoreResult, execute, in_transaction, on_pool};
use crate::domain::permission::{BuiltinRole, Permission};

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
            let id: i64 = sqlx::query_scalar("INSERT INTO accounts (number, name, created_at) VALUES ($1, $2, $3) RETURNING id")
                .bind(number).bind(name).bind(at)
                .fetch_one(&mut *tx).await?;
            for role in BuiltinRole::ALL {
                sqlx::query("INSERT INTO roles (account_id, name, builtin, created_at) VALUES ($1, $2, $3, $4)")
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
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql)
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
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql).bind(account_id).bind(role.code()).fetch_one(pool).await)?)
    }

    /// Creates an account-defined role with the given permissions.
    #[tracing::instrument(skip(self))]
    pub async fn create_role(
        &self,
        account_id: i64,
        name: &str,
        permissions: &[Permission],
        at: DateTime<Utc>,
    ) -> StoreResult<i64> {
        in_transaction!(self, tx => {
            let id: i64 = sqlx::query_scalar("INSERT INTO roles (account_id, name, created_at) VALUES ($1, $2, $3) RETURNING id")
                .bind(account_id).bind(name).bind(at)
                .fetch_one(&mut *tx).await?;
            for permission in permissions {
                sqlx::query("INSERT INTO role_permissions (role_id, permission) VALUES ($1, $2)")
                    .bind(id).bind(permission.code())
                    .execute(&mut *tx).await?;
            }
            id
        })
    }

    pub async fn add_role_member(&self, role_id: i64, user_id: i64) -> StoreResult<()> {
        let sql = "INSERT INTO role_members (role_id, user_id) VALUES ($1, $2)";
        execute!(self, sqlx::query(sql).bind(role_id).bind(user_id))?;
        Ok(())
    }

    /// Whether any user exists; `--demo` only fills an empty database.
    pub async fn has_users(&self) -> StoreResult<bool> {
        let sql = "SELECT COUNT(*) FROM users";
        let count: i64 = on_pool!(self, pool => sqlx::query_scalar(sql).fetch_one(pool).await)?;
        Ok(count > 0)
    }
}
