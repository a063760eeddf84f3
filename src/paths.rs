//! Every path of the portal, in one place. Routes are registered from these and links are built
//! from them, so a path changes here or nowhere.

use crate::domain::ticket::TicketNumber;

pub const HOME: &str = "/";
pub const LOGIN: &str = "/login";
pub const LOGIN_VERIFY: &str = "/login/verify";
pub const LOGOUT: &str = "/logout";
pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";
pub const STATIC: &str = "/static";
pub const STATIC_ASSET_ROUTE: &str = "/static/{name}";

pub const SECURITY: &str = "/security";
pub const INCIDENTS: &str = "/security/incidents";
pub const INCIDENTS_CSV: &str = "/security/incidents.csv";
/// Relative to [`SECURITY`], for the route table.
pub const INCIDENT_ROUTE: &str = "/incidents/{number}";

pub const SUPPORT: &str = "/support";
pub const TICKETS: &str = "/support/tickets";
pub const TICKETS_CSV: &str = "/support/tickets.csv";
pub const NEW_TICKET: &str = "/support/tickets/new";
/// Relative to [`SUPPORT`].
pub const TICKET_ROUTE: &str = "/tickets/{number}";

pub const PASSWORD_SET: &str = "/password/set";

/// The set-password page with a one-time `token` (URL-safe already).
pub fn password_set_with(token: &str) -> String {
    format!("{PASSWORD_SET}?token={token}")
}

pub const DASHBOARD: &str = "/security/dashboard";
pub const DASHBOARD_PANEL: &str = "/security/dashboard/panel";

pub const ACCOUNT: &str = "/account";
pub const USERS: &str = "/account/users";
pub const NEW_USER: &str = "/account/users/new";
pub const ROLES: &str = "/account/roles";
pub const ACCOUNT_TWO_FACTOR: &str = "/account/two-factor";
pub const PROFILE: &str = "/account/profile";
pub const PROFILE_PASSWORD: &str = "/account/profile/password";
pub const SIGN_OUT_EVERYWHERE: &str = "/account/profile/sign-out-everywhere";
pub const TWO_FACTOR: &str = "/account/profile/two-factor";
pub const TWO_FACTOR_RECOVERY_CODES: &str = "/account/profile/two-factor/recovery-codes";
pub const TWO_FACTOR_DISABLE: &str = "/account/profile/two-factor/disable";

pub fn user(id: i64) -> String {
    format!("{USERS}/{id}")
}

/// A user's forms: `roles`, `disable`, `enable`, `password-link`.
pub fn user_action(id: i64, action: &str) -> String {
    format!("{USERS}/{id}/{action}")
}

pub fn role(id: i64) -> String {
    format!("{ROLES}/{id}")
}

/// A role's forms: `rename`, `permissions`, `members`, `delete`.
pub fn role_action(id: i64, action: &str) -> String {
    format!("{ROLES}/{id}/{action}")
}

pub fn remove_role_member(role_id: i64, user_id: i64) -> String {
    format!("{ROLES}/{role_id}/members/{user_id}/remove")
}
pub const API_KEYS: &str = "/account/api-keys";

pub const API: &str = "/api/v1";
pub const API_INCIDENTS: &str = "/api/v1/security-incidents";
pub const API_SEVERITY_COUNT: &str = "/api/v1/security-incidents/severity-count";
pub const API_ME: &str = "/api/v1/me";
pub const API_OPENAPI: &str = "/api/v1/openapi.json";
pub const API_DOCS: &str = "/docs/api";

pub fn revoke_api_key(key_id: &str) -> String {
    format!("{API_KEYS}/{key_id}/revoke")
}

pub const DESK: &str = "/desk";
pub const DESK_QUEUE: &str = "/desk/queue";
pub const DESK_QUEUE_CSV: &str = "/desk/queue.csv";
pub const DESK_TICKETS: &str = "/desk/tickets";
pub const DESK_NEW_TICKET: &str = "/desk/tickets/new";
pub const DESK_ACCOUNTS: &str = "/desk/accounts";
pub const DESK_NEW_ACCOUNT: &str = "/desk/accounts/new";
pub const DESK_STAFF: &str = "/desk/staff";
pub const DESK_AUDIT: &str = "/desk/audit";

pub fn incident(number: TicketNumber) -> String {
    format!("{INCIDENTS}/{number}")
}

pub fn ticket(number: TicketNumber) -> String {
    format!("{TICKETS}/{number}")
}

pub fn ticket_comments(number: TicketNumber) -> String {
    format!("{TICKETS}/{number}/comments")
}

