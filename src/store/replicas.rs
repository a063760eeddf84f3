//! Read replicas of the PostgreSQL primary (`DATABASE_READ_URL`).
//!
//! The rule: every write, and every read that must see the writer's own change, goes to the
//! primary; a replica serves only reads handed a [`ReadStore`], and only when
//! - the request changes nothing (GET or HEAD: a form re-rendered after a POST reads the primary),
//! - the replica is up and less than `DATABASE_READ_MAX_LAG_SECONDS` behind, and
//! - it has replayed the primary's log past the user's read fence: the position recorded after
//!   the user's last request that could change anything (`Store::advance_read_fence`), read with
//!   the user on every request. A replica's position is the one the probe last saw, never ahead of
//!   the real one, so a user never reads a state older than their own last change.
//!
//! Otherwise the read goes to the primary, as does one whose replica fails midway. A probe reads
//! each replica's position every second; `/readyz` reports what it found.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};

use super::request::{self, Seat};
use super::{AttachmentRecord, CommentRecord, DashboardFigures, EventRecord, OpenIncidentCounts, PersonRef};
use super::{PoolSettings, QueueCounts, Store, StoreError, StoreResult, TicketPage, TicketRecord, TicketRow};
use super::{on_pool, reach, statement};
use crate::domain::activity::ActivityWindow;
use crate::domain::listing::ListQuery;
use crate::domain::policy::TicketScope;

/// `DATABASE_READ_URL` and `DATABASE_READ_MAX_LAG_SECONDS`.
#[derive(Debug, Clone)]
pub struct ReplicaSettings {
    pub urls: Vec<SecretString>,
    /// A replica further behind than this is not read.
    pub max_lag: Duration,
}

impl Default for ReplicaSettings {
    fn default() -> Self {
        ReplicaSettings { urls: Vec::new(), max_lag: Duration::from_secs(5) }
    }
}

/// How often the probe reads the primary's and each replica's position.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// A replica that does not answer the probe within this is down for now.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// What the probe last found of a replica.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplicaHealth {
    /// Not probed yet: not read.
    Unknown,
    /// Read, for users whose fence it has passed.
    Ready { behind: Duration },
    /// Further behind than the setting allows: not read.
    Lagging { behind: Duration },
    /// Unreachable, or not a standby: not read.
    Down { cause: String },
}

impl std::fmt::Display for ReplicaHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplicaHealth::Unknown => write!(f, "not probed yet; reads go to the primary"),
            ReplicaHealth::Ready { behind } => write!(f, "ready, {:.1} s behind", behind.as_secs_f64()),
            ReplicaHealth::Lagging { behind } => {
                write!(f, "lagging, {:.1} s behind; reads go to the primary", behind.as_secs_f64())
            }
            ReplicaHealth::Down { cause } => write!(f, "down ({cause}); reads go to the primary"),
        }
    }
}

/// One replica: its store (only ever read through a [`ReadStore`]) and what the probe found.
struct Replica {
    /// Its URL without a password, for `/readyz` and the log.
    name: String,
    store: Store,
    state: Mutex<Probed>,
}

#[derive(Debug, Clone)]
struct Probed {
    health: ReplicaHealth,
    /// The position it had replayed, in bytes of the primary's log.
    replayed: i64,
}

struct Inner {
    primary: Store,
    replicas: Vec<Replica>,
    max_lag: Duration,
    /// Where the next request starts looking, so that reads spread over the replicas.
    next: AtomicUsize,
}

/// The primary and its read replicas, shared by every request of an instance.
#[derive(Clone)]
pub struct Replicas(Arc<Inner>);

/// A replica that failed a read: the probe will say when it is back.
#[derive(Debug, thiserror::Error)]
#[error("the replica {name} failed a read: {cause}")]
struct ReplicaFailed {
    name: String,
    cause: String,
}

