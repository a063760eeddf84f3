//! The notification outbox: events written with the changes that cause them (see
//! `ticket_changes`), fanned out into deliveries, which senders in every instance claim, send and
//! mark. A claim is a lease: a sender that dies mid-way leaves its rows to another after it ends.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::sql::{Sql, bind_values};
use super::{Store, StoreResult, execute, in_transaction, on_pool};
use crate::domain::notify::{DEFAULT_DIGEST_HOUR, NoticeKind, Preferences};
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

    fn from_code(code: &str) -> Result<Channel, sqlx::Error> {
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
    fn code(self) -> &'static str {
        match self {
            Settled::Sent => "sent",
            Settled::Failed => "failed",
            Settled::Dropped => "dropped",
            Settled::Recorded => "recorded",
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting to be sent (first time, a retry, or a digest's hour).
    Pending,
    Settled(Settled),
}

impl DeliveryState {
    fn from_code(code: &str) -> Result<DeliveryState, sqlx::Error> {
        [Settled::Sent, Settled::Failed, Settled::Dropped, Settled::Recorded]
            .into_iter()
            .find(|s| s.code() == code)
            .map(DeliveryState::Settled)
            .or_else(|| (code == "pending").then_some(DeliveryState::Pending))
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown delivery state {code:?}").into()))
    }
}

/// A delivery as the desk's page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: i64,
    pub channel: Channel,
    /// The user's or the desk's address, or the webhook endpoint's id.
    pub recipient: Option<String>,
    pub ticket_id: i64,
    pub kind: NoticeKind,
    pub state: DeliveryState,
    /// Waits for (or went in) its reader's daily digest.
    pub digest: bool,
    pub attempts: i32,
    pub subject: Option<String>,
    pub last_error: Option<String>,
    pub response_code: Option<i32>,
    pub created_at: DateTime<Utc>,
    /// When it goes out next, while pending.
    pub due_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct RawRecord {
    id: i64,
    channel: String,
    recipient: Option<String>,
    ticket_id: i64,
    kind: String,
    state: String,
    digest: bool,
    attempts: i32,
    subject: Option<String>,
    last_error: Option<String>,
    response_code: Option<i32>,
    created_at: DateTime<Utc>,
    due_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    // What the mail is built from, for reading one.
    user_id: Option<i64>,
    address: Option<String>,
    endpoint_id: Option<i64>,
    event_id: i64,
}

impl TryFrom<RawRecord> for DeliveryRecord {
    type Error = sqlx::Error;

    fn try_from(raw: RawRecord) -> Result<Self, Self::Error> {
        Ok(DeliveryRecord {
            id: raw.id,
            channel: Channel::from_code(&raw.channel)?,
            recipient: raw.recipient,
            ticket_id: raw.ticket_id,
            kind: NoticeKind::from_code(&raw.kind)
                .ok_or_else(|| sqlx::Error::Decode(format!("unknown notice kind {:?}", raw.kind).into()))?,
            state: DeliveryState::from_code(&raw.state)?,
            digest: raw.digest,
            attempts: raw.attempts,
            subject: raw.subject,
            last_error: raw.last_error,
            response_code: raw.response_code,
            created_at: raw.created_at,
            due_at: raw.due_at,
            sent_at: raw.sent_at,
        })
    }
}

/// One delivery with what its mail is built from, for the desk to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryDetail {
    pub record: DeliveryRecord,
    pub target: Target,
    pub event: OutboxEvent,
}

/// Whom a stored delivery is for: exactly one of its three columns is set.
fn target_of(user_id: Option<i64>, address: Option<String>, endpoint_id: Option<i64>) -> Result<Target, sqlx::Error> {
    match (user_id, address, endpoint_id) {
        (Some(id), _, _) => Ok(Target::User(id)),
        (_, Some(address), _) => Ok(Target::Address(address)),
        (_, _, Some(id)) => Ok(Target::Endpoint(id)),
        _ => Err(sqlx::Error::Decode("a delivery without a target".into())),
    }
}

/// The desk's view of deliveries, newest first; `$1` is a condition on `d`.
macro_rules! delivery_records_sql {
    ($condition:literal) => {
        concat!(
            "SELECT d.id, d.channel, COALESCE(u.email, d.address, CAST(d.endpoint_id AS TEXT)) AS recipient, ",
            "e.ticket_id, e.kind, d.state, d.digest, d.attempts, d.subject, d.last_error, d.response_code, ",
            "d.created_at, d.due_at, d.sent_at, d.user_id, d.address, d.endpoint_id, d.event_id ",
            "FROM notification_deliveries d JOIN notification_events e ON e.id = d.event_id ",
            "LEFT JOIN users u ON u.id = d.user_id WHERE ",
            $condition,
            " ORDER BY d.id DESC LIMIT $1"
        )
    };
}

/// How full the outbox is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxDepth {
    /// Events not yet fanned out and deliveries not yet settled.
    pub waiting: i64,
    /// When the oldest of them was due.
    pub oldest_due: Option<DateTime<Utc>>,
}

