//! Limits on guessing every secret a person types: the password and the code at sign-in, and the
//! current password or code that My profile asks for before a sensitive change. All count
//! against one budget per email (and one per client address), kept in the database.
//!
//! Each check reserves its attempt before it runs, as a failure (see `store::throttle`): a burst of
//! simultaneous guesses is checked at most as often as the limit allows.

use actix_web::HttpRequest;
use chrono::Duration;

use super::audit::{Actor, SecurityEvent, client_ip};
use crate::domain::principal::Principal;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::AttemptLimits;

/// Failed attempts within [`WINDOW_MINUTES`] after which attempts are refused for a while.
pub const MAX_FAILURES_PER_EMAIL: i64 = 5;
pub const MAX_FAILURES_PER_ADDRESS: i64 = 50;
pub const WINDOW_MINUTES: i64 = 15;

/// One check of a secret, reserved and counted as a failure unless it is declared otherwise:
/// dropping it is the failure.
#[must_use = "an attempt counts as a failure unless it is declared a success or released"]
pub struct Attempt {
    id: i64,
    email: String,
}

/// Reserves a sign-in attempt for `actor`'s email, or refuses it (`None`, recorded as `action`)
/// when too many recent attempts for the email or from the client's address failed.
pub async fn reserve(
    state: &AppState,
    req: &HttpRequest,
    actor: Actor,
    action: &'static str,
) -> Result<Option<Attempt>, AppError> {
    reserve_within(state, req, actor, action, Some(MAX_FAILURES_PER_ADDRESS)).await
}

async fn reserve_within(
    state: &AppState,
    req: &HttpRequest,
    actor: Actor,
    action: &'static str,
    per_address: Option<i64>,
) -> Result<Option<Attempt>, AppError> {
    let email = actor.email.clone().unwrap_or_default();
    let now = state.clock.now();
    let limits = AttemptLimits {
        per_email: MAX_FAILURES_PER_EMAIL,
        per_address,
        since: now - Duration::minutes(WINDOW_MINUTES),
    };
    let ip = client_ip(req, state.settings.trust_proxy_headers);
    match state.store.reserve_sign_in_attempt(&email, &ip, now, limits).await? {
        Some(id) => Ok(Some(Attempt { id, email })),
        None => {
            SecurityEvent::new(action, actor).record(state, req).await?;
            Ok(None)
        }
    }
}

/// What to tell someone whose attempt was refused: "Too many failed sign-ins. …".
pub fn refusal_message(attempts: &str) -> String {
    format!(
        "Too many failed {attempts}. Wait {WINDOW_MINUTES} minutes and try again, or ask your account administrator for help."
    )
}

/// Seconds for `Retry-After`.
pub const RETRY_AFTER_SECONDS: u32 = (WINDOW_MINUTES * 60) as u32;

/// As [`reserve`], for a signed-in user confirming a change with their password or a code, whose
/// budget is their own (shared with their sign-ins), not their address's: a refusal is the 429
/// error page.
pub async fn reserve_for(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    action: &'static str,
) -> Result<Attempt, AppError> {
    let refused = reserve_within(state, req, Actor::from(principal), action, None).await?;
    refused.ok_or_else(|| AppError::TooManyRequests {
        message: refusal_message("attempts"),
        retry_after_seconds: u64::from(RETRY_AFTER_SECONDS),
    })
}

impl Attempt {
    /// The secret was right: this and the email's earlier failures no longer count.
    pub async fn succeeded(self, state: &AppState) -> Result<(), AppError> {
        Ok(state.store.sign_in_attempt_succeeded(self.id, &self.email).await?)
    }

    /// Neither right nor wrong yet (a right password waiting for its code): it no longer counts.
    pub async fn release(self, state: &AppState) -> Result<(), AppError> {
        Ok(state.store.release_sign_in_attempt(self.id).await?)
    }

    /// The secret was wrong: the reserved failure stays.
    pub fn failed(self) {}
}
