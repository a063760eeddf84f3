//! An account's webhook endpoints and each one's delivery log. The calls themselves are rows of
//! the outbox (`notification_deliveries`, channel `webhook`), claimed and settled as mails are.

use super::statement;
use chrono::{DateTime, Utc};

use super::delivery_log::DeliveryState;
use super::{Store, StoreResult, execute, in_transaction, on_pool};
use crate::domain::notify::NoticeKind;
use crate::domain::ticket::Severity;
use crate::domain::webhook::{Format, MAX_ENDPOINTS_PER_ACCOUNT, Subscription};

/// An endpoint as stored; its secrets stay encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: i64,
    pub account_id: i64,
    pub url: String,
    pub subscription: Subscription,
    pub format: Format,
    pub enabled: bool,
    pub secret_ciphertext: String,
    /// The secret before the last rotation, which signs too until `previous_secret_until`.
    pub previous_secret_ciphertext: Option<String>,
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub secret_rotated_at: Option<DateTime<Utc>>,
}

impl WebhookEndpoint {
    /// The previous secret, while it still signs.
    pub fn previous_secret_at(&self, now: DateTime<Utc>) -> Option<&str> {
        match (&self.previous_secret_ciphertext, self.previous_secret_until) {
            (Some(ciphertext), Some(until)) if until > now => Some(ciphertext),
            _ => None,
        }
    }
}

#[derive(sqlx::FromRow)]
struct RawEndpoint {
    id: i64,
    account_id: i64,
    url: String,
    kinds: String,
    min_severity: Option<i16>,
    format: String,
    enabled: bool,
    secret_ciphertext: String,
    previous_secret_ciphertext: Option<String>,
    previous_secret_until: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    secret_rotated_at: Option<DateTime<Utc>>,
}

impl TryFrom<RawEndpoint> for WebhookEndpoint {
    type Error = sqlx::Error;

    fn try_from(raw: RawEndpoint) -> Result<Self, Self::Error> {
        let kinds = raw
            .kinds
            .split(',')
            .filter(|code| !code.is_empty())
            .map(|code| {
                NoticeKind::from_code(code)
                    .ok_or_else(|| sqlx::Error::Decode(format!("unknown notice kind {code:?}").into()))
            })
            .collect::<Result<_, _>>()?;
        Ok(WebhookEndpoint {
            id: raw.id,
            account_id: raw.account_id,
            url: raw.url,
            subscription: Subscription { kinds, min_severity: super::decode_severity(raw.min_severity)? },
            format: Format::from_code(&raw.format)
                .ok_or_else(|| sqlx::Error::Decode(format!("unknown webhook format {:?}", raw.format).into()))?,
            enabled: raw.enabled,
            secret_ciphertext: raw.secret_ciphertext,
            previous_secret_ciphertext: raw.previous_secret_ciphertext,
            previous_secret_until: raw.previous_secret_until,
            created_at: raw.created_at,
            secret_rotated_at: raw.secret_rotated_at,
        })
    }
}

const ENDPOINT_COLUMNS: &str = "SELECT id, account_id, url, kinds, min_severity, format, enabled, secret_ciphertext, \
                                previous_secret_ciphertext, previous_secret_until, created_at, secret_rotated_at \
                                FROM webhook_endpoints";

/// What an administrator sets on an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSettings {
    pub url: String,
    pub subscription: Subscription,
    pub format: Format,
}

impl EndpointSettings {
    fn kinds_code(&self) -> String {
        self.subscription.kinds.iter().map(|k| k.code()).collect::<Vec<_>>().join(",")
    }
}

/// One call (and its retries) as an endpoint's delivery log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub id: i64,
    pub ticket_id: i64,
    pub kind: NoticeKind,
    pub state: DeliveryState,
    pub attempts: i32,
    pub response_code: Option<i32>,
    pub last_error: Option<String>,
    pub response_excerpt: Option<String>,
    pub created_at: DateTime<Utc>,
    pub attempted_at: Option<DateTime<Utc>>,
    pub due_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct RawDelivery {
    id: i64,
    ticket_id: i64,
    kind: String,
    state: String,
    attempts: i32,
    response_code: Option<i32>,
    last_error: Option<String>,
    response_excerpt: Option<String>,
    created_at: DateTime<Utc>,
    attempted_at: Option<DateTime<Utc>>,
    due_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
}

impl TryFrom<RawDelivery> for WebhookDelivery {
    type Error = sqlx::Error;

