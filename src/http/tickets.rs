//! One ticket: its page (also an incident's page), comments, recipients, and opening a ticket.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::audit::{Actor, SecurityEvent};
use super::context::PageContext;
use super::csrf::CsrfForm;
use super::sign_in::see_other;
use crate::auth::session::{FlashLevel, new_token};
use crate::domain::input;
use crate::domain::lifecycle::{Change, Event};
use crate::domain::policy::{self, TicketFacts};
use crate::domain::principal::Principal;
use crate::domain::ticket::{TicketNumber, TicketStatus};
use crate::error::AppError;
use crate::paths;
use crate::state::AppState;
use crate::store::{ChangeError, ChangeResult, CommentInput, NewTicket, PersonRef, TicketRecord};
use crate::views::new_ticket::{NewTicketPage, PersonChoice, TicketDraft};
use crate::views::render;
use crate::views::ticket::{
    CommentDraft, CommentForm, DeskControls, RecipientForm, TicketContent, TicketPage, severity_choices, status_choices,
};

/// The two pages a ticket is shown on: an incident under Security, any ticket under Support.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketView {
    Incident,
    Ticket,
}

impl TicketView {
    fn path(self, number: TicketNumber) -> String {
        match self {
            TicketView::Incident => paths::incident(number),
            TicketView::Ticket => paths::ticket(number),
        }
    }

    fn back(self, principal: &Principal) -> (&'static str, &'static str) {
        match (self, principal.is_support()) {
            (_, true) => (paths::DESK_QUEUE, "Back to the ticket queue"),
            (TicketView::Incident, false) => (paths::INCIDENTS, "Back to Security Incidents"),
            (TicketView::Ticket, false) => (paths::TICKETS, "Back to Support Tickets"),
        }
    }
}

/// A ticket the principal may see, with its recipients. The page's permissions are checked first
/// (403, whatever the number); then another account's ticket, an invisible one and a missing one
/// all answer the same 404. The incident page shows only labelled tickets.
pub async fn visible_ticket(
    state: &AppState,
    principal: &Principal,
    number: &str,
    view: TicketView,
) -> Result<(TicketNumber, TicketRecord, Vec<PersonRef>), AppError> {
    match view {
        TicketView::Incident => policy::incident_screen_scope(principal)?,
        TicketView::Ticket => policy::ticket_list_scope(principal)?,
    };
    let number = TicketNumber::parse(number).ok_or(AppError::NotFound)?;
    let ticket = state.store.ticket(number.id()).await?.ok_or(AppError::NotFound)?;
    let recipients = state.store.ticket_recipients(ticket.id).await?;
    let recipient_ids: Vec<i64> = recipients.iter().map(|r| r.id).collect();
    let facts =
        TicketFacts { account_id: ticket.account_id, opener_id: ticket.opener_id, recipient_ids: &recipient_ids };
    if !policy::can_see_ticket(principal, &facts) || (view == TicketView::Incident && ticket.severity.is_none()) {
        return Err(AppError::NotFound);
    }
    Ok((number, ticket, recipients))
}

/// An error to show on the re-rendered page, next to the form it concerns.
#[derive(Default)]
pub struct PageErrors {
    pub comment: Option<CommentDraft>,
    pub desk: Option<String>,
}

