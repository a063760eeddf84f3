//! The ticket tables: the Security Incidents screen, a customer's Support > Tickets and the support
//! queue read through one query whose source depends on the scope.
//!
//! A customer's table reads their own rows of `ticket_visibility` (partial index on open
//! incidents, or the index by date), never every ticket of the account; the support queue reads
//! `tickets` through its partial indexes. The partial indexes' conditions (`severity IS NOT NULL`,
//! `status <> 'closed'`) are written literally so both planners can use them.

use chrono::{DateTime, Utc};

use super::sql::{Sql, bind_values, like_pattern};
use super::{Store, StoreResult, on_pool};
use crate::domain::listing::{Labelled, ListQuery, SortDir, SortKey};
use crate::domain::policy::TicketScope;
use crate::domain::ticket::{Severity, TicketStatus};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TicketRow {
    pub id: i64,
    pub summary: String,
    pub severity: Option<i16>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub closure_requested_at: Option<DateTime<Utc>>,
    pub account_number: i64,
    pub account_name: String,
}

#[derive(Debug, Clone)]
pub struct TicketPage {
    pub rows: Vec<TicketRow>,
    pub total: i64,
}

/// When an incident was opened and, if it was, closed.
pub type IncidentTimes = (DateTime<Utc>, Option<DateTime<Utc>>);

/// What the support queue counts above its table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueCounts {
    pub by_severity: Vec<(Severity, i64)>,
    pub closure_requested: i64,
    pub unlabelled: i64,
}

const COLUMNS: &str = "SELECT t.id, t.summary, t.severity, t.status, t.created_at, t.closure_requested_at, \
                       a.number AS account_number, a.name AS account_name ";

/// The table whose severity, status, created_at and ticket id the filters and the sort read: a
/// customer's visibility rows, or the tickets themselves for support.
#[derive(Clone, Copy)]
struct Source {
    alias: &'static str,
    id: &'static str,
}

/// Appends `FROM … WHERE …` for the scope and the query's filters.
fn push_source_and_filters(sql: &mut Sql, scope: &TicketScope, query: &ListQuery) -> Source {
    let source = match scope {
        TicketScope::VisibleTo { user_id, account_id } => {
            sql.push("FROM ticket_visibility v JOIN tickets t ON t.id = v.ticket_id ")
                .push("JOIN accounts a ON a.id = t.account_id ")
                .push("WHERE v.user_id = ")
                .bind(*user_id)
                .push(" AND t.account_id = ")
                .bind(*account_id);
            Source { alias: "v", id: "v.ticket_id" }
        }
        TicketScope::Everything => {
            sql.push("FROM tickets t JOIN accounts a ON a.id = t.account_id WHERE 1 = 1");
            Source { alias: "t", id: "t.id" }
        }
    };
    let s = source.alias;
    match query.effective_labelled() {
        Labelled::Yes => sql.push(&format!(" AND {s}.severity IS NOT NULL")),
        Labelled::No => sql.push(&format!(" AND {s}.severity IS NULL")),
        Labelled::Any => sql,
    };
    let statuses = query.effective_statuses();
    let includes_closed = statuses.contains(&TicketStatus::Closed);
    if !includes_closed {
        sql.push(&format!(" AND {s}.status <> 'closed'"));
    }
    let implied: &[TicketStatus] = if includes_closed { &TicketStatus::ALL } else { &TicketStatus::ACTIVE };
    if statuses.len() < implied.len() {
        sql.push(&format!(" AND {s}.status IN (")).bind_list(statuses.iter().map(|st| st.code())).push(")");
    }
    if !query.severities.is_empty() {
        sql.push(&format!(" AND {s}.severity IN (")).bind_list(query.severities.iter().map(|sev| sev.rank())).push(")");
    }
    if query.closure_requested {
        sql.push(" AND t.closure_requested_at IS NOT NULL");
    }
    if let Some(account) = query.account {
        sql.push(" AND a.number = ").bind(account);
    }
    if let Some(search) = &query.search {
        sql.push(" AND (");
        if let Some(number) = search.number {
            sql.push("t.id = ").bind(number.id()).push(" OR ");
        }
        sql.push("(");
        for (i, word) in search.words.iter().enumerate() {
            if i > 0 {
                sql.push(" AND ");
            }
            sql.push("LOWER(t.summary) LIKE ").bind(like_pattern(word)).push(" ESCAPE '\\'");
        }
        sql.push("))");
    }
    source
}

