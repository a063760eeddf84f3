//! One ticket's page (an incident's page too): its facts, thread and history, and the forms the
//! reader may use.

use askama::Template;
use chrono_tz::Tz;

use super::format::{SeverityBadge, Timestamp, severity_badge, timestamp};
use super::layout::Layout;
use super::new_ticket::UploadHint;
use super::widgets::Choice;
use crate::domain::attachment::{ScanState, shown_type, size_text};
use crate::domain::ticket::{EventKind, Severity, TicketNumber, TicketStatus};
use crate::store::{AttachmentRecord, CommentRecord, EventRecord, PersonRef, TicketRecord};

pub struct CommentView {
    pub author: String,
    pub by_support: bool,
    pub internal: bool,
    pub body: String,
    pub created: Timestamp,
    pub attachments: Vec<AttachmentView>,
}

/// One file as a ticket's page lists it.
pub struct AttachmentView {
    pub name: String,
    pub size: String,
    pub kind: String,
    pub uploader: String,
    pub added: Timestamp,
    /// Where it downloads from, when the reader may download it.
    pub download: Option<String>,
    /// A preview the server re-encoded, for images the reader may download.
    pub preview: Option<String>,
    /// Why it cannot be downloaded, or what the virus scan said.
    pub note: Option<String>,
    /// The virus scan found something: flagged for support staff.
    pub infected: bool,
    /// Support staff remove a file here.
    pub remove_action: Option<String>,
}

/// What the reader may do with one file, decided by the handler from the rules.
#[derive(Debug, Clone, Default)]
pub struct AttachmentLinks {
    pub download: Option<String>,
    pub preview: Option<String>,
    pub remove: Option<String>,
}

/// What the page says of a file's virus scan, to support staff or to a customer.
fn scan_note(record: &AttachmentRecord, for_support: bool) -> Option<String> {
    match (record.scan, for_support) {
        (ScanState::Pending, false) => {
            Some("Waiting for the virus scan: it can be downloaded once it is found clean.".into())
        }
        (ScanState::Pending, true) => Some("Not virus-scanned yet.".into()),
        (ScanState::Infected, _) => Some(format!(
            "Held: the virus scan found {}. It cannot be downloaded.",
            record.scan_detail.as_deref().unwrap_or("a threat")
        )),
        (ScanState::Unchecked, _) => Some("Not virus-scanned: the scanner was unavailable.".into()),
        (ScanState::NotScanned | ScanState::Clean, _) => None,
    }
}

pub fn attachment_view(
    record: &AttachmentRecord,
    links: AttachmentLinks,
    zone: Tz,
    for_support: bool,
) -> AttachmentView {
    AttachmentView {
        name: record.name.clone(),
        size: size_text(u64::try_from(record.size).unwrap_or(0)),
        kind: shown_type(record.detected_type.as_deref(), record.declared_type.as_deref()),
        uploader: if record.uploader_is_support && !for_support {
            format!("{} (Armor Support)", record.uploader_name)
        } else {
            record.uploader_name.clone()
        },
        added: timestamp(record.created_at, zone),
        download: links.download,
        preview: links.preview,
        note: scan_note(record, for_support),
        infected: record.scan == ScanState::Infected,
        remove_action: links.remove,
    }
}

pub struct HistoryItem {
    pub actor: String,
    pub text: String,
    pub at: Timestamp,
}

pub struct ClosureRequest {
    pub by: String,
    pub at: Timestamp,
}

pub struct RecipientView {
    pub name: String,
    pub email: String,
    /// Support staff can take a recipient off the ticket.
    pub remove_action: Option<String>,
}

/// What the reader typed, kept when the form comes back with an error.
#[derive(Debug, Clone, Default)]
pub struct CommentDraft {
    pub body: String,
    pub request_closure: bool,
    pub internal: bool,
    pub error: Option<String>,
}

pub struct CommentForm {
    pub action: String,
    pub return_to: String,
    pub submission_key: String,
    pub draft: CommentDraft,
    /// A customer on an open incident may ask for it to be closed.
    pub can_request_closure: bool,
    /// Support staff may write internal notes.
    pub can_write_internal: bool,
    pub closed: bool,
    pub upload: UploadHint,
}

pub struct RecipientForm {
    pub action: String,
    pub return_to: String,
    pub choices: Vec<PersonRef>,
}

/// "Don't notify me" / "Notify me": a customer on the ticket turns its mails off or on.
pub struct NotifyToggle {
    pub action: String,
    pub return_to: String,
    /// The reader chose "Don't notify me".
    pub muted: bool,
}

