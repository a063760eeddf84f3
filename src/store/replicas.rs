//! Read replicas of the PostgreSQL primary.

use std::time::Duration;

use secrecy::SecretString;

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
