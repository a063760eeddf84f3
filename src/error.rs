//! One error type for the whole web layer. Each variant chooses its status here; the response body
//! (an HTML page, or JSON under `/api/`) is rendered by `http::middleware::render_errors`, which
//! knows the request. Causes go to the log with the request id, never into a response.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

use crate::domain::permission::Permission;
use crate::domain::policy::Denial;
use crate::store::StoreError;

#[derive(thiserror::Error)]
pub enum AppError {
    /// The request cannot be understood; the message says why and is shown to the user.
    #[error("{0}")]
    BadRequest(String),
    /// An API call without valid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// An FH-AUTH code or token that is unknown, spent or expired.
    #[error("{0}")]
    InvalidGrant(String),
    /// An API call named an account (`X-Account-Context`) that is not the caller's.
    #[error("invalid account context")]
    InvalidAccountContext,
    /// A customer lacks these permissions; the page names them.
    #[error("missing permissions")]
    MissingPermissions(Vec<Permission>),
    #[error("{0}")]
    Forbidden(String),
    /// Unknown paths, unknown ids and tickets the user may not see alike.
    #[error("not found")]
    NotFound,
    /// The change does not apply to the ticket as it is now (or the page was stale).
    #[error("{message}")]
    Conflict { message: String, reload: Option<String> },
    /// A one-time link that was used or has expired.
    #[error("{0}")]
    Gone(String),
    /// A form that cannot be saved as filled in, when it cannot be shown again with its messages.
    #[error("{0}")]
    Invalid(String),
    /// An upload over a limit (a file's size, the files' count, the account's quota); nothing of
    /// it was kept.
    #[error("{0}")]
    TooLarge(String),
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_seconds: u64 },
    /// A request body beyond what the route reads.
    #[error("the request is larger than this portal accepts")]
    PayloadTooLarge,
    /// The database cannot be reached; worth retrying shortly.
    #[error("the service is temporarily unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error("an unexpected error occurred")]
    Unexpected(#[source] anyhow::Error),
}

impl fmt::Debug for AppError {
    /// The whole cause chain, for the log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{self}")?;
        let mut cause = std::error::Error::source(self);
        while let Some(error) = cause {
            writeln!(f, "Caused by: {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) | StoreError::NoAnswer(_) => AppError::Unavailable(error.into()),
            other => AppError::Unexpected(other.into()),
        }
    }
}

impl From<Denial> for AppError {
    fn from(denial: Denial) -> Self {
        match denial {
            Denial::MissingPermissions(missing) => AppError::MissingPermissions(missing),
            Denial::SupportOnly => AppError::Forbidden("This is for the provider's support staff only.".into()),
            Denial::SupportAdminOnly => AppError::Forbidden("This is for support administrators only.".into()),
            Denial::CustomersOnly => AppError::Forbidden("This is for users of a customer account.".into()),
        }
    }
}

/// What the error renderer needs to describe an error to a person or a program.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    /// Stable machine-readable code for the JSON API.
    pub code: &'static str,
    pub title: &'static str,
    pub message: String,
    pub missing_permissions: Vec<Permission>,
    /// Where to go to try again (the changed ticket).
    pub reload: Option<String>,
}

impl ErrorInfo {
    /// For error responses that did not come from an [`AppError`] (actix's own 404, 405, 413…).
    pub fn for_status(status: StatusCode) -> ErrorInfo {
        let (code, title, message) = match status.as_u16() {
            400 => ("bad_request", "Bad request", "The request could not be understood."),
            401 => ("unauthorized", "Sign-in required", "Valid credentials are required."),
            403 => ("forbidden", "Access denied", "You may not do this."),
            404 => ("not_found", "Page not found", "There is nothing at this address."),
            409 => {
                ("conflict", "Changed meanwhile", "Someone else changed this meanwhile. Reload the page and try again.")
            }
            405 => ("method_not_allowed", "Method not allowed", "This address does not accept that kind of request."),
            413 => ("payload_too_large", "Request too large", "The request is larger than this portal accepts."),
            415 => {
                ("unsupported_media_type", "Unsupported content", "The request's content type is not accepted here.")
            }
            429 => ("too_many_requests", "Too many requests", "Too many requests; please wait a moment."),
            503 => (
                "unavailable",
                "Temporarily unavailable",
                "The portal cannot reach its database right now. Please try again in a moment.",
            ),
            s if s < 500 => ("client_error", "Request refused", "The request was refused."),
            _ => (
                "internal_error",
                "Something went wrong",
                "An unexpected error occurred. If it persists, contact support and quote the request id.",
            ),
        };
        ErrorInfo { code, title, message: message.to_string(), missing_permissions: Vec::new(), reload: None }
    }
}

