//! Form bodies that must carry the session's CSRF token. A handler that takes `CsrfForm<T>` cannot
//! run for a forged form.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::auth::session::TypedSession;
use crate::error::AppError;

pub const CSRF_FIELD: &str = "csrf_token";

pub struct CsrfForm<T>(pub T);

#[derive(Deserialize)]
struct TokenField {
    csrf_token: Option<String>,
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

/// Refuses a form whose token (`sent`) is not the session's, whatever its encoding.
pub fn check_token(req: &HttpRequest, sent: Option<&str>) -> Result<(), AppError> {
    let expected = TypedSession::from(req).peek_csrf_token();
    let valid = match (expected, sent) {
        (Some(expected), Some(sent)) => bool::from(expected.as_bytes().ct_eq(sent.as_bytes())),
        _ => false,
    };
    if !valid {
        tracing::warn!(target: "security", path = req.path(), "form without a valid CSRF token refused");
        return Err(AppError::Forbidden(
            "This form has expired or did not come from this portal. Reload the page and try again.".into(),
        ));
    }
    Ok(())
}
