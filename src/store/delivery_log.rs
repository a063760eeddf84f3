//! The desk's view of notifications (Desk › Notifications): each delivery, where it stands, and
//! what its mail was built from.

use super::statement;
use chrono::{DateTime, Utc};

use super::outbox::{Channel, OutboxEvent, Settled, Target, target_of};
use super::{Store, StoreResult, on_pool};
use crate::domain::notify::NoticeKind;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting to be sent (first time, a retry, or a digest's hour).
    Pending,
    Settled(Settled),
}

impl DeliveryState {
    pub(super) fn from_code(code: &str) -> Result<DeliveryState, sqlx::Error> {
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

impl Store {
    /// The newest deliveries, for the desk's page.
    pub async fn recent_deliveries(&self, limit: i64) -> StoreResult<Vec<DeliveryRecord>> {
        let sql = delivery_records_sql!("TRUE");
        let rows: Vec<RawRecord> = on_pool!(self, pool => statement::query_as(sql).bind(limit).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(DeliveryRecord::try_from).collect::<Result<_, _>>()?)
    }

    /// One delivery, with its event and reader, for the desk to read its mail.
    pub async fn delivery(&self, id: i64) -> StoreResult<Option<DeliveryDetail>> {
        let sql = delivery_records_sql!("d.id = $2");
        let raw: Option<RawRecord> =
            on_pool!(self, pool => statement::query_as(sql).bind(1_i64).bind(id).fetch_optional(pool).await)?;
        let Some(raw) = raw else { return Ok(None) };
        let target = target_of(raw.user_id, raw.address.clone(), raw.endpoint_id)?;
        let event_id = raw.event_id;
        let record = DeliveryRecord::try_from(raw)?;
        let event =
            self.outbox_events(std::iter::once(event_id)).await?.remove(&event_id).ok_or(sqlx::Error::RowNotFound)?;
        Ok(Some(DeliveryDetail { record, target, event }))
    }
}
