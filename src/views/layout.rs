//! What every page shares: title, navigation, the signed-in user, flash messages, CSRF token.

use crate::assets;
use crate::auth::session::Flash;
use crate::domain::policy;
use crate::domain::principal::Principal;
use crate::paths;

pub struct NavLink {
    pub label: &'static str,
    pub href: &'static str,
    pub current: bool,
}

pub struct NavSection {
    pub label: &'static str,
    pub links: Vec<NavLink>,
}

pub struct UserBadge {
    pub name: String,
    /// The user's profile page: name, time zone, password.
    pub profile_href: &'static str,
    /// The customer account's name, or "Armor Support".
    pub organisation: String,
}

pub struct Layout {
    pub title: String,
    pub user: Option<UserBadge>,
    pub nav: Vec<NavSection>,
    pub flashes: Vec<Flash>,
    pub csrf_token: String,
    pub stylesheet_href: &'static str,
    pub script_href: &'static str,
}

impl Layout {
    pub fn new(
        title: impl Into<String>,
        principal: Option<&Principal>,
        csrf_token: String,
        flashes: Vec<Flash>,
        current_path: &str,
    ) -> Layout {
        Layout {
            title: title.into(),
            user: principal.map(|p| UserBadge {
                name: p.display_name.clone(),
                profile_href: paths::PROFILE,
                organisation: p.account().map_or_else(|| "Armor Support".to_string(), |a| a.name.clone()),
            }),
            nav: principal.map(|p| navigation(p, current_path)).unwrap_or_default(),
            flashes,
            // Masked anew on every page (see `token::mask`).
            csrf_token: if csrf_token.is_empty() { csrf_token } else { crate::auth::token::mask(&csrf_token) },
            stylesheet_href: assets::stylesheet_href(),
            script_href: assets::script_href(),
        }
    }
}

/// Only what exists and what this user may open.
fn navigation(principal: &Principal, current_path: &str) -> Vec<NavSection> {
    let link = |label, href: &'static str| NavLink { label, href, current: current_path.starts_with(href) };
    let mut sections = Vec::new();
    if principal.is_support() {
        let mut links = vec![link("Ticket queue", paths::DESK_QUEUE), link("Audit log", paths::DESK_AUDIT)];
        if policy::require_support_admin(principal).is_ok() {
            links.push(link("Accounts", paths::DESK_ACCOUNTS));
            links.push(link("Staff", paths::DESK_STAFF));
            links.push(link("Notifications", paths::DESK_NOTIFICATIONS));
        }
        sections.push(NavSection { label: "Support desk", links });
        return sections;
    }
    let mut security = Vec::new();
    if policy::dashboard_access(principal).is_ok() {
        security.push(link("Security Dashboard", paths::DASHBOARD));
    }
    if policy::incident_screen_scope(principal).is_ok() {
        security.push(link("Security Incidents", paths::INCIDENTS));
    }
    if !security.is_empty() {
        sections.push(NavSection { label: "Security", links: security });
    }
    if policy::ticket_list_scope(principal).is_ok() {
        sections.push(NavSection { label: "Support", links: vec![link("Tickets", paths::TICKETS)] });
    }
    let mut account = Vec::new();
    if policy::identity_access(principal).is_ok() {
        account.push(link("Users", paths::USERS));
        account.push(link("Roles + Permissions", paths::ROLES));
    }
    if policy::api_key_access(principal).is_ok() {
        account.push(link("API Keys", paths::API_KEYS));
    }
    if policy::webhook_access(principal).is_ok() {
        account.push(link("Webhooks", paths::WEBHOOKS));
    }
    if !account.is_empty() {
        sections.push(NavSection { label: "Account", links: account });
    }
    sections
}
