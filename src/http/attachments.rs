//! A ticket's files in the browser: downloads and the previews of images. Each applies exactly
//! the ticket page's rules (`visible_attachment`): a file the reader may not see answers like a
//! missing one.

use actix_web::{HttpRequest, HttpResponse, web};

use super::context::PageContext;
use super::respond;
use super::ticket_page::visible_attachment;
use crate::domain::attachment::ScanState;
use crate::domain::policy;
use crate::error::AppError;
use crate::paths;
use crate::state::AppState;
use crate::store::AttachmentRecord;

/// Why a file the reader sees cannot be downloaded (409, with the way back to its ticket).
pub fn held(file: &AttachmentRecord, reload: Option<String>) -> AppError {
    let message = match file.scan {
        ScanState::Infected => format!(
            "This file is held: the virus scan found {}. It cannot be downloaded.",
            file.scan_detail.as_deref().unwrap_or("a threat")
        ),
        _ => "This file is waiting for its virus scan. Try again in a minute.".to_string(),
    };
    AppError::Conflict { message, reload }
}

#[tracing::instrument(skip_all)]
pub async fn download(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let (number, id) = path.into_inner();
    let (number, file) = visible_attachment(&state, principal, Some(&number), &id).await?;
    if !policy::may_download_attachment(principal, file.scan) {
        return Err(held(&file, Some(paths::ticket(number))));
    }
    Ok(respond::download(&req, &state.files, &file))
}

#[tracing::instrument(skip_all)]
pub async fn preview(
    ctx: PageContext,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let (number, id) = path.into_inner();
    let (_, file) = visible_attachment(&state, principal, Some(&number), &id).await?;
    if !policy::may_download_attachment(principal, file.scan) {
        return Err(AppError::NotFound);
    }
    match state.files.preview(&file).await? {
        Some(png) => Ok(respond::preview(png)),
        None => Err(AppError::NotFound),
    }
}
