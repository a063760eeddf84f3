//! The notification outbox: events written with the changes that cause them (see
//! `ticket_changes`), fanned out into deliveries, which senders in every instance claim, send and
//! mark. A claim is a lease: a sender that dies mid-way leaves its rows to another after it ends.

use super::statement;
use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::sql::{Sql, bind_values};
use super::{Store, StoreResult, execute, in_transaction, on_pool};
use crate::domain::notify::NoticeKind;
use crate::domain::ticket::Severity;

/// An event a sender holds, to fan out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    pub id: i64,
    pub ticket_id: i64,
    pub kind: NoticeKind,
    pub actor_id: Option<i64>,
    pub comment_id: Option<i64>,
    pub severity: Option<Severity>,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct RawEvent {
    id: i64,
    ticket_id: i64,
    kind: String,
    actor_id: Option<i64>,
    comment_id: Option<i64>,
    severity: Option<i16>,
    created_at: DateTime<Utc>,
}

impl TryFrom<RawEvent> for OutboxEvent {
    type Error = sqlx::Error;

    fn try_from(raw: RawEvent) -> Result<Self, Self::Error> {
        Ok(OutboxEvent {
            id: raw.id,
            ticket_id: raw.ticket_id,
            kind: NoticeKind::from_code(&raw.kind)
                .ok_or_else(|| sqlx::Error::Decode(format!("unknown notice kind {:?}", raw.kind).into()))?,
            actor_id: raw.actor_id,
            comment_id: raw.comment_id,
            severity: super::decode_severity(raw.severity)?,
            created_at: raw.created_at,
        })
    }
}

/// How a delivery goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Mail,
    Webhook,
}

impl Channel {
    pub fn code(self) -> &'static str {
        match self {
            Channel::Mail => "mail",
            Channel::Webhook => "webhook",
        }
    }

    pub(super) fn from_code(code: &str) -> Result<Channel, sqlx::Error> {
        match code {
            "mail" => Ok(Channel::Mail),
            "webhook" => Ok(Channel::Webhook),
            other => Err(sqlx::Error::Decode(format!("unknown channel {other:?}").into())),
        }
    }
}

/// Whom a delivery is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A user of the portal, whose permissions are checked again when the mail is built.
    User(i64),
    /// The support desk's own address.
    Address(String),
    /// An account's webhook endpoint.
    Endpoint(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub channel: Channel,
    pub target: Target,
    pub digest: bool,
    pub due_at: DateTime<Utc>,
}

/// A delivery a sender holds, with its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub channel: Channel,
    pub target: Target,
    pub digest: bool,
    /// Including this one.
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub event: OutboxEvent,
}

#[derive(sqlx::FromRow)]
struct RawDelivery {
    id: i64,
    channel: String,
    user_id: Option<i64>,
    address: Option<String>,
    endpoint_id: Option<i64>,
    digest: bool,
    attempts: i32,
    created_at: DateTime<Utc>,
    event_id: i64,
}

/// What finally became of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Sent,
    /// Given up, after a day of failures (or an answer that retrying cannot change).
    Failed,
    /// Its reader can no longer see the ticket, or no longer wants to hear of it.
    Dropped,
    /// Mail is off: kept for the desk's page, never sent.
    Recorded,
}

impl Settled {
    pub(super) fn code(self) -> &'static str {
        match self {
            Settled::Sent => "sent",
            Settled::Failed => "failed",
            Settled::Dropped => "dropped",
            Settled::Recorded => "recorded",
        }
    }
}

/// Whom a stored delivery is for: exactly one of its three columns is set.
pub(super) fn target_of(
    user_id: Option<i64>,
    address: Option<String>,
    endpoint_id: Option<i64>,
) -> Result<Target, sqlx::Error> {
    match (user_id, address, endpoint_id) {
        (Some(id), _, _) => Ok(Target::User(id)),
        (_, Some(address), _) => Ok(Target::Address(address)),
        (_, _, Some(id)) => Ok(Target::Endpoint(id)),
        _ => Err(sqlx::Error::Decode("a delivery without a target".into())),
    }
}

/// How full the outbox is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxDepth {
    /// Events not yet fanned out and deliveries not yet settled.
    pub waiting: i64,
    /// When the oldest of them was due.
    pub oldest_due: Option<DateTime<Utc>>,
}

/// Takes up to `$3` rows of `$table` that match `$waiting` and are not held, holding them until
/// `$2`. PostgreSQL skips rows another sender is taking right now; SQLite's writer takes its turn.
macro_rules! claim_sql {
    ($table:literal, $waiting:literal, $order:literal, $returning:literal, $lock:literal) => {
        concat!(
            "UPDATE ",
            $table,
            " SET claimed_until = $2",
            " WHERE id IN (SELECT id FROM ",
            $table,
            " WHERE ",
            $waiting,
            " AND (claimed_until IS NULL OR claimed_until < $1) ORDER BY ",
            $order,
            " LIMIT $3",
            $lock,
            ") RETURNING ",
            $returning
        )
    };
}

