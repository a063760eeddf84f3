//! A ticket's files through the API (`/api/v1` only: the original provider had none): the list a
//! caller may see, and each file's bytes, under the ticket page's rules.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::ApiCaller;
use super::doc::ApiError;
use super::query::{ApiQuery, family};
use crate::domain::{attachment, policy};
use crate::error::AppError;
use crate::http::ticket_page::{TicketView, visible_attachment, visible_ticket};
use crate::paths;
use crate::state::AppState;

/// One file of a ticket.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// Random and not guessable; names the file in `downloadLink`.
    #[schema(example = "q8Jw3lT2bXcA9dE0fG1hIk")]
    pub id: String,
    /// As uploaded, cleaned of path separators, control and invisible characters.
    pub file_name: String,
    /// Bytes.
    pub size: i64,
    /// The type the download carries: detected from the bytes where possible; HTML, SVG, XML and
    /// anything unknown are `application/octet-stream`.
    #[schema(example = "image/png")]
    pub content_type: String,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    pub uploaded_by: String,
    /// RFC 3339 in UTC.
    pub uploaded_at: String,
    /// Attached when the ticket was opened (`false`: with a comment).
    pub with_ticket: bool,
    /// On an internal note (only support staff see these).
    pub internal: bool,
    /// `none` (no scanner), `pending`, `clean`, `infected` or `unchecked` (the scanner was down).
    #[schema(example = "clean")]
    pub scan_status: String,
    /// Whether the caller may download it now (a pending file waits for its scan; an infected
    /// one never may).
    pub downloadable: bool,
    pub download_link: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentList {
    pub ticket_number: String,
    pub items: Vec<Attachment>,
}

/// List a ticket's attachments: the files the caller may see, in the order they were added.
#[utoipa::path(
    get,
    path = "/api/v1/tickets/{number}/attachments",
    tag = "Attachments",
    params(("number" = String, Path, description = "The ticket's number, `ATS-<n>`")),
    responses(
        (status = 200, description = "The ticket's files", body = AttachmentList),
        (status = 400, description = "A query parameter (this call takes none)", body = ApiError),
        (status = 401, description = "Missing or invalid credentials", body = ApiError),
        (status = 403, description = "Missing Read Ticket, or an invalid account context", body = ApiError),
        (status = 404, description = "No such ticket, or one the caller may not see", body = ApiError),
        (status = 429, description = "Too many calls with this key; see Retry-After", body = ApiError),
    ),
    security(("ARMOR-PSK" = []), ("FH-AUTH" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn ticket_attachments(
    caller: ApiCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
    number: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    ApiQuery::parse(family(&req), req.query_string(), &[])?;
    let principal = &caller.principal;
    let (number, ticket, _) = visible_ticket(&state, principal, &number, TicketView::Ticket).await?;
    let files = state.reads().await.ticket_attachments(ticket.id, policy::sees_internal_notes(principal)).await?;
    let items = files
        .into_iter()
        .filter(|f| policy::sees_attachment(principal, f.internal))
        .map(|f| Attachment {
            content_type: attachment::served_type(f.detected_type.as_deref(), f.declared_type.as_deref()).to_string(),
            downloadable: policy::may_download_attachment(principal, f.scan),
            download_link: state.public_url.link(&paths::api_attachment(&f.public_id)),
            id: f.public_id,
            file_name: f.name,
            size: f.size,
            sha256: f.sha256,
            uploaded_by: f.uploader_name,
            uploaded_at: f.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            with_ticket: f.comment_id.is_none(),
            internal: f.internal,
            scan_status: f.scan.code().to_string(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(AttachmentList { ticket_number: number.to_string(), items }))
}

/// Download an attachment: its bytes, as an attachment (`Content-Disposition`), never rendered.
#[utoipa::path(
    get,
    path = "/api/v1/attachments/{id}",
    tag = "Attachments",
    params(("id" = String, Path, description = "The file's id, from the list")),
    responses(
        (status = 200, description = "The file's bytes", content_type = "application/octet-stream"),
        (status = 400, description = "A query parameter (this call takes none)", body = ApiError),
        (status = 401, description = "Missing or invalid credentials", body = ApiError),
        (status = 403, description = "Missing Read Ticket, or an invalid account context", body = ApiError),
        (status = 404, description = "No such file, or one the caller may not see", body = ApiError),
        (status = 409, description = "Held: waiting for its virus scan, or infected", body = ApiError),
        (status = 429, description = "Too many calls with this key; see Retry-After", body = ApiError),
    ),
    security(("ARMOR-PSK" = []), ("FH-AUTH" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn attachment_download(
    caller: ApiCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    ApiQuery::parse(family(&req), req.query_string(), &[])?;
    let principal = &caller.principal;
    let (_, file) = visible_attachment(&state, principal, None, &id).await?;
    if !policy::may_download_attachment(principal, file.scan) {
        return Err(crate::http::attachments::held(&file, None));
    }
    Ok(crate::http::respond::download(&req, &state.files, &file))
}
