//! actix-session's storage over our database, so that a session ends on every app instance at
//! once (sign-out, disabled user, password change).

use std::collections::HashMap;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError, generate_session_key};
use actix_web::cookie::time::Duration as CookieDuration;
use chrono::{DateTime, Duration, Utc};

use super::token::token_hash;
use crate::clock::Clock;
use crate::store::{Store, StoreError};

/// Put into the loaded state when the database could not be asked, so that a middleware can answer
/// 503 instead of actix-session's opaque 500. Only this module writes it; it is never persisted.
pub const UNAVAILABLE_MARKER: &str = "_store_unavailable";
/// The session entry holding the signed-in user, which the store keeps in a column of its own.
pub const USER_ID_KEY: &str = "user_id";

#[derive(Clone)]
pub struct DbSessionStore {
    store: Store,
    clock: Clock,
}

impl DbSessionStore {
    pub fn new(store: Store, clock: Clock) -> Self {
        DbSessionStore { store, clock }
    }

    fn expiry(&self, now: DateTime<Utc>, ttl: &CookieDuration) -> DateTime<Utc> {
        now + Duration::seconds(ttl.whole_seconds())
    }
}

/// The row id for a session key: a leaked table holds no usable cookie.
pub fn session_id(key: &SessionKey) -> String {
    token_hash(key.as_ref())
}

/// The signed-in user, kept in its own column so that all of a user's sessions can be ended at once.
fn user_of(state: &HashMap<String, String>) -> Option<i64> {
    state.get(USER_ID_KEY).and_then(|v| v.parse().ok())
}

fn encode(state: &HashMap<String, String>) -> Result<String, serde_json::Error> {
    serde_json::to_string(state)
}

impl SessionStore for DbSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        match self.store.load_session(&session_id(key), self.clock.now()).await {
            Ok(Some(record)) => {
                serde_json::from_str(&record.state).map(Some).map_err(|e| LoadError::Deserialization(e.into()))
            }
            Ok(None) => Ok(None),
            Err(StoreError::Unavailable(error)) => {
                tracing::warn!(error = %error, "session store unavailable");
                Ok(Some(HashMap::from([(UNAVAILABLE_MARKER.to_string(), "true".to_string())])))
            }
            Err(error) => Err(LoadError::Other(error.into())),
        }
    }

    /// Writes never fail the request: when the database is down, the handler has already answered
    /// (usually 503) and the session simply is not kept, as if it had expired.
    async fn save(&self, state: HashMap<String, String>, ttl: &CookieDuration) -> Result<SessionKey, SaveError> {
        let key = generate_session_key();
        let json = encode(&state).map_err(|e| SaveError::Serialization(e.into()))?;
        let now = self.clock.now();
        if let Err(error) =
            self.store.insert_session(&session_id(&key), user_of(&state), &json, now, self.expiry(now, ttl)).await
        {
            tracing::warn!(?error, "could not save a session");
        }
        Ok(key)
    }

    async fn update(
        &self,
        key: SessionKey,
        state: HashMap<String, String>,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, UpdateError> {
        let json = encode(&state).map_err(|e| UpdateError::Serialization(e.into()))?;
        let now = self.clock.now();
        match self.store.update_session(&session_id(&key), user_of(&state), &json, now, self.expiry(now, ttl)).await {
            Ok(true) => Ok(key),
            // The session ended while this request ran (signed out elsewhere): start an empty one
            // rather than bring the old sign-in back to life.
            Ok(false) => {
                self.save(HashMap::new(), ttl).await.map_err(|e| UpdateError::Other(anyhow::anyhow!(e.to_string())))
            }
            Err(error) => {
                tracing::warn!(?error, "could not update a session");
                Ok(key)
            }
        }
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &CookieDuration) -> Result<(), anyhow::Error> {
        let expires = self.expiry(self.clock.now(), ttl);
        if let Err(error) = self.store.extend_session(&session_id(key), expires).await {
            tracing::warn!(?error, "could not extend a session");
        }
        Ok(())
    }

    /// A failed delete is logged and retried by nobody: sign-out must still clear the cookie, and
    /// the row expires by itself.
    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        if let Err(error) = self.store.delete_session(&session_id(key)).await {
            tracing::error!(?error, "could not delete a session");
        }
        Ok(())
    }
}
