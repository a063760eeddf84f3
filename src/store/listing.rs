//! The ticket tables: the Security Incidents screen, a customer's Support > Tickets and the support
//! queue read through one query whose source depends on the scope.
//!
//! A customer's table reads their own rows of `ticket_visibility` (partial index on open
//! incidents, or the index by date), never every ticket of the account; the support queue reads
//! `tickets` through its partial indexes. The partial indexes' conditions (`severity IS NOT NULL`,
//! `status <> 'closed'`) are written literally so both planners can use them.

use super::statement;
use chrono::{DateTime, Utc};

use super::sql::{Sql, Value, bind_values, like_pattern};
use super::{Store, StoreResult, on_pool};
use crate::domain::listing::{Cursor, CursorKey, Labelled, ListQuery, SortDir, SortKey};
use crate::domain::policy::TicketScope;
use crate::domain::ticket::{Severity, TicketStatus};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRow {
    pub id: i64,
    pub summary: String,
    pub severity: Option<Severity>,
    pub status: TicketStatus,
    pub created_at: DateTime<Utc>,
    pub closure_requested_at: Option<DateTime<Utc>>,
    pub account_number: i64,
    pub account_name: String,
}

/// A [`TicketRow`] as stored.
#[derive(sqlx::FromRow)]
struct RawTicketRow {
    id: i64,
    summary: String,
    severity: Option<i16>,
    status: String,
    created_at: DateTime<Utc>,
    closure_requested_at: Option<DateTime<Utc>>,
    account_number: i64,
    account_name: String,
}

impl TryFrom<RawTicketRow> for TicketRow {
    type Error = sqlx::Error;

    fn try_from(raw: RawTicketRow) -> Result<Self, Self::Error> {
        Ok(TicketRow {
            id: raw.id,
            summary: raw.summary,
            severity: super::decode_severity(raw.severity)?,
            status: super::decode_status(&raw.status)?,
            created_at: raw.created_at,
            closure_requested_at: raw.closure_requested_at,
            account_number: raw.account_number,
            account_name: raw.account_name,
        })
    }
}

#[derive(Debug, Clone)]
pub struct TicketPage {
    pub rows: Vec<TicketRow>,
    pub total: i64,
}

/// Open incidents per severity and status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenIncidentCounts {
    pub rows: Vec<(Severity, TicketStatus, i64)>,
}

impl OpenIncidentCounts {
    /// From (severity rank, status code, count) rows, skipping any the domain does not know.
    pub(super) fn from_rows(rows: impl IntoIterator<Item = (i64, String, i64)>) -> Self {
        let rows = rows
            .into_iter()
            .filter_map(|(rank, status, n)| {
                Some((Severity::from_rank(i16::try_from(rank).ok()?)?, TicketStatus::from_code(&status)?, n))
            })
            .collect();
        OpenIncidentCounts { rows }
    }

    /// Per severity, most severe first; severities without incidents count 0.
    pub fn by_severity(&self) -> Vec<(Severity, i64)> {
        Severity::ALL
            .into_iter()
            .map(|severity| (severity, self.rows.iter().filter(|(s, _, _)| *s == severity).map(|(_, _, n)| n).sum()))
            .collect()
    }

    pub fn with_status(&self, status: TicketStatus) -> i64 {
        self.rows.iter().filter(|(_, s, _)| *s == status).map(|(_, _, n)| n).sum()
    }
}

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

/// What the `FROM … WHERE …` is for: rows need the tickets and accounts joined; a count joins
/// them only when a filter reads them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Rows,
    Count,
}

