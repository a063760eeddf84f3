//! Sign-in and sign-out.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;
use serde::Deserialize;

use super::audit::{Actor, SecurityEvent};
use super::context::PageContext;
use super::csrf::{CsrfForm, NoFields};
use super::respond::see_other;
use super::throttle::{self, Attempt};
use super::two_factor;
use crate::auth::password;
use crate::auth::session::FlashLevel;
use crate::domain::input;
use crate::error::AppError;
use crate::paths::{self, LocalPath};
use crate::state::AppState;
use crate::views::login::{LoginPage, VerifyPage};
use crate::views::render;

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
    next: Option<&LocalPath>,
    error: Option<String>,
    notice: Option<&'static str>,
) -> LoginPage {
    let next = next.map(|p| p.as_str().to_string());
    LoginPage { layout: ctx.layout("Sign in"), email, next, error, notice }
}

#[tracing::instrument(skip_all)]
pub async fn login_form(ctx: PageContext, query: web::Query<LoginQuery>) -> Result<HttpResponse, AppError> {
    let next = paths::safe_next(query.next.as_deref());
    if ctx.session().user_id().is_some() && query.expired.is_none() {
        return Ok(see_other(next.as_ref().map_or(paths::HOME, LocalPath::as_str)));
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
    let page = login_page(&ctx, String::new(), next.as_ref(), None, notice);
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
    let next = paths::safe_next(form.next.as_deref());
    let next = next.as_ref();
    // Control characters (NUL above all, which PostgreSQL refuses to store) are never part of an
    // email address.
    if email.is_empty()
        || form.password.is_empty()
        || email.len() > 254
        || email.chars().any(char::is_control)
        || form.password.chars().count() > input::MAX_PASSWORD_CHARS
    {
        let page = login_page(&ctx, form.email.clone(), next, Some("Enter your email and password.".into()), None);
        return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let now = state.clock.now();
    let attempt = match reserve_attempt(&ctx, &req, &state, &email, next).await? {
        Ok(attempt) => attempt,
        Err(refused) => return Ok(refused),
    };

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
            record_failure(&req, &state, attempt, user_id, &email, detail).await?;
            let page = login_page(&ctx, email, next, Some(SIGN_IN_FAILED.into()), None);
            return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    if two_factor {
        // Failures are forgiven only once the code is right too, so the throttle spans both steps.
        attempt.release(&state).await?;
        ctx.session().begin_second_factor(user_id, &email, next, now);
        SecurityEvent::new(
            "sign_in_password_accepted",
            Actor { user_id: Some(user_id), email: Some(email), account_id: None },
        )
        .detail("waiting for the two-factor code")
        .record(&state, &req)
        .await?;
        return Ok(see_other(paths::LOGIN_VERIFY));
    }
    complete_sign_in(&ctx, &req, &state, attempt, user_id, email, next, "password").await
}

/// A failed attempt (password or code): it keeps counting against the throttle, and is logged.
async fn record_failure(
    req: &HttpRequest,
    state: &AppState,
    attempt: Attempt,
    user_id: Option<i64>,
    email: &str,
    detail: &str,
) -> Result<(), AppError> {
    attempt.failed();
    SecurityEvent::new("sign_in_failed", Actor { user_id, email: Some(email.to_string()), account_id: None })
        .detail(detail)
        .record(state, req)
        .await
}

#[allow(clippy::too_many_arguments)]
async fn complete_sign_in(
    ctx: &PageContext,
    req: &HttpRequest,
    state: &AppState,
    attempt: Attempt,
    user_id: i64,
    email: String,
    next: Option<&LocalPath>,
    method: &'static str,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    attempt.succeeded(state).await?;
    state.store.record_sign_in(user_id, now).await?;
    ctx.session().sign_in(user_id, now);
    SecurityEvent::new("sign_in", Actor { user_id: Some(user_id), email: Some(email), account_id: None })
        .detail(method)
        .record(state, req)
        .await?;
    Ok(see_other(next.map_or(paths::HOME, LocalPath::as_str)))
}

/// Reserves this attempt against the throttle, or answers 429 when too many recent attempts for
/// this email or from this address failed.
async fn reserve_attempt(
    ctx: &PageContext,
    req: &HttpRequest,
    state: &AppState,
    email: &str,
    next: Option<&LocalPath>,
) -> Result<Result<Attempt, HttpResponse>, AppError> {
    let actor = Actor { email: Some(email.to_string()), ..Actor::default() };
    if let Some(attempt) = throttle::reserve(state, req, actor, "sign_in_throttled").await? {
        return Ok(Ok(attempt));
    }
    let message = throttle::refusal_message("sign-ins");
    let page = login_page(ctx, email.to_string(), next, Some(message), None);
    let mut response = render(StatusCode::TOO_MANY_REQUESTS, &page)?;
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(throttle::RETRY_AFTER_SECONDS));
    Ok(Err(response))
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
        return Ok(see_other(paths::LOGIN_EXPIRED));
    };
    let next = pending.next.as_ref();
    if form.code.trim().is_empty() || form.code.len() > 64 {
        let page = verify_page(&ctx, Some("Enter the code from your authenticator app.".into()));
        return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let attempt = match reserve_attempt(&ctx, &req, &state, &pending.email, next).await? {
        Ok(attempt) => attempt,
        Err(refused) => return Ok(refused),
    };
    match two_factor::check(&state, pending.user_id, &form.code).await? {
        Some(method) => {
            if method == two_factor::Method::RecoveryCode {
                ctx.session().flash(
                    FlashLevel::Info,
                    "You signed in with a recovery code, which now no longer works. Make new ones on your profile if few are left.",
                );
            }
            complete_sign_in(&ctx, &req, &state, attempt, pending.user_id, pending.email, next, method.name()).await
        }
        None => {
            record_failure(&req, &state, attempt, Some(pending.user_id), &pending.email, "wrong two-factor code")
                .await?;
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
            return Ok(see_other(paths::LOGIN_SIGNED_OUT));
        }
        return Err(refused);
    }
    if let Some(user_id) = ctx.session().user_id() {
        SecurityEvent::new("sign_out", Actor { user_id: Some(user_id), ..Actor::default() })
            .record(&state, &req)
            .await?;
    }
    ctx.session().sign_out();
    Ok(see_other(paths::LOGIN_SIGNED_OUT))
}
