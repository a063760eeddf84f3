//! The changes only support staff make to a ticket: label and severity, status, closing,
//! declining a closure request, reopening, removing a recipient or a file.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::support_only;
use crate::auth::session::FlashLevel;
use crate::domain::input;
use crate::domain::lifecycle::{Change, Event};
use crate::domain::policy;
use crate::domain::ticket::{EventKind, Severity, TicketNumber, TicketStatus};
use crate::error::AppError;
use crate::http::audit::{Actor, SecurityEvent};
use crate::http::context::PageContext;
use crate::http::csrf::CsrfForm;
use crate::http::respond::see_other;
use crate::http::ticket_forms::{change_error, record_ticket_events};
use crate::http::ticket_page::{PageErrors, TicketView, render_ticket, visible_attachment};
use crate::paths;
use crate::state::AppState;
use crate::store::{ChangeResult, CommentInput};

fn version(raw: &str) -> Result<i64, AppError> {
    raw.trim()
        .parse()
        .map_err(|_| AppError::BadRequest("The form is missing the ticket's version; reload the page.".into()))
}

/// One desk form's request: which ticket, the version the page showed, and what to do.
struct DeskChange<'a> {
    number: &'a str,
    version: i64,
    comment: Option<CommentInput>,
    change: Change,
    /// The flash message when it is done.
    done: &'a str,
}

/// Applies a desk change to a ticket, refusing it if the page was stale, and records it.
async fn apply_desk_change(
    ctx: &PageContext,
    req: &HttpRequest,
    state: &AppState,
    desk: DeskChange<'_>,
) -> Result<HttpResponse, AppError> {
    let DeskChange { number, version: expected_version, comment, change, done } = desk;
    let principal = support_only(ctx, state, req).await?;
    let number = TicketNumber::parse(number).ok_or(AppError::NotFound)?;
    let ticket = state.store.ticket(number.id()).await?.ok_or(AppError::NotFound)?;
    let reload = paths::ticket(number);
    let result = state
        .store
        .change_ticket(
            ticket.id,
            principal.user_id,
            Some(expected_version),
            comment.as_ref(),
            &[change],
            state.clock.now(),
        )
        .await
        .map_err(|e| change_error(e, reload.clone()))?;
    if let ChangeResult::Applied(outcome) = result {
        record_ticket_events(state, req, principal, number, Some(ticket.account_id), &outcome.events).await?;
    }
    ctx.session().flash(FlashLevel::Success, done);
    Ok(see_other(&reload))
}

/// Shows the ticket again with a message for the desk form that needs fixing.
async fn desk_form_error(
    ctx: &PageContext,
    state: &AppState,
    req: &HttpRequest,
    number: &str,
    message: String,
) -> Result<HttpResponse, AppError> {
    support_only(ctx, state, req).await?;
    render_ticket(ctx, state, number, TicketView::Ticket, PageErrors { comment: None, desk: Some(message) }).await
}

#[derive(Deserialize)]
pub struct SeverityForm {
    version: String,
    severity: String,
}

#[tracing::instrument(skip_all, fields(number = %number))]
pub async fn set_severity(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    number: web::Path<String>,
    CsrfForm(form): CsrfForm<SeverityForm>,
) -> Result<HttpResponse, AppError> {
    let severity = match form.severity.trim() {
        "" => None,
        name => Some(
            name.parse::<Severity>()
                .map_err(|()| AppError::BadRequest("Choose Low, Medium, High, Critical or no label.".into()))?,
        ),
    };
    let done = match severity {
        Some(severity) => format!("The ticket is a security incident of severity {severity}."),
        None => "The ticket is no longer labelled as a security incident.".to_string(),
    };
    apply_desk_change(
        &ctx,
        &req,
        &state,
        DeskChange {
            number: &number,
            version: version(&form.version)?,
            comment: None,
            change: Change::SetSeverity(severity),
            done: &done,
        },
    )
    .await
}

#[derive(Deserialize)]
pub struct StatusForm {
    version: String,
    status: String,
}

#[tracing::instrument(skip_all, fields(number = %number))]
pub async fn set_status(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    number: web::Path<String>,
    CsrfForm(form): CsrfForm<StatusForm>,
) -> Result<HttpResponse, AppError> {
    let status = form
        .status
        .parse::<TicketStatus>()
        .ok()
        .filter(|s| TicketStatus::ACTIVE.contains(s))
        .ok_or_else(|| AppError::BadRequest("Choose Open or Requires Attention.".into()))?;
    let done = format!("The ticket is now {status}.");
    apply_desk_change(
        &ctx,
        &req,
        &state,
        DeskChange {
            number: &number,
            version: version(&form.version)?,
            comment: None,
            change: Change::SetStatus(status),
            done: &done,
        },
    )
    .await
}

#[derive(Deserialize)]
pub struct CloseForm {
    version: String,
    resolution: String,
}

