//! Two-factor sign-in on my profile: enrol with an authenticator app, see and renew recovery
//! codes, turn it off where the account allows. Also the check of a code that sign-in uses.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use serde::Deserialize;

use super::audit::{Actor, SecurityEvent};
use super::context::PageContext;
use super::csrf::CsrfForm;
use super::respond::see_other;
use super::throttle;
use crate::auth::session::FlashLevel;
use crate::auth::totp;
use crate::error::AppError;
use crate::paths;
use crate::state::AppState;
use crate::store::TwoFactorRecord;
use crate::views::render;
use crate::views::two_factor::{Enrolment, TwoFactorPage};

/// How a second factor was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    AuthenticatorCode,
    RecoveryCode,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::AuthenticatorCode => "password and authenticator code",
            Method::RecoveryCode => "password and recovery code",
        }
    }
}

fn decrypt_secret(state: &AppState, user_id: i64, record: &TwoFactorRecord) -> Result<Option<Vec<u8>>, AppError> {
    let Some(ciphertext) = record.secret_ciphertext.as_deref() else { return Ok(None) };
    totp::decrypt_secret(&state.cipher, user_id, ciphertext)
        .map(Some)
        .ok_or_else(|| AppError::Unexpected(anyhow::anyhow!("a TOTP secret could not be decrypted (wrong key?)")))
}

/// Checks an authenticator code or a recovery code of a user with two-factor on, and spends it:
/// each works once, also when two requests race with the same code.
pub async fn check(state: &AppState, user_id: i64, input: &str) -> Result<Option<Method>, AppError> {
    let Some(record) = state.store.two_factor(user_id).await?.filter(TwoFactorRecord::enabled) else {
        return Ok(None);
    };
    if totp::looks_like_code(input) {
        let Some(secret) = decrypt_secret(state, user_id, &record)? else { return Ok(None) };
        let now = state.clock.now().timestamp();
        let Some(step) = totp::verify(&secret, input, now, record.last_step) else { return Ok(None) };
        Ok(state.store.use_totp_step(user_id, step).await?.then_some(Method::AuthenticatorCode))
    } else {
        let used = state.store.use_recovery_code(user_id, &totp::recovery_code_hash(input)).await?;
        Ok(used.then_some(Method::RecoveryCode))
    }
}

/// The page as it stands; `codes` are recovery codes to show this once.
async fn page(
    ctx: &PageContext,
    state: &AppState,
    status: StatusCode,
    error: Option<String>,
    codes: Vec<String>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let user_id = principal.user_id;
    let mut record = state.store.two_factor(user_id).await?.ok_or(AppError::NotFound)?;
    // Recovery codes, or the key of an enrolment: shown to this user only, once.
    if !codes.is_empty() || !record.enabled() {
        ctx.shows_secret();
    }
    let enrolment = if record.enabled() {
        None
    } else {
        if record.secret_ciphertext.is_none() {
            // The secret waits, encrypted, until the first code confirms it; a reload shows the
            // same QR code so that a scanned one stays valid.
            let secret = totp::new_secret();
            let ciphertext = totp::encrypt_secret(&state.cipher, user_id, &secret);
            state.store.begin_two_factor(user_id, &ciphertext).await?;
            record.secret_ciphertext = Some(ciphertext);
        }
        let secret = decrypt_secret(state, user_id, &record)?
            .ok_or_else(|| AppError::Unexpected(anyhow::anyhow!("an enrolment without a secret")))?;
        let uri = totp::provisioning_uri(&secret, &principal.email)
            .ok_or_else(|| AppError::Unexpected(anyhow::anyhow!("no provisioning URI for a TOTP secret")))?;
        let svg = totp::qr_svg(&uri).ok_or_else(|| AppError::Unexpected(anyhow::anyhow!("QR code too large")))?;
        let encoded = totp::base32(&secret);
        let grouped = encoded.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned());
        Some(Enrolment {
            qr_data_uri: format!("data:image/svg+xml;base64,{}", base64::engine::general_purpose::STANDARD.encode(svg)),
            secret: grouped.collect::<Vec<_>>().join(" "),
        })
    };
    let page = TwoFactorPage {
        layout: ctx.layout("Two-factor sign-in"),
        enabled: record.enabled(),
        required: principal.two_factor.required,
        enabled_at: record.enabled_at.map(|at| crate::views::format::timestamp(at, principal.time_zone)),
        recovery_codes_left: record.recovery_codes_left,
        enrolment,
        codes,
        error,
        action: paths::TWO_FACTOR,
        recovery_codes_action: paths::TWO_FACTOR_RECOVERY_CODES,
        disable_action: paths::TWO_FACTOR_DISABLE,
    };
    render(status, &page)
}

