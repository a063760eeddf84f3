//! The form to open a ticket: a customer's own, or support staff's on a customer's behalf.

use askama::Template;

use super::layout::Layout;
use super::widgets::Choice;
use crate::domain::attachment::{Limits, size_text};

/// The name of the file input of every form that takes attachments.
pub const FILES_FIELD: &str = "attachments";

/// The file input of a form that takes attachments: its name and what it accepts.
pub struct UploadHint {
    pub field: &'static str,
    /// "Up to 10 files, 25 MB each."
    pub text: String,
}

impl UploadHint {
    pub fn new(limits: &Limits) -> UploadHint {
        UploadHint {
            field: FILES_FIELD,
            text: format!("Up to {} files, {} each.", limits.max_files, size_text(limits.max_file_bytes)),
        }
    }
}

pub struct PersonChoice {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub checked: bool,
}

/// What was typed, with the messages of the fields that need fixing.
#[derive(Debug, Clone, Default)]
pub struct TicketDraft {
    pub summary: String,
    pub description: String,
    pub recipient_ids: Vec<i64>,
    pub opener_id: Option<i64>,
    pub errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "pages/new_ticket.html")]
pub struct NewTicketPage {
    pub layout: Layout,
    pub action: &'static str,
    pub back_href: &'static str,
    pub submission_key: String,
    pub draft: TicketDraft,
    pub people: Vec<PersonChoice>,
    /// Support staff: the accounts to choose from, before the rest of the form.
    pub accounts: Vec<Choice>,
    /// Support staff, once an account is chosen: its number and who the ticket is from.
    pub account: Option<(i64, String)>,
    pub openers: Vec<Choice>,
    pub upload: UploadHint,
}