pub async fn render_ticket(
    ctx: &PageContext,
    state: &AppState,
    number: &str,
    view: TicketView,
    errors: PageErrors,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let (number, ticket, recipients) = visible_ticket(state, principal, number, view).await?;
    let comments = state.store.ticket_comments(ticket.id, policy::sees_internal_notes(principal)).await?;
    let events = state.store.ticket_events(ticket.id).await?;
    let closed = ticket.status == TicketStatus::Closed.code();
    let return_to = view.path(number);
    let may_write = policy::may_write_tickets(principal).is_ok();

    let recipient_form = if may_write && !closed {
        let people = state.store.account_people(ticket.account_id).await?;
        let choices = people
            .into_iter()
            .filter(|p| p.id != ticket.opener_id && !recipients.iter().any(|r| r.id == p.id))
            .collect();
        Some(RecipientForm { action: paths::ticket_recipients(number), return_to: return_to.clone(), choices })
    } else {
        None
    };
    let comment_form = may_write.then(|| CommentForm {
        action: paths::ticket_comments(number),
        return_to: return_to.clone(),
        submission_key: new_token(),
        can_request_closure: !principal.is_support()
            && ticket.severity.is_some()
            && !closed
            && ticket.closure_requested_at.is_none(),
        can_write_internal: principal.is_support(),
        closed,
        draft: errors.comment.unwrap_or_default(),
    });
    let desk = principal.is_support().then(|| DeskControls {
        version: ticket.version,
        return_to: return_to.clone(),
        severity_action: paths::desk_ticket_action(number, "severity"),
        severities: severity_choices(ticket.severity),
        status_action: paths::desk_ticket_action(number, "status"),
        statuses: status_choices(&ticket.status),
        close_action: (!closed).then(|| paths::desk_ticket_action(number, "close")),
        decline_action: ticket.closure_requested_at.map(|_| paths::desk_ticket_action(number, "decline-closure")),
        reopen_action: closed.then(|| paths::desk_ticket_action(number, "reopen")),
        error: errors.desk,
    });
    let remove_actions: Vec<Option<String>> =
        recipients.iter().map(|r| principal.is_support().then(|| paths::desk_remove_recipient(number, r.id))).collect();
    let title = format!("{number} · {}", ticket.summary);
    let content = TicketContent { ticket, recipients, comments, events };
    let mut page =
        TicketPage::new(ctx.layout(title), content, principal.time_zone, principal.is_support(), view.back(principal));
    for (recipient, action) in page.recipients.iter_mut().zip(remove_actions) {
        recipient.remove_action = action;
    }
    page.read_only_note = (!may_write)
        .then_some("You can read this ticket. Commenting needs the Write Ticket permission; your account administrator can grant it.");
    page.comment_form = comment_form;
    page.recipient_form = recipient_form;
    page.desk = desk;
    let has_errors = page.desk.as_ref().is_some_and(|d| d.error.is_some())
        || page.comment_form.as_ref().is_some_and(|f| f.draft.error.is_some());
    let status = if has_errors { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    render(status, &page)
}

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

/// The page a form returns to: the incident or the ticket page of this very ticket.
fn return_view(return_to: Option<&str>, number: TicketNumber) -> TicketView {
    if return_to == Some(paths::incident(number).as_str()) { TicketView::Incident } else { TicketView::Ticket }
}

/// Records each history entry of a change as a security event too (label, severity, status,
/// closure, reopening), so the audit log holds them with the request id.
pub async fn record_ticket_events(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    number: TicketNumber,
    account_id: Option<i64>,
    events: &[Event],
) -> Result<(), AppError> {
    for event in events {
        let mut actor = Actor::from(principal);
        actor.account_id = actor.account_id.or(account_id);
        let detail = match (&event.from, &event.to) {
            (Some(from), Some(to)) => format!("{from} → {to}"),
            (None, Some(to)) => to.clone(),
            (Some(from), None) => from.clone(),
            (None, None) => String::new(),
        };
        SecurityEvent::new(event.kind.audit_action(), actor)
            .target(number.to_string())
            .detail(detail)
            .record(state, req)
            .await?;
    }
    Ok(())
}

/// A control the user was never shown was used: refuse it and say so in the security log.
pub async fn forged(state: &AppState, req: &HttpRequest, principal: &Principal, what: &str) -> AppError {
    let event = SecurityEvent::new("forged_action", Actor::from(principal))
        .target(req.path().to_string())
        .detail(what.to_string());
    if let Err(error) = event.record(state, req).await {
        return error;
    }
    AppError::Forbidden("You may not do this.".into())
}

pub fn change_error(error: ChangeError, reload: String) -> AppError {
    match error {
        ChangeError::NotFound => AppError::NotFound,
        ChangeError::Stale => AppError::Conflict {
            message: "Someone changed this ticket after you loaded the page, so nothing was applied. Reload it to see the change, then try again.".into(),
            reload: Some(reload),
        },
        ChangeError::Rule(rule) => AppError::Conflict { message: rule.to_string(), reload: Some(reload) },
        ChangeError::Store(store) => store.into(),
    }
}

/// A one-time form key as the form sent it; anything else is ignored (no deduplication).
fn submission_key(raw: Option<&str>) -> Option<String> {
    raw.filter(|k| {
        (16..=64).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
    .map(str::to_string)
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
    CsrfForm(form): CsrfForm<CommentFormData>,
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
    let view = return_view(form.return_to.as_deref(), number);
    let body = match input::text(&form.body, true, "a comment") {
        Ok(body) => body,
        Err(message) => {
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
    let comment = CommentInput { body, internal, submission_key: submission_key(form.submission_key.as_deref()) };
    let reload = view.path(number);
    let result = state
        .store
        .change_ticket(ticket.id, principal.user_id, None, Some(&comment), &changes, state.clock.now())
        .await
        .map_err(|e| change_error(e, reload.clone()))?;
    let message = match result {
        ChangeResult::Applied(outcome) => {
            record_ticket_events(&state, &req, principal, number, Some(ticket.account_id), &outcome.events).await?;
            match (request_closure, internal) {
                (true, _) => {
                    "Your comment is added and closure is requested. Armor Support will verify and close the incident."
                }
                (_, true) => "Internal note added.",
                _ => "Comment added.",
            }
        }
        ChangeResult::Duplicate => "That comment was already added.",
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
    let reload = return_view(form.return_to.as_deref(), number).path(number);
    if ticket.status == TicketStatus::Closed.code() {
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

/// Checks a new ticket's fields against the people of its account; the messages go back to the form.
pub fn validate_new_ticket(draft: &mut TicketDraft, people: &[PersonRef], opener_id: i64) -> Option<(String, String)> {
    let summary = input::summary(&draft.summary).map_err(|e| draft.errors.push(e)).ok();
    let description = input::text(&draft.description, false, "a description").map_err(|e| draft.errors.push(e)).ok();
    if draft.recipient_ids.iter().any(|id| *id == opener_id || !people.iter().any(|p| p.id == *id)) {
        draft.errors.push("Recipients must be other users of the account.".into());
    }
    draft.recipient_ids.sort_unstable();
    draft.recipient_ids.dedup();
    match (summary, description) {
        (Some(summary), Some(description)) if draft.errors.is_empty() => Some((summary, description)),
        _ => None,
    }
}

pub fn person_choices(people: Vec<PersonRef>, exclude: Option<i64>, checked: &[i64]) -> Vec<PersonChoice> {
    people
        .into_iter()
        .filter(|p| Some(p.id) != exclude)
        .map(|p| PersonChoice { checked: checked.contains(&p.id), id: p.id, name: p.name, email: p.email })
        .collect()
}

fn new_ticket_page(
    ctx: &PageContext,
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
    render(StatusCode::OK, &new_ticket_page(&ctx, people, principal, TicketDraft::default()))
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

/// Recipient ids as the form sent them; anything that is not a number cannot be a recipient.
pub fn recipient_ids(raw: &[String]) -> Result<Vec<i64>, AppError> {
    raw.iter()
        .map(|id| {
            id.trim()
                .parse::<i64>()
                .map_err(|_| AppError::BadRequest("Recipients must be chosen from the list.".into()))
        })
        .collect()
}

#[tracing::instrument(skip_all)]
pub async fn open_ticket(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<NewTicketForm>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    policy::may_write_tickets(principal)?;
    let account_id = customer_account(principal)?;
    let key = submission_key(form.submission_key.as_deref());
    if let Some(existing) = match &key {
        Some(key) => state.store.ticket_by_submission(key).await?,
        None => None,
    } {
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
    let Some((summary, description)) = validate_new_ticket(&mut draft, &people, principal.user_id) else {
        return render(StatusCode::UNPROCESSABLE_ENTITY, &new_ticket_page(&ctx, people, principal, draft));
    };
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
    };
    let number = insert_once(&state, &ticket).await?;
    SecurityEvent::new("ticket_opened", Actor::from(principal)).target(number.to_string()).record(&state, &req).await?;
    ctx.session().flash(FlashLevel::Success, format!("Ticket {number} is open. Armor Support will reply here."));
    Ok(see_other(&paths::ticket(number)))
}

/// Inserts a new ticket; a second copy of the same form (a double click) finds the first.
pub async fn insert_once(state: &AppState, ticket: &NewTicket) -> Result<TicketNumber, AppError> {
    match state.store.insert_ticket(ticket).await {
        Ok(id) => Ok(TicketNumber::from_id(id)),
        Err(crate::store::StoreError::Duplicate(_)) => {
            let key = ticket.submission_key.as_deref().unwrap_or_default();
            let id = state.store.ticket_by_submission(key).await?.ok_or(AppError::NotFound)?;
            Ok(TicketNumber::from_id(id))
        }
        Err(error) => Err(error.into()),
    }
}
