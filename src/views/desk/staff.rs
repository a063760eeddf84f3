use askama::Template;

use chrono_tz::Tz;

use crate::paths;
use crate::store::StaffMember;
use crate::views::format::{Timestamp, timestamp};
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

/// A staff member as the list shows them; `resettable` offers the two-factor reset.
pub fn staff_row(member: StaffMember, resettable: bool, zone: Tz) -> StaffRow {
    StaffRow {
        role: if member.is_support_admin { "Support administrator" } else { "Support agent" },
        enabled: member.enabled,
        two_factor: member.two_factor,
        reset_two_factor_action: resettable.then(|| paths::reset_staff_two_factor(member.id)),
        last_sign_in: member.last_sign_in_at.map(|at| timestamp(at, zone)),
        name: member.name,
        email: member.email,
    }
}
