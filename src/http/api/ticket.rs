//! One ticket through the original provider's API: its details, its comments (read and add), and
//! the moves it allows (list and make). Visibility, permissions and internal notes are exactly the
//! pages': the same rules, the same store calls, and changes go through `change_ticket`, so they
//! are recorded and notified like the pages'.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::{IntoParams, ToSchema};

use super::caller::ApiCaller;
use super::doc::{OriginalError, enumeration, integer, query_param, text_matching};
use super::query::{ApiQuery, family, one_of, whole_number};
use super::wire::{
    DEFAULT_RESULTS, MAX_RESULTS, MAX_RESULTS_ACCEPTED, Person, RequestType, Status, date, json_body, request_type,
};
use crate::domain::input;
use crate::domain::lifecycle::{Change, TicketState, Transition};
use crate::domain::policy;
use crate::domain::ticket::{EventKind, TicketNumber, TicketStatus};
use crate::error::AppError;
use crate::http::ticket_forms::{change_error, record_ticket_events};
use crate::http::ticket_page::{TicketView, visible_ticket};
use crate::paths;
use crate::state::AppState;
use crate::store::{ChangeResult, CommentInput, PersonRef, TicketRecord};

/// A ticket number in a path, as the document's pattern allows it; anything else names no ticket.
fn ticket_number(raw: &str) -> Result<TicketNumber, AppError> {
    let digits = match raw.get(..4) {
        Some(prefix) if prefix.eq_ignore_ascii_case(TicketNumber::PREFIX) => &raw[4..],
        _ => raw,
    };
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AppError::NotFound);
    }
    TicketNumber::parse(raw).ok_or(AppError::NotFound)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Organization {
    /// The account number.
    pub id: i64,
    pub name: String,
}

/// A change of status in the ticket's history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusChange {
    #[schema(pattern = "^(open|requires_attention|closed)$")]
    pub from_status_id: String,
    #[schema(pattern = "^(Open|Requires Attention|Closed)$")]
    pub from_status_string: String,
    #[schema(pattern = "^(open|requires_attention|closed)$")]
    pub to_status_id: String,
    #[schema(pattern = "^(Open|Requires Attention|Closed)$")]
    pub to_status_string: String,
    #[schema(format = DateTime)]
    pub status_date: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketDetails {
    #[schema(pattern = "^ATS-[0-9]+$")]
    pub issue_key_id: String,
    pub summary: String,
    pub description: String,
    pub assignee: Option<Person>,
    pub reporter: Person,
    /// The ticket's recipients, who see it besides its reporter.
    pub participants: Vec<Person>,
    /// The customer account the ticket belongs to.
    pub organizations: Vec<Organization>,
    pub current_status: Status,
    pub request_type: RequestType,
    #[schema(format = DateTime)]
    pub created_date: String,
    #[schema(format = DateTime)]
    pub updated_date: String,
    /// Every change of status, oldest first.
    pub transitions: Vec<StatusChange>,
    #[schema(pattern = "^(Low|Medium|High|Critical)$")]
    pub severity: Option<String>,
    pub closure_requested: bool,
}

/// The path parameter of a ticket.
pub struct TicketPath;

const TICKET_NUMBER_PATTERN: &str = "^([Aa][Tt][Ss]-)?[0-9]{1,18}$";

impl IntoParams for TicketPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name("issueKeyId")
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some("The ticket number, `ATS-1234` (or just `1234`). A ticket the caller may not see answers 404, as a missing one does."))
                .schema(Some(text_matching(TICKET_NUMBER_PATTERN, None)))
                .build(),
        ]
    }
}

fn status_change(kind: EventKind, from: Option<&str>, to: Option<&str>, at: DateTime<Utc>) -> Option<StatusChange> {
    let (from, to) = match kind {
        EventKind::StatusChanged | EventKind::Closed => (from?.parse::<TicketStatus>().ok()?, to?.parse().ok()?),
        EventKind::Reopened => (TicketStatus::Closed, TicketStatus::Open),
        _ => return None,
    };
    Some(StatusChange {
        from_status_id: from.code().into(),
        from_status_string: from.name().into(),
        to_status_id: to.code().into(),
        to_status_string: to.name().into(),
        status_date: date(at),
    })
}