/// The people on a ticket as notifications need them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct TicketReader {
    pub user_id: i64,
    pub muted: bool,
}

/// A user's notification settings, with the hour of their day for the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationSettings {
    pub preferences: Preferences,
    pub digest_hour: u32,
}

#[derive(sqlx::FromRow)]
struct RawSettings {
    user_id: i64,
    muted_kinds: String,
    min_severity: Option<i16>,
    digest: bool,
    digest_hour: i16,
}

impl TryFrom<RawSettings> for (i64, NotificationSettings) {
    type Error = sqlx::Error;

    fn try_from(raw: RawSettings) -> Result<Self, Self::Error> {
        let muted_kinds = raw.muted_kinds.split(',').filter_map(NoticeKind::from_code).collect();
        let preferences =
            Preferences { muted_kinds, min_severity: super::decode_severity(raw.min_severity)?, digest: raw.digest };
        let digest_hour = u32::try_from(raw.digest_hour.clamp(0, 23)).unwrap_or(DEFAULT_DIGEST_HOUR);
        Ok((raw.user_id, NotificationSettings { preferences, digest_hour }))
    }
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
            Store::Postgres(_) => {
                let sql = claim_events_sql!(" FOR UPDATE SKIP LOCKED");
                on_pool!(self, pool => sqlx::query_as(sql).bind(now).bind(until).bind(limit).fetch_all(pool).await)?
            }
            Store::Sqlite(..) => {
                let sql = claim_events_sql!("");
                let claimed: StoreResult<Vec<RawEvent>> = in_transaction!(self, tx =>
                    sqlx::query_as(sql).bind(now).bind(until).bind(limit).fetch_all(&mut *tx).await?);
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
            let marked = sqlx::query(
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
                sqlx::query(
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
            Store::Postgres(_) => {
                let sql = claim_deliveries_sql!(" FOR UPDATE SKIP LOCKED");
                on_pool!(self, pool => sqlx::query_as(sql).bind(now).bind(until).bind(limit).fetch_all(pool).await)?
            }
            Store::Sqlite(..) => {
                let sql = claim_deliveries_sql!("");
                let claimed: StoreResult<Vec<RawDelivery>> = in_transaction!(self, tx =>
                    sqlx::query_as(sql).bind(now).bind(until).bind(limit).fetch_all(&mut *tx).await?);
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

    async fn outbox_events(&self, ids: impl Iterator<Item = i64>) -> StoreResult<HashMap<i64, OutboxEvent>> {
        let mut ids: Vec<i64> = ids.collect();
        ids.sort_unstable();
        ids.dedup();
        let mut sql = Sql::new(concat!(event_columns!(), " FROM notification_events WHERE id IN ("));
        sql.bind_list(ids).push(")");
        let (text, values) = sql.into_parts();
        let rows: Vec<RawEvent> =
            on_pool!(self, pool => bind_values!(sqlx::query_as(text), values).fetch_all(pool).await)?;
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
            sqlx::query(sql).bind(id).bind(settled.code()).bind(subject).bind(error).bind(code).bind(sent_at)
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
        execute!(self, bind_values!(sqlx::query(text), values))?;
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
        execute!(self, sqlx::query(sql).bind(id).bind(due_at).bind(error).bind(code).bind(subject))?;
        Ok(())
    }

    /// The opener and recipients of a ticket, and whether each chose "Don't notify me" on it.
    pub async fn ticket_readers(&self, ticket_id: i64) -> StoreResult<Vec<TicketReader>> {
        let sql = "SELECT p.user_id, EXISTS (SELECT 1 FROM ticket_mutes m WHERE m.user_id = p.user_id AND m.ticket_id = $1) AS muted \
                   FROM (SELECT opener_id AS user_id FROM tickets WHERE id = $1 \
                         UNION SELECT user_id FROM ticket_recipients WHERE ticket_id = $1) p ORDER BY p.user_id";
        Ok(on_pool!(self, pool => sqlx::query_as(sql).bind(ticket_id).fetch_all(pool).await)?)
    }

    /// The notification settings of these users, for those who chose any.
    pub async fn notification_settings(&self, user_ids: &[i64]) -> StoreResult<HashMap<i64, NotificationSettings>> {
        if user_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut sql = Sql::new(
            "SELECT user_id, muted_kinds, min_severity, digest, digest_hour FROM notification_preferences WHERE user_id IN (",
        );
        sql.bind_list(user_ids.iter().copied()).push(")");
        let (text, values) = sql.into_parts();
        let rows: Vec<RawSettings> =
            on_pool!(self, pool => bind_values!(sqlx::query_as(text), values).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(<(i64, NotificationSettings)>::try_from).collect::<Result<_, _>>()?)
    }

    /// A user's notification settings, or `defaults` at the default hour if they never chose.
    pub async fn notification_settings_of(
        &self,
        user_id: i64,
        defaults: Preferences,
    ) -> StoreResult<NotificationSettings> {
        let chosen = self.notification_settings(&[user_id]).await?.remove(&user_id);
        Ok(chosen.unwrap_or(NotificationSettings { preferences: defaults, digest_hour: DEFAULT_DIGEST_HOUR }))
    }

    /// Enabled support staff who chose to hear of something, with what they chose.
    pub async fn staff_listening(&self) -> StoreResult<Vec<(i64, NotificationSettings)>> {
        let sql = "SELECT p.user_id, p.muted_kinds, p.min_severity, p.digest, p.digest_hour FROM notification_preferences p \
                   JOIN users u ON u.id = p.user_id WHERE u.is_support = TRUE AND u.enabled = TRUE ORDER BY p.user_id";
        let rows: Vec<RawSettings> = on_pool!(self, pool => sqlx::query_as(sql).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(<(i64, NotificationSettings)>::try_from).collect::<Result<_, _>>()?)
    }

    /// Whether events wait to be fanned out, and whether deliveries are due: a read, so that an
    /// idle sender never takes the writer's turn.
    pub async fn outbox_work(&self, now: DateTime<Utc>) -> StoreResult<(bool, bool)> {
        let sql = "SELECT EXISTS (SELECT 1 FROM notification_events WHERE expanded_at IS NULL \
                   AND (claimed_until IS NULL OR claimed_until < $1)), \
                   EXISTS (SELECT 1 FROM notification_deliveries WHERE state = 'pending' AND due_at <= $1 \
                   AND (claimed_until IS NULL OR claimed_until < $1))";
        Ok(on_pool!(self, pool => sqlx::query_as(sql).bind(now).fetch_one(pool).await)?)
    }

    /// The first notice about a ticket, whose mail the others refer to (threading).
    pub async fn first_notice_of(&self, ticket_id: i64) -> StoreResult<Option<i64>> {
        let sql = "SELECT MIN(id) FROM notification_events WHERE ticket_id = $1";
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql).bind(ticket_id).fetch_one(pool).await)?)
    }

    /// How many notifications wait, and since when the oldest is due.
    pub async fn outbox_depth(&self) -> StoreResult<OutboxDepth> {
        let sql = "SELECT CAST(COUNT(*) AS BIGINT), MIN(due) FROM ( \
                   SELECT created_at AS due FROM notification_events WHERE expanded_at IS NULL \
                   UNION ALL SELECT due_at FROM notification_deliveries WHERE state = 'pending') w";
        let (waiting, oldest_due): (i64, Option<DateTime<Utc>>) =
            on_pool!(self, pool => sqlx::query_as(sql).fetch_one(pool).await)?;
        Ok(OutboxDepth { waiting, oldest_due })
    }

    /// The newest deliveries, for the desk's page.
    pub async fn recent_deliveries(&self, limit: i64) -> StoreResult<Vec<DeliveryRecord>> {
        let sql = delivery_records_sql!("TRUE");
        let rows: Vec<RawRecord> = on_pool!(self, pool => sqlx::query_as(sql).bind(limit).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(DeliveryRecord::try_from).collect::<Result<_, _>>()?)
    }

    /// One delivery, with its event and reader, for the desk to read its mail.
    pub async fn delivery(&self, id: i64) -> StoreResult<Option<DeliveryDetail>> {
        let sql = delivery_records_sql!("d.id = $2");
        let raw: Option<RawRecord> =
            on_pool!(self, pool => sqlx::query_as(sql).bind(1_i64).bind(id).fetch_optional(pool).await)?;
        let Some(raw) = raw else { return Ok(None) };
        let target = target_of(raw.user_id, raw.address.clone(), raw.endpoint_id)?;
        let event_id = raw.event_id;
        let record = DeliveryRecord::try_from(raw)?;
        let event =
            self.outbox_events(std::iter::once(event_id)).await?.remove(&event_id).ok_or(sqlx::Error::RowNotFound)?;
        Ok(Some(DeliveryDetail { record, target, event }))
    }

    /// Saves what a user chose to hear of.
    pub async fn save_notification_settings(&self, user_id: i64, settings: &NotificationSettings) -> StoreResult<()> {
        let muted: Vec<&str> = settings.preferences.muted_kinds.iter().map(|k| k.code()).collect();
        let sql = "INSERT INTO notification_preferences (user_id, muted_kinds, min_severity, digest, digest_hour) \
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO UPDATE SET muted_kinds = excluded.muted_kinds, \
                   min_severity = excluded.min_severity, digest = excluded.digest, digest_hour = excluded.digest_hour";
        let hour = i16::try_from(settings.digest_hour.min(23)).unwrap_or(8);
        execute!(
            self,
            sqlx::query(sql)
                .bind(user_id)
                .bind(muted.join(","))
                .bind(settings.preferences.min_severity.map(Severity::rank))
                .bind(settings.preferences.digest)
                .bind(hour)
        )?;
        Ok(())
    }

    /// Spends a one-click unsubscribe link: `false` if it was used before.
    pub async fn use_unsubscribe_link(&self, link_hash: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        let sql = "INSERT INTO used_unsubscribe_links (link_hash, used_at) VALUES ($1, $2) ON CONFLICT (link_hash) DO NOTHING";
        Ok(execute!(self, sqlx::query(sql).bind(link_hash).bind(now))? == 1)
    }

    /// "Don't notify me" (or "Notify me" again) on a ticket.
    pub async fn set_ticket_muted(&self, user_id: i64, ticket_id: i64, muted: bool) -> StoreResult<()> {
        let sql = if muted {
            "INSERT INTO ticket_mutes (user_id, ticket_id) VALUES ($1, $2) ON CONFLICT (user_id, ticket_id) DO NOTHING"
        } else {
            "DELETE FROM ticket_mutes WHERE user_id = $1 AND ticket_id = $2"
        };
        execute!(self, sqlx::query(sql).bind(user_id).bind(ticket_id))?;
        Ok(())
    }

    pub async fn is_ticket_muted(&self, user_id: i64, ticket_id: i64) -> StoreResult<bool> {
        let sql = "SELECT EXISTS (SELECT 1 FROM ticket_mutes WHERE user_id = $1 AND ticket_id = $2)";
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql).bind(user_id).bind(ticket_id).fetch_one(pool).await)?)
    }

    /// Forgets notifications settled before `before`, and the events all of whose deliveries are
    /// gone. What is still pending stays, however old.
    pub async fn purge_notifications(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        in_transaction!(self, tx => {
            let deliveries = sqlx::query(
                "DELETE FROM notification_deliveries WHERE state <> 'pending' AND created_at < $1",
            )
            .bind(before).execute(&mut *tx).await?.rows_affected();
            sqlx::query(
                "DELETE FROM notification_events WHERE expanded_at IS NOT NULL AND expanded_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.event_id = notification_events.id)",
            )
            .bind(before).execute(&mut *tx).await?;
            deliveries
        })
    }
}
