//! Ticket forms that may carry files: the comment form and both forms that open a ticket. They
//! arrive URL-encoded (no files; as every other form) or as `multipart/form-data`, whose text
//! fields come first (the CSRF token among them) and whose files come last.
//!
//! A multipart form is read in two steps. The extractor ([`TicketForm`]) refuses a body larger
//! than any allowed upload from its `Content-Length` before reading a byte, reads the text fields
//! (64 KiB at most, as for other forms), and checks the token before any file part: a file that
//! comes before the token is refused unread. The handler then checks who may do what, and only
//! then streams the files into the byte store ([`FileParts::receive`]), each one counted, hashed
//! and limited on the way; one over a limit stops the upload with 413, and the parts stored so far
//! are deleted with their [`Staged`].

use actix_multipart::{Field, Multipart, MultipartError};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::csrf::{CSRF_FIELD, CsrfForm, check_token, content_type, is_urlencoded};
use crate::domain::attachment::{self, Limits, OverLimit};
use crate::error::AppError;
use crate::files::Staged;
use crate::files::upload::{self, Budget, Incoming, UploadError};
use crate::state::AppState;
use crate::store::{NewAttachment, NewAttachments};
use crate::views::new_ticket::FILES_FIELD;

/// The most bytes a form's text fields may take together (as `PayloadConfig` allows other forms).
const TEXT_LIMIT: usize = 64 * 1024;
/// The most text fields a form may have.
const MAX_TEXT_FIELDS: usize = 200;

/// A ticket form with its CSRF token checked, and the files it carries, not yet read.
pub struct TicketForm<T> {
    pub form: T,
    /// `None` for a URL-encoded form.
    pub files: Option<FileParts>,
}

/// The file parts of a multipart form, waiting to be streamed into the byte store.
pub struct FileParts {
    multipart: Multipart,
    /// The first file part, read while looking for the end of the text fields.
    first: Option<Field>,
    limits: Limits,
}

fn is_multipart(req: &HttpRequest) -> bool {
    content_type(req).is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// A part that carries a file: its `Content-Disposition` names a file (even an empty name, which
/// a browser sends for a file input left empty).
fn file_name(field: &Field) -> Option<String> {
    let disposition = field.content_disposition()?;
    disposition
        .get_filename()
        .map(str::to_string)
        .or_else(|| disposition.get_filename_ext().map(|ext| String::from_utf8_lossy(&ext.value).into_owned()))
}

fn broken() -> AppError {
    AppError::BadRequest("The form was cut off or malformed; nothing was stored. Try again.".into())
}

/// A part the parser refused: a file whose browser calls it `multipart/…` (a saved `.mhtml`
/// page) cannot be told from a nested form, which is refused; anything else is a broken form.
fn refused(error: &MultipartError) -> AppError {
    match error {
        MultipartError::Nested => AppError::BadRequest(
            "A file of a multipart/… type (such as a web page saved as .mhtml) cannot be attached as it is; \
             put it in a .zip file first. Nothing was stored."
                .into(),
        ),
        _ => broken(),
    }
}

fn too_large(over: OverLimit) -> AppError {
    AppError::TooLarge(over.message())
}

fn limits_of(req: &HttpRequest) -> Limits {
    req.app_data::<web::Data<AppState>>().map(|state| state.settings.attachments.limits).unwrap_or_default()
}

impl<T: DeserializeOwned + 'static> FromRequest for TicketForm<T> {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if is_urlencoded(req) {
            let form = CsrfForm::<T>::from_request(req, payload);
            return Box::pin(async move { Ok(TicketForm { form: form.await?.0, files: None }) });
        }
        if !is_multipart(req) {
            return Box::pin(std::future::ready(Err(AppError::BadRequest(
                "Send this form as application/x-www-form-urlencoded or multipart/form-data.".into(),
            ))));
        }
        let limits = limits_of(req);
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|length| length > limits.max_request_bytes()) {
            return Box::pin(std::future::ready(Err(too_large(OverLimit::Request { limits }))));
        }
        let req = req.clone();
        let mut multipart = Multipart::new(req.headers(), payload.take());
        Box::pin(async move {
            let mut fields: Vec<(String, String)> = Vec::new();
            let mut text = 0;
            let first = loop {
                let mut field = match multipart.next().await {
                    None => break None,
                    Some(Err(error)) => return Err(refused(&error)),
                    Some(Ok(field)) => field,
                };
                if file_name(&field).is_some() {
                    break Some(field);
                }
                if fields.len() >= MAX_TEXT_FIELDS {
                    return Err(too_large(OverLimit::Fields));
                }
                let name = field.name().unwrap_or_default().to_string();
                let value = match field.bytes(TEXT_LIMIT - text).await {
                    Err(_) => return Err(too_large(OverLimit::Fields)),
                    Ok(Err(_)) => return Err(broken()),
                    Ok(Ok(value)) => value,
                };
                text += value.len() + name.len();
                if text > TEXT_LIMIT {
                    return Err(too_large(OverLimit::Fields));
                }
                let value = String::from_utf8(value.to_vec())
                    .map_err(|_| AppError::BadRequest("The form's fields must be UTF-8 text.".into()))?;
                fields.push((name, value));
            };
            // Before a single byte of a file is read.
            let token = fields.iter().find(|(name, _)| name == CSRF_FIELD).map(|(_, value)| value.as_str());
            check_token(&req, token)?;
            let encoded = serde_html_form::to_string(&fields).map_err(|_| broken())?;
            let form = serde_html_form::from_str::<T>(&encoded)
                .map_err(|e| AppError::BadRequest(format!("The form could not be read: {e}.")))?;
            Ok(TicketForm { form, files: Some(FileParts { multipart, first, limits }) })
        })
    }
}