impl AppError {
    pub fn info(&self) -> ErrorInfo {
        let mut info = ErrorInfo::for_status(self.status_code());
        match self {
            AppError::InvalidGrant(message) => {
                info.code = "invalid_grant";
                info.message = message.clone();
            }
            AppError::BadRequest(message)
            | AppError::Unauthorized(message)
            | AppError::Forbidden(message)
            | AppError::Gone(message)
            | AppError::Invalid(message)
            | AppError::TooLarge(message)
            | AppError::TooManyRequests { message, .. } => info.message = message.clone(),
            AppError::Conflict { message, reload } => {
                info.message = message.clone();
                info.reload = reload.clone();
            }
            AppError::MissingPermissions(missing) => {
                info.code = "missing_permissions";
                info.message = format!(
                    "You need the {} permission{} to open this page. Contact your account administrator to have {} added to one of your roles.",
                    join_names(missing),
                    if missing.len() == 1 { "" } else { "s" },
                    if missing.len() == 1 { "it" } else { "them" },
                );
                info.missing_permissions = missing.clone();
            }
            AppError::InvalidAccountContext => {
                info.code = "invalid_account_context";
                info.message = "invalid account context".into();
            }
            AppError::NotFound | AppError::PayloadTooLarge | AppError::Unavailable(_) | AppError::Unexpected(_) => {}
        }
        info
    }
}

/// "Read Ticket and Read Dashboard Statistics".
fn join_names(permissions: &[Permission]) -> String {
    let names: Vec<&str> = permissions.iter().map(|p| p.name()).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        Some((last, _)) => (*last).to_string(),
        None => String::new(),
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) | AppError::InvalidGrant(_) => StatusCode::UNAUTHORIZED,
            AppError::MissingPermissions(_) | AppError::Forbidden(_) | AppError::InvalidAccountContext => {
                StatusCode::FORBIDDEN
            }
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::Gone(_) => StatusCode::GONE,
            AppError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// An empty response carrying [`ErrorInfo`]; the renderer fills in the body.
    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code()).finish();
        match self {
            AppError::TooManyRequests { retry_after_seconds, .. } => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
            }
            AppError::Unavailable(_) => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(5u32));
            }
            AppError::Unauthorized(_) | AppError::InvalidGrant(_) => {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("ARMOR-PSK, FH-AUTH"));
            }
            _ => {}
        }
        response.extensions_mut().insert(self.info());
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_permissions_are_named_in_the_message() {
        let info =
            AppError::MissingPermissions(vec![Permission::ReadTicket, Permission::ReadDashboardStatistics]).info();
        assert!(info.message.contains("Read Ticket and Read Dashboard Statistics permissions"), "{}", info.message);
        assert!(info.message.contains("account administrator"));
        let info = AppError::MissingPermissions(vec![Permission::ReadTicket]).info();
        assert!(info.message.contains("the Read Ticket permission to"), "{}", info.message);
    }

    #[test]
    fn the_debug_form_prints_the_cause_chain() {
        let error = AppError::Unexpected(anyhow::anyhow!("disk full").context("writing the audit log"));
        let debug = format!("{error:?}");
        assert!(debug.contains("writing the audit log") && debug.contains("disk full"), "{debug}");
        assert_eq!(error.to_string(), "an unexpected error occurred");
    }
}