/// A ticket the caller may see (the ticket page's rule), by the number in the path.
async fn ticket_for(
    state: &AppState,
    caller: &ApiCaller,
    number: &str,
) -> Result<(TicketNumber, TicketRecord, Vec<PersonRef>), AppError> {
    // The permission first (403 whatever the number), as the pages do.
    policy::ticket_list_scope(&caller.principal)?;
    let number = ticket_number(number)?;
    visible_ticket(state, &caller.principal, &number.to_string(), TicketView::Ticket).await
}

/// Get Ticket Details.
#[utoipa::path(
    get,
    path = "/tickets/{issueKeyId}/details",
    operation_id = "ticket_details",
    tag = "Support tickets",
    params(TicketPath),
    responses(
        (status = 200, description = "The ticket", body = TicketDetails),
        (status = 401, description = "Missing or invalid credentials", body = OriginalError),
        (status = 403, description = "Missing Read Ticket, or an invalid account context", body = OriginalError),
        (status = 404, description = "No such ticket, or one the caller may not see", body = OriginalError),
        (status = 429, description = "Too many calls with this key; see Retry-After", body = OriginalError),
    ),
    security(("ARMOR-PSK" = []), ("FH-AUTH" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn ticket_details(
    caller: ApiCaller,
    number: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let (number, ticket, recipients) = ticket_for(&state, &caller, &number).await?;
    let reads = state.reads().await;
    let events = reads.ticket_events(ticket.id).await?;
    let transitions = events
        .iter()
        .filter_map(|e| {
            let kind = EventKind::from_code(&e.kind)?;
            status_change(kind, e.from_value.as_deref(), e.to_value.as_deref(), e.created_at)
        })
        .collect();
    let opener = reads.ticket_openers(&[ticket.id]).await?;
    let reporter = opener.first().map_or_else(
        || Person { name: String::new(), email_address: None, display_name: ticket.opener_name.clone() },
        |(_, p)| Person::customer(p),
    );
    Ok(HttpResponse::Ok().json(TicketDetails {
        issue_key_id: number.to_string(),
        summary: ticket.summary.clone(),
        description: ticket.description.clone(),
        assignee: Some(Person::desk()),
        reporter,
        participants: recipients.iter().map(Person::customer).collect(),
        organizations: vec![Organization { id: ticket.account_number, name: ticket.account_name.clone() }],
        current_status: ticket.status.into(),
        request_type: request_type(ticket.severity.is_some()),
        created_date: date(ticket.created_at),
        updated_date: date(ticket.updated_at),
        transitions,
        severity: ticket.severity.map(|s| s.name().into()),
        closure_requested: ticket.closure_requested_at.is_some(),
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    pub id: i64,
    pub creator: Person,
    pub comment: String,
    #[schema(format = DateTime)]
    pub created_date: String,
    /// `public`; `internal` for support's internal notes, which only support staff ever see.
    #[schema(pattern = "^(public|internal)$")]
    pub visibility: String,
    pub public: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommentList {
    #[schema(minimum = 0)]
    pub start: u32,
    /// The page size used: `limit`, at most 100.
    #[schema(minimum = 1, maximum = 100)]
    pub limit: u32,
    /// Comments on this page.
    #[schema(minimum = 0, maximum = 100)]
    pub size: u32,
    /// Comments the caller may read, across all pages.
    #[schema(minimum = 0)]
    pub total: u32,
    pub is_last_page: bool,
    pub values: Vec<Comment>,
}

/// The query of a ticket's comments.
pub struct CommentListParams;

pub const COMMENT_PARAMS: [&str; 4] = ["start", "limit", "sortField", "sortOrder"];
const SORT_FIELDS: [&str; 2] = ["created", "createdDate"];
const SORT_ORDERS: [&str; 4] = ["ASC", "DESC", "asc", "desc"];
const MAX_START: u64 = 1_000_000;

impl IntoParams for CommentListParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut params = TicketPath::into_params(|| None);
        params.extend([
            query_param("start", "How many comments to skip (default 0).", integer(0, MAX_START)),
            query_param(
                "limit",
                "Comments per page (default 50); values above 100 give pages of 100, as the response's limit says.",
                integer(1, MAX_RESULTS_ACCEPTED),
            ),
            query_param("sortField", "Comments are sorted by their time.", enumeration(&SORT_FIELDS)),
            query_param(
                "sortOrder",
                "Oldest first (ASC, the default) or newest first (DESC).",
                enumeration(&SORT_ORDERS),
            ),
        ]);
        params
    }
}

/// Get Ticket Comments: the thread, without internal notes for customers.
#[utoipa::path(
    get,
    path = "/tickets/{issueKeyId}/comments",
    operation_id = "ticket_comments",
    tag = "Support tickets",
    params(CommentListParams),
    responses(
        (status = 200, description = "One page of the ticket's comments", body = CommentList),
        (status = 400, description = "A bad value", body = OriginalError),
        (status = 401, description = "Missing or invalid credentials", body = OriginalError),
        (status = 403, description = "Missing Read Ticket, or an invalid account context", body = OriginalError),
        (status = 404, description = "No such ticket, or one the caller may not see", body = OriginalError),
        (status = 429, description = "Too many calls with this key; see Retry-After", body = OriginalError),
    ),
    security(("ARMOR-PSK" = []), ("FH-AUTH" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn ticket_comments(
    caller: ApiCaller,
    req: HttpRequest,
    number: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let query = ApiQuery::parse(family(&req), req.query_string(), &COMMENT_PARAMS)?;
    let start = whole_number(query.value("start")?, "start", 0, MAX_START)?.unwrap_or(0) as usize;
    let limit = whole_number(query.value("limit")?, "limit", 1, MAX_RESULTS_ACCEPTED)?
        .map_or(DEFAULT_RESULTS, |n| n.min(u64::from(MAX_RESULTS)) as u32);
    one_of(query.value("sortField")?, "sortField", &SORT_FIELDS)?;
    let newest_first = matches!(one_of(query.value("sortOrder")?, "sortOrder", &SORT_ORDERS)?, Some("DESC" | "desc"));
    let (_, ticket, _) = ticket_for(&state, &caller, &number).await?;
    let mut comments =
        state.reads().await.ticket_comments(ticket.id, policy::sees_internal_notes(&caller.principal)).await?;
    if newest_first {
        comments.reverse();
    }
    let total = comments.len();
    let values: Vec<Comment> = comments
        .iter()
        .skip(start)
        .take(limit as usize)
        .map(|c| Comment {
            id: c.id,
            creator: Person::author(c),
            comment: c.body.clone(),
            created_date: date(c.created_at),
            visibility: if c.internal { "internal" } else { "public" }.into(),
            public: !c.internal,
        })
        .collect();
    Ok(HttpResponse::Ok().json(CommentList {
        start: start.min(u32::MAX as usize) as u32,
        limit,
        size: values.len() as u32,
        total: total as u32,
        is_last_page: start.saturating_add(values.len()) >= total,
        values,
    }))
}

/// A new comment, as the original's clients send it (other fields, such as `issueKeyId`, are
/// ignored: the path names the ticket).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewComment {
    comment: String,
    /// `false` asks for an internal note, which only support staff may write.
    is_public: Option<bool>,
}

/// The text of a comment: at most 20,000 characters as sent, then the portal's rule for text.
fn comment_text(raw: &str, required: bool) -> Result<String, AppError> {
    if raw.chars().count() > input::MAX_TEXT_CHARS {
        return Err(AppError::BadRequest(format!(
            "The comment is too long: at most {} characters.",
            input::MAX_TEXT_CHARS
        )));
    }
    input::text(raw, required, "a comment").map_err(AppError::BadRequest)
}

/// Add Ticket Comment. A customer's comment on a ticket that Requires Attention hands it back to
/// support, as on the ticket's page.
#[utoipa::path(
    post,
    path = "/tickets/{issueKeyId}/comments",
    operation_id = "add_ticket_comment",
    tag = "Support tickets",
    params(TicketPath),
    request_body(content = NewCommentSchema, description = "The comment. The content type is not checked: the body is read as JSON."),
    responses(
        (status = 200, description = "The comment is added", body = bool, content_type = "application/json"),
        (status = 400, description = "A body that is not the documented JSON, or an empty, too long or unprintable comment", body = OriginalError),
        (status = 401, description = "Missing or invalid credentials", body = OriginalError),
        (status = 403, description = "Missing Write Ticket, an internal note from a customer, a session without X-CSRF-Token, or an invalid account context", body = OriginalError),
        (status = 404, description = "No such ticket, or one the caller may not see", body = OriginalError),
        (status = 413, description = "A body of more than 256 KiB", body = OriginalError),
        (status = 429, description = "Too many calls with this key; see Retry-After", body = OriginalError),
    ),
    security(("ARMOR-PSK" = []), ("FH-AUTH" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn add_ticket_comment(
    caller: ApiCaller,
    req: HttpRequest,
    number: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let form: NewComment = json_body(&caller.body)?;
    let principal = &caller.principal;
    policy::may_write_tickets(principal)?;
    let (number, ticket, _) = ticket_for(&state, &caller, &number).await?;
    let internal = form.is_public == Some(false);
    if internal && !policy::sees_internal_notes(principal) {
        // Refused rather than stored for everyone on the ticket to read: the writer meant it for
        // fewer eyes than a public comment has.
        return Err(AppError::Forbidden(
            "Internal notes are for Armor Support; a customer's comment is always public (isPublic: true).".into(),
        ));
    }
    let body = comment_text(&form.comment, true)?;
    let changes = if principal.is_support() { vec![] } else { vec![Change::CustomerComment] };
    let comment = CommentInput { body, internal, submission_key: None };
    let reload = paths::ticket(number);
    let result = state
        .store
        .change_ticket(ticket.id, principal.user_id, None, Some(&comment), &changes, state.clock.now())
        .await
        .map_err(|e| change_error(e, reload))?;
    if let ChangeResult::Applied(outcome) = result {
        record_ticket_events(&state, &req, principal, number, Some(ticket.account_id), &outcome.events).await?;
    }
    Ok(HttpResponse::Ok().json(true))
}

/// The body of a new comment, as the document states it (see `doc`).
pub struct NewCommentSchema;

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
            super::query::shorten(&request.transition_id),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_counted_as_sent_then_held_to_the_text_rule() {
        assert!(comment_text("  \n\t ", true).is_err());
        assert!(comment_text("\u{feff}", true).is_ok(), "not whitespace to Rust, nor to the pattern");
        assert!(comment_text("a\u{7}", true).is_err());
        assert!(comment_text(&"é".repeat(20_000), true).is_ok());
        assert!(comment_text(&format!(" {}", "é".repeat(20_000)), true).is_err(), "counted as sent");
    }

    #[test]
    fn ticket_numbers_in_paths_are_exact() {
        assert_eq!(ticket_number("ATS-12").unwrap(), TicketNumber::from_id(12));
        assert_eq!(ticket_number("ats-12").unwrap(), TicketNumber::from_id(12));
        assert_eq!(ticket_number("12").unwrap(), TicketNumber::from_id(12));
        for bad in [" 12", "ATS-", "ATS-12 ", "ATS--1", "+12", "ATS-0"] {
            assert!(ticket_number(bad).is_err(), "{bad}");
        }
    }
}
