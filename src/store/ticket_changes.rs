//! The writes that change a ticket: opening it, comments, the lifecycle's changes, recipients.
//! Each keeps the ticket's visibility rows and its viewers' counters in step, in one transaction.

use super::statement;
use chrono::{DateTime, Utc};

use super::attachments::{NewAttachments, OverQuota, link_attachments};
use super::{Store, StoreError, StoreResult, execute, in_transaction, on_pool};
use crate::domain::lifecycle::{self, Change, Outcome, RuleError, TicketState};
use crate::domain::notify::{self, CommentShape, Notice, NoticeKind};
use crate::domain::ticket::{EventKind, Severity, TicketStatus};

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
    /// Tell the support desk (a customer opened it in the portal; not seeded history).
    pub notify_desk: bool,
}

/// A comment that comes with a change (or alone).
#[derive(Debug, Clone)]
pub struct CommentInput {
    pub body: String,
    pub internal: bool,
    /// The form's one-time key: a resubmitted form stores its comment once.
    pub submission_key: Option<String>,
}

/// A change's comment carries no files.
static NO_FILES: NewAttachments = NewAttachments::NONE;

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
    /// The files would take the account past its attachment quota; nothing was stored.
    #[error("over the attachment quota")]
    OverQuota(OverQuota),
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

