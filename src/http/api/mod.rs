//! The public JSON API, in two families of paths served by the same handlers under the same rules:
//! the portal's own `/api/v1/…`, and the original provider's v1 paths at the root
//! (`/security-incidents`, `/me`, `/tickets/…`, `/auth/…`), so that integrations written for the
//! original run by changing only the host name.
//!
//! Callers authenticate with an API key (`Authorization: ARMOR-PSK …`, signed in the documented
//! form or the original's), an FH-AUTH token, or a signed-in browser session (`caller`). Exactly
//! the visibility and permission rules of the pages apply. The OpenAPI document (`doc`) states
//! every constraint the handlers enforce.

mod attachments;
mod caller;
mod doc;
mod fh_auth;
mod incidents;
mod query;
mod ticket;
mod tickets;
mod wire;

pub use attachments::{attachment_download, ticket_attachments};
pub use caller::{ApiCaller, CSRF_HEADER, FH_AUTH_SCHEME};
pub use doc::{ApiDoc, ApiError, FH_AUTH, OriginalError, SIGNING, docs, openapi_json};
pub use fh_auth::{TOKEN_SECONDS, authorize, reissue, token};
pub use incidents::{
    MAX_PAGE_SIZE, Me, SecurityIncident, SecurityIncidentList, SeverityCount, me, security_incidents, severity_count,
};
pub use ticket::{add_ticket_comment, ticket_comments, ticket_details, ticket_transitions, transition_ticket};
pub use tickets::list_tickets;
