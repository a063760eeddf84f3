//! Single tickets: their page, recipients, comments and history, and the writes that change them.

use chrono::{DateTime, Utc};

use super::{Store, StoreResult, execute, in_transaction, on_pool};
use crate::domain::ticket::{EventKind, Severity, TicketStatus};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TicketRecord {
    pub id: i64,
    pub account_id: i64,
    pub account_number: i64,
    pub account_name: String,
    pub summary: String,
    pub description: String,
    pub opener_id: i64,
    pub opener_name: String,
    pub status: String,
    pub severity: Option<i16>,
    pub closure_requested_at: Option<DateTime<Utc>>,
    pub closure_requested_by_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub version: i64,
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
    pub author_is_support: bool,
    pub body: String,
    pub internal: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewTicket {
    pub account_id: i64,
    pub opener_id: i64,
    pub summary: String,
    pub description: String,
    pub recipient_ids: Vec<i64>,
    pub status: TicketStatus,
    pub severity: Option<Severity>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewComment {
    pub ticket_id: i64,
    pub author_id: i64,
    pub body: String,
    pub internal: bool,
    pub submission_key: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Rebuilds a ticket's rows in `ticket_visibility` from the ticket and its recipients, the source
/// of truth; called in the same transaction as every change to either.
macro_rules! refresh_visibility {
    ($tx:expr, $ticket_id:expr) => {{
        sqlx::query("DELETE FROM ticket_visibility WHERE ticket_id = $1").bind($ticket_id).execute(&mut *$tx).await?;
        sqlx::query(
            "INSERT INTO ticket_visibility (user_id, ticket_id, severity, status, created_at) \
             SELECT t.opener_id, t.id, t.severity, t.status, t.created_at FROM tickets t WHERE t.id = $1 \
             UNION \
             SELECT r.user_id, t.id, t.severity, t.status, t.created_at \
             FROM ticket_recipients r JOIN tickets t ON t.id = r.ticket_id WHERE t.id = $1",
        )
        .bind($ticket_id)
        .execute(&mut *$tx)
        .await?;
    }};
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
        Ok(on_pool!(self, pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?)
    }

    #[tracing::instrument(skip(self))]
    pub async fn ticket_recipients(&self, ticket_id: i64) -> StoreResult<Vec<PersonRef>> {
        let sql = "SELECT u.id, u.first_name || ' ' || u.last_name AS name, u.email \
                   FROM ticket_recipients r JOIN users u ON u.id = r.user_id \
                   WHERE r.ticket_id = $1 ORDER BY u.last_name, u.first_name, u.id";
        Ok(on_pool!(self, pool => sqlx::query_as(sql).bind(ticket_id).fetch_all(pool).await)?)
    }

    /// The thread in time order; internal notes only when asked for (support staff).
    #[tracing::instrument(skip(self))]
    pub async fn ticket_comments(&self, ticket_id: i64, include_internal: bool) -> StoreResult<Vec<CommentRecord>> {
        let sql = "SELECT c.id, u.first_name || ' ' || u.last_name AS author_name, \
                   u.is_support AS author_is_support, c.body, c.internal, c.created_at \
                   FROM comments c JOIN users u ON u.id = c.author_id \
                   WHERE c.ticket_id = $1 AND (c.internal = FALSE OR $2) \
                   ORDER BY c.created_at, c.id";
        Ok(on_pool!(self, pool => sqlx::query_as(sql).bind(ticket_id).bind(include_internal).fetch_all(pool).await)?)
    }

    /// Opens a ticket with its recipients, recording the opening in its history.
    #[tracing::instrument(skip(self, ticket), fields(account_id = ticket.account_id))]
    pub async fn insert_ticket(&self, ticket: &NewTicket) -> StoreResult<i64> {
        in_transaction!(self, tx => {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO tickets (account_id, summary, description, opener_id, status, severity, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id")
                .bind(ticket.account_id)
                .bind(&ticket.summary)
                .bind(&ticket.description)
                .bind(ticket.opener_id)
                .bind(ticket.status.code())
                .bind(ticket.severity.map(Severity::rank))
                .bind(ticket.created_at)
                .fetch_one(&mut *tx).await?;
            for user_id in &ticket.recipient_ids {
                sqlx::query("INSERT INTO ticket_recipients (ticket_id, user_id, added_by, added_at) VALUES ($1, $2, $3, $4)")
                    .bind(id).bind(user_id).bind(ticket.opener_id).bind(ticket.created_at)
                    .execute(&mut *tx).await?;
            }
            sqlx::query("INSERT INTO ticket_events (ticket_id, actor_id, kind, created_at) VALUES ($1, $2, $3, $4)")
                .bind(id).bind(ticket.opener_id).bind(EventKind::Opened.code()).bind(ticket.created_at)
                .execute(&mut *tx).await?;
            refresh_visibility!(tx, id);
            id
        })
    }

    #[tracing::instrument(skip(self, comment), fields(ticket_id = comment.ticket_id))]
    pub async fn insert_comment(&self, comment: &NewComment) -> StoreResult<i64> {
        let sql = "INSERT INTO comments (ticket_id, author_id, body, internal, submission_key, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql)
            .bind(comment.ticket_id)
            .bind(comment.author_id)
            .bind(&comment.body)
            .bind(comment.internal)
            .bind(&comment.submission_key)
            .bind(comment.created_at)
            .fetch_one(pool).await)?)
    }

    /// Records a past change without applying it; the demo data uses this to give tickets a history.
    pub async fn insert_event(
        &self,
        ticket_id: i64,
        actor_id: i64,
        kind: EventKind,
        values: (Option<&str>, Option<&str>),
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let sql = "INSERT INTO ticket_events (ticket_id, actor_id, kind, from_value, to_value, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6)";
        execute!(
            self,
            sqlx::query(sql).bind(ticket_id).bind(actor_id).bind(kind.code()).bind(values.0).bind(values.1).bind(at)
        )?;
        Ok(())
    }

    /// Sets the state fields of a ticket directly (demo data); keeps the visibility rows in step.
    pub async fn set_ticket_state(
        &self,
        ticket_id: i64,
        status: TicketStatus,
        closure_requested: Option<(i64, DateTime<Utc>)>,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        in_transaction!(self, tx => {
            let closed_at = (status == TicketStatus::Closed).then_some(at);
            sqlx::query(
                "UPDATE tickets SET status = $1, closure_requested_by = $2, closure_requested_at = $3, \
                 closed_at = $4, updated_at = $5, version = version + 1 WHERE id = $6")
                .bind(status.code())
                .bind(closure_requested.map(|(user, _)| user))
                .bind(closure_requested.map(|(_, when)| when))
                .bind(closed_at)
                .bind(at)
                .bind(ticket_id)
                .execute(&mut *tx).await?;
            refresh_visibility!(tx, ticket_id);
        })
    }
}