pub fn ticket_recipients(number: TicketNumber) -> String {
    format!("{TICKETS}/{number}/recipients")
}

/// The support desk's forms on a ticket: `severity`, `status`, `close`, `decline-closure`, `reopen`.
pub fn desk_ticket_action(number: TicketNumber, action: &str) -> String {
    format!("{DESK_TICKETS}/{number}/{action}")
}

pub fn desk_remove_recipient(number: TicketNumber, user_id: i64) -> String {
    format!("{DESK_TICKETS}/{number}/recipients/{user_id}/remove")
}

/// `path?query`, or just `path` for an empty query.
pub fn with_query(path: &str, query: &str) -> String {
    if query.is_empty() { path.to_string() } else { format!("{path}?{query}") }
}

/// The sign-in page, asked to return to `next` afterwards.
pub fn login_then(next: &str) -> String {
    with_query(LOGIN, &serde_html_form::to_string([("next", next)]).unwrap_or_default())
}

/// A path on this site, proven so by [`LocalPath::parse`]: safe to follow after sign-in and to
/// send as a `Location` header.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct LocalPath(String);

impl From<LocalPath> for String {
    fn from(path: LocalPath) -> String {
        path.0
    }
}

impl TryFrom<String> for LocalPath {
    type Error = &'static str;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        LocalPath::parse(&raw).ok_or("not a path on this site")
    }
}

/// Stands for the portal's own origin when resolving a reference; only its sameness matters.
static OWN_ORIGIN: std::sync::LazyLock<url::Url> =
    std::sync::LazyLock::new(|| url::Url::parse("http://portal.invalid/").expect("a valid URL"));

impl LocalPath {
    /// Accepts `raw` only if a URL parser, resolving it against the portal's own origin, keeps it
    /// on that origin with a path that starts with a single `/`; and only without control or
    /// whitespace characters anywhere (browsers drop tabs and newlines, so `/\t/evil` means
    /// `//evil`). The result is the parser's own, percent-encoded form, never the raw text.
    pub fn parse(raw: &str) -> Option<LocalPath> {
        if !raw.starts_with('/') || raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return None;
        }
        let url = OWN_ORIGIN.join(raw).ok()?;
        if url.origin() != OWN_ORIGIN.origin() || url.username() != "" || url.password().is_some() {
            return None;
        }
        let mut path = url.path().to_string();
        // `/..//evil` resolves to the path `//evil`, which a browser reads as another host.
        if path.starts_with("//") || path.starts_with("/\\") {
            return None;
        }
        if let Some(query) = url.query() {
            path.push('?');
            path.push_str(query);
        }
        Some(LocalPath(path))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The page to return to after sign-in, if `next` names one on this site.
pub fn safe_next(next: Option<&str>) -> Option<LocalPath> {
    next.and_then(LocalPath::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        let next = |raw: &str| safe_next(Some(raw)).map(|p| p.as_str().to_string());
        assert_eq!(next("/security/incidents?severity=High").as_deref(), Some("/security/incidents?severity=High"));
        assert_eq!(next("/support/tickets?q=a b").as_deref(), None, "whitespace is refused, not repaired");
        assert_eq!(next("/support/tickets?q=caf\u{e9}").as_deref(), Some("/support/tickets?q=caf%C3%A9"));
        assert_eq!(next("/a/../b").as_deref(), Some("/b"));
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "\\/evil.example",
            "evil",
            "",
            "/x\r\nSet-Cookie: a=b",
            "/\t/evil.example/x",
            "/\n/evil.example",
            "/ /evil.example",
            "/..//evil.example",
            "/.//evil.example",
            "/%09/evil.example/../..//evil",
            "/\u{b}x",
            "/\u{0}x",
            "/\u{1b}x",
            "/\u{7f}x",
            "/\u{1}x",
            "/\u{a0}/evil.example",
            "/\u{3000}/evil.example",
            "http:/evil.example",
            "/@evil.example",
        ] {
            let parsed = next(bad);
            assert!(
                parsed.as_deref().is_none_or(|p| p.starts_with('/')
                    && !p.starts_with("//")
                    && p.bytes().all(|b| b.is_ascii_graphic())),
                "{bad:?} gave {parsed:?}"
            );
            if bad != "/@evil.example" && bad != "/%09/evil.example/../..//evil" {
                assert_eq!(parsed, None, "{bad:?}");
            }
        }
    }

    #[test]
    fn incident_paths_use_the_ticket_number() {
        assert_eq!(incident(TicketNumber::from_id(100042)), "/security/incidents/ATS-100042");
    }
}
