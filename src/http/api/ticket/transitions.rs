//! The moves a ticket allows through the original API: a customer requests closure or withdraws
//! the request; support changes the status. Each goes through `change_ticket`, as on the pages.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{TicketPath, comment_text, ticket_for};
use crate::domain::lifecycle::{Change, TicketState, Transition};
use crate::domain::policy;
use crate::error::AppError;
use crate::http::api::caller::ApiCaller;
use crate::http::api::doc::OriginalError;
use crate::http::api::query::shorten;
use crate::http::api::wire::{Status, json_body};
use crate::http::ticket_forms::{change_error, record_ticket_events};
use crate::paths;
use crate::state::AppState;
use crate::store::{ChangeResult, CommentInput, TicketRecord};

/// A move the caller may make on the ticket.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransitionView {
    #[schema(pattern = "^(request_closure|withdraw_closure|open|requires_attention|closed|decline_closure)$")]
    pub id: String,
    pub name: String,
}

/// Get Ticket Transitions: the moves the caller may make now (a customer: request closure or
/// withdraw the request; support: the status changes).
#[utoipa::path(
    get,
    path = "/tickets/{issueKeyId}/transition",
    operation_id = "ticket_transitions",
    tag = "Support tickets",
    params(TicketPath),
    responses(
        (status = 200, description = "The moves available to the caller", body = Vec<TransitionView>),
        (status = 401, description = "Missing or invalid credentials", body = OriginalError),
        (status = 403, description = "Missing Read Ticket, or an invalid account context", body = OriginalError),
        (status = 404, description = "No such ticket, or one the caller may not see", body = OriginalError),
        (status = 429, description = "Too many calls with this key; see Retry-After", body = OriginalError),
    ),
    security(("ARMOR-PSK" = []), ("FH-AUTH" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn ticket_transitions(
    caller: ApiCaller,
    number: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let (_, ticket, _) = ticket_for(&state, &caller, &number).await?;
    let offered: Vec<TransitionView> = policy::transitions_offered(&caller.principal, ticket_state(&ticket))
        .into_iter()
        .map(|t| TransitionView { id: t.id().into(), name: t.name().into() })
        .collect();
    Ok(HttpResponse::Ok().json(offered))
}

fn ticket_state(ticket: &TicketRecord) -> TicketState {
    TicketState {
        status: ticket.status,
        severity: ticket.severity,
        closure_requested: ticket.closure_requested_at.is_some(),
    }
}

/// A move, as clients send it (`ticketNumber` and other fields are ignored: the path decides).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransitionRequest {
    transition_id: String,
    comment: Option<String>,
}

/// The ticket after a move.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransitionResult {
    #[schema(pattern = "^ATS-[0-9]+$")]
    pub issue_key_id: String,
    pub current_status: Status,
    pub closure_requested: bool,
}

/// Transition Ticket: make one of the moves `GET …/transition` offers, with a comment (required
/// to request closure, to close and to decline).
#[utoipa::path(
    post,
    path = "/tickets/{issueKeyId}/transition",
    operation_id = "transition_ticket",
    tag = "Support tickets",
    params(TicketPath),
    request_body(content = TransitionRequestSchema, description = "The move. The content type is not checked: the body is read as JSON."),
    responses(
        (status = 200, description = "The move is made", body = TransitionResult),
        (status = 400, description = "A body that is not the documented JSON, an unknown transition, or a missing, too long or unprintable comment", body = OriginalError),
        (status = 401, description = "Missing or invalid credentials", body = OriginalError),
        (status = 403, description = "A move that is not the caller's (support's or a customer's), missing Write Ticket, a session without X-CSRF-Token, or an invalid account context", body = OriginalError),
        (status = 404, description = "No such ticket, or one the caller may not see", body = OriginalError),
        (status = 409, description = "The ticket as it is does not allow the move (closed, not an incident, nothing requested)", body = OriginalError),
        (status = 413, description = "A body of more than 256 KiB", body = OriginalError),
        (status = 429, description = "Too many calls with this key; see Retry-After", body = OriginalError),
    ),
    security(("ARMOR-PSK" = []), ("FH-AUTH" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn transition_ticket(
    caller: ApiCaller,
    req: HttpRequest,
    number: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let request: TransitionRequest = json_body(&caller.body)?;
    let transition = Transition::from_id(&request.transition_id).ok_or_else(|| {
        let ids: Vec<&str> = Transition::ALL.iter().map(|t| t.id()).collect();
        AppError::BadRequest(format!(
            "Unknown transitionId \"{}\": use {}.",
            shorten(&request.transition_id),
            ids.join(", ")
        ))
    })?;
    let principal = &caller.principal;
    let comment = comment_text(request.comment.as_deref().unwrap_or_default(), transition.needs_comment())?;
    policy::may_transition(principal, transition)?;
    let (number, ticket, _) = ticket_for(&state, &caller, &number).await?;
    let state_now = ticket_state(&ticket);
    let mut changes = Vec::new();
    if !principal.is_support() && !comment.is_empty() {
        changes.push(Change::CustomerComment);
    }
    changes.push(transition.change(state_now));
    let comment =
        (!comment.is_empty()).then_some(CommentInput { body: comment, internal: false, submission_key: None });
    let reload = paths::ticket(number);
    let result = state
        .store
        .change_ticket(ticket.id, principal.user_id, None, comment.as_ref(), &changes, state.clock.now())
        .await
        .map_err(|e| change_error(e, reload))?;
    let after = match result {
        ChangeResult::Applied(outcome) => {
            record_ticket_events(&state, &req, principal, number, Some(ticket.account_id), &outcome.events).await?;
            outcome.state
        }
        ChangeResult::Duplicate => state_now,
    };
    Ok(HttpResponse::Ok().json(TransitionResult {
        issue_key_id: number.to_string(),
        current_status: after.status.into(),
        closure_requested: after.closure_requested,
    }))
}

/// The body of a move, as the document states it (see `doc`): a comment is required to request
/// closure, to close and to decline.
pub struct TransitionRequestSchema;
