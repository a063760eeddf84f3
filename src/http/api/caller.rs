//! Who is calling the API, proven one of three ways: an API key's `ARMOR-PSK` signature (in the
//! documented form or the original's), an FH-AUTH token, or a signed-in browser session. The
//! caller also carries the call's body, read once here: a signature covers it, and the handlers
//! read it from here.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;

use crate::auth::api_key::{self, CredentialError, Credentials};
use crate::auth::session::TypedSession;
use crate::auth::token::token_hash;
use crate::domain::credentials::ApiCredential;
use crate::domain::policy;
use crate::domain::principal::Principal;
use crate::error::AppError;
use crate::http::middleware::{SessionUser, session_user};
use crate::state::AppState;
use crate::store::ApiCall;

const ACCOUNT_CONTEXT_HEADER: &str = "x-account-context";
/// A signed-in session's changes through the API carry the session's CSRF token in this header,
/// which no other site can set on a browser's request.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The scheme of FH-AUTH access tokens: `Authorization: FH-AUTH <access_token>`.
pub const FH_AUTH_SCHEME: &str = "FH-AUTH";
/// Longer than any token the portal issues; anything longer is not one.
const MAX_TOKEN_CHARS: usize = 128;

/// The authenticated caller of an API endpoint, and the body of the call.
pub struct ApiCaller {
    pub principal: Principal,
    pub credential: ApiCredential,
    pub body: Bytes,
}

impl FromRequest for ApiCaller {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = Bytes::from_request(&req, payload);
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| AppError::Unexpected(anyhow::anyhow!("application state missing")))?;
            let body = body.await.map_err(|error| match error.as_response_error().status_code().as_u16() {
                413 => AppError::PayloadTooLarge,
                _ => AppError::BadRequest("The request body could not be read.".into()),
            })?;
            let (principal, credential) = match req.headers().get(header::AUTHORIZATION) {
                Some(value) => {
                    let value = value.to_str().map_err(|_| unauthorized(CredentialError::Malformed))?;
                    match value.split_once(' ') {
                        Some((FH_AUTH_SCHEME, token)) => {
                            (fh_auth_principal(&state, &req, token).await?, ApiCredential::FhAuth)
                        }
                        _ => {
                            let (principal, form) = authenticate_key(&state, &req, value, &body).await?;
                            (principal, ApiCredential::Key(form))
                        }
                    }
                }
                None => (session_principal(&state, &req).await?, ApiCredential::Session),
            };
            check_account_context(&req, &principal)?;
            Ok(ApiCaller { principal, credential, body })
        })
    }
}

fn unauthorized(error: CredentialError) -> AppError {
    AppError::Unauthorized(format!("Invalid credentials: {error}."))
}

/// A signed-in browser session may call the API too. Its changes need the session's CSRF token in
/// `X-CSRF-Token`: the cookie comes with any request the browser makes, the header only with the
/// portal's own.
async fn session_principal(state: &AppState, req: &HttpRequest) -> Result<Principal, AppError> {
    let session = TypedSession::from(req);
    let principal = match session_user(state, &session, false).await? {
        SessionUser::Active(principal) if principal.two_factor.must_enrol() => {
            return Err(AppError::Forbidden("Set up two-factor sign-in in the portal first.".into()));
        }
        SessionUser::Active(principal) => principal,
        _ => {
            return Err(AppError::Unauthorized(
                "Sign the request with an API key (Authorization: ARMOR-PSK …), send an FH-AUTH token, or sign in."
                    .into(),
            ));
        }
    };
    if !req.method().is_safe() {
        let sent = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !crate::http::csrf::is_session_token(req, sent) {
            tracing::warn!(target: "security", path = req.path(), "API change by a session without its CSRF token refused");
            return Err(AppError::Forbidden(format!(
                "A signed-in session's changes need the session's CSRF token in the {CSRF_HEADER} header."
            )));
        }
    }
    Ok(principal)
}

