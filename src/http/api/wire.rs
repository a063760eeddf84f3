//! What the original provider's calls share: its dates, people, request types and statuses, the
//! sizes of its pages, and reading a JSON body the way its clients send one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::ticket::TicketStatus;
use crate::error::AppError;
use crate::store::{CommentRecord, PersonRef};

/// Dates as the API writes them: RFC 3339 in UTC, to the second.
pub fn date(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A person on a ticket. Armor Support's people are shown by name only, as on the pages.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    /// The user's email address; `armor-support` for the provider's staff.
    pub name: String,
    /// `null` for the provider's staff.
    pub email_address: Option<String>,
    pub display_name: String,
}

impl Person {
    pub fn customer(person: &PersonRef) -> Person {
        Person {
            name: person.email.clone(),
            email_address: Some(person.email.clone()),
            display_name: person.name.clone(),
        }
    }

    /// The support desk, which handles every ticket: the `assignee` of all of them.
    pub fn desk() -> Person {
        Person { name: "armor-support".into(), email_address: None, display_name: "Armor Support".into() }
    }

    pub fn author(comment: &CommentRecord) -> Person {
        if comment.author_is_support {
            Person {
                name: "armor-support".into(),
                email_address: None,
                display_name: format!("{} (Armor Support)", comment.author_name),
            }
        } else {
            Person {
                name: comment.author_email.clone(),
                email_address: Some(comment.author_email.clone()),
                display_name: comment.author_name.clone(),
            }
        }
    }
}

/// What kind of ticket it is: a security incident (labelled by support, with a severity) or
/// another support request.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RequestType {
    #[schema(pattern = "^(security-incident|support-request)$")]
    pub id: String,
    pub name: String,
    pub description: String,
}

pub const INCIDENT_TYPE: &str = "security-incident";
pub const SUPPORT_TYPE: &str = "support-request";

pub fn request_type(labelled: bool) -> RequestType {
    let (id, name, description) = if labelled {
        (INCIDENT_TYPE, "Security Incident", "A ticket Armor Support labelled as a security incident, with a severity.")
    } else {
        (SUPPORT_TYPE, "Support Request", "A support ticket that is not labelled as a security incident.")
    };
    RequestType { id: id.into(), name: name.into(), description: description.into() }
}

/// A status, by its id (`open`, `requires_attention`, `closed`) and name.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Status {
    #[schema(pattern = "^(open|requires_attention|closed)$")]
    pub id: String,
    #[schema(pattern = "^(Open|Requires Attention|Closed)$")]
    pub name: String,
}

impl From<TicketStatus> for Status {
    fn from(status: TicketStatus) -> Self {
        Status { id: status.code().into(), name: status.name().into() }
    }
}

/// `maxResults` and `limit` above this are refused; above [`MAX_RESULTS`] they give pages of it.
pub const MAX_RESULTS_ACCEPTED: u64 = 1_000_000;
pub const MAX_RESULTS: u32 = 100;
pub const DEFAULT_RESULTS: u32 = 50;

/// Reads a JSON object whatever the content type says (the original's clients send
/// `application-json`, or nothing).
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    let refused = |error: String| {
        AppError::BadRequest(format!(
            "The body must be a JSON object as documented: {}.",
            super::query::shorten(&error)
        ))
    };
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| refused(e.to_string()))?;
    if !value.is_object() {
        return Err(refused("it is not an object".into()));
    }
    serde_json::from_value(value).map_err(|e| refused(e.to_string()))
}
