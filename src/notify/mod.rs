//! Notifications: the sender that every instance runs. It fans the outbox's events out into
//! deliveries (`fanout`), then builds each mail for its reader and hands it to the relay
//! (`mail`), or makes each webhook call (`webhooks`, through `outbound`), retrying with backoff
//! for a day. Claims are leases held in the database, so several
//! instances never send one delivery at once; a sender that dies between sending and marking
//! leaves it to be sent again after the lease, so a mail may repeat but is never lost.

pub mod fanout;
pub mod mail;
pub mod outbound;
pub mod webhooks;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::Notify;

use crate::auth::signer::Signer;
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::settings::PublicUrl;
use crate::store::{Channel, ClaimedDelivery, Settled, Store, StoreResult, Target};
use mail::{EventParts, Mail, MailContext, Mailer, Sent, Unseen};

/// How many rows a sender takes at once.
const BATCH: i64 = 100;
/// How long a sender holds what it took; another sender takes it over after.
const LEASE_MINUTES: i64 = 5;
/// How many mails are on their way at once.
const IN_FLIGHT: usize = 8;
/// How long an idle sender waits before looking again (a change in this instance wakes it).
const IDLE: StdDuration = StdDuration::from_secs(1);
/// After this long a failing delivery is given up and shown as failed.
const GIVE_UP_HOURS: i64 = 24;