/// Appends `FROM … WHERE …` for the scope and the query's filters.
fn push_source_and_filters(sql: &mut Sql, scope: &TicketScope, query: &ListQuery, purpose: Purpose) -> Source {
    let needs_ticket = purpose == Purpose::Rows || query.search.is_some() || query.closure_requested;
    let needs_account = purpose == Purpose::Rows || query.account.is_some();
    let source = match scope {
        TicketScope::VisibleTo { user_id, account_id } => {
            sql.push("FROM ticket_visibility v ");
            if needs_ticket {
                sql.push("JOIN tickets t ON t.id = v.ticket_id ");
            }
            if needs_account {
                sql.push("JOIN accounts a ON a.id = t.account_id ");
            }
            sql.push("WHERE v.user_id = ").bind(*user_id);
            if needs_ticket {
                // Visibility rows are only ever written for the ticket's own account; checked
                // again for the rows shown.
                sql.push(" AND t.account_id = ").bind(*account_id);
            }
            Source { alias: "v", id: "v.ticket_id" }
        }
        TicketScope::Everything => {
            sql.push("FROM tickets t ");
            if needs_account {
                sql.push("JOIN accounts a ON a.id = t.account_id ");
            }
            sql.push("WHERE 1 = 1");
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
        // Several severities in an order by date are found by reading the date index and
        // filtering: written as a plain column, PostgreSQL's cached generic plan read the user's
        // rows of each severity and sorted them, which for the heavy user meant thousands of rows
        // per page. One severity (or an order by severity) reads the severity index in order.
        let by_date = query.severities.len() > 1 && query.sort != SortKey::Severity;
        let column = if by_date { format!("({s}.severity + 0)") } else { format!("{s}.severity") };
        sql.push(&format!(" AND {column} IN (")).bind_list(query.severities.iter().map(|sev| sev.rank())).push(")");
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

/// The columns a table is ordered by. Ties break by creation time and then number, in the same
/// direction, so that a row's position is a single tuple comparison (keyset pagination) and the
/// indexes can be read in either direction. Tickets that are not incidents rank below Low.
fn order_columns(source: Source, query: &ListQuery) -> Vec<String> {
    let Source { alias: s, id } = source;
    let severity = if query.effective_labelled() == Labelled::Yes {
        format!("{s}.severity")
    } else {
        format!("COALESCE({s}.severity, 0)")
    };
    match query.sort {
        SortKey::Number => vec![id.to_string()],
        SortKey::Summary => vec!["LOWER(t.summary)".to_string(), id.to_string()],
        SortKey::Severity => vec![severity, format!("{s}.created_at"), id.to_string()],
        SortKey::Status => vec![format!("{s}.status"), format!("{s}.created_at"), id.to_string()],
        SortKey::Created => vec![format!("{s}.created_at"), id.to_string()],
    }
}

/// The cursor row's values, in the order of [`order_columns`].
fn key_values(query: &ListQuery, key: &CursorKey) -> Vec<Value> {
    match query.sort {
        SortKey::Number => vec![key.id.into()],
        SortKey::Summary => vec![key.primary.clone().into(), key.id.into()],
        SortKey::Severity => vec![key.severity_rank().unwrap_or(0).into(), key.created_at.into(), key.id.into()],
        SortKey::Status => vec![key.primary.clone().into(), key.created_at.into(), key.id.into()],
        SortKey::Created => vec![key.created_at.into(), key.id.into()],
    }
}

/// `ORDER BY` in the query's direction, or reversed (to read a page backwards).
fn push_order(sql: &mut Sql, columns: &[String], dir: SortDir) {
    let dir = match dir {
        SortDir::Asc => "ASC",
        SortDir::Desc => "DESC",
    };
    let order: Vec<String> = columns.iter().map(|c| format!("{c} {dir}")).collect();
    sql.push(" ORDER BY ").push(&order.join(", "));
}

/// `AND (columns) > (key)` for the rows after the key in `dir`, or before it.
fn push_keyset(sql: &mut Sql, columns: &[String], values: Vec<Value>, dir: SortDir, after: bool) {
    let greater = (dir == SortDir::Asc) == after;
    sql.push(" AND (").push(&columns.join(", ")).push(if greater { ") > (" } else { ") < (" });
    sql.bind_list(values).push(")");
}

/// One page of the query's rows (with `total`, the count, for the last page), and whether the
/// rows come back in reverse and must be turned around.
pub(super) fn list_sql(scope: &TicketScope, query: &ListQuery, total: i64) -> (Sql, bool) {
    let mut sql = Sql::new(COLUMNS);
    let source = push_source_and_filters(&mut sql, scope, query, Purpose::Rows);
    let columns = order_columns(source, query);
    let size = i64::from(query.page_size);
    let reversed = match &query.cursor {
        None => {
            push_order(&mut sql, &columns, query.dir);
            sql.push(" LIMIT ").bind(size).push(" OFFSET ").bind(query.offset() as i64);
            false
        }
        Some(Cursor::After(key)) => {
            push_keyset(&mut sql, &columns, key_values(query, key), query.dir, true);
            push_order(&mut sql, &columns, query.dir);
            sql.push(" LIMIT ").bind(size);
            false
        }
        Some(Cursor::Before(key)) => {
            push_keyset(&mut sql, &columns, key_values(query, key), query.dir, false);
            push_order(&mut sql, &columns, query.dir.flip());
            sql.push(" LIMIT ").bind(size);
            true
        }
        Some(Cursor::Last) => {
            // The last page holds what is left after the full pages.
            let left = if total == 0 { 0 } else { (total - 1) % size + 1 };
            push_order(&mut sql, &columns, query.dir.flip());
            sql.push(" LIMIT ").bind(left);
            true
        }
    };
    (sql, reversed)
}

/// The statement behind [`Store::count_tickets`].
pub(super) fn count_sql(scope: &TicketScope, query: &ListQuery) -> Sql {
    let counters = match scope {
        TicketScope::VisibleTo { user_id, .. }
            if query.effective_labelled() == Labelled::Yes
                && !query.effective_statuses().contains(&TicketStatus::Closed)
                && query.search.is_none()
                && !query.closure_requested
                && query.account.is_none() =>
        {
            Some(*user_id)
        }
        _ => None,
    };
    match counters {
        Some(user_id) => {
            let mut sql = Sql::new("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM incident_counts WHERE user_id = ");
            sql.bind(user_id);
            if !query.severities.is_empty() {
                sql.push(" AND severity IN (").bind_list(query.severities.iter().map(|s| s.rank())).push(")");
            }
            sql.push(" AND status IN (").bind_list(query.effective_statuses().iter().map(|s| s.code())).push(")");
            sql
        }
        None => {
            let mut sql = Sql::new("SELECT COUNT(*) ");
            push_source_and_filters(&mut sql, scope, query, Purpose::Count);
            sql
        }
    }
}

/// The statement behind [`Store::open_incident_counts`].
pub(super) fn open_counts_sql(scope: &TicketScope) -> Sql {
    match scope {
        TicketScope::VisibleTo { user_id, .. } => {
            let mut sql = Sql::new(
                "SELECT CAST(severity AS BIGINT), status, CAST(SUM(n) AS BIGINT) FROM incident_counts \
                 WHERE status <> 'closed' AND user_id = ",
            );
            sql.bind(*user_id).push(" GROUP BY severity, status");
            sql
        }
        TicketScope::Everything => {
            let mut sql = Sql::new("SELECT CAST(t.severity AS BIGINT), t.status, COUNT(*) ");
            let incidents = ListQuery::new(crate::domain::listing::ListKind::SecurityIncidents);
            push_source_and_filters(&mut sql, scope, &incidents, Purpose::Count);
            sql.push(" GROUP BY t.severity, t.status");
            sql
        }
    }
}

impl Store {
    /// One page of the tickets in scope that match the query, and how many match in all.
    #[tracing::instrument(skip(self))]
    pub async fn list_tickets(&self, scope: &TicketScope, query: &ListQuery) -> StoreResult<TicketPage> {
        let total = self.count_tickets(scope, query).await?;
        let (sql, reversed) = list_sql(scope, query, total);
        let mut rows = self.fetch_ticket_rows(sql).await?;
        if reversed {
            rows.reverse();
        }
        Ok(TicketPage { rows, total })
    }

    /// Every ticket in scope that matches the query, in the query's order (CSV export).
    #[tracing::instrument(skip(self))]
    pub async fn export_tickets(&self, scope: &TicketScope, query: &ListQuery) -> StoreResult<Vec<TicketRow>> {
        let mut sql = Sql::new(COLUMNS);
        let source = push_source_and_filters(&mut sql, scope, query, Purpose::Rows);
        push_order(&mut sql, &order_columns(source, query), query.dir);
        self.fetch_ticket_rows(sql).await
    }

    /// How many tickets in scope match the query. A customer's incident table without search reads
    /// their `incident_counts` rather than counting rows.
    pub async fn count_tickets(&self, scope: &TicketScope, query: &ListQuery) -> StoreResult<i64> {
        let (text, values) = count_sql(scope, query).into_parts();
        Ok(on_pool!(self, pool => bind_values!(statement::query_scalar(text), values).fetch_one(pool).await)?)
    }

    /// Open incidents in scope per severity and status: a customer's from their counters.
    #[tracing::instrument(skip(self))]
    pub async fn open_incident_counts(&self, scope: &TicketScope) -> StoreResult<OpenIncidentCounts> {
        let (text, values) = open_counts_sql(scope).into_parts();
        let rows: Vec<(i64, String, i64)> =
            on_pool!(self, pool => bind_values!(statement::query_as(text), values).fetch_all(pool).await)?;
        Ok(OpenIncidentCounts::from_rows(rows))
    }

    /// The support queue's counts per filter, over every account.
    #[tracing::instrument(skip(self))]
    pub async fn queue_counts(&self) -> StoreResult<QueueCounts> {
        let by_severity = self.open_incident_counts(&TicketScope::Everything).await?.by_severity();
        let closure = "SELECT COUNT(*) FROM tickets t WHERE t.severity IS NOT NULL AND t.status <> 'closed' \
                       AND t.closure_requested_at IS NOT NULL";
        let unlabelled = "SELECT COUNT(*) FROM tickets t WHERE t.severity IS NULL AND t.status <> 'closed'";
        let closure_requested: i64 = on_pool!(self, pool => statement::query_scalar(closure).fetch_one(pool).await)?;
        let unlabelled: i64 = on_pool!(self, pool => statement::query_scalar(unlabelled).fetch_one(pool).await)?;
        Ok(QueueCounts { by_severity, closure_requested, unlabelled })
    }

    /// One page of rows without their total (the dashboard's panel knows its total already).
    pub async fn ticket_rows(&self, scope: &TicketScope, query: &ListQuery) -> StoreResult<Vec<TicketRow>> {
        let mut sql = Sql::new(COLUMNS);
        let source = push_source_and_filters(&mut sql, scope, query, Purpose::Rows);
        push_order(&mut sql, &order_columns(source, query), query.dir);
        sql.push(" LIMIT ").bind(i64::from(query.page_size));
        self.fetch_ticket_rows(sql).await
    }

    async fn fetch_ticket_rows(&self, sql: Sql) -> StoreResult<Vec<TicketRow>> {
        let (text, values) = sql.into_parts();
        let rows: Vec<RawTicketRow> =
            on_pool!(self, pool => bind_values!(statement::query_as(text), values).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(TicketRow::try_from).collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::listing::ListKind;

    fn where_clause(kind: ListKind, query_string: &str, scope: &TicketScope) -> String {
        let query = ListQuery::from_query_string(kind, query_string).unwrap();
        let mut sql = Sql::new("");
        push_source_and_filters(&mut sql, scope, &query, Purpose::Rows);
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
    fn several_severities_in_date_order_are_filtered_while_reading_the_date_index() {
        let customer = TicketScope::VisibleTo { user_id: 1, account_id: 2 };
        let query = "severity=Critical&severity=High&sort=created&dir=desc";
        let text = where_clause(ListKind::SecurityIncidents, query, &customer);
        assert!(text.contains("(v.severity + 0) IN"), "{text}");
        for query in ["severity=Critical&sort=created", "severity=Critical&severity=High"] {
            let text = where_clause(ListKind::SecurityIncidents, query, &customer);
            assert!(text.contains(" v.severity IN"), "{query}: {text}");
        }
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
