use askama::Template;

use chrono_tz::Tz;

use crate::paths;
use crate::store::AccountSummary;
use crate::views::format::{Timestamp, timestamp};
use crate::views::layout::Layout;

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

/// An account as the list shows it, with a link to its tickets in the queue.
pub fn account_row(account: AccountSummary, zone: Tz) -> AccountRow {
    AccountRow {
        queue_href: paths::with_query(paths::DESK_QUEUE, &format!("account={}", account.number)),
        number: account.number,
        name: account.name,
        users: account.users,
        open_incidents: account.open_incidents,
        created: timestamp(account.created_at, zone),
    }
}