#[tracing::instrument(skip_all, fields(number = %number))]
pub async fn close(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    number: web::Path<String>,
    CsrfForm(form): CsrfForm<CloseForm>,
) -> Result<HttpResponse, AppError> {
    let expected = version(&form.version)?;
    let resolution = match input::text(&form.resolution, true, "a resolution comment to close the ticket") {
        Ok(text) => text,
        Err(message) => return desk_form_error(&ctx, &state, &req, &number, message).await,
    };
    let comment = CommentInput { body: resolution, internal: false, submission_key: None };
    apply_desk_change(
        &ctx,
        &req,
        &state,
        DeskChange {
            number: &number,
            version: expected,
            comment: Some(comment),
            change: Change::Close,
            done: "The ticket is closed.",
        },
    )
    .await
}

#[derive(Deserialize)]
pub struct DeclineForm {
    version: String,
    reason: String,
}

#[tracing::instrument(skip_all, fields(number = %number))]
pub async fn decline_closure(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    number: web::Path<String>,
    CsrfForm(form): CsrfForm<DeclineForm>,
) -> Result<HttpResponse, AppError> {
    let expected = version(&form.version)?;
    let reason = match input::text(&form.reason, true, "the reason for declining, for the customer") {
        Ok(text) => text,
        Err(message) => return desk_form_error(&ctx, &state, &req, &number, message).await,
    };
    let comment = CommentInput { body: reason, internal: false, submission_key: None };
    let done = "The closure request is declined; the customer sees your reason.";
    apply_desk_change(
        &ctx,
        &req,
        &state,
        DeskChange { number: &number, version: expected, comment: Some(comment), change: Change::DeclineClosure, done },
    )
    .await
}

#[derive(Deserialize)]
pub struct ReopenForm {
    version: String,
    #[serde(default)]
    comment: String,
}

#[tracing::instrument(skip_all, fields(number = %number))]
pub async fn reopen(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    number: web::Path<String>,
    CsrfForm(form): CsrfForm<ReopenForm>,
) -> Result<HttpResponse, AppError> {
    let expected = version(&form.version)?;
    let comment = match input::text(&form.comment, false, "a comment") {
        Ok(text) if text.is_empty() => None,
        Ok(text) => Some(CommentInput { body: text, internal: false, submission_key: None }),
        Err(message) => return desk_form_error(&ctx, &state, &req, &number, message).await,
    };
    apply_desk_change(
        &ctx,
        &req,
        &state,
        DeskChange {
            number: &number,
            version: expected,
            comment,
            change: Change::Reopen,
            done: "The ticket is open again.",
        },
    )
    .await
}

#[derive(Deserialize)]
pub struct RemoveRecipientForm {}

#[tracing::instrument(skip_all)]
pub async fn remove_recipient(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    _form: CsrfForm<RemoveRecipientForm>,
) -> Result<HttpResponse, AppError> {
    let principal = support_only(&ctx, &state, &req).await?;
    let (number, user_id) = path.into_inner();
    let number = TicketNumber::parse(&number).ok_or(AppError::NotFound)?;
    let user_id: i64 = user_id.parse().map_err(|_| AppError::NotFound)?;
    let ticket = state.store.ticket(number.id()).await?.ok_or(AppError::NotFound)?;
    let recipients = state.store.ticket_recipients(ticket.id).await?;
    let person = recipients.into_iter().find(|r| r.id == user_id).ok_or(AppError::NotFound)?;
    if state.store.remove_recipient(ticket.id, person.id, &person.name, principal.user_id, state.clock.now()).await? {
        let event = Event { kind: EventKind::RecipientRemoved, from: Some(person.name.clone()), to: None };
        record_ticket_events(&state, &req, principal, number, Some(ticket.account_id), &[event]).await?;
    }
    ctx.session().flash(FlashLevel::Success, format!("{} is no longer a recipient.", person.name));
    Ok(see_other(&paths::ticket(number)))
}

#[derive(Deserialize)]
pub struct RemoveAttachmentForm {}

/// Removes a file from a ticket (uploaded by mistake, or infected); the bytes go with the last
/// file that names them.
#[tracing::instrument(skip_all)]
pub async fn remove_attachment(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    _form: CsrfForm<RemoveAttachmentForm>,
) -> Result<HttpResponse, AppError> {
    let principal = support_only(&ctx, &state, &req).await?;
    policy::may_remove_attachment(principal)?;
    let (number, id) = path.into_inner();
    let (number, file) = visible_attachment(&state, principal, Some(&number), &id).await?;
    if state.store.remove_attachment(&file.public_id, state.clock.now()).await? {
        if let Err(error) = state.files.delete_listed().await {
            tracing::warn!(?error, "could not delete a removed file's bytes; housekeeping will");
        }
        let ticket = state.store.ticket(number.id()).await?.ok_or(AppError::NotFound)?;
        let mut actor = Actor::from(principal);
        actor.account_id = Some(ticket.account_id);
        SecurityEvent::new("attachment_removed", actor)
            .target(number.to_string())
            .detail(file.name.clone())
            .record(&state, &req)
            .await?;
    }
    ctx.session().flash(FlashLevel::Success, format!("{} is removed from the ticket.", file.name));
    Ok(see_other(&paths::ticket(number)))
}
