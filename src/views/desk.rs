//! The support desk's pages besides the queue: accounts, staff and the audit log.

use askama::Template;

use super::format::Timestamp;
use super::layout::Layout;
use super::ticket_table::{Choice, Pager};

pub struct AccountRow {
    pub number: i64,
    pub name: String,
    pub users: i64,
    pub open_incidents: i64,
    pub queue_href: String,
    pub created: Timestamp,
}

#[derive(Template)]
#[template(path = "pages/desk_accounts.html")]
pub struct AccountsPage {
    pub layout: Layout,
    pub accounts: Vec<AccountRow>,
    pub new_account_href: &'static str,
}

/// The new-account form as typed, with its messages.
#[derive(Debug, Clone, Default)]
pub struct AccountDraft {
    pub name: String,
    pub number: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "pages/desk_new_account.html")]
pub struct NewAccountPage {
    pub layout: Layout,
    pub action: &'static str,
    pub draft: AccountDraft,
}

pub struct StaffRow {
    pub name: String,
    pub email: String,
    pub role: &'static str,
    pub enabled: bool,
    pub two_factor: bool,
    /// Where to reset their two-factor sign-in (not offered for oneself).
    pub reset_two_factor_action: Option<String>,
    pub last_sign_in: Option<Timestamp>,
}

#[derive(Debug, Clone, Default)]
pub struct StaffDraft {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub admin: bool,
    pub errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "pages/desk_staff.html")]
pub struct StaffPage {
    pub layout: Layout,
    pub action: &'static str,
    pub staff: Vec<StaffRow>,
    pub draft: StaffDraft,
}

pub struct AuditRow {
    pub at: Timestamp,
    pub action: String,
    pub actor: String,
    pub account: String,
    pub target: String,
    pub detail: String,
    pub request_id: String,
    /// Enough of the id to recognise it; the whole one is in the tooltip.
    pub request_id_short: String,
    pub client_ip: String,
}

pub struct AuditFilters {
    pub account: String,
    pub actor: String,
    pub actions: Vec<Choice>,
    pub from: String,
    pub until: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "pages/desk_audit.html")]
pub struct AuditPage {
    pub layout: Layout,
    pub action: &'static str,
    pub filters: AuditFilters,
    pub rows: Vec<AuditRow>,
    pub total: i64,
    pub pager: Pager,
}
