//! A ticket's comments through the original API: one page of the thread (never an internal note
//! for a customer), and a new comment.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::{IntoParams, ToSchema};

use super::{TicketPath, comment_text, ticket_for};
use crate::domain::lifecycle::Change;
use crate::domain::policy;
use crate::error::AppError;
use crate::http::api::caller::ApiCaller;
use crate::http::api::doc::{OriginalError, enumeration, integer, query_param};
use crate::http::api::query::{ApiQuery, family, one_of, whole_number};
use crate::http::api::wire::{DEFAULT_RESULTS, MAX_RESULTS, MAX_RESULTS_ACCEPTED, Person, date, json_body};
use crate::http::ticket_forms::{change_error, record_ticket_events};
use crate::paths;
use crate::state::AppState;
use crate::store::{ChangeResult, CommentInput};

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

const COMMENT_PARAMS: [&str; 4] = ["start", "limit", "sortField", "sortOrder"];
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