    fn try_from(raw: RawDelivery) -> Result<Self, Self::Error> {
        Ok(WebhookDelivery {
            id: raw.id,
            ticket_id: raw.ticket_id,
            kind: NoticeKind::from_code(&raw.kind)
                .ok_or_else(|| sqlx::Error::Decode(format!("unknown notice kind {:?}", raw.kind).into()))?,
            state: DeliveryState::from_code(&raw.state)?,
            attempts: raw.attempts,
            response_code: raw.response_code,
            last_error: raw.last_error,
            response_excerpt: raw.response_excerpt,
            created_at: raw.created_at,
            attempted_at: raw.attempted_at,
            due_at: raw.due_at,
            sent_at: raw.sent_at,
        })
    }
}

/// Under an account's lock: PostgreSQL's row lock, SQLite's write transaction.
const LOCK_ACCOUNT: &str = "SELECT id FROM accounts WHERE id = $1";
const LOCK_ACCOUNT_FOR_UPDATE: &str = "SELECT id FROM accounts WHERE id = $1 FOR UPDATE";

impl Store {
    /// Creates an endpoint of `account_id`; `seal` encrypts its secret, bound to the new id.
    /// `None` (nothing stored) when the account already has [`MAX_ENDPOINTS_PER_ACCOUNT`].
    pub async fn create_webhook_endpoint(
        &self,
        account_id: i64,
        settings: &EndpointSettings,
        seal: impl FnOnce(i64) -> String,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<i64>> {
        let lock = if matches!(self, Store::Postgres(..)) { LOCK_ACCOUNT_FOR_UPDATE } else { LOCK_ACCOUNT };
        in_transaction!(self, tx => {
            let _: Option<i64> = statement::query_scalar(lock).bind(account_id).fetch_optional(&mut *tx).await?;
            let count: i64 = statement::query_scalar("SELECT COUNT(*) FROM webhook_endpoints WHERE account_id = $1")
                .bind(account_id).fetch_one(&mut *tx).await?;
            if count >= MAX_ENDPOINTS_PER_ACCOUNT as i64 {
                return Ok(None);
            }
            let insert = "INSERT INTO webhook_endpoints (account_id, url, kinds, min_severity, format, enabled, \
                          secret_ciphertext, created_at) VALUES ($1, $2, $3, $4, $5, TRUE, '', $6) RETURNING id";
            let id: i64 = statement::query_scalar(insert)
                .bind(account_id).bind(&settings.url).bind(settings.kinds_code())
                .bind(settings.subscription.min_severity.map(Severity::rank)).bind(settings.format.code()).bind(now)
                .fetch_one(&mut *tx).await?;
            statement::query("UPDATE webhook_endpoints SET secret_ciphertext = $2 WHERE id = $1")
                .bind(id).bind(seal(id)).execute(&mut *tx).await?;
            Some(id)
        })
    }

    /// The account's endpoints, oldest first.
    pub async fn account_webhook_endpoints(&self, account_id: i64) -> StoreResult<Vec<WebhookEndpoint>> {
        let sql = format!("{ENDPOINT_COLUMNS} WHERE account_id = $1 ORDER BY id");
        let rows: Vec<RawEndpoint> = on_pool!(self, pool =>
            statement::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(account_id).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(WebhookEndpoint::try_from).collect::<Result<_, _>>()?)
    }

    pub async fn webhook_endpoint(&self, id: i64) -> StoreResult<Option<WebhookEndpoint>> {
        let sql = format!("{ENDPOINT_COLUMNS} WHERE id = $1");
        let row: Option<RawEndpoint> = on_pool!(self, pool =>
            statement::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(pool).await)?;
        Ok(row.map(WebhookEndpoint::try_from).transpose()?)
    }

    /// Changes an endpoint's address, events, threshold and format; `false` if it is not the
    /// account's.
    pub async fn update_webhook_endpoint(
        &self,
        id: i64,
        account_id: i64,
        settings: &EndpointSettings,
    ) -> StoreResult<bool> {
        let sql = "UPDATE webhook_endpoints SET url = $3, kinds = $4, min_severity = $5, format = $6 \
                   WHERE id = $1 AND account_id = $2";
        let changed = execute!(
            self,
            statement::query(sql)
                .bind(id)
                .bind(account_id)
                .bind(&settings.url)
                .bind(settings.kinds_code())
                .bind(settings.subscription.min_severity.map(Severity::rank))
                .bind(settings.format.code())
        )?;
        Ok(changed == 1)
    }

    /// Turns an endpoint's calls off or on again. Calls waiting for a disabled endpoint are
    /// dropped when their turn comes.
    pub async fn set_webhook_enabled(&self, id: i64, account_id: i64, enabled: bool) -> StoreResult<bool> {
        let sql = "UPDATE webhook_endpoints SET enabled = $3 WHERE id = $1 AND account_id = $2";
        Ok(execute!(self, statement::query(sql).bind(id).bind(account_id).bind(enabled))? == 1)
    }

    /// A new secret, sealed by `seal`; the one it replaces keeps signing until `grace_until`.
    pub async fn rotate_webhook_secret(
        &self,
        id: i64,
        account_id: i64,
        sealed: &str,
        grace_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        // The right-hand sides read the row as it was: the current secret becomes the previous.
        let sql = "UPDATE webhook_endpoints SET previous_secret_ciphertext = secret_ciphertext, \
                   previous_secret_until = $4, secret_ciphertext = $3, secret_rotated_at = $5 \
                   WHERE id = $1 AND account_id = $2";
        let changed =
            execute!(self, statement::query(sql).bind(id).bind(account_id).bind(sealed).bind(grace_until).bind(now))?;
        Ok(changed == 1)
    }

    /// Deletes an endpoint and its secrets; its waiting calls are dropped, its log stays for the
    /// desk's page.
    pub async fn delete_webhook_endpoint(&self, id: i64, account_id: i64) -> StoreResult<bool> {
        in_transaction!(self, tx => {
            let deleted = statement::query("DELETE FROM webhook_endpoints WHERE id = $1 AND account_id = $2")
                .bind(id).bind(account_id).execute(&mut *tx).await?.rows_affected();
            if deleted == 1 {
                statement::query(
                    "UPDATE notification_deliveries SET state = 'dropped', last_error = 'the endpoint was deleted', \
                     claimed_until = NULL WHERE endpoint_id = $1 AND state = 'pending'",
                )
                .bind(id).execute(&mut *tx).await?;
            }
            deleted == 1
        })
    }

    /// The newest calls to an endpoint of `account_id`, for its delivery log: only of the account's
    /// own tickets, whatever the rows say.
    pub async fn webhook_deliveries(
        &self,
        endpoint_id: i64,
        account_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        let sql = "SELECT d.id, e.ticket_id, e.kind, d.state, d.attempts, d.response_code, d.last_error, \
                   d.response_excerpt, d.created_at, d.attempted_at, d.due_at, d.sent_at \
                   FROM notification_deliveries d JOIN notification_events e ON e.id = d.event_id \
                   JOIN tickets t ON t.id = e.ticket_id \
                   WHERE d.endpoint_id = $1 AND d.channel = 'webhook' AND t.account_id = $2 ORDER BY d.id DESC LIMIT $3";
        let rows: Vec<RawDelivery> = on_pool!(self, pool =>
            statement::query_as(sql).bind(endpoint_id).bind(account_id).bind(limit).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(WebhookDelivery::try_from).collect::<Result<_, _>>()?)
    }

    /// "Send again": a new call of the same event to the same endpoint of `account_id`, due now;
    /// its id, or `None` if `delivery_id` is not a call to `endpoint_id` about the account's ticket.
    pub async fn send_webhook_again(
        &self,
        endpoint_id: i64,
        account_id: i64,
        delivery_id: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<i64>> {
        let sql = "INSERT INTO notification_deliveries (event_id, channel, endpoint_id, digest, state, due_at, created_at) \
                   SELECT d.event_id, 'webhook', d.endpoint_id, FALSE, 'pending', $4, $4 FROM notification_deliveries d \
                   JOIN notification_events e ON e.id = d.event_id JOIN tickets t ON t.id = e.ticket_id \
                   WHERE d.id = $3 AND d.endpoint_id = $1 AND d.channel = 'webhook' AND t.account_id = $2 RETURNING id";
        in_transaction!(self, tx => {
            let id: Option<i64> = statement::query_scalar(sql)
                .bind(endpoint_id).bind(account_id).bind(delivery_id).bind(now).fetch_optional(&mut *tx).await?;
            id
        })
    }

    /// What the receiver answered to the last attempt, and when it was made.
    pub async fn record_webhook_attempt(
        &self,
        delivery_id: i64,
        response_code: Option<i32>,
        excerpt: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let sql = "UPDATE notification_deliveries SET response_code = $2, response_excerpt = $3, attempted_at = $4 \
                   WHERE id = $1";
        execute!(self, statement::query(sql).bind(delivery_id).bind(response_code).bind(excerpt).bind(at))?;
        Ok(())
    }
}
