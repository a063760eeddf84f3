//! What every handler can reach: the store, the clock, the settings and the metrics.

use crate::auth::api_key::{KeyCache, SecretCipher};
use crate::auth::signer::Signer;
use crate::clock::Clock;
use crate::files::Files;
use crate::metrics::Metrics;
use crate::notify::Outbox;
use crate::settings::{PublicUrl, Settings};
use crate::store::{ReadStore, Replicas, Store};

pub struct AppState {
    /// The primary: every write, and reads that must see them.
    pub store: Store,
    /// The read replicas, if any (see `store::replicas` for the rule).
    pub replicas: Replicas,
    pub clock: Clock,
    pub settings: Settings,
    /// The origin of every absolute link and of the cross-origin check: PUBLIC_URL, or the
    /// address bound when it is unset.
    pub public_url: PublicUrl,
    /// Encrypts secrets at rest: API key secrets and two-factor secrets.
    pub cipher: SecretCipher,
    /// API keys of recent calls.
    pub api_keys: KeyCache,
    /// Wakes this instance's notification sender after a change.
    pub outbox: Outbox,
    /// Signs what the portal signs for itself: mails' unsubscribe links, anonymous forms' tokens.
    pub signer: Signer,
    /// Where modules register their counters and gauges; `/metrics` encodes it.
    pub metrics: Metrics,
    /// Attachments' bytes: the byte store, the scanner's wake-up, previews.
    pub files: Files,
}

impl AppState {
    /// Where this request's reads of the incident tables, the dashboard, ticket pages and the
    /// API go: a replica that may serve it, or the primary.
    pub async fn reads(&self) -> ReadStore {
        self.replicas.reader().await
    }
}
