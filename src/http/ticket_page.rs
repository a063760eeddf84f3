//! A ticket's page, shared by the customer's views (an incident under Security, any ticket under
//! Support) and the support desk, whose forms re-render it with their messages.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

use super::context::PageContext;
use crate::auth::session::new_token;
use crate::domain::attachment;
use crate::domain::policy::{self, TicketFacts};
use crate::domain::principal::Principal;
use crate::domain::ticket::{TicketNumber, TicketStatus};
use crate::error::AppError;
use crate::paths;
use crate::state::AppState;
use crate::store::{AttachmentRecord, PersonRef, TicketRecord};
use crate::views::new_ticket::UploadHint;
use crate::views::render;
use crate::views::ticket::{
    AttachmentLinks, CommentDraft, CommentForm, DeskControls, NotifyToggle, RecipientForm, TicketContent, TicketPage,
    severity_choices, status_choices,
};

/// The two pages a ticket is shown on: an incident under Security, any ticket under Support.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketView {
    Incident,
    Ticket,
}

impl TicketView {
    pub fn path(self, number: TicketNumber) -> String {
        match self {
            TicketView::Incident => paths::incident(number),
            TicketView::Ticket => paths::ticket(number),
        }
    }

    /// The page a form returns to: the incident or the ticket page of this very ticket.
    pub fn returning_to(return_to: Option<&str>, number: TicketNumber) -> TicketView {
        if return_to == Some(paths::incident(number).as_str()) { TicketView::Incident } else { TicketView::Ticket }
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
    let reads = state.reads().await;
    let ticket = reads.ticket(number.id()).await?.ok_or(AppError::NotFound)?;
    let recipients = reads.ticket_recipients(ticket.id).await?;
    let recipient_ids: Vec<i64> = recipients.iter().map(|r| r.id).collect();
    let facts =
        TicketFacts { account_id: ticket.account_id, opener_id: ticket.opener_id, recipient_ids: &recipient_ids };
    if !policy::can_see_ticket(principal, &facts) || (view == TicketView::Incident && ticket.severity.is_none()) {
        return Err(AppError::NotFound);
    }
    Ok((number, ticket, recipients))
}

/// A file of a ticket, if the principal may see both: its ticket under the page's rules, and the
/// file itself (a customer never sees an internal note's). When `number` is given, the file must
/// be that ticket's. Every refusal past the permissions answers like a missing file (404).
pub async fn visible_attachment(
    state: &AppState,
    principal: &Principal,
    number: Option<&str>,
    id: &str,
) -> Result<(TicketNumber, AttachmentRecord), AppError> {
    policy::ticket_list_scope(principal)?;
    let id = attachment::parse_public_id(id).ok_or(AppError::NotFound)?;
    let record = state.reads().await.attachment(id).await?.ok_or(AppError::NotFound)?;
    let owner = TicketNumber::from_id(record.ticket_id);
    if number.is_some_and(|n| TicketNumber::parse(n) != Some(owner)) {
        return Err(AppError::NotFound);
    }
    let (number, _, _) = visible_ticket(state, principal, &owner.to_string(), TicketView::Ticket).await?;
    if !policy::sees_attachment(principal, record.internal) {
        return Err(AppError::NotFound);
    }
    Ok((number, record))
}

/// What the reader may do with one of the ticket's files: download it (and see its preview, for
/// an image) unless the virus scan holds it from them; remove it, for support staff.
fn attachment_links(principal: &Principal, number: TicketNumber, file: &AttachmentRecord) -> AttachmentLinks {
    let downloadable = policy::may_download_attachment(principal, file.scan);
    let of = |pattern| paths::of_attachment(pattern, number, &file.public_id);
    AttachmentLinks {
        download: downloadable.then(|| of(paths::TICKET_ATTACHMENT)),
        preview: (downloadable
            && attachment::previewable(file.detected_type.as_deref())
            && file.preview_made != Some(false))
        .then(|| of(paths::TICKET_ATTACHMENT_PREVIEW)),
        remove: policy::may_remove_attachment(principal).is_ok().then(|| of(paths::DESK_ATTACHMENT_REMOVE)),
    }
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
    let reads = state.reads().await;
    let comments = reads.ticket_comments(ticket.id, policy::sees_internal_notes(principal)).await?;
    let attachments = reads.ticket_attachments(ticket.id, policy::sees_internal_notes(principal)).await?;
    let attachments = attachments
        .into_iter()
        .filter(|a| policy::sees_attachment(principal, a.internal))
        .map(|a| {
            let links = attachment_links(principal, number, &a);
            (a, links)
        })
        .collect();
    let events = reads.ticket_events(ticket.id).await?;
    let closed = ticket.status == TicketStatus::Closed;
    let return_to = view.path(number);
    let may_write = policy::may_write_tickets(principal).is_ok();

    let recipient_form = if may_write && !closed {
        let people = reads.account_people(ticket.account_id).await?;
        let choices = people
            .into_iter()
            .filter(|p| p.id != ticket.opener_id && !recipients.iter().any(|r| r.id == p.id))
            .collect();
        Some(RecipientForm {
            action: paths::of_ticket(paths::TICKET_RECIPIENTS, number),
            return_to: return_to.clone(),
            choices,
        })
    } else {
        None
    };
    let comment_form = may_write.then(|| CommentForm {
        action: paths::of_ticket(paths::TICKET_COMMENTS, number),
        return_to: return_to.clone(),
        submission_key: new_token(),
        can_request_closure: !principal.is_support()
            && ticket.severity.is_some()
            && !closed
            && ticket.closure_requested_at.is_none(),
        can_write_internal: principal.is_support(),
        closed,
        draft: errors.comment.unwrap_or_default(),
        upload: UploadHint::new(&state.settings.attachments.limits),
    });
    let desk = principal.is_support().then(|| DeskControls {
        version: ticket.version,
        return_to: return_to.clone(),
        severity_action: paths::of_ticket(paths::DESK_SEVERITY, number),
        severities: severity_choices(ticket.severity),
        status_action: paths::of_ticket(paths::DESK_STATUS, number),
        statuses: status_choices(ticket.status),
        close_action: (!closed).then(|| paths::of_ticket(paths::DESK_CLOSE, number)),
        decline_action: ticket.closure_requested_at.map(|_| paths::of_ticket(paths::DESK_DECLINE_CLOSURE, number)),
        reopen_action: closed.then(|| paths::of_ticket(paths::DESK_REOPEN, number)),
        error: errors.desk,
    });
    // A customer who sees the ticket is on it (its opener or a recipient).
    let notify_toggle = if policy::may_mute_tickets(principal).is_ok() {
        Some(NotifyToggle {
            action: paths::of_ticket(paths::TICKET_NOTIFICATIONS, number),
            return_to: return_to.clone(),
            muted: reads.is_ticket_muted(principal.user_id, ticket.id).await?,
        })
    } else {
        None
    };
    let remove_actions: Vec<Option<String>> =
        recipients.iter().map(|r| principal.is_support().then(|| paths::desk_remove_recipient(number, r.id))).collect();
    let title = format!("{number} · {}", ticket.summary);
    let content = TicketContent { ticket, recipients, comments, events, attachments };
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
    page.notify_toggle = notify_toggle;
    let has_errors = page.desk.as_ref().is_some_and(|d| d.error.is_some())
        || page.comment_form.as_ref().is_some_and(|f| f.draft.error.is_some());
    let status = if has_errors { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    render(status, &page)
}