/// A declared type worth keeping for display: a short `type/subtype` without parameters.
fn declared_type(field: &Field) -> Option<String> {
    let essence = field.content_type()?.essence_str().to_ascii_lowercase();
    (essence.len() <= 100 && essence != "application/octet-stream").then_some(essence)
}

impl FileParts {
    /// Whether the form carries at least one file (a file input left empty sends none).
    pub fn has_files(&self) -> bool {
        self.first.as_ref().and_then(file_name).is_some_and(|name| !name.is_empty())
    }

    /// Streams every file into the byte store under `staged`, within the limits and what is
    /// left of the account's quota (`used` of it taken already). A text field after a file is
    /// refused: the form's fields come first.
    pub async fn receive(
        mut self,
        state: &AppState,
        staged: &mut Staged,
        used: u64,
    ) -> Result<Vec<NewAttachment>, AppError> {
        let limits = self.limits;
        let mut budget = Budget::new(limits, used);
        if self.has_files() && used >= limits.account_quota_bytes {
            return Err(too_large(OverLimit::Quota { used, quota: limits.account_quota_bytes }));
        }
        let mut received = Vec::new();
        let mut next = self.first.take();
        loop {
            let mut field = match next.take() {
                Some(field) => field,
                None => match self.multipart.next().await {
                    None => break,
                    Some(Err(error)) => return Err(refused(&error)),
                    Some(Ok(field)) => field,
                },
            };
            let Some(raw_name) = file_name(&field) else {
                return Err(AppError::BadRequest("The form's fields must come before its files.".into()));
            };
            if field.name() != Some(FILES_FIELD) {
                return Err(AppError::BadRequest(format!("Files go in the form's \"{FILES_FIELD}\" field.")));
            }
            if raw_name.is_empty() {
                // A file input left empty: its part should be empty too; whatever it holds is
                // read and dropped, within the request's limit.
                while let Some(piece) = field.next().await {
                    budget.received += piece.map_err(|_| broken())?.len() as u64;
                    if budget.received > limits.max_request_bytes() {
                        return Err(too_large(OverLimit::Request { limits }));
                    }
                }
                continue;
            }
            if received.len() >= limits.max_files {
                return Err(too_large(OverLimit::Count { limits }));
            }
            let incoming = Incoming { name: attachment::clean_name(&raw_name), declared_type: declared_type(&field) };
            let file = upload::receive(&state.files, &state.clock, staged, &mut budget, incoming, field).await;
            received.push(file.map_err(|error| match error {
                UploadError::TooLarge(over) => too_large(over),
                UploadError::Broken => broken(),
                UploadError::Store(error) => error.into(),
            })?);
        }
        Ok(received)
    }

    /// Reads and drops what is left of the body (bounded by the request's limit), so that a form
    /// sent back with a message reaches a browser still sending its files.
    pub async fn discard(mut self) {
        let mut read: u64 = 0;
        let mut next = self.first.take();
        loop {
            let mut field = match next.take() {
                Some(field) => field,
                None => match self.multipart.next().await {
                    Some(Ok(field)) => field,
                    _ => return,
                },
            };
            while let Some(Ok(piece)) = field.next().await {
                read += piece.len() as u64;
                if read > self.limits.max_request_bytes() {
                    return;
                }
            }
        }
    }
}

/// Streams a form's files (if any) into the byte store; they are linked by the transaction that
/// stores their ticket or comment (see `store::NewAttachments`).
pub async fn receive_files(
    state: &AppState,
    files: Option<FileParts>,
    account_id: i64,
    staged: &mut Staged,
) -> Result<NewAttachments, AppError> {
    let limits = state.settings.attachments.limits;
    let quota_bytes = i64::try_from(limits.account_quota_bytes).unwrap_or(i64::MAX);
    let received = match files {
        Some(parts) => {
            let used = state.store.attachment_usage(account_id).await?;
            parts.receive(state, staged, u64::try_from(used).unwrap_or(0)).await?
        }
        None => Vec::new(),
    };
    Ok(NewAttachments { files: received, quota_bytes, scan: state.files.initial_scan() })
}

/// Drops a form's unread files, when it is refused before they are stored.
pub async fn discard_files(files: Option<FileParts>) {
    if let Some(parts) = files {
        parts.discard().await;
    }
}
