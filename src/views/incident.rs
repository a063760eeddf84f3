//! One incident's page.

use askama::Template;
use chrono_tz::Tz;

use super::format::{SeverityBadge, Timestamp, severity_badge, status_name, timestamp};
use super::layout::Layout;
use crate::domain::ticket::TicketNumber;
use crate::store::{CommentRecord, PersonRef, TicketRecord};

pub struct CommentView {
    pub author: String,
    pub by_support: bool,
    pub internal: bool,
    pub body: String,
    pub created: Timestamp,
}

pub struct ClosureRequest {
    pub by: String,
    pub at: Timestamp,
}

#[derive(Template)]
#[template(path = "pages/incident.html")]
pub struct IncidentPage {
    pub layout: Layout,
    pub number: String,
    pub summary: String,
    pub description: String,
    pub severity: Option<SeverityBadge>,
    pub status: String,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub closed: Option<Timestamp>,
    pub opener: String,
    /// Shown to support staff, who see every account.
    pub account: Option<String>,
    pub recipients: Vec<PersonRef>,
    pub closure_request: Option<ClosureRequest>,
    pub comments: Vec<CommentView>,
    pub back_href: &'static str,
}

impl IncidentPage {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        layout: Layout,
        ticket: TicketRecord,
        recipients: Vec<PersonRef>,
        comments: Vec<CommentRecord>,
        zone: Tz,
        show_account: bool,
        back_href: &'static str,
    ) -> IncidentPage {
        IncidentPage {
            layout,
            number: TicketNumber::from_id(ticket.id).to_string(),
            severity: ticket.severity.and_then(severity_badge),
            status: status_name(&ticket.status),
            created: timestamp(ticket.created_at, zone),
            updated: timestamp(ticket.updated_at, zone),
            closed: ticket.closed_at.map(|at| timestamp(at, zone)),
            opener: ticket.opener_name,
            account: show_account.then(|| format!("{} ({})", ticket.account_name, ticket.account_number)),
            recipients,
            closure_request: ticket.closure_requested_at.map(|at| ClosureRequest {
                by: ticket.closure_requested_by_name.unwrap_or_default(),
                at: timestamp(at, zone),
            }),
            comments: comments
                .into_iter()
                .map(|c| CommentView {
                    author: c.author_name,
                    by_support: c.author_is_support,
                    internal: c.internal,
                    body: c.body,
                    created: timestamp(c.created_at, zone),
                })
                .collect(),
            summary: ticket.summary,
            description: ticket.description,
            back_href,
        }
    }
}