fn push_order(sql: &mut Sql, source: Source, query: &ListQuery) {
    let Source { alias: s, id } = source;
    let dir = match query.dir {
        SortDir::Asc => "ASC",
        SortDir::Desc => "DESC",
    };
    // Tickets that are not incidents rank below Low in both databases (their NULL defaults differ).
    // Incident-only tables leave the clause out, so the order matches their indexes.
    let nulls = match (query.effective_labelled(), query.dir) {
        (Labelled::Yes, _) => "",
        (_, SortDir::Asc) => " NULLS FIRST",
        (_, SortDir::Desc) => " NULLS LAST",
    };
    let severity_desc = if nulls.is_empty() { "DESC" } else { "DESC NULLS LAST" };
    // Ties always break newest first and then by number, so that pages never overlap.
    let order = match query.sort {
        SortKey::Number => format!("{id} {dir}"),
        SortKey::Summary => format!("LOWER(t.summary) {dir}, {s}.created_at DESC, {id} DESC"),
        SortKey::Severity => format!("{s}.severity {dir}{nulls}, {s}.created_at DESC, {id} DESC"),
        SortKey::Status => format!("{s}.status {dir}, {s}.severity {severity_desc}, {s}.created_at DESC, {id} DESC"),
        SortKey::Created => format!("{s}.created_at {dir}, {id} {dir}"),
    };
    sql.push(" ORDER BY ").push(&order);
}

impl Store {
    /// One page of the tickets in scope that match the query, and how many match in all.
    #[tracing::instrument(skip(self))]
    pub async fn list_tickets(&self, scope: &TicketScope, query: &ListQuery) -> StoreResult<TicketPage> {
        let mut sql = Sql::new(COLUMNS);
        let source = push_source_and_filters(&mut sql, scope, query);
        push_order(&mut sql, source, query);
        sql.push(" LIMIT ").bind(i64::from(query.page_size)).push(" OFFSET ").bind(query.offset() as i64);
        let rows = self.fetch_ticket_rows(sql).await?;
        let total = self.count_tickets(scope, query).await?;
        Ok(TicketPage { rows, total })
    }

    /// Every ticket in scope that matches the query, in the query's order (CSV export).
    #[tracing::instrument(skip(self))]
    pub async fn export_tickets(&self, scope: &TicketScope, query: &ListQuery) -> StoreResult<Vec<TicketRow>> {
        let mut sql = Sql::new(COLUMNS);
        let source = push_source_and_filters(&mut sql, scope, query);
        push_order(&mut sql, source, query);
        self.fetch_ticket_rows(sql).await
    }

    pub async fn count_tickets(&self, scope: &TicketScope, query: &ListQuery) -> StoreResult<i64> {
        let mut sql = Sql::new("SELECT COUNT(*) ");
        push_source_and_filters(&mut sql, scope, query);
        let (text, values) = sql.into_parts();
        Ok(on_pool!(self, pool => bind_values!(sqlx::query_scalar(text), values).fetch_one(pool).await)?)
    }

    /// Open incidents in scope per severity, most severe first; severities without any count 0.
    #[tracing::instrument(skip(self))]
    pub async fn count_open_incidents_by_severity(&self, scope: &TicketScope) -> StoreResult<Vec<(Severity, i64)>> {
        let mut sql = Sql::new("SELECT t.severity, COUNT(*) ");
        push_source_and_filters(&mut sql, scope, &ListQuery::new(crate::domain::listing::ListKind::SecurityIncidents));
        sql.push(" GROUP BY t.severity");
        let (text, values) = sql.into_parts();
        let counts: Vec<(i16, i64)> =
            on_pool!(self, pool => bind_values!(sqlx::query_as(text), values).fetch_all(pool).await)?;
        Ok(Severity::ALL
            .into_iter()
            .map(|severity| {
                let count = counts.iter().find(|(rank, _)| *rank == severity.rank()).map_or(0, |(_, n)| *n);
                (severity, count)
            })
            .collect())
    }