#[tracing::instrument(skip_all)]
pub async fn two_factor(ctx: PageContext, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    page(&ctx, &state, StatusCode::OK, None, Vec::new()).await
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

/// New recovery codes: stored hashed, returned to be shown once.
fn recovery_codes() -> (Vec<String>, Vec<String>) {
    let codes = totp::new_recovery_codes();
    let hashes = codes.iter().map(|code| totp::recovery_code_hash(code)).collect();
    (codes, hashes)
}

/// The page again with the wrong-code message, once the refusal (`event`) is in the audit log.
async fn wrong_code(
    ctx: &PageContext,
    req: &HttpRequest,
    state: &AppState,
    event: &'static str,
) -> Result<HttpResponse, AppError> {
    SecurityEvent::new(event, Actor::from(ctx.principal()?)).record(state, req).await?;
    let message = "That code is not correct. Enter the code your app shows now; each code works once.";
    page(ctx, state, StatusCode::UNPROCESSABLE_ENTITY, Some(message.into()), Vec::new()).await
}

/// Confirms the enrolment with a first code and turns two-factor sign-in on.
#[tracing::instrument(skip_all)]
pub async fn enable(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let record = state.store.two_factor(principal.user_id).await?.ok_or(AppError::NotFound)?;
    if record.enabled() {
        ctx.session().flash(FlashLevel::Info, "Two-factor sign-in is already on.");
        return Ok(see_other(paths::TWO_FACTOR));
    }
    let now = state.clock.now();
    let step = decrypt_secret(&state, principal.user_id, &record)?
        .and_then(|secret| totp::verify(&secret, &form.code, now.timestamp(), None));
    let Some(step) = step else {
        return wrong_code(&ctx, &req, &state, "two_factor_enrolment_failed").await;
    };
    let (codes, hashes) = recovery_codes();
    if !state.store.enable_two_factor(principal.user_id, step, &hashes, now).await? {
        return Err(AppError::Conflict {
            message: "Two-factor sign-in changed in another window. Reload the page.".into(),
            reload: Some(paths::TWO_FACTOR.into()),
        });
    }
    SecurityEvent::new("two_factor_enabled", Actor::from(principal)).record(&state, &req).await?;
    ctx.session().flash(FlashLevel::Success, "Two-factor sign-in is on. Keep your recovery codes somewhere safe.");
    page(&ctx, &state, StatusCode::OK, None, codes).await
}

/// Replaces the recovery codes; needs a current code, so a borrowed session cannot mint them.
#[tracing::instrument(skip_all)]
pub async fn regenerate_recovery_codes(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let attempt = throttle::reserve_for(&state, &req, principal, "recovery_codes_throttled").await?;
    if check(&state, principal.user_id, &form.code).await?.is_none() {
        attempt.failed();
        return wrong_code(&ctx, &req, &state, "recovery_codes_refused").await;
    }
    attempt.succeeded(&state).await?;
    let (codes, hashes) = recovery_codes();
    state.store.replace_recovery_codes(principal.user_id, &hashes).await?;
    SecurityEvent::new("recovery_codes_replaced", Actor::from(principal)).record(&state, &req).await?;
    ctx.session().flash(FlashLevel::Success, "New recovery codes are ready; the old ones no longer work.");
    page(&ctx, &state, StatusCode::OK, None, codes).await
}

/// Turns two-factor sign-in off, where neither the account nor the user's role requires it.
#[tracing::instrument(skip_all)]
pub async fn disable(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    if principal.two_factor.required {
        return Err(AppError::Forbidden(
            "Two-factor sign-in is required for you, so it cannot be turned off. Your account administrator can reset it if you lose your device."
                .into(),
        ));
    }
    let attempt = throttle::reserve_for(&state, &req, principal, "two_factor_disable_throttled").await?;
    if check(&state, principal.user_id, &form.code).await?.is_none() {
        attempt.failed();
        return wrong_code(&ctx, &req, &state, "two_factor_disable_refused").await;
    }
    attempt.succeeded(&state).await?;
    state.store.disable_two_factor(principal.user_id).await?;
    SecurityEvent::new("two_factor_disabled", Actor::from(principal)).record(&state, &req).await?;
    ctx.session().flash(FlashLevel::Success, "Two-factor sign-in is off. You sign in with your password only.");
    Ok(see_other(paths::PROFILE))
}
