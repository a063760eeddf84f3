//! My profile: name, time zone, password, signing out of every session, and a word on what the
//! user is notified of (changed on its own page).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;
use serde::Deserialize;
use std::sync::LazyLock;

use super::audit::{Actor, SecurityEvent};
use super::context::PageContext;
use super::csrf::{CsrfForm, NoFields};
use super::respond::see_other;
use super::throttle;
use crate::auth::password;
use crate::auth::session::FlashLevel;
use crate::domain::input;
use crate::domain::notify::Audience;
use crate::error::AppError;
use crate::paths;
use crate::state::AppState;
use crate::views::notifications::notifications_summary;
use crate::views::profile::ProfilePage;
use crate::views::render;

/// Every IANA zone, for the searchable list.
static ZONES: LazyLock<Vec<&'static str>> = LazyLock::new(|| chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()).collect());

async fn page(
    ctx: &PageContext,
    state: &AppState,
    draft: Option<(String, String, String)>,
    profile_error: Option<String>,
    password_error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let (first_name, last_name, time_zone) = match draft {
        Some(draft) => draft,
        None => {
            let (first, last) = state.store.user_names(principal.user_id).await?.unwrap_or_default();
            (first, last, principal.time_zone.name().to_string())
        }
    };
    let audience = Audience::of(principal);
    let settings = state.store.notification_settings_of(principal.user_id, audience.defaults()).await?;
    let notifications =
        notifications_summary(audience, &settings.preferences, settings.digest_hour, principal.time_zone);
    let status = if profile_error.is_some() || password_error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = ProfilePage {
        layout: ctx.layout("My profile"),
        email: principal.email.clone(),
        first_name,
        last_name,
        time_zone,
        zones: ZONES.as_slice(),
        action: paths::PROFILE,
        password_action: paths::PROFILE_PASSWORD,
        sign_out_everywhere_action: paths::SIGN_OUT_EVERYWHERE,
        two_factor_on: principal.two_factor.enrolled,
        two_factor_href: paths::TWO_FACTOR,
        notifications,
        notifications_href: paths::PROFILE_NOTIFICATIONS,
        profile_error,
        password_error,
    };
    render(status, &page)
}

#[tracing::instrument(skip_all)]
pub async fn profile(ctx: PageContext, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    page(&ctx, &state, None, None, None).await
}

#[derive(Deserialize)]
pub struct ProfileForm {
    first_name: String,
    last_name: String,
    time_zone: String,
}

#[tracing::instrument(skip_all)]
pub async fn update_profile(
    ctx: PageContext,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<ProfileForm>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let first = input::name(&form.first_name, "first name");
    let last = input::name(&form.last_name, "last name");
    let zone = form
        .time_zone
        .trim()
        .parse::<chrono_tz::Tz>()
        .map_err(|_| "Choose a time zone from the list, such as Europe/London.".to_string());
    match (first, last, zone) {
        (Ok(first), Ok(last), Ok(zone)) => {
            state.store.update_profile(principal.user_id, &first, &last, zone.name()).await?;
            ctx.session().flash(FlashLevel::Success, format!("Saved. Dates now show in {}.", zone.name()));
            Ok(see_other(paths::PROFILE))
        }
        (first, last, zone) => {
            let message = [first.err(), last.err(), zone.err()].into_iter().flatten().collect::<Vec<_>>().join(" ");
            page(&ctx, &state, Some((form.first_name, form.last_name, form.time_zone)), Some(message), None).await
        }
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    password: String,
    confirmation: String,
}

/// Changes the password (the current one is required) and ends every other session; this one
/// continues under a new id.
#[tracing::instrument(skip_all)]
pub async fn change_password(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    // Whoever holds a session may not guess the password behind it at will.
    let attempt = throttle::reserve_for(&state, &req, principal, "password_change_throttled").await?;
    let stored = state.store.password_hash_of(principal.user_id).await?;
    let current_ok =
        password::verify_password(SecretString::from(form.current), stored).await.map_err(AppError::Unexpected)?;
    if !current_ok {
        attempt.failed();
        SecurityEvent::new("password_change_failed", Actor::from(principal))
            .detail("wrong current password")
            .record(&state, &req)
            .await?;
        return page(&ctx, &state, None, None, Some("The current password is not correct.".into())).await;
    }
    attempt.succeeded(&state).await?;
    let new_password = match input::new_password(&form.password, &form.confirmation) {
        Ok(password) => password,
        Err(message) => return page(&ctx, &state, None, None, Some(message)).await,
    };
    let hash = password::hash_password(SecretString::from(new_password)).await.map_err(AppError::Unexpected)?;
    state.store.change_password(principal.user_id, &hash, state.clock.now()).await?;
    ctx.session().renew();
    SecurityEvent::new("password_changed", Actor::from(principal)).record(&state, &req).await?;
    ctx.session().flash(FlashLevel::Success, "Your password is changed; every other session of yours has ended.");
    Ok(see_other(paths::PROFILE))
}

#[tracing::instrument(skip_all)]
pub async fn sign_out_everywhere(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let ended = state.store.delete_sessions_of_user(principal.user_id, None).await?;
    SecurityEvent::new("signed_out_everywhere", Actor::from(principal))
        .detail(format!("{ended} sessions"))
        .record(&state, &req)
        .await?;
    ctx.session().sign_out();
    Ok(see_other(paths::LOGIN_SIGNED_OUT))
}