/// Wakes this instance's sender when a change has written to the outbox.
#[derive(Clone, Default)]
pub struct Outbox {
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// What the sender counts, for `/metrics`.
#[derive(Clone)]
pub struct SenderMetrics {
    sent: Counter,
    failed: Counter,
}

impl SenderMetrics {
    /// Registers the sender's counters, and the outbox's depth and the age of its oldest due row
    /// (read from the database at each scrape, waiting at most a second).
    pub fn register(metrics: &Metrics, store: &Store, clock: &Clock) -> SenderMetrics {
        let waiting = metrics.gauge("outbox_waiting", "Notifications not yet fanned out or sent");
        let oldest =
            metrics.gauge("outbox_oldest_due_age_seconds", "How long the oldest waiting notification has been due");
        let (store, clock) = (store.clone(), clock.clone());
        metrics.on_scrape("outbox", move || {
            let (store, clock, waiting, oldest) = (store.clone(), clock.clone(), waiting.clone(), oldest.clone());
            async move {
                let depth = tokio::time::timeout(StdDuration::from_secs(1), store.outbox_depth())
                    .await
                    .map_err(|_| anyhow::anyhow!("the outbox's depth took over a second"))??;
                waiting.set(depth.waiting);
                oldest.set(depth.oldest_due.map_or(0, |due| (clock.now() - due).num_seconds().max(0)));
                Ok(())
            }
        });
        SenderMetrics {
            sent: metrics.counter("mails_sent", "Notification mails the relay accepted"),
            failed: metrics
                .counter("mails_failed", "Notification mails given up (refused for good, or failing for a day)"),
        }
    }
}

pub struct Sender {
    pub store: Store,
    pub clock: Clock,
    pub public_url: PublicUrl,
    pub desk: Option<String>,
    pub mailer: Mailer,
    pub signer: Signer,
    pub outbox: Outbox,
    pub metrics: SenderMetrics,
    pub webhooks: webhooks::Webhooks,
}

/// When a delivery that failed `attempts` times is tried again: 30 s, doubling to an hour, give or
/// take a fifth so that many failures do not come back at once.
pub fn backoff(attempts: i32, jitter: f64) -> Duration {
    let base = 30_i64.saturating_mul(1_i64 << attempts.clamp(1, 8).saturating_sub(1)).min(3600);
    let spread = (base as f64 * 0.2 * jitter.clamp(-1.0, 1.0)) as i64;
    Duration::seconds(base + spread)
}

/// A mail's fate at the relay, with its subject for the record; or why it was not built.
type Outcome = Result<(Sent, String), Unseen>;

/// Keeps the sender running; it stops when this is dropped.
pub struct SenderGuard {
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Sender {
    /// Runs the sender on a thread of its own at a low priority, with its own runtime: mails never
    /// take the CPU from the requests being answered; when requests leave it idle, they go out.
    pub fn spawn(self) -> std::io::Result<SenderGuard> {
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        std::thread::Builder::new().name("notifications".into()).spawn(move || {
            crate::auth::password::lower_this_threads_priority();
            runtime.block_on(async move {
                loop {
                    let worked = tokio::select! {
                        _ = &mut stopped => return,
                        worked = self.round() => worked,
                    };
                    let worked = worked.unwrap_or_else(|error| {
                        tracing::warn!(?error, "the notification sender could not reach the database");
                        false
                    });
                    if !worked {
                        tokio::select! {
                            _ = &mut stopped => return,
                            _ = tokio::time::timeout(IDLE, self.outbox.wake.notified()) => {}
                        }
                    }
                }
            });
        })?;
        Ok(SenderGuard { _stop: stop })
    }

    /// One pass: fan out what waits, send what is due. `true` if there was anything to do.
    pub async fn round(&self) -> StoreResult<bool> {
        let now = self.clock.now();
        let (events, deliveries) = self.store.outbox_work(now).await?;
        if events {
            self.fan_out(now).await?;
        }
        if deliveries {
            self.deliver(self.clock.now()).await?;
        }
        Ok(events || deliveries)
    }

    async fn fan_out(&self, now: DateTime<Utc>) -> StoreResult<()> {
        let lease = now + Duration::minutes(LEASE_MINUTES);
        for event in self.store.claim_events(now, lease, BATCH).await? {
            let deliveries = fanout::deliveries(&self.store, &event, self.desk.as_deref(), now).await?;
            self.store.expand_event(event.id, &deliveries, now).await?;
        }
        Ok(())
    }

    async fn deliver(&self, now: DateTime<Utc>) -> StoreResult<()> {
        let lease = now + Duration::minutes(LEASE_MINUTES);
        let claimed = self.store.claim_deliveries(now, lease, BATCH).await?;
        // A user's digest entries go out as one mail; the other mails of one event share what
        // they read (the ticket, who is on it, the comment).
        let mut digests: BTreeMap<i64, Vec<ClaimedDelivery>> = BTreeMap::new();
        let mut by_event: BTreeMap<i64, Vec<ClaimedDelivery>> = BTreeMap::new();
        let mut calls = Vec::new();
        for delivery in claimed {
            match (&delivery.target, delivery.digest, delivery.channel) {
                (_, _, Channel::Webhook) => calls.push(delivery),
                (Target::User(user_id), true, _) => digests.entry(*user_id).or_default().push(delivery),
                _ => by_event.entry(delivery.event.id).or_default().push(delivery),
            }
        }
        let called: Vec<StoreResult<()>> = futures_util::stream::iter(calls)
            .map(|delivery| async move { self.webhooks.deliver(&self.store, &delivery, now).await })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        called.into_iter().collect::<StoreResult<()>>()?;
        let ctx = MailContext { public_url: &self.public_url, signer: &self.signer, now };
        let mut outcomes = Vec::new();
        for group in by_event.into_values() {
            let Some(parts) = EventParts::read(&self.store, &group[0].event).await? else {
                outcomes.extend(group.into_iter().map(|d| (d, Err(Unseen("the ticket is gone")))));
                continue;
            };
            let sent: Vec<StoreResult<(ClaimedDelivery, Outcome)>> = futures_util::stream::iter(group)
                .map(|delivery| {
                    let (ctx, parts) = (&ctx, &parts);
                    async move {
                        let built =
                            mail::notice_mail(&self.store, ctx, &delivery.event, parts, &delivery.target).await?;
                        Ok((delivery, self.send(built).await))
                    }
                })
                .buffer_unordered(IN_FLIGHT)
                .collect()
                .await;
            for result in sent {
                outcomes.push(result?);
            }
        }
        for (user_id, group) in digests {
            let events: Vec<_> = group.iter().map(|d| d.event.clone()).collect();
            let outcome = self.send(mail::digest_mail(&self.store, &ctx, user_id, &events).await?).await;
            outcomes.extend(group.into_iter().map(|d| (d, outcome.clone())));
        }
        self.settle(outcomes, now).await
    }

    /// Hands a built mail to the relay (or keeps it, with mail off); its subject for the record.
    async fn send(&self, built: Result<Mail, Unseen>) -> Outcome {
        let mail = built?;
        let sent = if self.mailer.is_on() { self.mailer.send(&mail).await } else { Sent::Yes };
        Ok((sent, mail.subject))
    }

    /// Records what became of each delivery: the common outcomes in one statement per kind.
    async fn settle(&self, outcomes: Vec<(ClaimedDelivery, Outcome)>, now: DateTime<Utc>) -> StoreResult<()> {
        let done = if self.mailer.is_on() { Settled::Sent } else { Settled::Recorded };
        let mut settled: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for (delivery, outcome) in outcomes {
            match outcome {
                Ok((Sent::Yes, subject)) => settled.entry(subject).or_default().push(delivery.id),
                Err(unseen) => {
                    self.store.settle_delivery(delivery.id, Settled::Dropped, None, Some((unseen.0, None)), now).await?
                }
                Ok((Sent::Never(error), subject)) => {
                    tracing::warn!(delivery = delivery.id, %error, "a notification mail was refused for good");
                    self.metrics.failed.inc();
                    let error = Some((error.as_str(), None));
                    self.store.settle_delivery(delivery.id, Settled::Failed, Some(&subject), error, now).await?
                }
                Ok((Sent::Later(error), subject)) if now - delivery.created_at >= Duration::hours(GIVE_UP_HOURS) => {
                    tracing::warn!(delivery = delivery.id, %error, "a notification mail failed for a day; given up");
                    self.metrics.failed.inc();
                    let error = Some((error.as_str(), None));
                    self.store.settle_delivery(delivery.id, Settled::Failed, Some(&subject), error, now).await?
                }
                Ok((Sent::Later(error), subject)) => {
                    let jitter = rand::random::<f64>() * 2.0 - 1.0;
                    let due = now + backoff(delivery.attempts, jitter);
                    self.store.retry_delivery(delivery.id, due, &error, None, Some(&subject)).await?
                }
            }
        }
        for (subject, ids) in settled {
            if done == Settled::Sent {
                self.metrics.sent.inc_by(ids.len() as u64);
            }
            self.store.settle_deliveries(&ids, done, &subject, now).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_from_half_a_minute_to_an_hour() {
        assert_eq!(backoff(1, 0.0), Duration::seconds(30));
        assert_eq!(backoff(2, 0.0), Duration::seconds(60));
        assert_eq!(backoff(20, 0.0), Duration::seconds(3600));
        assert_eq!(backoff(1, 1.0), Duration::seconds(36));
        assert_eq!(backoff(1, -1.0), Duration::seconds(24));
    }
}
