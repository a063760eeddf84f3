//! A customer's ticket: its pages, comments, recipients, and opening a ticket.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::audit::{Actor, SecurityEvent};
use super::context::PageContext;
use super::csrf::CsrfForm;
use super::respond::see_other;
use super::ticket_forms::{
    change_error, forged, insert_once, person_choices, recipient_ids, record_ticket_events, submission_key,
    validate_new_ticket,
};
use super::ticket_page::{PageErrors, TicketView, render_ticket, visible_ticket};
use super::uploads::{TicketForm, discard_files, receive_files};
use crate::auth::session::{FlashLevel, new_token};
use crate::domain::input;
use crate::domain::lifecycle::{Change, Event};
use crate::domain::policy;
use crate::domain::principal::Principal;
use crate::domain::ticket::{TicketNumber, TicketStatus};
use crate::error::AppError;
use crate::paths;
use crate::state::AppState;
use crate::store::{ChangeResult, CommentInput, NewTicket, PersonRef};
use crate::views::new_ticket::{NewTicketPage, TicketDraft, UploadHint};
use crate::views::render;
use crate::views::ticket::CommentDraft;

#[tracing::instrument(skip_all, fields(number = %number))]
pub async fn incident_page(
    ctx: PageContext,
    number: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    render_ticket(&ctx, &state, &number, TicketView::Incident, PageErrors::default()).await
}

#[tracing::instrument(skip_all, fields(number = %number))]
pub async fn ticket_page(
    ctx: PageContext,
    number: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    render_ticket(&ctx, &state, &number, TicketView::Ticket, PageErrors::default()).await
}

#[derive(Deserialize)]
pub struct CommentFormData {
    body: String,
    return_to: Option<String>,
    submission_key: Option<String>,
    request_closure: Option<String>,
    internal: Option<String>,
}

#[tracing::instrument(skip_all, fields(number = %number))]
pub async fn add_comment(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    number: web::Path<String>,
    TicketForm { form, files }: TicketForm<CommentFormData>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    policy::may_write_tickets(principal)?;
    let (number, ticket, _) = visible_ticket(&state, principal, &number, TicketView::Ticket).await?;
    let internal = form.internal.is_some();
    let request_closure = form.request_closure.is_some();
    if internal && !policy::sees_internal_notes(principal) {
        return Err(forged(&state, &req, principal, "internal note by a customer").await);
    }
    if request_closure && principal.is_support() {
        return Err(AppError::BadRequest("Support staff close incidents; they do not request closure.".into()));
    }
    let view = TicketView::returning_to(form.return_to.as_deref(), number);
    // A comment may be only files.
    let with_files = files.as_ref().is_some_and(|f| f.has_files());
    let body = match input::text(&form.body, !with_files, "a comment") {
        Ok(body) => body,
        Err(message) => {
            discard_files(files).await;
            let message = if with_files { format!("{message} Choose the files again.") } else { message };
            let draft = CommentDraft { body: form.body, request_closure, internal, error: Some(message) };
            let errors = PageErrors { comment: Some(draft), desk: None };
            return render_ticket(&ctx, &state, &number.to_string(), view, errors).await;
        }
    };
    let mut changes = Vec::new();
    if !principal.is_support() {
        changes.push(Change::CustomerComment);
        if request_closure {
            changes.push(Change::RequestClosure);
        }
    }
    let mut staged = state.files.staging();
    let attachments = receive_files(&state, files, ticket.account_id, &mut staged).await?;
    let count = attachments.files.len();
    let comment = CommentInput { body, internal, submission_key: submission_key(form.submission_key.as_deref()) };
    let reload = view.path(number);
    let result = state
        .store
        .change_ticket_with_files(
            ticket.id,
            principal.user_id,
            None,
            Some((&comment, &attachments)),
            &changes,
            state.clock.now(),
        )
        .await
        .map_err(|e| change_error(e, reload.clone()))?;
    let message = match result {
        ChangeResult::Applied(outcome) => {
            state.files.settle(staged).await;
            record_ticket_events(&state, &req, principal, number, Some(ticket.account_id), &outcome.events).await?;
            let what = match (request_closure, internal) {
                (true, _) => {
                    "Your comment is added and closure is requested. Armor Support will verify and close the incident."
                }
                (_, true) => "Internal note added.",
                _ => "Comment added.",
            };
            match count {
                0 => what.to_string(),
                1 => format!("{what} 1 file is attached."),
                n => format!("{what} {n} files are attached."),
            }
        }
        // Its files were stored with the first copy; this copy's are deleted with `staged`.
        ChangeResult::Duplicate => "That comment was already added.".to_string(),
    };
    ctx.session().flash(FlashLevel::Success, message);
    Ok(see_other(&reload))
}

#[derive(Deserialize)]
pub struct RecipientFormData {
    user_id: String,
    return_to: Option<String>,
}