/// Writes a notice to the outbox (`notification_events`), inside the transaction of its change.
macro_rules! insert_notice {
    ($tx:expr, $ticket_id:expr, $actor_id:expr, $comment_id:expr, $notice:expr, $at:expr) => {{
        let notice: Notice = $notice;
        statement::query(
            "INSERT INTO notification_events (ticket_id, kind, actor_id, comment_id, severity, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind($ticket_id)
        .bind(notice.kind.code())
        .bind($actor_id)
        .bind($comment_id)
        .bind(notice.severity.map(Severity::rank))
        .bind($at)
        .execute(&mut *$tx)
        .await?;
    }};
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
        let rows =
            if matches!($store, Store::Postgres(..)) { VISIBILITY_ROWS_LOCKING_VIEWERS } else { VISIBILITY_ROWS };
        let before: Vec<super::counters::VisibilityRow> =
            statement::query_as(rows).bind($ticket_id).fetch_all(&mut *$tx).await?;
        statement::query("DELETE FROM ticket_visibility WHERE ticket_id = $1")
            .bind($ticket_id)
            .execute(&mut *$tx)
            .await?;
        statement::query(
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
            statement::query_as(rows).bind($ticket_id).fetch_all(&mut *$tx).await?;
        let deltas = super::counters::deltas(&before, &after);
        for ((user_id, severity, status), n) in deltas.counts {
            statement::query(
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
            statement::query(
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
    /// Opens a ticket with its recipients, recording the opening in its history.
    pub async fn insert_ticket(&self, ticket: &NewTicket) -> StoreResult<i64> {
        match self.insert_ticket_with_files(ticket, &NO_FILES).await {
            Ok(id) => Ok(id),
            Err(ChangeError::Store(error)) => Err(error),
            Err(other) => Err(StoreError::Other(sqlx::Error::Protocol(other.to_string()))),
        }
    }

    /// Opens a ticket with its recipients and the files uploaded with it, in one transaction.
    #[tracing::instrument(skip(self, ticket, files), fields(account_id = ticket.account_id))]
    pub async fn insert_ticket_with_files(
        &self,
        ticket: &NewTicket,
        files: &NewAttachments,
    ) -> Result<i64, ChangeError> {
        async { in_transaction!(self, tx => {
            let id: i64 = statement::query_scalar(
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
                statement::query("INSERT INTO ticket_recipients (ticket_id, user_id, added_by, added_at) VALUES ($1, $2, $3, $4)")
                    .bind(id).bind(user_id).bind(ticket.opener_id).bind(ticket.created_at)
                    .execute(&mut *tx).await?;
            }
            statement::query("INSERT INTO ticket_events (ticket_id, actor_id, kind, created_at) VALUES ($1, $2, $3, $4)")
                .bind(id).bind(ticket.created_by).bind(EventKind::Opened.code()).bind(ticket.created_at)
                .execute(&mut *tx).await?;
            link_attachments!(self, tx, ticket.account_id, id, None::<i64>, ticket.created_by, false, files,
                ticket.created_at, ChangeError::OverQuota);
            if ticket.notify_desk {
                let notice = Notice { kind: NoticeKind::TicketOpened, severity: ticket.severity, with_comment: false };
                insert_notice!(tx, id, ticket.created_by, None::<i64>, notice, ticket.created_at);
            }
            refresh_visibility!(self, tx, id);
            id
        }) }
        .await
    }

    #[tracing::instrument(skip(self, comment), fields(ticket_id = comment.ticket_id))]
    pub async fn insert_comment(&self, comment: &NewComment) -> StoreResult<i64> {
        let sql = "INSERT INTO comments (ticket_id, author_id, body, internal, submission_key, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
        Ok(on_pool!(self, pool => statement::query_scalar(sql)
            .bind(comment.ticket_id)
            .bind(comment.author_id)
            .bind(&comment.body)
            .bind(comment.internal)
            .bind(&comment.submission_key)
            .bind(comment.created_at)
            .fetch_one(pool).await)?)
    }

    /// Applies `changes` (and stores `comment`) as one transaction against the ticket as it is
    /// now. With `expected_version`, a ticket changed since the form was loaded is refused.
    pub async fn change_ticket(
        &self,
        ticket_id: i64,
        actor_id: i64,
        expected_version: Option<i64>,
        comment: Option<&CommentInput>,
        changes: &[Change],
        at: DateTime<Utc>,
    ) -> Result<ChangeResult, ChangeError> {
        let commented = comment.map(|c| (c, &NO_FILES));
        self.change_ticket_with_files(ticket_id, actor_id, expected_version, commented, changes, at).await
    }

    /// As [`Store::change_ticket`], the comment with the files uploaded with it, linked in the
    /// same transaction (all or nothing; over the account's quota, nothing).
    #[tracing::instrument(skip(self, commented))]
    pub async fn change_ticket_with_files(
        &self,
        ticket_id: i64,
        actor_id: i64,
        expected_version: Option<i64>,
        commented: Option<(&CommentInput, &NewAttachments)>,
        changes: &[Change],
        at: DateTime<Utc>,
    ) -> Result<ChangeResult, ChangeError> {
        let (comment, files) = match commented {
            Some((comment, files)) => (Some(comment), files),
            None => (None, &NO_FILES),
        };
        let lock = if matches!(self, Store::Postgres(..)) { TICKET_STATE_FOR_UPDATE } else { TICKET_STATE };
        // In a block of its own, so that the body's `?` lands in `result` and a racing duplicate
        // submission can be told apart from other failures.
        let result: Result<ChangeResult, ChangeError> = async { in_transaction!(self, tx => {
            let row: StateRow = statement::query_as(lock).bind(ticket_id).fetch_optional(&mut *tx).await?.ok_or(ChangeError::NotFound)?;
            if expected_version.is_some_and(|v| v != row.version) {
                return Err(ChangeError::Stale);
            }
            if let Some(key) = comment.and_then(|c| c.submission_key.as_deref()) {
                let seen: Option<i64> = statement::query_scalar("SELECT id FROM comments WHERE ticket_id = $1 AND submission_key = $2")
                    .bind(ticket_id).bind(key).fetch_optional(&mut *tx).await?;
                if seen.is_some() {
                    return Ok(ChangeResult::Duplicate);
                }
            }
            let before = row.state()?;
            let outcome = lifecycle::apply_all(before, changes).map_err(ChangeError::Rule)?;
            let mut comment_id = None;
            if let Some(comment) = comment {
                let id: i64 = statement::query_scalar("INSERT INTO comments (ticket_id, author_id, body, internal, submission_key, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
                    .bind(ticket_id).bind(actor_id).bind(&comment.body).bind(comment.internal)
                    .bind(&comment.submission_key).bind(at)
                    .fetch_one(&mut *tx).await?;
                comment_id = Some(id);
                if !files.files.is_empty() {
                    let account_id: i64 = statement::query_scalar("SELECT account_id FROM tickets WHERE id = $1")
                        .bind(ticket_id).fetch_one(&mut *tx).await?;
                    link_attachments!(self, tx, account_id, ticket_id, Some(id), actor_id, comment.internal,
                        files, at, ChangeError::OverQuota);
                }
            }
            let after = outcome.state;
            if after == before {
                // A comment is an update; an internal note is not, as customers see the ticket.
                if comment.is_some_and(|c| !c.internal) {
                    statement::query("UPDATE tickets SET updated_at = $1 WHERE id = $2")
                        .bind(at).bind(ticket_id).execute(&mut *tx).await?;
                }
            } else {
                let (requested_by, requested_at) = match (before.closure_requested, after.closure_requested) {
                    (false, true) => (Some(actor_id), Some(at)),
                    (true, true) => (row.closure_requested_by, row.closure_requested_at),
                    _ => (None, None),
                };
                let closed_at = (after.status == TicketStatus::Closed).then(|| row.closed_at.unwrap_or(at));
                statement::query("UPDATE tickets SET status = $1, severity = $2, closure_requested_by = $3, \
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
                statement::query("INSERT INTO ticket_events (ticket_id, actor_id, kind, from_value, to_value, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(ticket_id).bind(actor_id).bind(event.kind.code()).bind(&event.from).bind(&event.to).bind(at)
                    .execute(&mut *tx).await?;
            }
            // In the change's own transaction: a committed change always notifies, a rolled-back
            // one never does. Only a customer's comment comes with `CustomerComment`.
            let shape = match comment {
                None => CommentShape::None,
                Some(c) if c.internal => CommentShape::Internal,
                Some(_) => CommentShape::Public,
            };
            let by_support = !changes.contains(&Change::CustomerComment);
            for notice in notify::notices_of(&outcome.events, shape, by_support, after.severity) {
                let carried = if notice.with_comment { comment_id } else { None };
                insert_notice!(tx, ticket_id, actor_id, carried, notice, at);
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
            let exists: Option<i64> = statement::query_scalar("SELECT user_id FROM ticket_recipients WHERE ticket_id = $1 AND user_id = $2")
                .bind(ticket_id).bind(user_id).fetch_optional(&mut *tx).await?;
            if exists.is_some() {
                return Ok(false);
            }
            statement::query("INSERT INTO ticket_recipients (ticket_id, user_id, added_by, added_at) VALUES ($1, $2, $3, $4)")
                .bind(ticket_id).bind(user_id).bind(added_by).bind(at).execute(&mut *tx).await?;
            statement::query("INSERT INTO ticket_events (ticket_id, actor_id, kind, to_value, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(ticket_id).bind(added_by).bind(EventKind::RecipientAdded.code()).bind(name).bind(at)
                .execute(&mut *tx).await?;
            statement::query("UPDATE tickets SET updated_at = $1 WHERE id = $2").bind(at).bind(ticket_id).execute(&mut *tx).await?;
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
            let removed = statement::query("DELETE FROM ticket_recipients WHERE ticket_id = $1 AND user_id = $2")
                .bind(ticket_id).bind(user_id).execute(&mut *tx).await?.rows_affected();
            if removed == 0 {
                return Ok(false);
            }
            statement::query("INSERT INTO ticket_events (ticket_id, actor_id, kind, from_value, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(ticket_id).bind(removed_by).bind(EventKind::RecipientRemoved.code()).bind(name).bind(at)
                .execute(&mut *tx).await?;
            statement::query("UPDATE tickets SET updated_at = $1 WHERE id = $2").bind(at).bind(ticket_id).execute(&mut *tx).await?;
            refresh_visibility!(self, tx, ticket_id);
            true
        })
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
            statement::query(sql)
                .bind(ticket_id)
                .bind(actor_id)
                .bind(kind.code())
                .bind(values.0)
                .bind(values.1)
                .bind(at)
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
            statement::query(
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
