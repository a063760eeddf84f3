//! Single tickets: their page, recipients, comments and history, and the writes that change them.

use chrono::{DateTime, Utc};

use super::{Store, StoreError, StoreResult, execute, in_transaction, on_pool};
use crate::domain::lifecycle::{self, Change, Outcome, RuleError, TicketState};
use crate::domain::ticket::{EventKind, Severity, TicketStatus};

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
    pub author_is_support: bool,
    pub body: String,
    pub internal: bool,
    pub created_at: DateTime<Utc>,
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

#[derive(Debug, Clone)]
pub struct NewTicket {
    pub account_id: i64,
    pub opener_id: i64,
    /// Who opened it in the portal: the opener, or support staff on the opener's behalf.
    pub created_by: i64,
    pub summary: String,
    pub description: String,
    pub recipient_ids: Vec<i64>,
    pub status: TicketStatus,
    pub severity: Option<Severity>,
    pub created_at: DateTime<Utc>,
    /// The form's one-time key: a resubmitted form opens one ticket.
    pub submission_key: Option<String>,
}

/// A comment that comes with a change (or alone).
#[derive(Debug, Clone)]
pub struct CommentInput {
    pub body: String,
    pub internal: bool,
    /// The form's one-time key: a resubmitted form stores its comment once.
    pub submission_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeResult {
    Applied(Outcome),
    /// The same form was submitted before; nothing was stored again.
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("the ticket does not exist")]
    NotFound,
    /// The ticket changed since the form was loaded.
    #[error("the ticket changed meanwhile")]
    Stale,
    #[error(transparent)]
    Rule(RuleError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ChangeError {
    fn from(error: sqlx::Error) -> Self {
        ChangeError::Store(error.into())
    }
}

#[derive(sqlx::FromRow)]
struct StateRow {
    status: String,
    severity: Option<i16>,
    closure_requested_by: Option<i64>,
    closure_requested_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    version: i64,
}

impl StateRow {
    fn state(&self) -> Result<TicketState, sqlx::Error> {
        Ok(TicketState {
            status: super::decode_status(&self.status)?,
            severity: super::decode_severity(self.severity)?,
            closure_requested: self.closure_requested_at.is_some(),
        })
    }
}

macro_rules! ticket_state {
    () => {
        "SELECT status, severity, closure_requested_by, closure_requested_at, closed_at, version \
         FROM tickets WHERE id = $1"
    };
}
const TICKET_STATE: &str = ticket_state!();
/// PostgreSQL locks the row so concurrent changes queue; SQLite's `BEGIN IMMEDIATE` already has.
const TICKET_STATE_FOR_UPDATE: &str = concat!(ticket_state!(), " FOR UPDATE");

#[derive(Debug, Clone)]
pub struct NewComment {
    pub ticket_id: i64,
    pub author_id: i64,
    pub body: String,
    pub internal: bool,
    pub submission_key: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A ticket's visibility rows with each viewer's activity zone. PostgreSQL share-locks the viewers
/// so that a rebuild of their activity rows in another zone waits for this change, or this change
/// for it, and the deltas land in the zone the rows are in.
macro_rules! visibility_rows {
    () => {
        "SELECT v.user_id, v.severity, v.status, v.created_at, v.closed_at, u.activity_zone \
         FROM ticket_visibility v JOIN users u ON u.id = v.user_id WHERE v.ticket_id = $1"
    };
}
const VISIBILITY_ROWS: &str = visibility_rows!();
const VISIBILITY_ROWS_LOCKING_VIEWERS: &str = concat!(visibility_rows!(), " ORDER BY v.user_id FOR SHARE OF u");

/// Rebuilds a ticket's rows in `ticket_visibility` from the ticket and its recipients, the source
/// of truth, and moves the viewers' counters (`incident_counts`, `incident_activity`) by the
/// difference; called in the same transaction as every change to either.
macro_rules! refresh_visibility {
    ($store:expr, $tx:expr, $ticket_id:expr) => {{
        let rows = if matches!($store, Store::Postgres(_)) { VISIBILITY_ROWS_LOCKING_VIEWERS } else { VISIBILITY_ROWS };
        let before: Vec<super::counters::VisibilityRow> =
            sqlx::query_as(rows).bind($ticket_id).fetch_all(&mut *$tx).await?;
        sqlx::query("DELETE FROM ticket_visibility WHERE ticket_id = $1").bind($ticket_id).execute(&mut *$tx).await?;
        sqlx::query(
            "INSERT INTO ticket_visibility (user_id, ticket_id, severity, status, created_at, closed_at) \
             SELECT t.opener_id, t.id, t.severity, t.status, t.created_at, t.closed_at FROM tickets t WHERE t.id = $1 \
             UNION \
             SELECT r.user_id, t.id, t.severity, t.status, t.created_at, t.closed_at \
             FROM ticket_recipients r JOIN tickets t ON t.id = r.ticket_id WHERE t.id = $1",
        )
        .bind($ticket_id)
        .execute(&mut *$tx)
        .await?;
        let after: Vec<super::counters::VisibilityRow> =
            sqlx::query_as(rows).bind($ticket_id).fetch_all(&mut *$tx).await?;
        let deltas = super::counters::deltas(&before, &after);
        for ((user_id, severity, status), n) in deltas.counts {
            sqlx::query(
                "INSERT INTO incident_counts (user_id, severity, status, n) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (user_id, severity, status) DO UPDATE SET n = incident_counts.n + excluded.n",
            )
            .bind(user_id)
            .bind(severity)
            .bind(status)
            .bind(n)
            .execute(&mut *$tx)
            .await?;
        }
        for ((user_id, day), (opened, closed)) in deltas.activity {
            sqlx::query(
                "INSERT INTO incident_activity (user_id, day, opened, closed) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (user_id, day) DO UPDATE SET opened = incident_activity.opened + excluded.opened, \
                 closed = incident_activity.closed + excluded.closed",
            )
            .bind(user_id)
            .bind(day)
            .bind(opened)
            .bind(closed)
            .execute(&mut *$tx)
            .await?;
        }
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
        let raw: Option<RawTicketRecord> =
            on_pool!(self, pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?;
        Ok(raw.map(TicketRecord::try_from).transpose()?)
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

    /// The ticket a form with this one-time key opened, if any.
    pub async fn ticket_by_submission(&self, key: &str) -> StoreResult<Option<i64>> {
        let sql = "SELECT id FROM tickets WHERE submission_key = $1";
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql).bind(key).fetch_optional(pool).await)?)
    }

    /// Opens a ticket with its recipients, recording the opening in its history.
    #[tracing::instrument(skip(self, ticket), fields(account_id = ticket.account_id))]
    pub async fn insert_ticket(&self, ticket: &NewTicket) -> StoreResult<i64> {
        in_transaction!(self, tx => {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO tickets (account_id, summary, description, opener_id, status, severity, created_at, updated_at, submission_key) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) RETURNING id")
                .bind(ticket.account_id)
                .bind(&ticket.summary)
                .bind(&ticket.description)
                .bind(ticket.opener_id)
                .bind(ticket.status.code())
                .bind(ticket.severity.map(Severity::rank))
                .bind(ticket.created_at)
                .bind(&ticket.submission_key)
                .fetch_one(&mut *tx).await?;
            for user_id in &ticket.recipient_ids {
                sqlx::query("INSERT INTO ticket_recipients (ticket_id, user_id, added_by, added_at) VALUES ($1, $2, $3, $4)")
                    .bind(id).bind(user_id).bind(ticket.opener_id).bind(ticket.created_at)
                    .execute(&mut *tx).await?;
            }
            sqlx::query("INSERT INTO ticket_events (ticket_id, actor_id, kind, created_at) VALUES ($1, $2, $3, $4)")
                .bind(id).bind(ticket.created_by).bind(EventKind::Opened.code()).bind(ticket.created_at)
                .execute(&mut *tx).await?;
            refresh_visibility!(self, tx, id);
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

    /// The history of a ticket in time order.
    #[tracing::instrument(skip(self))]
    pub async fn ticket_events(&self, ticket_id: i64) -> StoreResult<Vec<EventRecord>> {
        let sql = "SELECT e.kind, e.from_value, e.to_value, u.first_name || ' ' || u.last_name AS actor_name, \
                   u.is_support AS actor_is_support, e.created_at \
                   FROM ticket_events e LEFT JOIN users u ON u.id = e.actor_id \
                   WHERE e.ticket_id = $1 ORDER BY e.created_at, e.id";
        Ok(on_pool!(self, pool => sqlx::query_as(sql).bind(ticket_id).fetch_all(pool).await)?)
    }

    /// Applies `changes` (and stores `comment`) as one transaction against the ticket as it is
    /// now. With `expected_version`, a ticket changed since the form was loaded is refused.
    #[tracing::instrument(skip(self, comment))]
    pub async fn change_ticket(
        &self,
        ticket_id: i64,
        actor_id: i64,
        expected_version: Option<i64>,
        comment: Option<&CommentInput>,
        changes: &[Change],
        at: DateTime<Utc>,
    ) -> Result<ChangeResult, ChangeError> {
        let lock = if matches!(self, Store::Postgres(_)) { TICKET_STATE_FOR_UPDATE } else { TICKET_STATE };
        // In a block of its own, so that the body's `?` lands in `result` and a racing duplicate
        // submission can be told apart from other failures.
        let result: Result<ChangeResult, ChangeError> = async { in_transaction!(self, tx => {
            let row: StateRow = sqlx::query_as(lock).bind(ticket_id).fetch_optional(&mut *tx).await?.ok_or(ChangeError::NotFound)?;
            if expected_version.is_some_and(|v| v != row.version) {
                return Err(ChangeError::Stale);
            }
            if let Some(key) = comment.and_then(|c| c.submission_key.as_deref()) {
                let seen: Option<i64> = sqlx::query_scalar("SELECT id FROM comments WHERE ticket_id = $1 AND submission_key = $2")
                    .bind(ticket_id).bind(key).fetch_optional(&mut *tx).await?;
                if seen.is_some() {
                    return Ok(ChangeResult::Duplicate);
                }
            }
            let before = row.state()?;
            let outcome = lifecycle::apply_all(before, changes).map_err(ChangeError::Rule)?;
            if let Some(comment) = comment {
                sqlx::query("INSERT INTO comments (ticket_id, author_id, body, internal, submission_key, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(ticket_id).bind(actor_id).bind(&comment.body).bind(comment.internal)
                    .bind(&comment.submission_key).bind(at)
                    .execute(&mut *tx).await?;
            }
            let after = outcome.state;
            if after == before {
                // A comment is an update; an internal note is not, as customers see the ticket.
                if comment.is_some_and(|c| !c.internal) {
                    sqlx::query("UPDATE tickets SET updated_at = $1 WHERE id = $2")
                        .bind(at).bind(ticket_id).execute(&mut *tx).await?;
                }
            } else {
                let (requested_by, requested_at) = match (before.closure_requested, after.closure_requested) {
                    (false, true) => (Some(actor_id), Some(at)),
                    (true, true) => (row.closure_requested_by, row.closure_requested_at),
                    _ => (None, None),
                };
                let closed_at = (after.status == TicketStatus::Closed).then(|| row.closed_at.unwrap_or(at));
                sqlx::query("UPDATE tickets SET status = $1, severity = $2, closure_requested_by = $3, \
                             closure_requested_at = $4, closed_at = $5, updated_at = $6, version = version + 1 WHERE id = $7")
                    .bind(after.status.code())
                    .bind(after.severity.map(Severity::rank))
                    .bind(requested_by)
                    .bind(requested_at)
                    .bind(closed_at)
                    .bind(at)
                    .bind(ticket_id)
                    .execute(&mut *tx).await?;
            }
            for event in &outcome.events {
                sqlx::query("INSERT INTO ticket_events (ticket_id, actor_id, kind, from_value, to_value, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(ticket_id).bind(actor_id).bind(event.kind.code()).bind(&event.from).bind(&event.to).bind(at)
                    .execute(&mut *tx).await?;
            }
            if after.status != before.status || after.severity != before.severity {
                refresh_visibility!(self, tx, ticket_id);
            }
            ChangeResult::Applied(outcome)
        }) }
        .await;
        match result {
            // Two copies of one form racing: the second is refused by the unique key.
            Err(ChangeError::Store(StoreError::Duplicate(_)))
                if comment.is_some_and(|c| c.submission_key.is_some()) =>
            {
                Ok(ChangeResult::Duplicate)
            }
            other => other,
        }
    }

    /// Adds a recipient, who sees the ticket at once; `false` if they already were one.
    #[tracing::instrument(skip(self))]
    pub async fn add_recipient(
        &self,
        ticket_id: i64,
        user_id: i64,
        name: &str,
        added_by: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        in_transaction!(self, tx => {
            let exists: Option<i64> = sqlx::query_scalar("SELECT user_id FROM ticket_recipients WHERE ticket_id = $1 AND user_id = $2")
                .bind(ticket_id).bind(user_id).fetch_optional(&mut *tx).await?;
            if exists.is_some() {
                return Ok(false);
            }
            sqlx::query("INSERT INTO ticket_recipients (ticket_id, user_id, added_by, added_at) VALUES ($1, $2, $3, $4)")
                .bind(ticket_id).bind(user_id).bind(added_by).bind(at).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO ticket_events (ticket_id, actor_id, kind, to_value, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(ticket_id).bind(added_by).bind(EventKind::RecipientAdded.code()).bind(name).bind(at)
                .execute(&mut *tx).await?;
            sqlx::query("UPDATE tickets SET updated_at = $1 WHERE id = $2").bind(at).bind(ticket_id).execute(&mut *tx).await?;
            refresh_visibility!(self, tx, ticket_id);
            true
        })
    }

    /// Removes a recipient, who no longer sees the ticket (unless they opened it).
    #[tracing::instrument(skip(self))]
    pub async fn remove_recipient(
        &self,
        ticket_id: i64,
        user_id: i64,
        name: &str,
        removed_by: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        in_transaction!(self, tx => {
            let removed = sqlx::query("DELETE FROM ticket_recipients WHERE ticket_id = $1 AND user_id = $2")
                .bind(ticket_id).bind(user_id).execute(&mut *tx).await?.rows_affected();
            if removed == 0 {
                return Ok(false);
            }
            sqlx::query("INSERT INTO ticket_events (ticket_id, actor_id, kind, from_value, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(ticket_id).bind(removed_by).bind(EventKind::RecipientRemoved.code()).bind(name).bind(at)
                .execute(&mut *tx).await?;
            sqlx::query("UPDATE tickets SET updated_at = $1 WHERE id = $2").bind(at).bind(ticket_id).execute(&mut *tx).await?;
            refresh_visibility!(self, tx, ticket_id);
            true
        })
    }

    /// The enabled users of an account, by name: who can be named as a recipient.
    pub async fn account_people(&self, account_id: i64) -> StoreResult<Vec<PersonRef>> {
        let sql = "SELECT id, first_name || ' ' || last_name AS name, email FROM users \
                   WHERE account_id = $1 AND enabled = TRUE ORDER BY last_name, first_name, id";
        Ok(on_pool!(self, pool => sqlx::query_as(sql).bind(account_id).fetch_all(pool).await)?)
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
            refresh_visibility!(self, tx, ticket_id);
        })
    }
}
