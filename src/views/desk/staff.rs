use askama::Template;

use crate::views::format::Timestamp;
use crate::views::layout::Layout;

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
