//! The audit log: security-relevant events, kept in the database for the support desk.

use super::statement;
use chrono::{DateTime, Utc};

use super::sql::{Sql, bind_values, like_pattern};
use super::{Store, StoreResult, execute, on_pool};
use crate::domain::audit_query::AuditFilter;

#[derive(Debug, Clone, Default)]
pub struct AuditEntry {
    pub occurred_at: Option<DateTime<Utc>>,
    pub request_id: Option<String>,
    pub actor_id: Option<i64>,
    pub actor_email: Option<String>,
    pub account_id: Option<i64>,
    pub action: &'static str,
    pub target: Option<String>,
    pub detail: Option<String>,
    pub client_ip: Option<String>,
}

impl Store {
    pub async fn record_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        let sql = "INSERT INTO audit_log (occurred_at, request_id, actor_id, actor_email, account_id, action, \
                   target, detail, client_ip) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
        execute!(
            self,
            statement::query(sql)
                .bind(entry.occurred_at.unwrap_or_else(crate::clock::now))
                .bind(&entry.request_id)
                .bind(entry.actor_id)
                .bind(&entry.actor_email)
                .bind(entry.account_id)
                .bind(entry.action)
                .bind(&entry.target)
                .bind(&entry.detail)
                .bind(&entry.client_ip)
        )?;
        Ok(())
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub request_id: Option<String>,
    pub actor_email: Option<String>,
    pub account_name: Option<String>,
    pub account_number: Option<i64>,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
    pub client_ip: Option<String>,
}

/// The audit log's filters; each is optional.
fn push_audit_filters(sql: &mut Sql, filter: &AuditFilter) {
    sql.push(" FROM audit_log l LEFT JOIN accounts a ON a.id = l.account_id WHERE 1 = 1");
    if let Some(number) = filter.account_number {
        sql.push(" AND a.number = ").bind(number);
    }
    if let Some(actor) = &filter.actor {
        sql.push(" AND LOWER(l.actor_email) LIKE ").bind(like_pattern(&actor.to_lowercase())).push(" ESCAPE '\\'");
    }
    if let Some(action) = &filter.action {
        sql.push(" AND l.action = ").bind(action.clone());
    }
    if let Some(from) = filter.from {
        sql.push(" AND l.occurred_at >= ").bind(from);
    }
    if let Some(until) = filter.until {
        sql.push(" AND l.occurred_at < ").bind(until);
    }
}

impl Store {
    /// One page of the audit log, newest first, and how many entries match.
    pub async fn list_audit(
        &self,
        filter: &AuditFilter,
        limit: i64,
        offset: i64,
    ) -> StoreResult<(Vec<AuditRecord>, i64)> {
        let mut sql = Sql::new(
            "SELECT l.id, l.occurred_at, l.request_id, l.actor_email, a.name AS account_name, a.number AS account_number, \
             l.action, l.target, l.detail, l.client_ip",
        );
        push_audit_filters(&mut sql, filter);
        sql.push(" ORDER BY l.occurred_at DESC, l.id DESC LIMIT ").bind(limit).push(" OFFSET ").bind(offset);
        let (text, values) = sql.into_parts();
        let rows: Vec<AuditRecord> =
            on_pool!(self, pool => bind_values!(statement::query_as(text), values).fetch_all(pool).await)?;
        let mut count = Sql::new("SELECT COUNT(*)");
        push_audit_filters(&mut count, filter);
        let (text, values) = count.into_parts();
        let total: i64 =
            on_pool!(self, pool => bind_values!(statement::query_scalar(text), values).fetch_one(pool).await)?;
        Ok((rows, total))
    }

    /// The actions the log holds, for the filter's choices.
    pub async fn audit_actions(&self) -> StoreResult<Vec<String>> {
        let sql = "SELECT DISTINCT action FROM audit_log ORDER BY action";
        Ok(on_pool!(self, pool => statement::query_scalar(sql).fetch_all(pool).await)?)
    }
}