    /// The support queue's counts per filter, over every account.
    #[tracing::instrument(skip(self))]
    pub async fn queue_counts(&self) -> StoreResult<QueueCounts> {
        let by_severity = self.count_open_incidents_by_severity(&TicketScope::Everything).await?;
        let closure = "SELECT COUNT(*) FROM tickets t WHERE t.severity IS NOT NULL AND t.status <> 'closed' \
                       AND t.closure_requested_at IS NOT NULL";
        let unlabelled = "SELECT COUNT(*) FROM tickets t WHERE t.severity IS NULL AND t.status <> 'closed'";
        let closure_requested: i64 = on_pool!(self, pool => sqlx::query_scalar(closure).fetch_one(pool).await)?;
        let unlabelled: i64 = on_pool!(self, pool => sqlx::query_scalar(unlabelled).fetch_one(pool).await)?;
        Ok(QueueCounts { by_severity, closure_requested, unlabelled })
    }

    /// Open and close times of the incidents in scope opened or closed since `since` (the
    /// dashboard's activity chart).
    #[tracing::instrument(skip(self))]
    pub async fn incident_activity(
        &self,
        scope: &TicketScope,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<IncidentTimes>> {
        let mut sql = Sql::new("SELECT t.created_at, t.closed_at ");
        match scope {
            TicketScope::VisibleTo { user_id, account_id } => {
                sql.push("FROM ticket_visibility v JOIN tickets t ON t.id = v.ticket_id WHERE v.user_id = ")
                    .bind(*user_id)
                    .push(" AND t.account_id = ")
                    .bind(*account_id)
                    .push(" AND v.severity IS NOT NULL");
            }
            TicketScope::Everything => {
                sql.push("FROM tickets t WHERE t.severity IS NOT NULL");
            }
        }
        sql.push(" AND (t.created_at >= ").bind(since).push(" OR t.closed_at >= ").bind(since).push(")");
        let (text, values) = sql.into_parts();
        Ok(on_pool!(self, pool => bind_values!(sqlx::query_as(text), values).fetch_all(pool).await)?)
    }

    async fn fetch_ticket_rows(&self, sql: Sql) -> StoreResult<Vec<TicketRow>> {
        let (text, values) = sql.into_parts();
        Ok(on_pool!(self, pool => bind_values!(sqlx::query_as(text), values).fetch_all(pool).await)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::listing::ListKind;

    fn where_clause(kind: ListKind, query_string: &str, scope: &TicketScope) -> String {
        let query = ListQuery::from_query_string(kind, query_string).unwrap();
        let mut sql = Sql::new("");
        push_source_and_filters(&mut sql, scope, &query);
        sql.text().to_string()
    }

    #[test]
    fn incident_tables_state_the_partial_index_conditions_literally() {
        let customer = TicketScope::VisibleTo { user_id: 1, account_id: 2 };
        let text = where_clause(ListKind::SecurityIncidents, "status=open", &customer);
        assert!(text.contains("v.severity IS NOT NULL") && text.contains("v.status <> 'closed'"), "{text}");
        let text = where_clause(ListKind::SupportQueue, "", &TicketScope::Everything);
        assert!(text.contains("t.severity IS NOT NULL") && text.contains("t.status <> 'closed'"), "{text}");
        assert!(!text.contains("status IN"), "both open statuses need no list: {text}");
    }

    #[test]
    fn every_status_of_my_tickets_needs_no_status_condition() {
        let text = where_clause(ListKind::MyTickets, "", &TicketScope::VisibleTo { user_id: 1, account_id: 2 });
        assert!(!text.contains("status"), "{text}");
        let text =
            where_clause(ListKind::MyTickets, "status=closed", &TicketScope::VisibleTo { user_id: 1, account_id: 2 });
        assert!(text.contains("v.status IN ($3)"), "{text}");
    }
}
