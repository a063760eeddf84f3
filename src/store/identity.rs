//! An account's users and roles, and users' own profiles. Every change to users or roles runs in
//! a transaction that locks the account (PostgreSQL; SQLite's write lock already serializes) and
//! checks the account's invariants (`domain::identity`) before it commits.

use super::statement;
use chrono::{DateTime, Utc};

use super::accounts::{NewUser, PasswordToken};
use super::{Store, StoreError, StoreResult, execute, in_transaction, on_pool};
use crate::domain::identity::{self, IdentityRule};
use crate::domain::permission::Permission;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub enabled: bool,
    pub last_sign_in_at: Option<DateTime<Utc>>,
    pub api_keys: i64,
    pub two_factor: bool,
}

#[derive(Debug, Clone)]
pub struct AccountUser {
    pub user: UserRow,
    pub role_ids: Vec<i64>,
}

#[derive(Debug, Clone)]
pub struct RoleRecord {
    pub id: i64,
    pub name: String,
    /// `admin`, `technical` or `billing` for the provider-defined roles.
    pub builtin: Option<String>,
    /// The stored permissions of a custom role (a provider-defined role's come from code).
    pub permissions: Vec<Permission>,
    pub member_ids: Vec<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("no such user or role in this account")]
    NotFound,
    #[error(transparent)]
    Rule(IdentityRule),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for IdentityError {
    fn from(error: sqlx::Error) -> Self {
        match StoreError::from(error) {
            StoreError::Duplicate(_) => IdentityError::Rule(IdentityRule::DuplicateName),
            other => IdentityError::Store(other),
        }
    }
}

impl From<IdentityRule> for IdentityError {
    fn from(rule: IdentityRule) -> Self {
        IdentityError::Rule(rule)
    }
}

pub type IdentityResult<T> = Result<T, IdentityError>;

const LOCK_ACCOUNT: &str = "SELECT id FROM accounts WHERE id = $1";
const LOCK_ACCOUNT_FOR_UPDATE: &str = "SELECT id FROM accounts WHERE id = $1 FOR UPDATE";

/// Inside a transaction: take the account's lock, so concurrent changes to its users and roles
/// run one after another and each sees the other's result.
macro_rules! lock_account {
    ($store:expr, $tx:expr, $account_id:expr) => {{
        let lock = if matches!($store, Store::Postgres(..)) { LOCK_ACCOUNT_FOR_UPDATE } else { LOCK_ACCOUNT };
        let found: Option<i64> = statement::query_scalar(lock).bind($account_id).fetch_optional(&mut *$tx).await?;
        if found.is_none() {
            return Err(IdentityError::NotFound);
        }
    }};
}

/// Inside a transaction, after the change: every user has a role, and an enabled administrator
/// remains.
macro_rules! check_invariants {
    ($tx:expr, $account_id:expr) => {{
        let roleless: Vec<String> = statement::query_scalar(
            "SELECT u.first_name || ' ' || u.last_name FROM users u WHERE u.account_id = $1 \
             AND NOT EXISTS (SELECT 1 FROM role_members m WHERE m.user_id = u.id) ORDER BY u.last_name, u.first_name",
        )
        .bind($account_id)
        .fetch_all(&mut *$tx)
        .await?;
        identity::check_roles_left(&roleless)?;
        let admins: i64 = statement::query_scalar(
            "SELECT COUNT(*) FROM users u JOIN role_members m ON m.user_id = u.id JOIN roles r ON r.id = m.role_id \
             WHERE u.account_id = $1 AND u.enabled = TRUE AND r.builtin = 'admin'",
        )
        .bind($account_id)
        .fetch_one(&mut *$tx)
        .await?;
        identity::check_admins_left(admins)?;
    }};
}

/// Inside a transaction: the role, if it is one of the account's; provider-defined roles are
/// refused when `custom_only`.
macro_rules! account_role {
    ($tx:expr, $account_id:expr, $role_id:expr, $custom_only:expr) => {{
        let builtin: Option<Option<String>> =
            statement::query_scalar("SELECT builtin FROM roles WHERE id = $1 AND account_id = $2")
                .bind($role_id)
                .bind($account_id)
                .fetch_optional(&mut *$tx)
                .await?;
        match builtin {
            None => return Err(IdentityError::NotFound),
            Some(Some(_)) if $custom_only => return Err(IdentityRule::BuiltinRole.into()),
            Some(_) => {}
        }
    }};
}