impl Replicas {
    /// The replicas of `settings` for `primary`, with pools like the primary's (same size, same
    /// pooler). Connections are made lazily; none yet is read before the probe has seen it.
    pub fn connect(primary: &Store, settings: &ReplicaSettings, pool: &PoolSettings) -> StoreResult<Replicas> {
        let replicas = settings
            .urls
            .iter()
            .map(|url| {
                let store = Store::connect_as(url.expose_secret(), pool, Seat::Replica)?;
                let name = match &store {
                    Store::Postgres(pool, _) => reach::postgres_url(&pool.connect_options()),
                    Store::Sqlite(..) => return Err(StoreError::BadUrl("a read replica must be PostgreSQL".into())),
                };
                Ok(Replica { name, store, state: Mutex::new(Probed { health: ReplicaHealth::Unknown, replayed: 0 }) })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Replicas(Arc::new(Inner {
            primary: primary.clone(),
            replicas,
            max_lag: settings.max_lag,
            next: AtomicUsize::new(0),
        })))
    }

    /// No replicas: every read goes to `primary`.
    pub fn none(primary: &Store) -> Replicas {
        Replicas::connect(primary, &ReplicaSettings::default(), &PoolSettings::default()).expect("no URL to parse")
    }

    pub fn is_empty(&self) -> bool {
        self.0.replicas.is_empty()
    }

    /// Each replica's name and what the probe last found of it.
    pub fn health(&self) -> Vec<(String, ReplicaHealth)> {
        self.0.replicas.iter().map(|r| (r.name.clone(), r.probed().health)).collect()
    }

    /// The store this request's reads go to (see the module's rule).
    pub async fn reader(&self) -> ReadStore {
        let inner = &self.0;
        let primary = ReadStore { reader: inner.primary.clone(), primary: inner.primary.clone(), replica: None };
        if inner.replicas.is_empty() || !request::may_read_replica().await {
            return primary;
        }
        let fence = request::read_fence().await;
        let serves = |index: usize| {
            let probed = inner.replicas[index].probed();
            matches!(probed.health, ReplicaHealth::Ready { .. }) && probed.replayed >= fence
        };
        // One replica for all of a request's reads, while it may serve them.
        let count = inner.replicas.len();
        let start = request::replica_read().await.unwrap_or_else(|| inner.next.fetch_add(1, Ordering::Relaxed));
        let Some(index) = (start..start + count).map(|i| i % count).find(|index| serves(*index)) else {
            return primary;
        };
        request::read_replica(index).await;
        ReadStore { reader: inner.replicas[index].store.clone(), replica: Some((self.clone(), index)), ..primary }
    }

    /// Probes every replica every second until the returned guard is dropped (no replicas: nothing).
    pub fn spawn_probe(&self) -> Option<ProbeGuard> {
        if self.is_empty() {
            return None;
        }
        let replicas = self.clone();
        let task = tokio::spawn(async move {
            let mut history = History::default();
            let mut interval = tokio::time::interval(PROBE_INTERVAL);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                replicas.probe(&mut history).await;
            }
        });
        Some(ProbeGuard(task))
    }

