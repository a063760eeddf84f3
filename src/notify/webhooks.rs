//! Webhook calls: each claimed delivery becomes one signed POST to its endpoint (Standard
//! Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`), retried with the same
//! backoff as mails and given up after a day. What a call carries is decided when it is built:
//! the ticket must be of the endpoint's own account, and a comment goes along only if it is not
//! an internal note.

use chrono::{DateTime, Duration, Utc};
use prometheus_client::metrics::counter::Counter;

use super::mail::Unseen;
use super::outbound::{Answer, Outbound};
use super::{GIVE_UP_HOURS, backoff};
use crate::auth::api_key::SecretCipher;
use crate::auth::webhook_secret;
use crate::domain::notify::Notice;
use crate::domain::ticket::TicketNumber;
use crate::domain::webhook::{OutboundPolicy, Subscription};
use crate::metrics::Metrics;
use crate::paths;
use crate::settings::PublicUrl;
use crate::store::{
    Channel, ClaimedDelivery, NewDelivery, OutboxEvent, Settled, Store, StoreResult, Target, TicketRecord,
    WebhookEndpoint,
};
use crate::views::webhook_payload::{self, WebhookComment, WebhookNotice};

/// The calls of an event: one to each enabled endpoint of the ticket's account that wants it.
pub async fn deliveries(
    store: &Store,
    ticket: &TicketRecord,
    notice: Notice,
    now: DateTime<Utc>,
) -> StoreResult<Vec<NewDelivery>> {
    if notice.kind.for_support() {
        return Ok(Vec::new());
    }
    let endpoints = store.account_webhook_endpoints(ticket.account_id).await?;
    Ok(endpoints
        .into_iter()
        .filter(|endpoint| endpoint.enabled && endpoint.subscription.wants(notice))
        .map(|endpoint| NewDelivery {
            channel: Channel::Webhook,
            target: Target::Endpoint(endpoint.id),
            digest: false,
            due_at: now,
        })
        .collect())
}

/// The webhook counters, for `/metrics`.
#[derive(Clone)]
struct WebhookMetrics {
    sent: Counter,
    failed: Counter,
}

/// Sends webhook calls for the notification sender.
pub struct Webhooks {
    outbound: Outbound,
    cipher: SecretCipher,
    public_url: PublicUrl,
    metrics: WebhookMetrics,
}

/// A call ready to make, or why there is none.
enum Prepared {
    Call(Call),
    /// Nobody should get it any more: the endpoint is gone or off, or the ticket is.
    Unseen(Unseen),
    /// It can never be sent (its secret does not decrypt).
    Broken(String),
}

struct Call {
    url: String,
    body: Vec<u8>,
    /// The current secret's key, and the previous one's during a rotation's grace period.
    keys: Vec<Vec<u8>>,
    /// What the outbox's pages name the call by.
    subject: String,
}

impl Webhooks {
    pub fn new(
        policy: OutboundPolicy,
        cipher: SecretCipher,
        public_url: PublicUrl,
        metrics: &Metrics,
    ) -> anyhow::Result<Webhooks> {
        let metrics = WebhookMetrics {
            sent: metrics.counter("webhooks_sent", "Webhook calls an endpoint accepted (a 2xx answer)"),
            failed: metrics.counter("webhooks_failed", "Webhook calls given up (failing for a day)"),
        };
        Ok(Webhooks { outbound: Outbound::new(policy)?, cipher, public_url, metrics })
    }