macro_rules! event_columns {
    () => {
        "SELECT id, ticket_id, kind, actor_id, comment_id, severity, created_at"
    };
}

macro_rules! claim_events_sql {
    ($lock:literal) => {
        claim_sql!(
            "notification_events",
            "expanded_at IS NULL",
            "id",
            "id, ticket_id, kind, actor_id, comment_id, severity, created_at",
            $lock
        )
    };
}

macro_rules! claim_deliveries_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE notification_deliveries SET claimed_until = $2, attempts = attempts + 1 ",
            "WHERE id IN (SELECT id FROM notification_deliveries WHERE state = 'pending' AND due_at <= $1 ",
            "AND (claimed_until IS NULL OR claimed_until < $1) ORDER BY due_at, id LIMIT $3",
            $lock,
            ") RETURNING id, channel, user_id, address, endpoint_id, digest, attempts, created_at, event_id"
        )
    };
}

impl Store {
    /// Holds up to `limit` events not yet fanned out, until `until`.
    pub async fn claim_events(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<OutboxEvent>> {
        let rows: Vec<RawEvent> = match self {
            Store::Postgres(..) => {
                let sql = claim_events_sql!(" FOR UPDATE SKIP LOCKED");
                on_pool!(self, pool => statement::query_as(sql).bind(now).bind(until).bind(limit).fetch_all(pool).await)?
            }
            Store::Sqlite(..) => {
                let sql = claim_events_sql!("");
                let claimed: StoreResult<Vec<RawEvent>> = in_transaction!(self, tx =>
                    statement::query_as(sql).bind(now).bind(until).bind(limit).fetch_all(&mut *tx).await?);
                claimed?
            }
        };
        Ok(rows.into_iter().map(OutboxEvent::try_from).collect::<Result<_, _>>()?)
    }

    /// Stores the deliveries of an event and marks it fanned out, once: `false` (and nothing
    /// stored) when another sender did it first.
    pub async fn expand_event(
        &self,
        event_id: i64,
        deliveries: &[NewDelivery],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        in_transaction!(self, tx => {
            let marked = statement::query(
                "UPDATE notification_events SET expanded_at = $2, claimed_until = NULL WHERE id = $1 AND expanded_at IS NULL",
            )
            .bind(event_id).bind(now).execute(&mut *tx).await?.rows_affected();
            if marked == 0 {
                return Ok(false);
            }
            for delivery in deliveries {
                let (user_id, address, endpoint_id) = match &delivery.target {
                    Target::User(id) => (Some(*id), None, None),
                    Target::Address(address) => (None, Some(address.as_str()), None),
                    Target::Endpoint(id) => (None, None, Some(*id)),
                };
                statement::query(
                    "INSERT INTO notification_deliveries (event_id, channel, user_id, address, endpoint_id, digest, state, \
                     due_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8)",
                )
                .bind(event_id).bind(delivery.channel.code()).bind(user_id).bind(address).bind(endpoint_id)
                .bind(delivery.digest).bind(delivery.due_at).bind(now)
                .execute(&mut *tx).await?;
            }
            true
        })
    }

    /// Holds up to `limit` deliveries that are due, until `until`, counting the attempt.
    pub async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        let rows: Vec<RawDelivery> = match self {
            Store::Postgres(..) => {
                let sql = claim_deliveries_sql!(" FOR UPDATE SKIP LOCKED");
                on_pool!(self, pool => statement::query_as(sql).bind(now).bind(until).bind(limit).fetch_all(pool).await)?
            }
            Store::Sqlite(..) => {
                let sql = claim_deliveries_sql!("");
                let claimed: StoreResult<Vec<RawDelivery>> = in_transaction!(self, tx =>
                    statement::query_as(sql).bind(now).bind(until).bind(limit).fetch_all(&mut *tx).await?);
                claimed?
            }
        };
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let events = self.outbox_events(rows.iter().map(|r| r.event_id)).await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for raw in rows {
            let target = target_of(raw.user_id, raw.address, raw.endpoint_id)?;
            let event = events.get(&raw.event_id).cloned().ok_or_else(|| sqlx::Error::RowNotFound)?;
            claimed.push(ClaimedDelivery {
                id: raw.id,
                channel: Channel::from_code(&raw.channel)?,
                target,
                digest: raw.digest,
                attempts: raw.attempts,
                created_at: raw.created_at,
                event,
            });
        }
        Ok(claimed)
    }

    pub(super) async fn outbox_events(&self, ids: impl Iterator<Item = i64>) -> StoreResult<HashMap<i64, OutboxEvent>> {
        let mut ids: Vec<i64> = ids.collect();
        ids.sort_unstable();
        ids.dedup();
        let mut sql = Sql::new(concat!(event_columns!(), " FROM notification_events WHERE id IN ("));
        sql.bind_list(ids).push(")");
        let (text, values) = sql.into_parts();
        let rows: Vec<RawEvent> =
            on_pool!(self, pool => bind_values!(statement::query_as(text), values).fetch_all(pool).await)?;
        rows.into_iter()
            .map(|raw| OutboxEvent::try_from(raw).map(|e| (e.id, e)))
            .collect::<Result<_, _>>()
            .map_err(Into::into)
    }

