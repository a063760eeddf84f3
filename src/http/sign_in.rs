//! Sign-in and sign-out.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Duration;
use secrecy::SecretString;
use serde::Deserialize;

use super::audit::{Actor, SecurityEvent, client_ip};
use super::context::PageContext;
use super::csrf::{CsrfForm, NoFields};
use super::two_factor;
use crate::auth::password;
use crate::auth::session::FlashLevel;
use crate::error::AppError;
use crate::paths;
use crate::state::AppState;
use crate::views::login::{LoginPage, VerifyPage};
use crate::views::render;

/// Failed attempts within [`THROTTLE_WINDOW_MINUTES`] after which sign-in is refused for a while.
pub const MAX_FAILURES_PER_EMAIL: i64 = 5;
pub const MAX_FAILURES_PER_ADDRESS: i64 = 50;
pub const THROTTLE_WINDOW_MINUTES: i64 = 15;

/// The one message for a wrong password, an unknown email and a disabled user alike.
pub const SIGN_IN_FAILED: &str = "The email or password is not correct.";

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    signed_out: Option<String>,
    expired: Option<String>,
    password_set: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

fn verify_page(ctx: &PageContext, error: Option<String>) -> VerifyPage {
    VerifyPage { layout: ctx.layout("Two-factor sign-in"), action: paths::LOGIN_VERIFY, error }
}

fn login_page(
    ctx: &PageContext,
    email: String,
    next: Option<&str>,
    error: Option<String>,
    notice: Option<&'static str>,
) -> LoginPage {
    LoginPage { layout: ctx.layout("Sign in"), email, next: paths::safe_next(next).map(str::to_string), error, notice }
}

#[tracing::instrument(skip_all)]
pub async fn login_form(ctx: PageContext, query: web::Query<LoginQuery>) -> Result<HttpResponse, AppError> {
    if ctx.session().user_id().is_some() && query.expired.is_none() {
        let target = paths::safe_next(query.next.as_deref()).unwrap_or(paths::HOME);
        return Ok(see_other(target));
    }
    let notice = if query.signed_out.is_some() {
        Some("You have signed out.")
    } else if query.expired.is_some() {
        Some("Your session has expired. Please sign in again.")
    } else if query.password_set.is_some() {
        Some("Your password is set. Sign in with it now.")
    } else {
        None
    };
    let page = login_page(&ctx, String::new(), query.next.as_deref(), None, notice);
    render(StatusCode::OK, &page)
}

