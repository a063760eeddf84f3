//! Users as the sign-in and every signed-in request need them.

use super::statement;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{Store, StoreResult, execute, in_transaction, on_pool};
use crate::domain::permission::{BuiltinRole, Permission, PermissionSet};
use crate::domain::principal::{AccountRef, Principal, PrincipalRole, TwoFactor};

/// What sign-in checks a password against.
#[derive(Debug, sqlx::FromRow)]
pub struct Credentials {
    pub user_id: i64,
    pub password_hash: Option<String>,
    pub enabled: bool,
    /// A code is needed after the password.
    pub two_factor: bool,
}

/// The user with one of their role grants; a user with several roles and permissions comes back
/// as several rows (one query on every signed-in request instead of two).
#[derive(sqlx::FromRow)]
pub(super) struct PrincipalRow {
    pub(super) id: i64,
    email: String,
    first_name: String,
    last_name: String,
    time_zone: String,
    enabled: bool,
    is_support: bool,
    is_support_admin: bool,
    two_factor_enrolled: bool,
    two_factor_required: bool,
    account_id: Option<i64>,
    account_number: Option<i64>,
    account_name: Option<String>,
    fh_auth_enabled: bool,
    require_query_signing: bool,
    builtin: Option<String>,
    permission: Option<String>,
    /// See `advance_read_fence`.
    read_fence: Option<i64>,
}

/// The columns of [`PrincipalRow`] and the joins they need from `users u`; macros so that
/// `concat!` builds whole statements at compile time (the API key lookup joins them too).
macro_rules! principal_columns {
    () => {
        "u.id, u.email, u.first_name, u.last_name, u.time_zone, u.enabled, u.is_support, u.is_support_admin, \
         u.totp_enabled_at IS NOT NULL AS two_factor_enrolled, \
         (u.is_support OR COALESCE(a.mfa_required, FALSE)) AS two_factor_required, \
         u.account_id, a.number AS account_number, a.name AS account_name, \
         COALESCE(a.fh_auth_enabled, FALSE) AS fh_auth_enabled, \
         COALESCE(a.require_query_signing, FALSE) AS require_query_signing, r.builtin, p.permission, u.read_fence"
    };
}
macro_rules! principal_joins {
    () => {
        "LEFT JOIN accounts a ON a.id = u.account_id LEFT JOIN role_members m ON m.user_id = u.id \
         LEFT JOIN roles r ON r.id = m.role_id LEFT JOIN role_permissions p ON p.role_id = r.id"
    };
}
pub(super) use {principal_columns, principal_joins};

/// The principal the rows of one user describe, if there are any and the user is enabled.
pub(super) fn principal_from_rows<'a>(rows: impl IntoIterator<Item = &'a PrincipalRow>) -> Option<Principal> {
    let mut rows = rows.into_iter().peekable();
    let first = *rows.peek().filter(|row| row.enabled)?;
    let mut permissions = PermissionSet::default();
    for row in rows {
        if let Some(builtin) = row.builtin.as_deref().and_then(BuiltinRole::from_code) {
            permissions = permissions.union(builtin.permissions());
        }
        if let Some(permission) = row.permission.as_deref().and_then(Permission::from_code) {
            permissions.insert(permission);
        }
    }
    let role = match (first.is_support, first.account_id, first.account_number, &first.account_name) {
        (false, Some(id), Some(number), Some(name)) => {
            let account = AccountRef {
                id,
                number,
                name: name.clone(),
                fh_auth_enabled: first.fh_auth_enabled,
                query_signing_required: first.require_query_signing,
            };
            PrincipalRole::Customer { account, permissions }
        }
        _ => PrincipalRole::Support { admin: first.is_support_admin },
    };
    Some(Principal {
        user_id: first.id,
        email: first.email.clone(),
        first_name: first.first_name.clone(),
        last_name: first.last_name.clone(),
        display_name: format!("{} {}", first.first_name, first.last_name).trim().to_string(),
        time_zone: first.time_zone.parse::<Tz>().unwrap_or(chrono_tz::UTC),
        role,
        two_factor: TwoFactor { enrolled: first.two_factor_enrolled, required: first.two_factor_required },
    })
}

/// Tells the request which enabled user it acts for, and how far a replica must have replayed to
/// serve them (see `replicas`). Every store method that loads the request's principal calls it.
pub(super) async fn acting_for(principal: &Option<Principal>, rows: &[PrincipalRow]) {
    if let (Some(principal), Some(row)) = (principal, rows.first()) {
        super::request::acting_for(principal.user_id, row.read_fence.unwrap_or(0)).await;
    }
}

/// The principal rows of user `$1`.
pub(super) const PRINCIPAL_SQL: &str =
    concat!("SELECT ", principal_columns!(), " FROM users u ", principal_joins!(), " WHERE u.id = $1");

impl Store {
    #[tracing::instrument(skip(self))]
    pub async fn find_credentials(&self, email: &str) -> StoreResult<Option<Credentials>> {
        let sql = "SELECT id AS user_id, password_hash, enabled, totp_enabled_at IS NOT NULL AS two_factor \
                   FROM users WHERE email = $1";
        Ok(on_pool!(self, pool => statement::query_as(sql).bind(email).fetch_optional(pool).await)?)
    }

    /// The enabled user with their account and effective permissions, or `None` if the user is
    /// gone or disabled. Read on every signed-in request, so a change takes effect at once.
    #[tracing::instrument(skip(self))]
    pub async fn load_principal(&self, user_id: i64) -> StoreResult<Option<Principal>> {
        let rows: Vec<PrincipalRow> =
            on_pool!(self, pool => statement::query_as(PRINCIPAL_SQL).bind(user_id).fetch_all(pool).await)?;
        let principal = principal_from_rows(&rows);
        acting_for(&principal, &rows).await;
        Ok(principal)
    }

    /// After a request that may have changed something, on PostgreSQL: records the primary's
    /// write-ahead log position as the user's read fence, so that no replica serves them a state
    /// older than their own change (see `replicas`). Written whether or not this instance reads
    /// replicas, so that instances that do are right about changes made through any other. Not
    /// waiting for the disk: a crash that loses it loses the primary's recent past anyway.
    pub async fn advance_read_fence(&self, user_id: i64) -> StoreResult<()> {
        if let Store::Postgres(..) = self {
            const FENCE: &str = "UPDATE users SET read_fence = \
                 GREATEST(COALESCE(read_fence, 0), (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::BIGINT) \
                 FROM (SELECT set_config('synchronous_commit', 'off', true)) AS commit_mode WHERE id = $1";
            execute!(self, statement::query(FENCE).bind(user_id))?;
        }
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    /// Notes a sign-in. A set-password link is for a user who has never signed in (see
    /// `IdentityRule::SignedInBefore`): any still open for this user dies now, so that nobody who
    /// kept a copy can replace the password the user chose.
    pub async fn record_sign_in(&self, user_id: i64, at: DateTime<Utc>) -> StoreResult<()> {
        in_transaction!(self, tx => {
            statement::query("UPDATE users SET last_sign_in_at = $1 WHERE id = $2")
                .bind(at).bind(user_id).execute(&mut *tx).await?;
            statement::query("UPDATE password_tokens SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
                .bind(at).bind(user_id).execute(&mut *tx).await?;
        })
    }
}