/// The support desk's controls on a ticket; every form carries the version the page showed.
pub struct DeskControls {
    pub version: i64,
    pub return_to: String,
    pub severity_action: String,
    pub severities: Vec<Choice>,
    pub status_action: String,
    pub statuses: Vec<Choice>,
    pub close_action: Option<String>,
    pub decline_action: Option<String>,
    pub reopen_action: Option<String>,
    /// A desk form came back with this message.
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/ticket.html")]
pub struct TicketPage {
    pub layout: Layout,
    pub number: String,
    pub summary: String,
    pub description: String,
    pub severity: Option<SeverityBadge>,
    pub status: String,
    pub requires_attention: bool,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub closed: Option<Timestamp>,
    pub opener: String,
    /// Shown to support staff, who see every account.
    pub account: Option<String>,
    pub recipients: Vec<RecipientView>,
    pub closure_request: Option<ClosureRequest>,
    pub comments: Vec<CommentView>,
    /// Files added when the ticket was opened.
    pub attachments: Vec<AttachmentView>,
    pub history: Vec<HistoryItem>,
    pub back_href: &'static str,
    pub back_label: &'static str,
    pub comment_form: Option<CommentForm>,
    pub recipient_form: Option<RecipientForm>,
    pub desk: Option<DeskControls>,
    pub notify_toggle: Option<NotifyToggle>,
    /// Why there is no comment form, when there is none.
    pub read_only_note: Option<&'static str>,
}

/// Everything a ticket page shows, before the reader-dependent forms are added.
pub struct TicketContent {
    pub ticket: TicketRecord,
    pub recipients: Vec<PersonRef>,
    pub comments: Vec<CommentRecord>,
    pub events: Vec<EventRecord>,
    /// The files the reader sees, with what they may do with each.
    pub attachments: Vec<(AttachmentRecord, AttachmentLinks)>,
}

impl TicketPage {
    pub fn new(
        layout: Layout,
        content: TicketContent,
        zone: Tz,
        for_support: bool,
        back: (&'static str, &'static str),
    ) -> TicketPage {
        let TicketContent { ticket, recipients, comments, events, attachments } = content;
        let files_of = |comment: Option<i64>| -> Vec<AttachmentView> {
            attachments
                .iter()
                .filter(|(record, _)| record.comment_id == comment)
                .map(|(record, links)| attachment_view(record, links.clone(), zone, for_support))
                .collect()
        };
        TicketPage {
            layout,
            number: TicketNumber::from_id(ticket.id).to_string(),
            severity: ticket.severity.map(severity_badge),
            status: ticket.status.name().to_string(),
            requires_attention: ticket.status == TicketStatus::RequiresAttention,
            created: timestamp(ticket.created_at, zone),
            updated: timestamp(ticket.updated_at, zone),
            closed: ticket.closed_at.map(|at| timestamp(at, zone)),
            opener: ticket.opener_name,
            account: for_support.then(|| format!("{} ({})", ticket.account_name, ticket.account_number)),
            recipients: recipients
                .into_iter()
                .map(|p| RecipientView { name: p.name, email: p.email, remove_action: None })
                .collect(),
            closure_request: ticket.closure_requested_at.map(|at| ClosureRequest {
                by: ticket.closure_requested_by_name.unwrap_or_default(),
                at: timestamp(at, zone),
            }),
            comments: comments
                .into_iter()
                .map(|c| CommentView {
                    attachments: files_of(Some(c.id)),
                    author: c.author_name,
                    by_support: c.author_is_support,
                    internal: c.internal,
                    body: c.body,
                    created: timestamp(c.created_at, zone),
                })
                .collect(),
            attachments: files_of(None),
            history: events.iter().map(|e| history_item(e, zone)).collect(),
            summary: ticket.summary,
            description: ticket.description,
            back_href: back.0,
            back_label: back.1,
            comment_form: None,
            recipient_form: None,
            desk: None,
            notify_toggle: None,
            read_only_note: None,
        }
    }
}

fn history_item(event: &EventRecord, zone: Tz) -> HistoryItem {
    let from = event.from_value.as_deref().unwrap_or("");
    let to = event.to_value.as_deref().unwrap_or("");
    let text = match EventKind::from_code(&event.kind) {
        Some(EventKind::Opened) => "opened the ticket".to_string(),
        Some(EventKind::Labelled) => format!("labelled it a security incident, severity {to}"),
        Some(EventKind::SeverityChanged) => format!("changed the severity from {from} to {to}"),
        Some(EventKind::Unlabelled) => format!("removed the security incident label (was {from})"),
        Some(EventKind::StatusChanged) => format!("changed the status from {from} to {to}"),
        Some(EventKind::RecipientAdded) => format!("added {to} as a recipient"),
        Some(EventKind::RecipientRemoved) => format!("removed {from} as a recipient"),
        Some(EventKind::ClosureRequested) => "requested closure".to_string(),
        Some(EventKind::ClosureWithdrawn) => "withdrew the closure request".to_string(),
        Some(EventKind::ClosureDeclined) => "declined the closure request".to_string(),
        Some(EventKind::Closed) => "closed the ticket".to_string(),
        Some(EventKind::Reopened) => "reopened the ticket".to_string(),
        None => event.kind.replace('_', " "),
    };
    let actor = match (&event.actor_name, event.actor_is_support) {
        (Some(name), Some(true)) => format!("{name} (Armor Support)"),
        (Some(name), _) => name.clone(),
        (None, _) => "Armor Support".to_string(),
    };
    HistoryItem { actor, text, at: timestamp(event.created_at, zone) }
}

/// The severity choices of the desk's label form: "not an incident" and the four severities.
pub fn severity_choices(current: Option<Severity>) -> Vec<Choice> {
    let mut choices =
        vec![Choice { value: String::new(), label: "Not a security incident".into(), selected: current.is_none() }];
    choices.extend(Severity::ALL.into_iter().map(|s| Choice {
        value: s.name().into(),
        label: s.name().into(),
        selected: current == Some(s),
    }));
    choices
}

pub fn status_choices(current: TicketStatus) -> Vec<Choice> {
    TicketStatus::ACTIVE
        .into_iter()
        .map(|s| Choice { value: s.code().into(), label: s.name().into(), selected: s == current })
        .collect()
}