    /// The delivery is done with, one way or another.
    pub async fn settle_delivery(
        &self,
        id: i64,
        settled: Settled,
        subject: Option<&str>,
        outcome: Option<(&str, Option<i32>)>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let sent_at = (settled == Settled::Sent).then_some(now);
        let (error, code) = outcome.map_or((None, None), |(e, c)| (Some(e), c));
        let sql = "UPDATE notification_deliveries SET state = $2, subject = COALESCE($3, subject), last_error = $4, \
                   response_code = $5, sent_at = $6, claimed_until = NULL WHERE id = $1";
        execute!(
            self,
            statement::query(sql).bind(id).bind(settled.code()).bind(subject).bind(error).bind(code).bind(sent_at)
        )?;
        Ok(())
    }

    /// Several deliveries of one mail are done with alike (sent, or recorded with mail off).
    pub async fn settle_deliveries(
        &self,
        ids: &[i64],
        settled: Settled,
        subject: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let sent_at = (settled == Settled::Sent).then_some(now);
        let mut sql = Sql::with_values(
            "UPDATE notification_deliveries SET state = $1, subject = $2, sent_at = $3, last_error = NULL, \
             claimed_until = NULL WHERE id IN (",
            vec![settled.code().into(), subject.into(), sent_at.into()],
        );
        sql.bind_list(ids.iter().copied()).push(")");
        let (text, values) = sql.into_parts();
        execute!(self, bind_values!(statement::query(text), values))?;
        Ok(())
    }

    /// The delivery failed this time; it is tried again at `due_at`.
    pub async fn retry_delivery(
        &self,
        id: i64,
        due_at: DateTime<Utc>,
        error: &str,
        code: Option<i32>,
        subject: Option<&str>,
    ) -> StoreResult<()> {
        let sql = "UPDATE notification_deliveries SET due_at = $2, last_error = $3, response_code = $4, \
                   subject = COALESCE($5, subject), claimed_until = NULL WHERE id = $1";
        execute!(self, statement::query(sql).bind(id).bind(due_at).bind(error).bind(code).bind(subject))?;
        Ok(())
    }

    /// Whether events wait to be fanned out, and whether deliveries are due: a read, so that an
    /// idle sender never takes the writer's turn.
    pub async fn outbox_work(&self, now: DateTime<Utc>) -> StoreResult<(bool, bool)> {
        let sql = "SELECT EXISTS (SELECT 1 FROM notification_events WHERE expanded_at IS NULL \
                   AND (claimed_until IS NULL OR claimed_until < $1)), \
                   EXISTS (SELECT 1 FROM notification_deliveries WHERE state = 'pending' AND due_at <= $1 \
                   AND (claimed_until IS NULL OR claimed_until < $1))";
        Ok(on_pool!(self, pool => statement::query_as(sql).bind(now).fetch_one(pool).await)?)
    }

    /// The first notice about a ticket, whose mail the others refer to (threading).
    pub async fn first_notice_of(&self, ticket_id: i64) -> StoreResult<Option<i64>> {
        let sql = "SELECT MIN(id) FROM notification_events WHERE ticket_id = $1";
        Ok(on_pool!(self, pool => statement::query_scalar(sql).bind(ticket_id).fetch_one(pool).await)?)
    }

    /// How many notifications wait, and since when the oldest is due.
    pub async fn outbox_depth(&self) -> StoreResult<OutboxDepth> {
        let sql = "SELECT CAST(COUNT(*) AS BIGINT), MIN(due) FROM ( \
                   SELECT created_at AS due FROM notification_events WHERE expanded_at IS NULL \
                   UNION ALL SELECT due_at FROM notification_deliveries WHERE state = 'pending') w";
        let (waiting, oldest_due): (i64, Option<DateTime<Utc>>) =
            on_pool!(self, pool => statement::query_as(sql).fetch_one(pool).await)?;
        Ok(OutboxDepth { waiting, oldest_due })
    }

    /// Forgets notifications settled before `before`, and the events all of whose deliveries are
    /// gone. What is still pending stays, however old.
    pub async fn purge_notifications(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        in_transaction!(self, tx => {
            let deliveries = statement::query(
                "DELETE FROM notification_deliveries WHERE state <> 'pending' AND created_at < $1",
            )
            .bind(before).execute(&mut *tx).await?.rows_affected();
            statement::query(
                "DELETE FROM notification_events WHERE expanded_at IS NOT NULL AND expanded_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.event_id = notification_events.id)",
            )
            .bind(before).execute(&mut *tx).await?;
            deliveries
        })
    }
}
