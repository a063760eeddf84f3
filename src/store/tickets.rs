//! Single tickets as their page reads them: the ticket, its recipients, comments and history.

use super::statement;
use chrono::{DateTime, Utc};

use super::sql::{Sql, bind_values};
use super::{Store, StoreResult, on_pool};
use crate::domain::ticket::{Severity, TicketStatus};

#[derive(Debug, Clone)]
pub struct TicketRecord {
    pub id: i64,
    pub account_id: i64,
    pub account_number: i64,
    pub account_name: String,
    pub summary: String,
    pub description: String,
    pub opener_id: i64,
    pub opener_name: String,
    pub status: TicketStatus,
    pub severity: Option<Severity>,
    pub closure_requested_at: Option<DateTime<Utc>>,
    pub closure_requested_by_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub version: i64,
}

/// A [`TicketRecord`] as stored.
#[derive(sqlx::FromRow)]
struct RawTicketRecord {
    id: i64,
    account_id: i64,
    account_number: i64,
    account_name: String,
    summary: String,
    description: String,
    opener_id: i64,
    opener_name: String,
    status: String,
    severity: Option<i16>,
    closure_requested_at: Option<DateTime<Utc>>,
    closure_requested_by_name: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    version: i64,
}

impl TryFrom<RawTicketRecord> for TicketRecord {
    type Error = sqlx::Error;