    /// Reads the primary's position, then each replica's, and judges each replica by how long ago
    /// the primary was where the replica is now.
    async fn probe(&self, history: &mut History) {
        let inner = &self.0;
        match tokio::time::timeout(PROBE_TIMEOUT, position(&inner.primary, PRIMARY_POSITION)).await {
            Ok(Ok(Some(position))) => history.record(Instant::now(), position, inner.max_lag),
            // With the primary unreachable the replicas cannot be judged: they keep their state,
            // and reads go nowhere useful anyway.
            _ => return,
        }
        for replica in &inner.replicas {
            let found = tokio::time::timeout(PROBE_TIMEOUT, position(&replica.store, REPLICA_POSITION)).await;
            let probed = match found {
                Ok(Ok(Some(replayed))) => {
                    let behind = history.behind(replayed, Instant::now());
                    let health = if behind <= inner.max_lag {
                        ReplicaHealth::Ready { behind }
                    } else {
                        ReplicaHealth::Lagging { behind }
                    };
                    Probed { health, replayed }
                }
                Ok(Ok(None)) => Probed { health: ReplicaHealth::Down { cause: "not a standby".into() }, replayed: 0 },
                Ok(Err(error)) => Probed { health: ReplicaHealth::Down { cause: cause(&error) }, replayed: 0 },
                Err(_) => Probed {
                    health: ReplicaHealth::Down { cause: format!("no answer within {} s", PROBE_TIMEOUT.as_secs()) },
                    replayed: 0,
                },
            };
            let was = std::mem::replace(&mut *replica.lock(), probed.clone());
            if std::mem::discriminant(&was.health) != std::mem::discriminant(&probed.health) {
                tracing::warn!(replica = %replica.name, health = %probed.health, "read replica changed state");
            }
        }
    }
}

/// Stops the probe when dropped with the application.
pub struct ProbeGuard(tokio::task::JoinHandle<()>);

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Replica {
    fn lock(&self) -> std::sync::MutexGuard<'_, Probed> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn probed(&self) -> Probed {
        self.lock().clone()
    }

    /// A read failed on it: not read again until the probe finds it back.
    fn failed(&self, error: &StoreError) {
        let cause = ReplicaFailed { name: self.name.clone(), cause: cause(error) };
        tracing::warn!(error = %cause, "read replica failed; reading the primary");
        self.lock().health = ReplicaHealth::Down { cause: cause.cause };
    }
}

/// The primary's log position now, in bytes.
const PRIMARY_POSITION: &str = "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::BIGINT";
/// How far a standby has replayed, in bytes; nothing on a server that is not a standby.
const REPLICA_POSITION: &str = "SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::BIGINT";

async fn position(store: &Store, sql: &'static str) -> StoreResult<Option<i64>> {
    let found = on_pool!(store, pool => statement::query_scalar(sql).fetch_one(pool).await);
    if found.is_err() {
        // A probe is no request: its connection came from the pool and goes back, or is dropped.
        request::discard(store.seat()).await;
    }
    Ok(found?)
}

