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
use crate::auth::password;
use crate::error::AppError;
use crate::paths;
use crate::state::AppState;
use crate::views::login::LoginPage;
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
    if email.is_empty()
        || form.password.is_empty()
        || email.len() > 254
        || form.password.chars().count() > password::MAX_PASSWORD_CHARS
    {
        let page = login_page(&ctx, form.email.clone(), next, Some("Enter your email and password.".into()), None);
        return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let now = state.clock.now();
    let ip = client_ip(&req, state.settings.trust_proxy_headers);
    let (email_failures, ip_failures) =
        state.store.recent_sign_in_failures(&email, &ip, now - Duration::minutes(THROTTLE_WINDOW_MINUTES)).await?;
    if email_failures >= MAX_FAILURES_PER_EMAIL || ip_failures >= MAX_FAILURES_PER_ADDRESS {
        SecurityEvent::new("sign_in_throttled", Actor { email: Some(email.clone()), ..Actor::default() })
            .record(&state, &req)
            .await?;
        let message = format!(
            "Too many failed sign-ins. Wait {THROTTLE_WINDOW_MINUTES} minutes and try again, or ask your account administrator for help."
        );
        let page = login_page(&ctx, email, next, Some(message), None);
        let mut response = render(StatusCode::TOO_MANY_REQUESTS, &page)?;
        let retry_after = HeaderValue::from((THROTTLE_WINDOW_MINUTES * 60) as u32);
        response.headers_mut().insert(header::RETRY_AFTER, retry_after);
        return Ok(response);
    }

    let credentials = state.store.find_credentials(&email).await?;
    let (user_id, hash, enabled) = match credentials {
        Some(c) => (Some(c.user_id), c.password_hash, c.enabled),
        None => (None, None, false),
    };
    let password_matches =
        password::verify_password(SecretString::from(form.password), hash).await.map_err(AppError::Unexpected)?;

    let signed_in = match user_id {
        Some(user_id) if password_matches && enabled => user_id,
        _ => {
            state.store.record_sign_in_attempt(&email, &ip, false, now).await?;
            let detail = match (user_id, enabled) {
                (None, _) => "unknown email",
                (Some(_), false) => "disabled user",
                (Some(_), true) => "wrong password",
            };
            SecurityEvent::new("sign_in_failed", Actor { user_id, email: Some(email.clone()), account_id: None })
                .detail(detail)
                .record(&state, &req)
                .await?;
            let page = login_page(&ctx, email, next, Some(SIGN_IN_FAILED.into()), None);
            return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };

    state.store.record_sign_in_attempt(&email, &ip, true, now).await?;
    state.store.clear_sign_in_failures(&email).await?;
    state.store.record_sign_in(signed_in, now).await?;
    ctx.session().sign_in(signed_in, now);
    SecurityEvent::new("sign_in", Actor { user_id: Some(signed_in), email: Some(email), account_id: None })
        .record(&state, &req)
        .await?;
    Ok(see_other(paths::safe_next(next).unwrap_or(paths::HOME)))
}

#[tracing::instrument(skip_all)]
pub async fn logout(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
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