#[tracing::instrument(skip_all, fields(number = %number))]
pub async fn add_recipient(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    number: web::Path<String>,
    CsrfForm(form): CsrfForm<RecipientFormData>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    policy::may_write_tickets(principal)?;
    let (number, ticket, recipients) = visible_ticket(&state, principal, &number, TicketView::Ticket).await?;
    let reload = TicketView::returning_to(form.return_to.as_deref(), number).path(number);
    if ticket.status == TicketStatus::Closed {
        return Err(AppError::Conflict {
            message: "Recipients cannot be added to a closed ticket.".into(),
            reload: Some(reload),
        });
    }
    // Only users of the ticket's own account can be named; anyone else is answered alike.
    let people = state.store.account_people(ticket.account_id).await?;
    let person = form
        .user_id
        .trim()
        .parse::<i64>()
        .ok()
        .and_then(|id| people.into_iter().find(|p| p.id == id))
        .ok_or_else(|| AppError::BadRequest("Choose a recipient from the list of your account's users.".into()))?;
    if person.id == ticket.opener_id || recipients.iter().any(|r| r.id == person.id) {
        ctx.session().flash(FlashLevel::Info, format!("{} already sees this ticket.", person.name));
        return Ok(see_other(&reload));
    }
    let now = state.clock.now();
    state.store.add_recipient(ticket.id, person.id, &person.name, principal.user_id, now).await?;
    let event =
        Event { kind: crate::domain::ticket::EventKind::RecipientAdded, from: None, to: Some(person.name.clone()) };
    record_ticket_events(&state, &req, principal, number, Some(ticket.account_id), &[event]).await?;
    ctx.session().flash(FlashLevel::Success, format!("{} is now a recipient and sees this ticket.", person.name));
    Ok(see_other(&reload))
}

fn new_ticket_page(
    ctx: &PageContext,
    state: &AppState,
    people: Vec<PersonRef>,
    principal: &Principal,
    draft: TicketDraft,
) -> NewTicketPage {
    NewTicketPage {
        layout: ctx.layout("Open a ticket"),
        action: paths::TICKETS,
        back_href: paths::TICKETS,
        submission_key: new_token(),
        people: person_choices(people, Some(principal.user_id), &draft.recipient_ids),
        draft,
        accounts: Vec::new(),
        account: None,
        openers: Vec::new(),
        upload: UploadHint::new(&state.settings.attachments.limits),
    }
}

fn customer_account(principal: &Principal) -> Result<i64, AppError> {
    principal
        .account()
        .map(|a| a.id)
        .ok_or_else(|| AppError::Forbidden("Support staff open tickets from the support desk.".into()))
}

#[tracing::instrument(skip_all)]
pub async fn new_ticket_form(ctx: PageContext, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    policy::may_write_tickets(principal)?;
    if principal.is_support() {
        return Ok(see_other(paths::DESK_NEW_TICKET));
    }
    let people = state.store.account_people(customer_account(principal)?).await?;
    render(StatusCode::OK, &new_ticket_page(&ctx, &state, people, principal, TicketDraft::default()))
}

#[derive(Deserialize)]
pub struct NewTicketForm {
    pub summary: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub recipient: Vec<String>,
    pub submission_key: Option<String>,
}

#[tracing::instrument(skip_all)]
pub async fn open_ticket(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    TicketForm { form, files }: TicketForm<NewTicketForm>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    policy::may_write_tickets(principal)?;
    let account_id = customer_account(principal)?;
    let key = submission_key(form.submission_key.as_deref());
    if let Some(existing) = match &key {
        Some(key) => state.store.ticket_by_submission(key).await?,
        None => None,
    } {
        discard_files(files).await;
        return Ok(see_other(&paths::ticket(TicketNumber::from_id(existing))));
    }
    let people = state.store.account_people(account_id).await?;
    let mut draft = TicketDraft {
        summary: form.summary,
        description: form.description,
        recipient_ids: recipient_ids(&form.recipient)?,
        opener_id: None,
        errors: Vec::new(),
    };
    let with_files = files.as_ref().is_some_and(|f| f.has_files());
    let Some((summary, description)) = validate_new_ticket(&mut draft, &people, principal.user_id) else {
        discard_files(files).await;
        if with_files {
            draft.errors.push("Choose the files again: they were not kept.".into());
        }
        let page = new_ticket_page(&ctx, &state, people, principal, draft);
        return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    let mut staged = state.files.staging();
    let attachments = receive_files(&state, files, account_id, &mut staged).await?;
    let ticket = NewTicket {
        account_id,
        opener_id: principal.user_id,
        created_by: principal.user_id,
        summary,
        description,
        recipient_ids: draft.recipient_ids,
        status: TicketStatus::Open,
        severity: None,
        created_at: state.clock.now(),
        submission_key: key.clone(),
        notify_desk: true,
    };
    let number = insert_once(&state, &ticket, &attachments, staged).await?;
    SecurityEvent::new("ticket_opened", Actor::from(principal)).target(number.to_string()).record(&state, &req).await?;
    ctx.session().flash(FlashLevel::Success, format!("Ticket {number} is open. Armor Support will reply here."));
    Ok(see_other(&paths::ticket(number)))
}
