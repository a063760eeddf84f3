//! One ticket through the original provider's API: its details here, its comments (read and add)
//! in `comments`, and the moves it allows (list and make) in `transitions`. Visibility,
//! permissions and internal notes are exactly the pages': the same rules, the same store calls,
//! and changes go through `change_ticket`, so they are recorded and notified like the pages'.

pub mod comments;
pub mod transitions;

pub use comments::{Comment, CommentList, NewCommentSchema, add_ticket_comment, ticket_comments};
pub use transitions::{
    TransitionRequestSchema, TransitionResult, TransitionView, ticket_transitions, transition_ticket,
};

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::{IntoParams, ToSchema};

use super::caller::ApiCaller;
use super::doc::{OriginalError, text_matching};
use super::wire::{Person, RequestType, Status, date, request_type};
use crate::domain::input;
use crate::domain::policy;
use crate::domain::ticket::{EventKind, TicketNumber, TicketStatus};
use crate::error::AppError;
use crate::http::ticket_page::{TicketView, visible_ticket};
use crate::state::AppState;
use crate::store::{PersonRef, TicketRecord};

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
