//! Account > Users and Account > Roles + Permissions.

use askama::Template;

use chrono_tz::Tz;

use super::format::{Timestamp, timestamp};
use super::layout::Layout;
use super::widgets::Choice;
use crate::domain::attachment::size_text;
use crate::domain::permission::Permission;
use crate::paths;
use crate::store::{AccountUser, RoleRecord};

pub struct UserListRow {
    pub href: String,
    pub name: String,
    pub email: String,
    pub roles: String,
    pub enabled: bool,
    pub api_keys: i64,
    pub two_factor: bool,
    pub last_sign_in: Option<Timestamp>,
}

#[derive(Template)]
#[template(path = "pages/users.html")]
pub struct UsersPage {
    pub layout: Layout,
    pub users: Vec<UserListRow>,
    pub new_user_href: Option<&'static str>,
    /// Whether the account requires two-factor sign-in; the form to change it for Write Identity.
    pub requires_two_factor: bool,
    pub two_factor_action: Option<&'static str>,
    /// The account's switches for the original provider's API; the form for Write Identity.
    pub fh_auth_enabled: bool,
    pub query_signing_required: bool,
    pub api_access_action: Option<&'static str>,
    /// What the account's attachments take of its quota, for those who manage its users.
    pub attachment_quota: Option<QuotaView>,
}

/// An account's attachment usage against its quota.
pub struct QuotaView {
    pub used: String,
    pub quota: String,
    /// Whole percent, at most 100.
    pub percent: u64,
}

impl QuotaView {
    pub fn new(used: u64, quota: u64) -> QuotaView {
        let percent = used.saturating_mul(100).checked_div(quota).map_or(100, |p| p.min(100));
        QuotaView { used: size_text(used), quota: size_text(quota), percent }
    }
}

#[derive(Debug, Clone, Default)]
pub struct UserDraft {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub role_ids: Vec<i64>,
    pub errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "pages/new_user.html")]
pub struct NewUserPage {
    pub layout: Layout,
    pub action: &'static str,
    pub roles: Vec<Choice>,
    pub draft: UserDraft,
}

pub struct RoleCheck {
    pub id: i64,
    pub name: String,
    pub builtin: bool,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "pages/user.html")]
pub struct UserPage {
    pub layout: Layout,
    pub name: String,
    pub email: String,
    pub enabled: bool,
    pub api_keys: i64,
    pub two_factor: bool,
    pub last_sign_in: Option<Timestamp>,
    pub roles: Vec<RoleCheck>,
    /// The forms, for administrators with Write Identity.
    pub write: bool,
    pub roles_action: String,
    pub toggle_action: String,
    /// Only for a user who has never signed in (see `IdentityRule::SignedInBefore`).
    pub link_action: Option<String>,
    pub reset_two_factor_action: String,
    pub is_self: bool,
    pub error: Option<String>,
}

pub struct RoleListRow {
    pub href: String,
    pub name: String,
    pub builtin: bool,
    pub members: usize,
    pub permissions: String,
}

/// A feature a permission unlocks: its name, pages and API routes.
pub struct UnlockView {
    pub name: &'static str,
    pub pages: Vec<&'static str>,
    pub api: Vec<&'static str>,
}

pub struct PermissionOption {
    pub code: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub checked: bool,
    pub unlocks: Vec<UnlockView>,
}

#[derive(Template)]
#[template(path = "pages/roles.html")]
pub struct RolesPage {
    pub layout: Layout,
    pub roles: Vec<RoleListRow>,
    pub create_action: Option<&'static str>,
    pub permissions: Vec<PermissionOption>,
    pub draft_name: String,
    pub error: Option<String>,
}

pub struct MemberRow {
    pub name: String,
    pub email: String,
    pub remove_action: Option<String>,
}

pub struct Candidate {
    pub id: i64,
    pub label: String,
}

#[derive(Template)]
#[template(path = "pages/role.html")]
pub struct RolePage {
    pub layout: Layout,
    pub name: String,
    pub builtin: bool,
    /// Name and permissions can be changed (custom role, Write Identity).
    pub editable: bool,
    /// Members can be changed (any role, Write Identity).
    pub write: bool,
    pub rename_action: String,
    pub permissions_action: String,
    pub members_action: String,
    pub delete_href: String,
    pub permissions: Vec<PermissionOption>,
    pub members: Vec<MemberRow>,
    pub candidates: Vec<Candidate>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/delete_role.html")]
pub struct DeleteRolePage {
    pub layout: Layout,
    pub name: String,
    pub action: String,
    pub back_href: String,
    pub members: Vec<String>,
}

/// "First Last", as the user gave them.
pub fn display_name(user: &AccountUser) -> String {
    format!("{} {}", user.user.first_name, user.user.last_name).trim().to_string()
}

/// A user as the list shows them, with the names of their roles among `roles`.
pub fn user_list_row(user: AccountUser, roles: &[RoleRecord], zone: Tz) -> UserListRow {
    let role_names: Vec<&str> =
        roles.iter().filter(|r| user.role_ids.contains(&r.id)).map(|r| r.name.as_str()).collect();
    UserListRow {
        href: paths::user(user.user.id),
        name: display_name(&user),
        roles: role_names.join(", "),
        last_sign_in: user.user.last_sign_in_at.map(|at| timestamp(at, zone)),
        email: user.user.email,
        enabled: user.user.enabled,
        api_keys: user.user.api_keys,
        two_factor: user.user.two_factor,
    }
}

/// A role as the list shows it, with the permissions it `granted`.
pub fn role_list_row(role: RoleRecord, granted: &[Permission]) -> RoleListRow {
    RoleListRow {
        href: paths::role(role.id),
        permissions: granted.iter().map(|p| p.name()).collect::<Vec<_>>().join(", "),
        builtin: role.builtin.is_some(),
        members: role.member_ids.len(),
        name: role.name,
    }
}

/// A member of a role; `remove_action` when the reader may take them out.
pub fn member_row(user: &AccountUser, remove_action: Option<String>) -> MemberRow {
    MemberRow { name: display_name(user), email: user.user.email.clone(), remove_action }
}