macro_rules! account_user {
    ($tx:expr, $account_id:expr, $user_id:expr) => {{
        let found: Option<i64> = statement::query_scalar("SELECT id FROM users WHERE id = $1 AND account_id = $2")
            .bind($user_id)
            .bind($account_id)
            .fetch_optional(&mut *$tx)
            .await?;
        if found.is_none() {
            return Err(IdentityError::NotFound);
        }
    }};
}

impl Store {
    /// The account's users with their role ids and API key counts, by name.
    pub async fn account_users(&self, account_id: i64) -> StoreResult<Vec<AccountUser>> {
        let users = "SELECT u.id, u.first_name, u.last_name, u.email, u.enabled, u.last_sign_in_at, \
                     (SELECT COUNT(*) FROM api_keys k WHERE k.user_id = u.id AND k.revoked_at IS NULL) AS api_keys, \
                     u.totp_enabled_at IS NOT NULL AS two_factor \
                     FROM users u WHERE u.account_id = $1 ORDER BY u.last_name, u.first_name, u.id";
        let memberships =
            "SELECT m.user_id, m.role_id FROM role_members m JOIN roles r ON r.id = m.role_id WHERE r.account_id = $1";
        let users: Vec<UserRow> =
            on_pool!(self, pool => statement::query_as(users).bind(account_id).fetch_all(pool).await)?;
        let memberships: Vec<(i64, i64)> =
            on_pool!(self, pool => statement::query_as(memberships).bind(account_id).fetch_all(pool).await)?;
        Ok(users
            .into_iter()
            .map(|user| {
                let role_ids = memberships.iter().filter(|(u, _)| *u == user.id).map(|(_, r)| *r).collect();
                AccountUser { user, role_ids }
            })
            .collect())
    }

    /// The account's roles: provider-defined first, then custom ones by name.
    pub async fn account_roles(&self, account_id: i64) -> StoreResult<Vec<RoleRecord>> {
        let roles = "SELECT id, name, builtin FROM roles WHERE account_id = $1 \
                     ORDER BY CASE builtin WHEN 'admin' THEN 1 WHEN 'technical' THEN 2 WHEN 'billing' THEN 3 ELSE 4 END, name";
        let permissions = "SELECT p.role_id, p.permission FROM role_permissions p JOIN roles r ON r.id = p.role_id WHERE r.account_id = $1";
        let members =
            "SELECT m.role_id, m.user_id FROM role_members m JOIN roles r ON r.id = m.role_id WHERE r.account_id = $1";
        let roles: Vec<(i64, String, Option<String>)> =
            on_pool!(self, pool => statement::query_as(roles).bind(account_id).fetch_all(pool).await)?;
        let permissions: Vec<(i64, String)> =
            on_pool!(self, pool => statement::query_as(permissions).bind(account_id).fetch_all(pool).await)?;
        let members: Vec<(i64, i64)> =
            on_pool!(self, pool => statement::query_as(members).bind(account_id).fetch_all(pool).await)?;
        Ok(roles
            .into_iter()
            .map(|(id, name, builtin)| RoleRecord {
                id,
                name,
                builtin,
                permissions: permissions
                    .iter()
                    .filter(|(r, _)| *r == id)
                    .filter_map(|(_, p)| Permission::from_code(p))
                    .collect(),
                member_ids: members.iter().filter(|(r, _)| *r == id).map(|(_, u)| *u).collect(),
            })
            .collect())
    }