#[tracing::instrument(skip_all)]
pub async fn login(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let email = form.email.trim().to_lowercase();
    let next = form.next.as_deref();
    // Control characters (NUL above all, which PostgreSQL refuses to store) are never part of an
    // email address.
    if email.is_empty()
        || form.password.is_empty()
        || email.len() > 254
        || email.chars().any(char::is_control)
        || form.password.chars().count() > password::MAX_PASSWORD_CHARS
    {
        let page = login_page(&ctx, form.email.clone(), next, Some("Enter your email and password.".into()), None);
        return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let now = state.clock.now();
    if let Some(response) = throttled(&ctx, &req, &state, &email, next).await? {
        return Ok(response);
    }

    let credentials = state.store.find_credentials(&email).await?;
    let (user_id, hash, enabled, two_factor) = match credentials {
        Some(c) => (Some(c.user_id), c.password_hash, c.enabled, c.two_factor),
        None => (None, None, false, false),
    };
    let password_matches =
        password::verify_password(SecretString::from(form.password), hash).await.map_err(AppError::Unexpected)?;

    let user_id = match user_id {
        Some(user_id) if password_matches && enabled => user_id,
        _ => {
            let detail = match (user_id, enabled) {
                (None, _) => "unknown email",
                (Some(_), false) => "disabled user",
                (Some(_), true) => "wrong password",
            };
            record_failure(&req, &state, user_id, &email, detail).await?;
            let page = login_page(&ctx, email, next, Some(SIGN_IN_FAILED.into()), None);
            return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    if two_factor {
        // Failures are forgiven only once the code is right too, so the throttle spans both steps.
        ctx.session().begin_second_factor(user_id, &email, paths::safe_next(next), now);
        SecurityEvent::new(
            "sign_in_password_accepted",
            Actor { user_id: Some(user_id), email: Some(email), account_id: None },
        )
        .detail("waiting for the two-factor code")
        .record(&state, &req)
        .await?;
        return Ok(see_other(paths::LOGIN_VERIFY));
    }
    complete_sign_in(&ctx, &req, &state, user_id, email, next, "password").await
}

/// Counts a failed attempt (password or code) against the throttle and logs it.
async fn record_failure(
    req: &HttpRequest,
    state: &AppState,
    user_id: Option<i64>,
    email: &str,
    detail: &str,
) -> Result<(), AppError> {
    let ip = client_ip(req, state.settings.trust_proxy_headers);
    state.store.record_sign_in_attempt(email, &ip, false, state.clock.now()).await?;
    SecurityEvent::new("sign_in_failed", Actor { user_id, email: Some(email.to_string()), account_id: None })
        .detail(detail)
        .record(state, req)
        .await
}

async fn complete_sign_in(
    ctx: &PageContext,
    req: &HttpRequest,
    state: &AppState,
    user_id: i64,
    email: String,
    next: Option<&str>,
    method: &'static str,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let ip = client_ip(req, state.settings.trust_proxy_headers);
    state.store.record_sign_in_attempt(&email, &ip, true, now).await?;
    state.store.clear_sign_in_failures(&email).await?;
    state.store.record_sign_in(user_id, now).await?;
    ctx.session().sign_in(user_id, now);
    SecurityEvent::new("sign_in", Actor { user_id: Some(user_id), email: Some(email), account_id: None })
        .detail(method)
        .record(state, req)
        .await?;
    Ok(see_other(paths::safe_next(next).unwrap_or(paths::HOME)))
}

/// Are there too many recent failures for this email or this address? Then the answer is 429.
async fn throttled(
    ctx: &PageContext,
    req: &HttpRequest,
    state: &AppState,
    email: &str,
    next: Option<&str>,
) -> Result<Option<HttpResponse>, AppError> {
    let now = state.clock.now();
    let ip = client_ip(req, state.settings.trust_proxy_headers);
    let (email_failures, ip_failures) =
        state.store.recent_sign_in_failures(email, &ip, now - Duration::minutes(THROTTLE_WINDOW_MINUTES)).await?;
    if email_failures < MAX_FAILURES_PER_EMAIL && ip_failures < MAX_FAILURES_PER_ADDRESS {
        return Ok(None);
    }
    SecurityEvent::new("sign_in_throttled", Actor { email: Some(email.to_string()), ..Actor::default() })
        .record(state, req)
        .await?;
    let message = format!(
        "Too many failed sign-ins. Wait {THROTTLE_WINDOW_MINUTES} minutes and try again, or ask your account administrator for help."
    );
    let page = login_page(ctx, email.to_string(), next, Some(message), None);
    let mut response = render(StatusCode::TOO_MANY_REQUESTS, &page)?;
    let retry_after = HeaderValue::from((THROTTLE_WINDOW_MINUTES * 60) as u32);
    response.headers_mut().insert(header::RETRY_AFTER, retry_after);
    Ok(Some(response))
}

#[derive(Deserialize)]
pub struct VerifyForm {
    code: String,
}

/// The second step: the code from the authenticator app, or a recovery code.
#[tracing::instrument(skip_all)]
pub async fn verify_form(ctx: PageContext, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    if ctx.session().pending_second_factor(state.clock.now()).is_none() {
        return Ok(see_other(paths::LOGIN));
    }
    render(StatusCode::OK, &verify_page(&ctx, None))
}

#[tracing::instrument(skip_all)]
pub async fn verify(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<VerifyForm>,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let Some(pending) = ctx.session().pending_second_factor(now) else {
        return Ok(see_other(&format!("{}?expired=1", paths::LOGIN)));
    };
    let next = pending.next.as_deref();
    if let Some(response) = throttled(&ctx, &req, &state, &pending.email, next).await? {
        return Ok(response);
    }
    if form.code.trim().is_empty() || form.code.len() > 64 {
        let page = verify_page(&ctx, Some("Enter the code from your authenticator app.".into()));
        return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    match two_factor::check(&state, pending.user_id, &form.code).await? {
        Some(method) => {
            if method == two_factor::Method::RecoveryCode {
                ctx.session().flash(
                    FlashLevel::Info,
                    "You signed in with a recovery code, which now no longer works. Make new ones on your profile if few are left.",
                );
            }
            complete_sign_in(&ctx, &req, &state, pending.user_id, pending.email, next, method.name()).await
        }
        None => {
            record_failure(&req, &state, Some(pending.user_id), &pending.email, "wrong two-factor code").await?;
            let message = "The code is not correct. Codes change every 30 seconds and each works once.";
            render(StatusCode::UNPROCESSABLE_ENTITY, &verify_page(&ctx, Some(message.into())))
        }
    }
}

#[tracing::instrument(skip_all)]
pub async fn logout(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    form: Result<CsrfForm<NoFields>, AppError>,
) -> Result<HttpResponse, AppError> {
    if let Err(refused) = form {
        // Someone whose session has already ended has nothing to sign out of: the button on a
        // page left open lands on the sign-in page. A signed-in session still needs the token,
        // so no other site can sign a user out.
        if ctx.session().user_id().is_none() {
            return Ok(see_other(&format!("{}?signed_out=1", paths::LOGIN)));
        }
        return Err(refused);
    }
    if let Some(user_id) = ctx.session().user_id() {
        SecurityEvent::new("sign_out", Actor { user_id: Some(user_id), ..Actor::default() })
            .record(&state, &req)
            .await?;
    }
    ctx.session().sign_out();
    Ok(see_other(&format!("{}?signed_out=1", paths::LOGIN)))
}

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}