/// An FH-AUTH access token: live, its user enabled, and FH-AUTH still allowed to them (their
/// account may have turned it off, or required two-factor sign-in, since it was issued).
async fn fh_auth_principal(state: &AppState, req: &HttpRequest, token: &str) -> Result<Principal, AppError> {
    let token = token.trim();
    if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
        return Err(AppError::Unauthorized("The Authorization header must be FH-AUTH <access_token>.".into()));
    }
    let Some(principal) = state.store.fh_auth_principal(&token_hash(token), state.clock.now()).await? else {
        tracing::warn!(target: "security", path = req.path(), "API call with an unknown or expired FH-AUTH token refused");
        return Err(AppError::Unauthorized(
            "The FH-AUTH token is unknown or has expired; get a new one from /auth/authorize.".into(),
        ));
    };
    if let Err(refusal) = policy::may_use_fh_auth(&principal) {
        tracing::warn!(target: "security", user_id = principal.user_id, reason = refusal.reason(), "API call with an FH-AUTH token refused");
        return Err(AppError::Forbidden(refusal.reason().into()));
    }
    tracing::info!(target: "security", user_id = principal.user_id, path = req.path(), "FH-AUTH token used");
    Ok(principal)
}

/// Verifies an ARMOR-PSK signature in either form, then spends the call's nonce (once per key and
/// call, on every instance), counts the call against the key's rate and reads the key's owner.
async fn authenticate_key(
    state: &AppState,
    req: &HttpRequest,
    header: &str,
    body: &[u8],
) -> Result<(Principal, crate::domain::credentials::SigningForm), AppError> {
    let credentials = Credentials::parse(header).map_err(unauthorized)?;
    let now = state.clock.now();
    if !credentials.is_fresh(now.timestamp()) {
        return Err(unauthorized(CredentialError::Expired));
    }
    let key = match state.api_keys.get(&credentials.key_id) {
        Some(key) => key,
        None => match state.store.api_key_secret(&credentials.key_id).await? {
            Some(key) => state.api_keys.insert(key),
            None => {
                tracing::warn!(target: "security", key_id = %credentials.key_id, "API call with an unknown or revoked key refused");
                return Err(unauthorized(CredentialError::Invalid));
            }
        },
    };
    let secret =
        state.cipher.decrypt(&key.secret_ciphertext, &key.key_id).map_err(|e| AppError::Unexpected(e.into()))?;
    let method = req.method().as_str();
    let target = req.uri().path_and_query().map_or_else(|| req.path(), |p| p.as_str());
    let Some(form) = api_key::verify_either(&secret, &credentials, method, target, req.path(), body) else {
        tracing::warn!(target: "security", key_id = %key.key_id, "API call with a wrong signature refused");
        return Err(unauthorized(CredentialError::Invalid));
    };
    let call = api_key::call_key(&credentials.nonce, method, target, body);
    match state.store.record_api_call(&key, &call, now, state.settings.api_rate_limit_per_minute).await? {
        ApiCall::Accepted(principal) if !policy::accepts_signing(&principal, form) => {
            tracing::warn!(target: "security", key_id = %key.key_id, "API call signed without its query string refused: the account requires the documented form");
            Err(AppError::Unauthorized(
                "This account accepts only the documented signing form, which signs the path with its query string and the raw body.".into(),
            ))
        }
        ApiCall::Accepted(principal) => {
            tracing::info!(target: "security", key_id = %key.key_id, user_id = principal.user_id, path = req.path(), signing = form.name(), "API key used");
            Ok((principal, form))
        }
        ApiCall::Unusable => {
            state.api_keys.forget(&key.key_id);
            tracing::warn!(target: "security", key_id = %key.key_id, "API call with a revoked key or by a disabled user refused");
            Err(unauthorized(CredentialError::Invalid))
        }
        ApiCall::Replayed => {
            tracing::warn!(target: "security", key_id = %key.key_id, "API call replaying an earlier one refused");
            Err(AppError::Unauthorized("Invalid credentials: this call, with this nonce, was already made.".into()))
        }
        ApiCall::RateLimited { retry_after_seconds } => Err(AppError::TooManyRequests {
            message: format!(
                "Too many calls with this key; at most {} a minute.",
                state.settings.api_rate_limit_per_minute
            ),
            retry_after_seconds,
        }),
    }
}

/// `X-Account-Context`, when sent, must name the caller's own account.
fn check_account_context(req: &HttpRequest, principal: &Principal) -> Result<(), AppError> {
    let Some(value) = req.headers().get(ACCOUNT_CONTEXT_HEADER) else { return Ok(()) };
    let named = value.to_str().ok().and_then(|v| v.trim().parse::<i64>().ok());
    match (named, principal.account()) {
        (Some(number), Some(account)) if number == account.number => Ok(()),
        _ => {
            tracing::warn!(target: "security", user_id = principal.user_id, "API call with a foreign account context refused");
            Err(AppError::InvalidAccountContext)
        }
    }
}
