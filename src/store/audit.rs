//! The audit log: security-relevant events, kept in the database for the support desk.

use chrono::{DateTime, Utc};

use super::{Store, StoreResult, execute};

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
            sqlx::query(sql)
                .bind(entry.occurred_at.unwrap_or_else(super::now))
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