    /// Makes one claimed call and settles it: sent, retried later, given up or dropped.
    pub async fn deliver(&self, store: &Store, delivery: &ClaimedDelivery, now: DateTime<Utc>) -> StoreResult<()> {
        let call = match self.prepare(store, delivery, now).await? {
            Prepared::Call(call) => call,
            Prepared::Unseen(unseen) => {
                return store.settle_delivery(delivery.id, Settled::Dropped, None, Some((unseen.0, None)), now).await;
            }
            Prepared::Broken(error) => {
                tracing::warn!(delivery = delivery.id, %error, "a webhook call cannot be made");
                self.metrics.failed.inc();
                return store.settle_delivery(delivery.id, Settled::Failed, None, Some((&error, None)), now).await;
            }
        };
        let id = message_id(delivery.id);
        let timestamp = now.timestamp();
        let headers = [
            ("webhook-id", id.clone()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", webhook_secret::signature_header(&call.keys, &id, timestamp, &call.body)),
        ];
        let answer = self.outbound.post(&call.url, &headers, call.body).await;
        let subject = Some(call.subject.as_str());
        let (code, excerpt) = match &answer {
            Answer::Accepted { code, excerpt } | Answer::Refused { code, excerpt, .. } => {
                (Some(i32::from(*code)), Some(excerpt.as_str()).filter(|e| !e.is_empty()))
            }
            Answer::None { .. } => (None, None),
        };
        match &answer {
            Answer::Accepted { .. } => {
                self.metrics.sent.inc();
                store.settle_delivery(delivery.id, Settled::Sent, subject, None, now).await?;
            }
            Answer::Refused { reason, .. } | Answer::None { reason }
                if now - delivery.created_at >= Duration::hours(GIVE_UP_HOURS) =>
            {
                tracing::warn!(delivery = delivery.id, %reason, "a webhook call failed for a day; given up");
                self.metrics.failed.inc();
                store.settle_delivery(delivery.id, Settled::Failed, subject, Some((reason, code)), now).await?;
            }
            Answer::Refused { reason, .. } | Answer::None { reason } => {
                let jitter = rand::random::<f64>() * 2.0 - 1.0;
                let due = now + backoff(delivery.attempts, jitter);
                store.retry_delivery(delivery.id, due, reason, code, subject).await?;
            }
        }
        // After settling, which clears the code of a call that was sent.
        store.record_webhook_attempt(delivery.id, code, excerpt, now).await
    }

    /// The call of a delivery, as its endpoint and ticket are now.
    async fn prepare(&self, store: &Store, delivery: &ClaimedDelivery, now: DateTime<Utc>) -> StoreResult<Prepared> {
        let Target::Endpoint(endpoint_id) = delivery.target else {
            return Ok(Prepared::Unseen(Unseen("not a webhook call")));
        };
        let Some(endpoint) = store.webhook_endpoint(endpoint_id).await? else {
            return Ok(Prepared::Unseen(Unseen("the endpoint was deleted")));
        };
        if !endpoint.enabled {
            return Ok(Prepared::Unseen(Unseen("the endpoint is disabled")));
        }
        let notice = match self.notice(store, &delivery.event, &endpoint).await? {
            Ok(notice) => notice,
            Err(unseen) => return Ok(Prepared::Unseen(unseen)),
        };
        let Some(keys) = self.keys(&endpoint, now) else {
            return Ok(Prepared::Broken(
                "the endpoint's secret cannot be decrypted (was API_KEY_ENCRYPTION_KEY changed?)".into(),
            ));
        };
        Ok(Prepared::Call(Call {
            url: endpoint.url.clone(),
            body: webhook_payload::body(&notice, endpoint.format),
            keys,
            subject: format!("[{}] {}", notice.number, notice.headline()),
        }))
    }

    /// The current secret's key, then the previous one's while it still signs.
    fn keys(&self, endpoint: &WebhookEndpoint, now: DateTime<Utc>) -> Option<Vec<Vec<u8>>> {
        let mut keys = vec![webhook_secret::open(&self.cipher, endpoint.id, &endpoint.secret_ciphertext)?];
        if let Some(previous) = endpoint.previous_secret_at(now) {
            keys.extend(webhook_secret::open(&self.cipher, endpoint.id, previous));
        }
        Some(keys)
    }

    /// The notice of `event` for `endpoint`: only a ticket of the endpoint's own account, and only
    /// what its users may see on the ticket's page.
    async fn notice(
        &self,
        store: &Store,
        event: &OutboxEvent,
        endpoint: &WebhookEndpoint,
    ) -> StoreResult<Result<WebhookNotice, Unseen>> {
        if event.kind.for_support() || !Subscription::KINDS.contains(&event.kind) {
            return Ok(Err(Unseen("the desk's notices are not the account's")));
        }
        let Some(ticket) = store.ticket(event.ticket_id).await? else { return Ok(Err(Unseen("the ticket is gone"))) };
        if ticket.account_id != endpoint.account_id {
            return Ok(Err(Unseen("the ticket belongs to another account")));
        }
        let comment = match event.comment_id {
            Some(id) => store.comment(id).await?.filter(|c| !c.internal),
            None => None,
        };
        let number = TicketNumber::from_id(ticket.id);
        Ok(Ok(WebhookNotice {
            kind: event.kind,
            occurred_at: event.created_at,
            account_number: ticket.account_number,
            account_name: ticket.account_name.clone(),
            number: number.to_string(),
            summary: ticket.summary.clone(),
            severity: ticket.severity,
            status: ticket.status,
            comment: comment.map(|c| WebhookComment {
                author: if c.author_is_support { "Armor Support".to_string() } else { c.author_name },
                body: c.body,
            }),
            link: self.public_url.link(&paths::ticket(number)),
        }))
    }
}

/// `webhook-id`: the delivery's own id, the same on every retry of it.
pub fn message_id(delivery_id: i64) -> String {
    format!("msg_{delivery_id}")
}