    fn try_from(raw: RawTicketRecord) -> Result<Self, Self::Error> {
        Ok(TicketRecord {
            id: raw.id,
            account_id: raw.account_id,
            account_number: raw.account_number,
            account_name: raw.account_name,
            summary: raw.summary,
            description: raw.description,
            opener_id: raw.opener_id,
            opener_name: raw.opener_name,
            status: super::decode_status(&raw.status)?,
            severity: super::decode_severity(raw.severity)?,
            closure_requested_at: raw.closure_requested_at,
            closure_requested_by_name: raw.closure_requested_by_name,
            created_at: raw.created_at,
            updated_at: raw.updated_at,
            closed_at: raw.closed_at,
            version: raw.version,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PersonRef {
    pub id: i64,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CommentRecord {
    pub id: i64,
    pub author_name: String,
    pub author_email: String,
    pub author_is_support: bool,
    pub body: String,
    pub internal: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct OpenerRow {
    ticket_id: i64,
    id: i64,
    name: String,
    email: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRecord {
    pub kind: String,
    pub from_value: Option<String>,
    pub to_value: Option<String>,
    pub actor_name: Option<String>,
    pub actor_is_support: Option<bool>,
    pub created_at: DateTime<Utc>,
}

impl Store {
    #[tracing::instrument(skip(self))]
    pub async fn ticket(&self, id: i64) -> StoreResult<Option<TicketRecord>> {
        let sql = "SELECT t.id, t.account_id, a.number AS account_number, a.name AS account_name, \
                   t.summary, t.description, t.opener_id, \
                   o.first_name || ' ' || o.last_name AS opener_name, \
                   t.status, t.severity, t.closure_requested_at, \
                   c.first_name || ' ' || c.last_name AS closure_requested_by_name, \
                   t.created_at, t.updated_at, t.closed_at, t.version \
                   FROM tickets t \
                   JOIN accounts a ON a.id = t.account_id \
                   JOIN users o ON o.id = t.opener_id \
                   LEFT JOIN users c ON c.id = t.closure_requested_by \
                   WHERE t.id = $1";
        let raw: Option<RawTicketRecord> =
            on_pool!(self, pool => statement::query_as(sql).bind(id).fetch_optional(pool).await)?;
        Ok(raw.map(TicketRecord::try_from).transpose()?)
    }

    #[tracing::instrument(skip(self))]
    pub async fn ticket_recipients(&self, ticket_id: i64) -> StoreResult<Vec<PersonRef>> {
        let sql = "SELECT u.id, u.first_name || ' ' || u.last_name AS name, u.email \
                   FROM ticket_recipients r JOIN users u ON u.id = r.user_id \
                   WHERE r.ticket_id = $1 ORDER BY u.last_name, u.first_name, u.id";
        Ok(on_pool!(self, pool => statement::query_as(sql).bind(ticket_id).fetch_all(pool).await)?)
    }

    /// The thread in time order; internal notes only when asked for (support staff).
    #[tracing::instrument(skip(self))]
    /// One comment, internal or not (the caller decides who may read it).
    pub async fn comment(&self, id: i64) -> StoreResult<Option<CommentRecord>> {
        let sql = "SELECT c.id, u.first_name || ' ' || u.last_name AS author_name, u.email AS author_email, \
                   u.is_support AS author_is_support, c.body, c.internal, c.created_at \
                   FROM comments c JOIN users u ON u.id = c.author_id WHERE c.id = $1";
        Ok(on_pool!(self, pool => statement::query_as(sql).bind(id).fetch_optional(pool).await)?)
    }

    pub async fn ticket_comments(&self, ticket_id: i64, include_internal: bool) -> StoreResult<Vec<CommentRecord>> {
        let sql = "SELECT c.id, u.first_name || ' ' || u.last_name AS author_name, u.email AS author_email, \
                   u.is_support AS author_is_support, c.body, c.internal, c.created_at \
                   FROM comments c JOIN users u ON u.id = c.author_id \
                   WHERE c.ticket_id = $1 AND (c.internal = FALSE OR $2) \
                   ORDER BY c.created_at, c.id";
        Ok(
            on_pool!(self, pool => statement::query_as(sql).bind(ticket_id).bind(include_internal).fetch_all(pool).await)?,
        )
    }

    /// The ticket a form with this one-time key opened, if any.
    pub async fn ticket_by_submission(&self, key: &str) -> StoreResult<Option<i64>> {
        let sql = "SELECT id FROM tickets WHERE submission_key = $1";
        Ok(on_pool!(self, pool => statement::query_scalar(sql).bind(key).fetch_optional(pool).await)?)
    }

    /// The history of a ticket in time order.
    #[tracing::instrument(skip(self))]
    pub async fn ticket_events(&self, ticket_id: i64) -> StoreResult<Vec<EventRecord>> {
        let sql = "SELECT e.kind, e.from_value, e.to_value, u.first_name || ' ' || u.last_name AS actor_name, \
                   u.is_support AS actor_is_support, e.created_at \
                   FROM ticket_events e LEFT JOIN users u ON u.id = e.actor_id \
                   WHERE e.ticket_id = $1 ORDER BY e.created_at, e.id";
        Ok(on_pool!(self, pool => statement::query_as(sql).bind(ticket_id).fetch_all(pool).await)?)
    }

    /// Who opened each of the tickets `ids` (a page of a list), by ticket id.
    pub async fn ticket_openers(&self, ids: &[i64]) -> StoreResult<Vec<(i64, PersonRef)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Sql::new(
            "SELECT t.id AS ticket_id, u.id, u.first_name || ' ' || u.last_name AS name, u.email \
             FROM tickets t JOIN users u ON u.id = t.opener_id WHERE t.id IN (",
        );
        sql.bind_list(ids.iter().copied()).push(")");
        let (text, values) = sql.into_parts();
        let rows: Vec<OpenerRow> =
            on_pool!(self, pool => bind_values!(statement::query_as(text), values).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|r| (r.ticket_id, PersonRef { id: r.id, name: r.name, email: r.email })).collect())
    }

    /// The enabled users of an account, by name: who can be named as a recipient.
    pub async fn account_people(&self, account_id: i64) -> StoreResult<Vec<PersonRef>> {
        let sql = "SELECT id, first_name || ' ' || last_name AS name, email FROM users \
                   WHERE account_id = $1 AND enabled = TRUE ORDER BY last_name, first_name, id";
        Ok(on_pool!(self, pool => statement::query_as(sql).bind(account_id).fetch_all(pool).await)?)
    }
}
