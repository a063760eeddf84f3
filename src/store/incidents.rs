//! The incident tables: a customer's Security Incidents screen and the support queue. Both read
//! through the same query; only its source differs with the scope.
//!
//! A customer's list reads their own rows of `ticket_visibility` (partial index on open incidents),
//! never every ticket of the account; the support queue reads the partial index on `tickets`.

use chrono::{DateTime, Utc};

use super::sql::{Sql, bind_values};
use super::{Store, StoreResult, on_pool};
use crate::domain::listing::{IncidentQuery, SortDir, SortKey};
use crate::domain::policy::TicketScope;
use crate::domain::ticket::Severity;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct IncidentRow {
    pub id: i64,
    pub summary: String,
    pub severity: i16,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub closure_requested_at: Option<DateTime<Utc>>,
    pub account_number: i64,
    pub account_name: String,
}

#[derive(Debug, Clone)]
pub struct IncidentPage {
    pub rows: Vec<IncidentRow>,
    pub total: i64,
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

/// Appends `FROM … WHERE …` for the scope and filters.
fn push_source_and_filters(sql: &mut Sql, scope: &TicketScope, query: &IncidentQuery) -> Source {
    let source = match scope {
        TicketScope::VisibleTo { user_id, account_id } => {
            sql.push("FROM ticket_visibility v JOIN tickets t ON t.id = v.ticket_id ")
                .push("JOIN accounts a ON a.id = t.account_id ")
                .push("WHERE v.user_id = ")
                .bind(*user_id)
                .push(" AND t.account_id = ")
                .bind(*account_id)
                .push(" AND v.severity IS NOT NULL AND v.status <> 'closed'");
            Source { alias: "v", id: "v.ticket_id" }
        }
        TicketScope::Everything => {
            sql.push("FROM tickets t JOIN accounts a ON a.id = t.account_id ")
                .push("WHERE t.severity IS NOT NULL AND t.status <> 'closed'");
            Source { alias: "t", id: "t.id" }
        }
    };
    let s = source.alias;
    if !query.severities.is_empty() {
        sql.push(&format!(" AND {s}.severity IN (")).bind_list(query.severities.iter().map(|sev| sev.rank())).push(")");
    }
    if !query.statuses.is_empty() {
        sql.push(&format!(" AND {s}.status IN (")).bind_list(query.statuses.iter().map(|st| st.code())).push(")");
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

/// `%word%` with LIKE's own wildcards escaped, so a search for `100%` means what it says.
fn like_pattern(word: &str) -> String {
    let mut pattern = String::with_capacity(word.len() + 2);
    pattern.push('%');
    for c in word.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

fn push_order(sql: &mut Sql, source: Source, query: &IncidentQuery) {
    let Source { alias: s, id } = source;
    let dir = match query.dir {
        SortDir::Asc => "ASC",
        SortDir::Desc => "DESC",
    };
    // Ties always break newest first and then by number, so that pages never overlap.
    let order = match query.sort {
        SortKey::Number => format!("{id} {dir}"),
        SortKey::Summary => format!("LOWER(t.summary) {dir}, {s}.created_at DESC, {id} DESC"),
        SortKey::Severity => format!("{s}.severity {dir}, {s}.created_at DESC, {id} DESC"),
        SortKey::Status => format!("{s}.status {dir}, {s}.severity DESC, {s}.created_at DESC, {id} DESC"),
        SortKey::Created => format!("{s}.created_at {dir}, {id} {dir}"),
    };
    sql.push(" ORDER BY ").push(&order);
}

impl Store {
    /// One page of the incidents in scope that match the query, and how many match in all.
    #[tracing::instrument(skip(self))]
    pub async fn list_incidents(&self, scope: &TicketScope, query: &IncidentQuery) -> StoreResult<IncidentPage> {
        let mut sql = Sql::new(COLUMNS);
        let source = push_source_and_filters(&mut sql, scope, query);
        push_order(&mut sql, source, query);
        sql.push(" LIMIT ").bind(i64::from(query.page_size)).push(" OFFSET ").bind(query.offset() as i64);
        let rows = self.fetch_incident_rows(sql).await?;
        let total = self.count_incidents(scope, query).await?;
        Ok(IncidentPage { rows, total })
    }

    /// Every incident in scope that matches the query, in the query's order (CSV export).
    #[tracing::instrument(skip(self))]
    pub async fn export_incidents(&self, scope: &TicketScope, query: &IncidentQuery) -> StoreResult<Vec<IncidentRow>> {
        let mut sql = Sql::new(COLUMNS);
        let source = push_source_and_filters(&mut sql, scope, query);
        push_order(&mut sql, source, query);
        self.fetch_incident_rows(sql).await
    }

    pub async fn count_incidents(&self, scope: &TicketScope, query: &IncidentQuery) -> StoreResult<i64> {
        let mut sql = Sql::new("SELECT COUNT(*) ");
        push_source_and_filters(&mut sql, scope, query);
        let (text, values) = sql.into_parts();
        Ok(on_pool!(self, pool => bind_values!(sqlx::query_scalar(text), values).fetch_one(pool).await)?)
    }

    /// Open incidents in scope per severity, most severe first; severities without any count 0.
    #[tracing::instrument(skip(self))]
    pub async fn count_incidents_by_severity(&self, scope: &TicketScope) -> StoreResult<Vec<(Severity, i64)>> {
        let mut sql = Sql::new("SELECT t.severity, COUNT(*) ");
        push_source_and_filters(&mut sql, scope, &IncidentQuery::default());
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

    async fn fetch_incident_rows(&self, sql: Sql) -> StoreResult<Vec<IncidentRow>> {
        let (text, values) = sql.into_parts();
        Ok(on_pool!(self, pool => bind_values!(sqlx::query_as(text), values).fetch_all(pool).await)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_in_search_words_are_escaped() {
        assert_eq!(like_pattern("100%_a\\b"), "%100\\%\\_a\\\\b%");
    }
}