    /// A new user of the account with the given roles and a set-password token.
    pub async fn create_account_user(
        &self,
        account_id: i64,
        user: &NewUser,
        role_ids: &[i64],
        token: &PasswordToken,
        at: DateTime<Utc>,
    ) -> IdentityResult<i64> {
        in_transaction!(self, tx => {
            lock_account!(self, tx, account_id);
            for role_id in role_ids {
                account_role!(tx, account_id, *role_id, false);
            }
            let user_id: i64 = statement::query_scalar(
                "INSERT INTO users (account_id, email, first_name, last_name, password_hash, is_support, is_support_admin, \
                 enabled, time_zone, created_at) VALUES ($1, $2, $3, $4, NULL, FALSE, FALSE, TRUE, $5, $6) RETURNING id")
                .bind(account_id).bind(user.email.to_lowercase()).bind(&user.first_name).bind(&user.last_name)
                .bind(&user.time_zone).bind(at)
                .fetch_one(&mut *tx).await?;
            for role_id in role_ids {
                statement::query("INSERT INTO role_members (role_id, user_id) VALUES ($1, $2)").bind(role_id).bind(user_id).execute(&mut *tx).await?;
            }
            statement::query("INSERT INTO password_tokens (user_id, token_hash, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(user_id).bind(&token.token_hash).bind(token.created_by).bind(at).bind(token.expires_at)
                .execute(&mut *tx).await?;
            check_invariants!(tx, account_id);
            user_id
        })
    }

    /// Replaces a user's roles.
    pub async fn set_user_roles(&self, account_id: i64, user_id: i64, role_ids: &[i64]) -> IdentityResult<()> {
        in_transaction!(self, tx => {
            lock_account!(self, tx, account_id);
            account_user!(tx, account_id, user_id);
            for role_id in role_ids {
                account_role!(tx, account_id, *role_id, false);
            }
            statement::query("DELETE FROM role_members WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
            for role_id in role_ids {
                statement::query("INSERT INTO role_members (role_id, user_id) VALUES ($1, $2)").bind(role_id).bind(user_id).execute(&mut *tx).await?;
            }
            check_invariants!(tx, account_id);
        })
    }

    /// Disables or enables a user; disabling ends every session of theirs at once (their API
    /// keys stop too, since a disabled user is never loaded).
    pub async fn set_user_enabled(&self, account_id: i64, user_id: i64, enabled: bool) -> IdentityResult<()> {
        in_transaction!(self, tx => {
            lock_account!(self, tx, account_id);
            account_user!(tx, account_id, user_id);
            statement::query("UPDATE users SET enabled = $1 WHERE id = $2").bind(enabled).bind(user_id).execute(&mut *tx).await?;
            if !enabled {
                super::sessions::end_sessions!(tx, user_id);
            }
            check_invariants!(tx, account_id);
        })
    }

    /// A new set-password link for a user of the account (the last one expired or was lost).
    pub async fn issue_password_token(
        &self,
        account_id: i64,
        user_id: i64,
        token: &PasswordToken,
        at: DateTime<Utc>,
    ) -> IdentityResult<()> {
        in_transaction!(self, tx => {
            account_user!(tx, account_id, user_id);
            let issued = statement::query("INSERT INTO password_tokens (user_id, token_hash, created_by, created_at, expires_at) \
                                      SELECT id, $2, $3, $4, $5 FROM users WHERE id = $1 AND last_sign_in_at IS NULL")
                .bind(user_id).bind(&token.token_hash).bind(token.created_by).bind(at).bind(token.expires_at)
                .execute(&mut *tx).await?.rows_affected();
            if issued == 0 {
                return Err(IdentityError::Rule(IdentityRule::SignedInBefore));
            }
        })
    }

    /// A role of the account with these permissions (custom roles are made here; the provider's
    /// roles come with the account).
    pub async fn create_role(
        &self,
        account_id: i64,
        name: &str,
        permissions: &[Permission],
        at: DateTime<Utc>,
    ) -> IdentityResult<i64> {
        in_transaction!(self, tx => {
            lock_account!(self, tx, account_id);
            let id: i64 = statement::query_scalar("INSERT INTO roles (account_id, name, created_at) VALUES ($1, $2, $3) RETURNING id")
                .bind(account_id).bind(name).bind(at)
                .fetch_one(&mut *tx).await?;
            for permission in permissions {
                statement::query("INSERT INTO role_permissions (role_id, permission) VALUES ($1, $2)")
                    .bind(id).bind(permission.code())
                    .execute(&mut *tx).await?;
            }
            id
        })
    }

    pub async fn rename_role(&self, account_id: i64, role_id: i64, name: &str) -> IdentityResult<()> {
        in_transaction!(self, tx => {
            lock_account!(self, tx, account_id);
            account_role!(tx, account_id, role_id, true);
            statement::query("UPDATE roles SET name = $1 WHERE id = $2").bind(name).bind(role_id).execute(&mut *tx).await?;
        })
    }

    pub async fn set_role_permissions(
        &self,
        account_id: i64,
        role_id: i64,
        permissions: &[Permission],
    ) -> IdentityResult<()> {
        in_transaction!(self, tx => {
            lock_account!(self, tx, account_id);
            account_role!(tx, account_id, role_id, true);
            statement::query("DELETE FROM role_permissions WHERE role_id = $1").bind(role_id).execute(&mut *tx).await?;
            for permission in permissions {
                statement::query("INSERT INTO role_permissions (role_id, permission) VALUES ($1, $2)")
                    .bind(role_id).bind(permission.code())
                    .execute(&mut *tx).await?;
            }
        })
    }

    /// Adds a member; `false` if they already were one.
    pub async fn add_member(&self, account_id: i64, role_id: i64, user_id: i64) -> IdentityResult<bool> {
        in_transaction!(self, tx => {
            lock_account!(self, tx, account_id);
            account_role!(tx, account_id, role_id, false);
            account_user!(tx, account_id, user_id);
            let exists: Option<i64> = statement::query_scalar("SELECT user_id FROM role_members WHERE role_id = $1 AND user_id = $2")
                .bind(role_id).bind(user_id).fetch_optional(&mut *tx).await?;
            if exists.is_some() {
                return Ok(false);
            }
            statement::query("INSERT INTO role_members (role_id, user_id) VALUES ($1, $2)").bind(role_id).bind(user_id).execute(&mut *tx).await?;
            true
        })
    }

    pub async fn remove_member(&self, account_id: i64, role_id: i64, user_id: i64) -> IdentityResult<()> {
        in_transaction!(self, tx => {
            lock_account!(self, tx, account_id);
            account_role!(tx, account_id, role_id, false);
            let removed = statement::query("DELETE FROM role_members WHERE role_id = $1 AND user_id = $2")
                .bind(role_id).bind(user_id).execute(&mut *tx).await?.rows_affected();
            if removed == 0 {
                return Err(IdentityError::NotFound);
            }
            check_invariants!(tx, account_id);
        })
    }

    /// Deletes a custom role, refused if a member would be left without any role.
    pub async fn delete_role(&self, account_id: i64, role_id: i64) -> IdentityResult<()> {
        in_transaction!(self, tx => {
            lock_account!(self, tx, account_id);
            account_role!(tx, account_id, role_id, true);
            statement::query("DELETE FROM role_members WHERE role_id = $1").bind(role_id).execute(&mut *tx).await?;
            statement::query("DELETE FROM role_permissions WHERE role_id = $1").bind(role_id).execute(&mut *tx).await?;
            statement::query("DELETE FROM roles WHERE id = $1").bind(role_id).execute(&mut *tx).await?;
            check_invariants!(tx, account_id);
        })
    }

    /// A user's own name and time zone.
    pub async fn update_profile(
        &self,
        user_id: i64,
        first_name: &str,
        last_name: &str,
        time_zone: &str,
    ) -> StoreResult<()> {
        let sql = "UPDATE users SET first_name = $1, last_name = $2, time_zone = $3 WHERE id = $4";
        execute!(self, statement::query(sql).bind(first_name).bind(last_name).bind(time_zone).bind(user_id))?;
        Ok(())
    }

    /// The user's first and last name (the profile form).
    pub async fn user_names(&self, user_id: i64) -> StoreResult<Option<(String, String)>> {
        let sql = "SELECT first_name, last_name FROM users WHERE id = $1";
        Ok(on_pool!(self, pool => statement::query_as(sql).bind(user_id).fetch_optional(pool).await)?)
    }

    pub async fn password_hash_of(&self, user_id: i64) -> StoreResult<Option<String>> {
        let sql = "SELECT password_hash FROM users WHERE id = $1";
        let hash: Option<Option<String>> =
            on_pool!(self, pool => statement::query_scalar(sql).bind(user_id).fetch_optional(pool).await)?;
        Ok(hash.flatten())
    }

    /// Sets a new password and ends every session of the user; the caller renews its own.
    pub async fn change_password(&self, user_id: i64, hash: &str, at: DateTime<Utc>) -> StoreResult<()> {
        in_transaction!(self, tx => {
            statement::query("UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
                .bind(hash).bind(at).bind(user_id).execute(&mut *tx).await?;
            super::sessions::end_sessions!(tx, user_id);
        })
    }
}
