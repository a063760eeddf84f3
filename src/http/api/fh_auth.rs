//! FH-AUTH, the original API's username-and-password token flow: `/auth/authorize` checks the
//! password (under the sign-in page's throttle) and gives a one-time code, `/auth/token` trades the
//! code for an access token of 15 minutes, `/auth/token/reissue` extends one before it expires.
//! Off until an account administrator turns it on; never for support staff or a user who must use
//! two-factor sign-in. Tokens are random, stored as SHA-256, and end with the user's sessions.

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Duration;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::doc::OriginalError;
use super::wire::json_body;
use crate::auth::password;
use crate::auth::token::{new_token, token_hash};
use crate::domain::input;
use crate::domain::policy;
use crate::error::AppError;
use crate::http::audit::{Actor, SecurityEvent};
use crate::http::throttle;
use crate::state::AppState;

/// How long a code of step one may wait for step two.
const CODE_MINUTES: i64 = 2;
/// An access token's life, from its issue or its last reissue.
pub const TOKEN_SECONDS: i64 = 900;
const MAX_CODE_CHARS: usize = 128;

#[derive(Debug, Deserialize, ToSchema)]
pub struct AuthorizeRequest {
    /// The email address the user signs in with.
    #[schema(min_length = 1, max_length = 254, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub username: String,
    #[schema(min_length = 1, max_length = 256)]
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuthorizeResponse {
    /// Always `null`.
    #[schema(value_type = Option<String>)]
    pub redirect_uri: Option<String>,
    /// For `POST /auth/token`, within 2 minutes, once.
    pub code: String,
    pub success: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CodeRequest {
    #[schema(min_length = 1, max_length = 128)]
    pub code: String,
    /// `authorization_code` when sent.
    #[schema(pattern = "^authorization_code$")]
    pub grant_type: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// Send it as `Authorization: FH-AUTH <access_token>`.
    pub access_token: String,
    /// The same token, under the name some of the original's clients read.
    pub id_token: String,
    /// Seconds until it expires: 900, less near the end of its longest life (the session's).
    #[schema(minimum = 1, maximum = 900)]
    pub expires_in: i64,
    #[schema(pattern = "^FH-AUTH$")]
    pub token_type: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ReissueRequest {
    /// A live access token.
    #[schema(min_length = 1, max_length = 128)]
    pub token: String,
}

/// What is refused to a password guesser, in the original's words.
const WRONG_CREDENTIALS: &str = "The username or password is not correct.";

/// Step one: the email and password; a one-time code.
#[utoipa::path(
    post,
    path = "/auth/authorize",
    operation_id = "fh_auth_authorize",
    tag = "FH-AUTH",
    request_body(content = AuthorizeRequest, description = "The content type is not checked: the body is read as JSON."),
    responses(
        (status = 200, description = "The password is right: a code for /auth/token", body = AuthorizeResponse),
        (status = 400, description = "A body that is not the documented JSON", body = OriginalError),
        (status = 401, description = "The username or password is not correct", body = OriginalError),
        (status = 403, description = "FH-AUTH is turned off for the account, or the user is support staff or must use two-factor sign-in", body = OriginalError),
        (status = 413, description = "A body of more than 256 KiB", body = OriginalError),
        (status = 429, description = "Too many authentication attempts (the sign-in page's throttle); see Retry-After", body = OriginalError),
    ),
    security(())
)]
#[tracing::instrument(skip_all)]
pub async fn authorize(req: HttpRequest, state: web::Data<AppState>, body: Bytes) -> Result<HttpResponse, AppError> {
    let request: AuthorizeRequest = json_body(&body)?;
    let email = request.username.trim().to_lowercase();
    if request.username.chars().count() > input::MAX_EMAIL_CHARS || request.username.chars().any(char::is_control) {
        return Err(AppError::BadRequest("username must be an email address.".into()));
    }
    if request.username.is_empty()
        || request.password.is_empty()
        || request.password.chars().count() > input::MAX_PASSWORD_CHARS
    {
        return Err(AppError::BadRequest("Send a username and a password.".into()));
    }
    let actor = Actor { email: Some(email.clone()), ..Actor::default() };
    let Some(attempt) = throttle::reserve(&state, &req, actor, "fh_auth_throttled").await? else {
        return Err(AppError::TooManyRequests {
            message: format!(
                "Too many authentication attempts. Wait {} minutes and try again.",
                throttle::WINDOW_MINUTES
            ),
            retry_after_seconds: u64::from(throttle::RETRY_AFTER_SECONDS),
        });
    };
    let credentials = state.store.find_credentials(&email).await?;
    let (user_id, hash, enabled) = match credentials {
        Some(c) => (Some(c.user_id), c.password_hash, c.enabled),
        None => (None, None, false),
    };
    let matches =
        password::verify_password(SecretString::from(request.password), hash).await.map_err(AppError::Unexpected)?;
    let principal = match user_id {
        Some(user_id) if matches && enabled => state.store.load_principal(user_id).await?,
        _ => None,
    };
    let Some(principal) = principal else {
        attempt.failed();
        let detail = match (user_id, enabled) {
            (None, _) => "unknown email",
            (Some(_), false) => "disabled user",
            (Some(_), true) => "wrong password",
        };
        SecurityEvent::new("fh_auth_failed", Actor { user_id, email: Some(email), account_id: None })
            .detail(detail)
            .record(&state, &req)
            .await?;
        return Err(AppError::Unauthorized(WRONG_CREDENTIALS.into()));
    };
    if let Err(refusal) = policy::may_use_fh_auth(&principal) {
        // The password was right, so it does not count as a failure; nor does it forgive earlier ones.
        attempt.release(&state).await?;
        SecurityEvent::new("fh_auth_refused", Actor::from(&principal))
            .detail(refusal.reason())
            .record(&state, &req)
            .await?;
        return Err(AppError::Forbidden(refusal.reason().into()));
    }
    attempt.succeeded(&state).await?;
    let now = state.clock.now();
    let code = new_token();
    state
        .store
        .insert_fh_auth_code(&token_hash(&code), principal.user_id, now, now + Duration::minutes(CODE_MINUTES))
        .await?;
    state.store.record_sign_in(principal.user_id, now).await?;
    SecurityEvent::new("fh_auth_sign_in", Actor::from(&principal)).record(&state, &req).await?;
    Ok(HttpResponse::Ok().json(AuthorizeResponse { redirect_uri: None, code, success: true }))
}

/// Step two: the code for an access token.
#[utoipa::path(
    post,
    path = "/auth/token",
    operation_id = "fh_auth_token",
    tag = "FH-AUTH",
    request_body(content = CodeRequest, description = "The content type is not checked: the body is read as JSON."),
    responses(
        (status = 200, description = "An access token for 15 minutes", body = TokenResponse),
        (status = 400, description = "A body that is not the documented JSON", body = OriginalError),
        (status = 401, description = "The code is unknown, used or expired (invalid_grant)", body = OriginalError),
        (status = 403, description = "FH-AUTH is no longer allowed to the user", body = OriginalError),
        (status = 413, description = "A body of more than 256 KiB", body = OriginalError),
    ),
    security(())
)]
#[tracing::instrument(skip_all)]
pub async fn token(req: HttpRequest, state: web::Data<AppState>, body: Bytes) -> Result<HttpResponse, AppError> {
    let request: CodeRequest = json_body(&body)?;
    if request.grant_type.as_deref().is_some_and(|g| g != "authorization_code") {
        return Err(AppError::BadRequest("grant_type must be authorization_code.".into()));
    }
    if request.code.is_empty() || request.code.chars().count() > MAX_CODE_CHARS {
        return Err(AppError::BadRequest("Send the code /auth/authorize gave.".into()));
    }
    let now = state.clock.now();
    let access_token = new_token();
    let hash = token_hash(&access_token);
    let expires = now + Duration::seconds(TOKEN_SECONDS);
    let Some(_user_id) = state.store.exchange_fh_auth_code(&token_hash(&request.code), &hash, now, expires).await?
    else {
        return Err(AppError::InvalidGrant(
            "The code is unknown, used or expired: codes last 2 minutes and work once.".into(),
        ));
    };
    // The user or the account may have changed in the two minutes since the code.
    let principal = state.store.fh_auth_principal(&hash, now).await?;
    let refusal = match &principal {
        Some(principal) => policy::may_use_fh_auth(principal).err(),
        None => None,
    };
    let (Some(principal), None) = (principal, refusal) else {
        state.store.revoke_fh_auth_token(&hash).await?;
        return match refusal {
            Some(refusal) => Err(AppError::Forbidden(refusal.reason().into())),
            None => Err(AppError::InvalidGrant("The code's user can no longer sign in.".into())),
        };
    };
    SecurityEvent::new("fh_auth_token_issued", Actor::from(&principal)).record(&state, &req).await?;
    Ok(token_response(access_token, TOKEN_SECONDS))
}