/// Words for an error, without the driver's noise.
fn cause(error: &StoreError) -> String {
    let mut source: &dyn std::error::Error = error;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

/// The primary's recent positions, to tell how long ago it was where a replica is now.
#[derive(Default)]
struct History(VecDeque<(Instant, i64)>);

impl History {
    fn record(&mut self, at: Instant, position: i64, max_lag: Duration) {
        self.0.push_back((at, position));
        // Enough to tell "within the allowed lag" from "beyond it", and no more.
        let keep = max_lag + PROBE_INTERVAL * 3;
        while self.0.front().is_some_and(|(seen, _)| at.duration_since(*seen) > keep) {
            self.0.pop_front();
        }
    }

    /// How far behind a replica that has replayed up to `replayed` is: zero if it has the
    /// primary's latest position, else the time since the primary first went past it (at least
    /// the whole history, if the primary was past it all along).
    fn behind(&self, replayed: i64, now: Instant) -> Duration {
        match self.0.iter().find(|(_, position)| *position > replayed) {
            None => Duration::ZERO,
            Some((seen, _)) => now.duration_since(*seen),
        }
    }
}

/// Reads for one request: from a replica that may serve it, or from the primary. Only reads:
/// nothing that writes can be called through it.
pub struct ReadStore {
    reader: Store,
    primary: Store,
    /// The replica read, if any, to mark down when it fails a read.
    replica: Option<(Replicas, usize)>,
}

impl ReadStore {
    /// The primary: for code that needs a `ReadStore` where no replica applies.
    pub fn primary(store: &Store) -> ReadStore {
        ReadStore { reader: store.clone(), primary: store.clone(), replica: None }
    }

    /// Whether these reads go to a replica.
    pub fn is_replica(&self) -> bool {
        self.replica.is_some()
    }

    /// A read that failed on a replica because it went away: the replica is marked down, the
    /// request's connection to it dropped, and the read goes to the primary.
    async fn retry_on_primary(&self, error: &StoreError) -> bool {
        let Some((replicas, index)) = &self.replica else { return false };
        if !matches!(error, StoreError::Unavailable(_) | StoreError::NoAnswer(_) | StoreError::Other(_)) {
            return false;
        }
        replicas.0.replicas[*index].failed(error);
        request::discard(Seat::Replica).await;
        true
    }
}

/// The reads a [`ReadStore`] offers: each runs on the reader, and once more on the primary if a
/// replica failed it. Arguments are copied for that second run.
macro_rules! reads {
    ($($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $out:ty;)*) => {
        impl ReadStore {
            $(
                $(#[$doc])*
                pub async fn $name(&self, $($arg: $ty),*) -> StoreResult<$out> {
                    match self.reader.$name($($arg),*).await {
                        Err(error) if self.retry_on_primary(&error).await => self.primary.$name($($arg),*).await,
                        done => done,
                    }
                }
            )*
        }
    };
}

reads! {
    fn list_tickets(scope: &TicketScope, query: &ListQuery) -> TicketPage;
    fn export_tickets(scope: &TicketScope, query: &ListQuery) -> Vec<TicketRow>;
    fn ticket_rows(scope: &TicketScope, query: &ListQuery) -> Vec<TicketRow>;
    fn queue_counts() -> QueueCounts;
    fn open_incident_counts(scope: &TicketScope) -> OpenIncidentCounts;
    fn ticket(id: i64) -> Option<TicketRecord>;
    fn ticket_recipients(ticket_id: i64) -> Vec<PersonRef>;
    fn ticket_comments(ticket_id: i64, include_internal: bool) -> Vec<CommentRecord>;
    fn ticket_events(ticket_id: i64) -> Vec<EventRecord>;
    fn ticket_openers(ids: &[i64]) -> Vec<(i64, PersonRef)>;
    fn ticket_attachments(ticket_id: i64, include_internal: bool) -> Vec<AttachmentRecord>;
    fn attachment(public_id: &str) -> Option<AttachmentRecord>;
    fn account_people(account_id: i64) -> Vec<PersonRef>;
    fn is_ticket_muted(user_id: i64, ticket_id: i64) -> bool;
}

impl ReadStore {
    /// The dashboard's figures; activity that must be built first is built on the primary.
    pub async fn dashboard_figures(
        &self,
        scope: &TicketScope,
        window: &ActivityWindow,
    ) -> StoreResult<DashboardFigures> {
        match self.reader.dashboard_figures_built_on(&self.primary, scope, window).await {
            Err(error) if self.retry_on_primary(&error).await => self.primary.dashboard_figures(scope, window).await,
            done => done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_is_as_far_behind_as_the_primary_was_when_it_first_passed_it() {
        let start = Instant::now();
        let mut history = History::default();
        for (second, position) in [(0, 100), (1, 200), (2, 300), (3, 300)] {
            history.record(start + Duration::from_secs(second), position, Duration::from_secs(5));
        }
        let now = start + Duration::from_secs(3);
        assert_eq!(history.behind(300, now), Duration::ZERO, "caught up");
        assert_eq!(history.behind(250, now), Duration::from_secs(1), "the primary passed 250 at second 2");
        assert_eq!(history.behind(50, now), Duration::from_secs(3), "behind all that is remembered");
    }

    #[test]
    fn the_history_keeps_only_what_the_allowed_lag_needs() {
        let start = Instant::now();
        let mut history = History::default();
        for second in 0..60 {
            history.record(start + Duration::from_secs(second), second as i64, Duration::from_secs(5));
        }
        assert!(history.0.len() <= 10, "{}", history.0.len());
    }
}
