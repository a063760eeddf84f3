//! Form bodies that must carry a CSRF token. A handler that takes `CsrfForm<T>` cannot run for a
//! forged form.
//!
//! A session's forms carry the session's token. A visitor without a session (the sign-in and
//! set-password forms) gets one that needs no stored state, so that an anonymous page writes
//! nothing: a random value in a cookie of its own, and in the form that value with the portal's
//! signature; a form counts only with the cookie that goes with it.

use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{Error, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::auth::session::{TypedSession, new_token};
use crate::error::AppError;
use crate::state::AppState;

pub const CSRF_FIELD: &str = "csrf_token";
const PURPOSE: &str = "csrf";

/// The cookie of an anonymous visitor's token; `__Host-` pins it to this host over TLS.
pub fn anonymous_cookie_name(secure: bool) -> &'static str {
    if secure { "__Host-incident-portal-csrf" } else { "incident-portal-csrf" }
}

/// A new random value for the cookie gets set on the response (see [`set_anonymous_cookie`]).
#[derive(Clone)]
struct NewAnonymousValue(String);

/// The token for an anonymous visitor's forms: the cookie's value (a new one if the request has
/// none usable) and the portal's signature of it.
pub fn anonymous_token(req: &HttpRequest) -> String {
    let Some(state) = req.app_data::<web::Data<AppState>>() else { return String::new() };
    let name = anonymous_cookie_name(state.settings.secure_cookies);
    let value = match req.cookie(name).map(|c| c.value().to_string()).filter(|v| is_value(v)) {
        Some(value) => value,
        None => {
            let pending = req.extensions().get::<NewAnonymousValue>().map(|v| v.0.clone());
            pending.unwrap_or_else(|| {
                let value = new_token();
                req.extensions_mut().insert(NewAnonymousValue(value.clone()));
                value
            })
        }
    };
    format!("{value}.{}", state.signer.sign(PURPOSE, &value))
}

fn is_value(value: &str) -> bool {
    (32..=64).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Does `sent` carry the portal's signature of this request's cookie value?
fn is_anonymous_token(req: &HttpRequest, sent: &str) -> bool {
    let Some(state) = req.app_data::<web::Data<AppState>>() else { return false };
    let Some((value, signature)) = sent.split_once('.') else { return false };
    let cookie = req.cookie(anonymous_cookie_name(state.settings.secure_cookies));
    let matches = cookie.is_some_and(|c| bool::from(c.value().as_bytes().ct_eq(value.as_bytes())));
    matches && state.signer.verify(PURPOSE, value, signature)
}

/// Sets the cookie an anonymous page's token was made for, when the request had none.
pub async fn set_anonymous_cookie<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    let mut res = next.call(req).await?;
    let value = res.request().extensions().get::<NewAnonymousValue>().map(|v| v.0.clone());
    if let Some(value) = value
        && let Some(state) = res.request().app_data::<web::Data<AppState>>().cloned()
    {
        let secure = state.settings.secure_cookies;
        let cookie = Cookie::build(anonymous_cookie_name(secure), value)
            .path("/")
            .http_only(true)
            .secure(secure)
            .same_site(SameSite::Strict)
            .finish();
        if let Err(error) = res.response_mut().add_cookie(&cookie) {
            tracing::warn!(%error, "could not set the anonymous form cookie");
        }
    }
    Ok(res)
}

pub struct CsrfForm<T>(pub T);

#[derive(Deserialize)]
struct TokenField {
    csrf_token: Option<String>,
}

/// Whether `masked` (as a page hands it out, masked afresh each time) is this request's session's
/// token: forms send it in their field, the portal's script in `X-CSRF-Token`.
pub fn is_session_token(req: &HttpRequest, masked: &str) -> bool {
    let expected = TypedSession::from(req).peek_csrf_token().unwrap_or_default();
    let sent = crate::auth::token::unmask(masked).unwrap_or_default();
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(sent.as_bytes()))
}

/// A form with no fields but the token (sign-out, confirmations).
#[derive(Debug, Deserialize)]
pub struct NoFields {}

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = Bytes::from_request(&req, payload);
        Box::pin(async move {
            if !is_urlencoded(&req) {
                return Err(AppError::BadRequest("Send this form as application/x-www-form-urlencoded.".into()));
            }
            let body = body.await.map_err(|_| AppError::BadRequest("The form is too large or was cut off.".into()))?;
            let sent = serde_html_form::from_bytes::<TokenField>(&body).ok().and_then(|f| f.csrf_token);
            check_token(&req, sent.as_deref())?;
            let form = serde_html_form::from_bytes::<T>(&body)
                .map_err(|e| AppError::BadRequest(format!("The form could not be read: {e}.")))?;
            Ok(CsrfForm(form))
        })
    }
}

/// Whether the request's content type is a URL-encoded form.
pub fn is_urlencoded(req: &HttpRequest) -> bool {
    content_type(req).is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

pub fn content_type(req: &HttpRequest) -> Option<&str> {
    req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())
}

/// Refuses a form whose token (`sent`, masked as forms carry it) is not the session's, or without
/// a session the anonymous visitor's; whatever the form's encoding (see also `http::uploads`).
pub fn check_token(req: &HttpRequest, sent: Option<&str>) -> Result<(), AppError> {
    let valid = match TypedSession::from(req).peek_csrf_token() {
        Some(_) => is_session_token(req, sent.unwrap_or_default()),
        None => sent.and_then(crate::auth::token::unmask).is_some_and(|t| is_anonymous_token(req, &t)),
    };
    if !valid {
        tracing::warn!(target: "security", path = req.path(), "form without a valid CSRF token refused");
        return Err(AppError::Forbidden(
            "This form has expired or did not come from this portal. Reload the page and try again.".into(),
        ));
    }
    Ok(())
}