fn token_response(token: String, expires_in: i64) -> HttpResponse {
    let mut response = HttpResponse::Ok().json(TokenResponse {
        access_token: token.clone(),
        id_token: token,
        expires_in,
        token_type: "FH-AUTH".into(),
    });
    response.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Extends a live access token by 15 minutes (never beyond a session's absolute lifetime from its
/// first issue); the token stays the same.
#[utoipa::path(
    post,
    path = "/auth/token/reissue",
    operation_id = "fh_auth_reissue",
    tag = "FH-AUTH",
    request_body(content = ReissueRequest, description = "The content type is not checked: the body is read as JSON."),
    responses(
        (status = 200, description = "The token, extended", body = TokenResponse),
        (status = 400, description = "A body that is not the documented JSON", body = OriginalError),
        (status = 401, description = "The token is unknown or has expired (invalid_grant)", body = OriginalError),
        (status = 403, description = "FH-AUTH is no longer allowed to the user", body = OriginalError),
        (status = 413, description = "A body of more than 256 KiB", body = OriginalError),
    ),
    security(())
)]
#[tracing::instrument(skip_all)]
pub async fn reissue(req: HttpRequest, state: web::Data<AppState>, body: Bytes) -> Result<HttpResponse, AppError> {
    let request: ReissueRequest = json_body(&body)?;
    if request.token.is_empty() || request.token.chars().count() > MAX_CODE_CHARS {
        return Err(AppError::BadRequest("Send the access token to extend.".into()));
    }
    let now = state.clock.now();
    let hash = token_hash(&request.token);
    let expired =
        || AppError::InvalidGrant("The token is unknown or has expired; sign in again with /auth/authorize.".into());
    let principal = state.store.fh_auth_principal(&hash, now).await?.ok_or_else(expired)?;
    policy::may_use_fh_auth(&principal).map_err(|refusal| AppError::Forbidden(refusal.reason().into()))?;
    let until = state
        .store
        .extend_fh_auth_token(&hash, now, Duration::seconds(TOKEN_SECONDS), state.settings.absolute_timeout)
        .await?
        .ok_or_else(expired)?;
    SecurityEvent::new("fh_auth_token_reissued", Actor::from(&principal)).record(&state, &req).await?;
    Ok(token_response(request.token, (until - now).num_seconds().clamp(1, TOKEN_SECONDS)))
}
