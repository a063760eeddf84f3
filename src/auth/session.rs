//! The session as the portal uses it: typed accessors over actix-session's string map. The session
//! holds only ids, times, the CSRF token and pending flash messages.

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::future::{Ready, ready};

use super::session_store::{UNAVAILABLE_MARKER, USER_ID_KEY};
pub use super::token::new_token;
use crate::paths::LocalPath;

const CSRF_KEY: &str = "csrf";
const SIGNED_IN_AT_KEY: &str = "signed_in_at";
const SEEN_AT_KEY: &str = "seen_at";
const FLASH_KEY: &str = "flash";
const PENDING_KEY: &str = "second_factor";

/// How often a signed-in request writes its "last seen" time; the idle timeout is exact to this.
const SEEN_RESOLUTION_SECONDS: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlashLevel {
    Success,
    Info,
    Error,
}

impl FlashLevel {
    pub fn css(self) -> &'static str {
        match self {
            FlashLevel::Success => "success",
            FlashLevel::Info => "info",
            FlashLevel::Error => "error",
        }
    }
}

/// A message shown once on the next page (POST → redirect → GET).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    pub level: FlashLevel,
    pub message: String,
}

/// A sign-in whose password was right and which now waits for the second factor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSignIn {
    pub user_id: i64,
    pub email: String,
    pub next: Option<LocalPath>,
    pub since: i64,
}

/// Why a signed-in session is no longer valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Idle,
    Absolute,
}

#[derive(Clone)]
pub struct TypedSession(Session);

impl TypedSession {
    pub fn user_id(&self) -> Option<i64> {
        self.get(USER_ID_KEY)
    }

    /// The session's CSRF token, created on first use.
    pub fn csrf_token(&self) -> String {
        if let Some(token) = self.peek_csrf_token() {
            return token;
        }
        let token = new_token();
        self.set(CSRF_KEY, &token);
        token
    }

    pub fn peek_csrf_token(&self) -> Option<String> {
        self.get(CSRF_KEY)
    }

    /// Starts a signed-in session under a new session id (so a planted id is worthless) with a
    /// new CSRF token.
    pub fn sign_in(&self, user_id: i64, now: DateTime<Utc>) {
        let flashes = self.take_flashes();
        self.0.renew();
        self.0.clear();
        self.set(USER_ID_KEY, &user_id);
        self.set(SIGNED_IN_AT_KEY, &now.timestamp());
        self.set(SEEN_AT_KEY, &now.timestamp());
        self.set(CSRF_KEY, &new_token());
        for flash in flashes {
            self.flash(flash.level, flash.message);
        }
    }

    /// Remembers a password-verified user, under a new session id, until they give their code
    /// (or [`PENDING_SECONDS`](super::totp::PENDING_SECONDS) pass). The session is not signed in.
    pub fn begin_second_factor(&self, user_id: i64, email: &str, next: Option<&LocalPath>, now: DateTime<Utc>) {
        self.0.renew();
        self.0.clear();
        let pending = PendingSignIn { user_id, email: email.to_string(), next: next.cloned(), since: now.timestamp() };
        self.set(PENDING_KEY, &pending);
        self.set(CSRF_KEY, &new_token());
    }

    /// The sign-in waiting for its second factor, unless it has waited too long.
    pub fn pending_second_factor(&self, now: DateTime<Utc>) -> Option<PendingSignIn> {
        let pending: PendingSignIn = self.get(PENDING_KEY)?;
        (now.timestamp() - pending.since < super::totp::PENDING_SECONDS).then_some(pending)
    }

    /// Moves the signed-in session to a new id (after a password change ended all the others).
    pub fn renew(&self) {
        self.0.renew();
        self.set(CSRF_KEY, &new_token());
    }

    /// Removes the session from the store and the browser.
    pub fn sign_out(&self) {
        self.0.purge();
    }

    /// Has the signed-in session outlived the idle or absolute timeout?
    pub fn expiry(&self, now: DateTime<Utc>, idle: chrono::Duration, absolute: chrono::Duration) -> Option<Expiry> {
        let now = now.timestamp();
        let signed_in_at: i64 = self.get(SIGNED_IN_AT_KEY).unwrap_or(i64::MIN / 2);
        let seen_at: i64 = self.get(SEEN_AT_KEY).unwrap_or(i64::MIN / 2);
        if now - signed_in_at >= absolute.num_seconds() {
            Some(Expiry::Absolute)
        } else if now - seen_at >= idle.num_seconds() {
            Some(Expiry::Idle)
        } else {
            None
        }
    }

    /// Records activity, at most once a minute so that most requests write nothing.
    pub fn touch(&self, now: DateTime<Utc>) {
        let seen_at: i64 = self.get(SEEN_AT_KEY).unwrap_or(0);
        if now.timestamp() - seen_at >= SEEN_RESOLUTION_SECONDS {
            self.set(SEEN_AT_KEY, &now.timestamp());
        }
    }

    pub fn flash(&self, level: FlashLevel, message: impl Into<String>) {
        let mut flashes: Vec<Flash> = self.get(FLASH_KEY).unwrap_or_default();
        flashes.push(Flash { level, message: message.into() });
        self.set(FLASH_KEY, &flashes);
    }

    /// The pending messages, removed from the session so that each shows once.
    pub fn take_flashes(&self) -> Vec<Flash> {
        if !self.0.entries().contains_key(FLASH_KEY) {
            return Vec::new();
        }
        self.0.remove_as(FLASH_KEY).and_then(Result::ok).unwrap_or_default()
    }

    /// The session store could not be read for this request (see `session_store`).
    pub fn store_unavailable(&self) -> bool {
        self.0.entries().contains_key(UNAVAILABLE_MARKER)
    }

    fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.0.get(key).ok().flatten()
    }

    fn set<T: Serialize>(&self, key: &str, value: &T) {
        if let Err(error) = self.0.insert(key, value) {
            tracing::error!(%error, key, "could not write to the session");
        }
    }
}

impl From<&HttpRequest> for TypedSession {
    fn from(req: &HttpRequest) -> Self {
        TypedSession(req.get_session())
    }
}

impl FromRequest for TypedSession {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Ok(TypedSession::from(req)))
    }
}
