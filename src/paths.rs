//! Every path of the portal, in one place. Routes are registered from these patterns and links
//! are filled in from the very same ones, so a path changes here or nowhere. This is the bottom of
//! the house: it depends on nothing else of the portal.

use std::fmt::Display;

pub const HOME: &str = "/";
pub const LOGIN: &str = "/login";
/// The sign-in page with the notice of what just happened.
pub const LOGIN_SIGNED_OUT: &str = "/login?signed_out=1";
pub const LOGIN_EXPIRED: &str = "/login?expired=1";
pub const LOGIN_PASSWORD_SET: &str = "/login?password_set=1";
pub const LOGIN_VERIFY: &str = "/login/verify";
pub const LOGOUT: &str = "/logout";
pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";
/// Prometheus metrics, for a scraper on this host or one holding METRICS_TOKEN.
pub const METRICS: &str = "/metrics";
pub const STATIC: &str = "/static";
pub const STATIC_ASSET: &str = "/static/{name}";
pub const PASSWORD_SET: &str = "/password/set";

pub const DASHBOARD: &str = "/security/dashboard";
pub const DASHBOARD_PANEL: &str = "/security/dashboard/panel";
pub const INCIDENTS: &str = "/security/incidents";
pub const INCIDENTS_CSV: &str = "/security/incidents.csv";
pub const INCIDENT: &str = "/security/incidents/{number}";

pub const TICKETS: &str = "/support/tickets";
pub const TICKETS_CSV: &str = "/support/tickets.csv";
pub const NEW_TICKET: &str = "/support/tickets/new";
pub const TICKET: &str = "/support/tickets/{number}";
pub const TICKET_COMMENTS: &str = "/support/tickets/{number}/comments";
pub const TICKET_RECIPIENTS: &str = "/support/tickets/{number}/recipients";
/// A ticket's file: its download, and the preview re-encoded from an image.
pub const TICKET_ATTACHMENT: &str = "/support/tickets/{number}/attachments/{attachment_id}";
pub const TICKET_ATTACHMENT_PREVIEW: &str = "/support/tickets/{number}/attachments/{attachment_id}/preview";
/// "Don't notify me" / "Notify me" on a ticket.
pub const TICKET_NOTIFICATIONS: &str = "/support/tickets/{number}/notifications";

pub const USERS: &str = "/account/users";
pub const NEW_USER: &str = "/account/users/new";
pub const USER: &str = "/account/users/{user_id}";
pub const USER_ROLES: &str = "/account/users/{user_id}/roles";
pub const USER_DISABLE: &str = "/account/users/{user_id}/disable";
pub const USER_ENABLE: &str = "/account/users/{user_id}/enable";
pub const USER_PASSWORD_LINK: &str = "/account/users/{user_id}/password-link";
pub const USER_RESET_TWO_FACTOR: &str = "/account/users/{user_id}/reset-two-factor";
pub const ACCOUNT_TWO_FACTOR: &str = "/account/two-factor";
pub const ROLES: &str = "/account/roles";
pub const ROLE: &str = "/account/roles/{role_id}";
pub const ROLE_RENAME: &str = "/account/roles/{role_id}/rename";
pub const ROLE_PERMISSIONS: &str = "/account/roles/{role_id}/permissions";
pub const ROLE_MEMBERS: &str = "/account/roles/{role_id}/members";
pub const ROLE_MEMBER_REMOVE: &str = "/account/roles/{role_id}/members/{user_id}/remove";
pub const ROLE_DELETE: &str = "/account/roles/{role_id}/delete";
pub const PROFILE: &str = "/account/profile";
pub const PROFILE_PASSWORD: &str = "/account/profile/password";
pub const SIGN_OUT_EVERYWHERE: &str = "/account/profile/sign-out-everywhere";
pub const TWO_FACTOR: &str = "/account/profile/two-factor";
pub const TWO_FACTOR_RECOVERY_CODES: &str = "/account/profile/two-factor/recovery-codes";
pub const TWO_FACTOR_DISABLE: &str = "/account/profile/two-factor/disable";
pub const PROFILE_NOTIFICATIONS: &str = "/account/profile/notifications";
/// A mail's one-click link, which works without signing in.
pub const UNSUBSCRIBE: &str = "/notifications/unsubscribe";
pub const API_KEYS: &str = "/account/api-keys";
pub const API_KEY_REVOKE: &str = "/account/api-keys/{key_id}/revoke";
pub const WEBHOOKS: &str = "/account/webhooks";
pub const WEBHOOK: &str = "/account/webhooks/{endpoint_id}";
pub const WEBHOOK_ROTATE: &str = "/account/webhooks/{endpoint_id}/rotate-secret";
pub const WEBHOOK_DISABLE: &str = "/account/webhooks/{endpoint_id}/disable";
pub const WEBHOOK_ENABLE: &str = "/account/webhooks/{endpoint_id}/enable";
pub const WEBHOOK_DELETE: &str = "/account/webhooks/{endpoint_id}/delete";
pub const WEBHOOK_SEND_AGAIN: &str = "/account/webhooks/{endpoint_id}/deliveries/{delivery_id}/send-again";
/// The account's switches for the original API: FH-AUTH, and requiring the documented signing.
pub const ACCOUNT_API_ACCESS: &str = "/account/api-access";

pub const API_INCIDENTS: &str = "/api/v1/security-incidents";
pub const API_SEVERITY_COUNT: &str = "/api/v1/security-incidents/severity-count";
pub const API_ME: &str = "/api/v1/me";
pub const API_TICKET_ATTACHMENTS: &str = "/api/v1/tickets/{number}/attachments";
pub const API_ATTACHMENT: &str = "/api/v1/attachments/{attachment_id}";
pub const API_OPENAPI: &str = "/api/v1/openapi.json";
pub const API_DOCS: &str = "/docs/api";

// The original provider's v1 API, at the root of the portal as its clients call it.
pub const ORIGINAL_INCIDENTS: &str = "/security-incidents";
pub const ORIGINAL_SEVERITY_COUNT: &str = "/security-incidents/severity-count";
pub const ORIGINAL_ME: &str = "/me";
pub const ORIGINAL_TICKETS: &str = "/tickets/list";
pub const ORIGINAL_TICKET_DETAILS: &str = "/tickets/{issueKeyId}/details";
pub const ORIGINAL_TICKET_COMMENTS: &str = "/tickets/{issueKeyId}/comments";
pub const ORIGINAL_TICKET_TRANSITION: &str = "/tickets/{issueKeyId}/transition";
/// FH-AUTH, the original's username-and-password token flow.
pub const FH_AUTH_AUTHORIZE: &str = "/auth/authorize";
pub const FH_AUTH_TOKEN: &str = "/auth/token";
pub const FH_AUTH_REISSUE: &str = "/auth/token/reissue";

/// The two families of JSON API paths; each answers errors as JSON in its own shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiFamily {
    /// `/api/v1/…`, the portal's own: errors are `{"code", "message"}`.
    V1,
    /// The original provider's paths at the root: errors are `{"error", "error_description", "status"}`.
    Original,
}

/// Which API family `path` belongs to, if any. The original's paths share the root with the
/// pages, so they are named exactly: `/security/…` (pages) is not `/security-incidents` (API).
pub fn api_family(path: &str) -> Option<ApiFamily> {
    let under = |prefix: &str| path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'));
    if path.starts_with("/api/") {
        Some(ApiFamily::V1)
    } else if path == ORIGINAL_ME || under(ORIGINAL_INCIDENTS) || under("/tickets") || under("/auth") {
        Some(ApiFamily::Original)
    } else {
        None
    }
}

pub const DESK_QUEUE: &str = "/desk/queue";
/// The queue of every ticket, labelled or not.
pub const DESK_QUEUE_EVERY_TICKET: &str = "/desk/queue?labelled=any";
pub const DESK_QUEUE_CSV: &str = "/desk/queue.csv";
pub const DESK_TICKETS: &str = "/desk/tickets";
pub const DESK_NEW_TICKET: &str = "/desk/tickets/new";
pub const DESK_SEVERITY: &str = "/desk/tickets/{number}/severity";
pub const DESK_STATUS: &str = "/desk/tickets/{number}/status";
pub const DESK_CLOSE: &str = "/desk/tickets/{number}/close";
pub const DESK_DECLINE_CLOSURE: &str = "/desk/tickets/{number}/decline-closure";
pub const DESK_REOPEN: &str = "/desk/tickets/{number}/reopen";
pub const DESK_RECIPIENT_REMOVE: &str = "/desk/tickets/{number}/recipients/{user_id}/remove";
pub const DESK_ATTACHMENT_REMOVE: &str = "/desk/tickets/{number}/attachments/{attachment_id}/remove";
pub const DESK_ACCOUNTS: &str = "/desk/accounts";
pub const DESK_NEW_ACCOUNT: &str = "/desk/accounts/new";
pub const DESK_STAFF: &str = "/desk/staff";
pub const DESK_STAFF_RESET_TWO_FACTOR: &str = "/desk/staff/{user_id}/reset-two-factor";
pub const DESK_AUDIT: &str = "/desk/audit";
/// Recent notifications and webhook deliveries, and the outbox's depth.
pub const DESK_NOTIFICATIONS: &str = "/desk/notifications";
/// One delivery, with its mail to read.
pub const DESK_NOTIFICATION: &str = "/desk/notifications/{delivery_id}";

/// Paths whose answer is the same for everyone: the probes and the fixed assets. They never read
/// the session, so a cookie sent with them costs no database read. (Not `/metrics`: refused, it
/// must answer exactly as an unknown path does for the same visitor, signed-in header included.)
pub fn needs_no_session(path: &str) -> bool {
    [HEALTHZ, READYZ].contains(&path) || path.strip_prefix(STATIC).is_some_and(|rest| rest.starts_with('/'))
}

/// A pattern with each `{parameter}` replaced by the next of `values`, in order.
pub fn fill(pattern: &str, values: &[&dyn Display]) -> String {
    let mut path = String::with_capacity(pattern.len() + 16);
    let mut values = values.iter();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        path.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
        match values.next() {
            Some(value) => path.push_str(&value.to_string()),
            None => path.push_str(&rest[open..close]),
        }
        rest = &rest[close..];
    }
    path.push_str(rest);
    path
}

/// A ticket under Security (only labelled tickets are shown there) and under Support.
pub fn incident(number: impl Display) -> String {
    fill(INCIDENT, &[&number])
}

pub fn ticket(number: impl Display) -> String {
    fill(TICKET, &[&number])
}

/// A ticket's own path with its `number` filled in: [`TICKET_COMMENTS`], [`DESK_CLOSE`], …
pub fn of_ticket(pattern: &str, number: impl Display) -> String {
    fill(pattern, &[&number])
}

pub fn desk_remove_recipient(number: impl Display, user_id: i64) -> String {
    fill(DESK_RECIPIENT_REMOVE, &[&number, &user_id])
}

/// A ticket's file's own path ([`TICKET_ATTACHMENT`], [`TICKET_ATTACHMENT_PREVIEW`],
/// [`DESK_ATTACHMENT_REMOVE`]) with the ticket's number and the file's id filled in.
pub fn of_attachment(pattern: &str, number: impl Display, attachment_id: &str) -> String {
    fill(pattern, &[&number, &attachment_id])
}

/// A file's download through the API.
pub fn api_attachment(attachment_id: &str) -> String {
    fill(API_ATTACHMENT, &[&attachment_id])
}

pub fn user(id: i64) -> String {
    fill(USER, &[&id])
}

/// A user's own path with its id filled in: [`USER_ROLES`], [`USER_DISABLE`], …
pub fn of_user(pattern: &str, id: i64) -> String {
    fill(pattern, &[&id])
}

pub fn role(id: i64) -> String {
    fill(ROLE, &[&id])
}

/// A role's own path with its id filled in: [`ROLE_RENAME`], [`ROLE_MEMBERS`], …
pub fn of_role(pattern: &str, id: i64) -> String {
    fill(pattern, &[&id])
}

pub fn remove_role_member(role_id: i64, user_id: i64) -> String {
    fill(ROLE_MEMBER_REMOVE, &[&role_id, &user_id])
}

pub fn revoke_api_key(key_id: &str) -> String {
    fill(API_KEY_REVOKE, &[&key_id])
}

pub fn desk_notification(delivery_id: i64) -> String {
    fill(DESK_NOTIFICATION, &[&delivery_id])
}

pub fn webhook(id: i64) -> String {
    fill(WEBHOOK, &[&id])
}

/// An endpoint's own path with its id filled in: [`WEBHOOK_ROTATE`], [`WEBHOOK_DELETE`], …
pub fn of_webhook(pattern: &str, id: i64) -> String {
    fill(pattern, &[&id])
}

pub fn webhook_send_again(endpoint_id: i64, delivery_id: i64) -> String {
    fill(WEBHOOK_SEND_AGAIN, &[&endpoint_id, &delivery_id])
}

pub fn reset_staff_two_factor(user_id: i64) -> String {
    fill(DESK_STAFF_RESET_TWO_FACTOR, &[&user_id])
}

/// The set-password page with a one-time `token` (URL-safe already).
pub fn password_set_with(token: &str) -> String {
    format!("{PASSWORD_SET}?token={token}")
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
    fn api_paths_are_told_from_pages() {
        for (path, family) in [
            ("/api/v1/me", Some(ApiFamily::V1)),
            ("/api/v1/nothing", Some(ApiFamily::V1)),
            ("/me", Some(ApiFamily::Original)),
            ("/security-incidents", Some(ApiFamily::Original)),
            ("/security-incidents/severity-count", Some(ApiFamily::Original)),
            ("/tickets/list", Some(ApiFamily::Original)),
            ("/tickets/ATS-1/details", Some(ApiFamily::Original)),
            ("/tickets", Some(ApiFamily::Original)),
            ("/auth/token/reissue", Some(ApiFamily::Original)),
            ("/security/incidents", None),
            ("/security/dashboard", None),
            ("/support/tickets", None),
            ("/me-too", None),
            ("/ticketsx", None),
            ("/authority", None),
            ("/security-incidentsx", None),
            ("/", None),
        ] {
            assert_eq!(api_family(path), family, "{path}");
        }
    }

    #[test]
    fn only_probes_and_assets_go_without_a_session() {
        for path in ["/healthz", "/readyz", "/static/app.css"] {
            assert!(needs_no_session(path), "{path}");
        }
        let others =
            ["/", "/login", "/metrics", "/static", "/staticky", "/healthz/x", "/security/incidents", "/api/v1/me"];
        for path in others {
            assert!(!needs_no_session(path), "{path}");
        }
    }

    #[test]
    fn patterns_are_filled_in_order() {
        assert_eq!(incident("ATS-100042"), "/security/incidents/ATS-100042");
        assert_eq!(desk_remove_recipient("ATS-7", 12), "/desk/tickets/ATS-7/recipients/12/remove");
        assert_eq!(of_ticket(DESK_DECLINE_CLOSURE, "ATS-7"), "/desk/tickets/ATS-7/decline-closure");
        assert_eq!(fill(HOME, &[&1]), "/");
        assert_eq!(
            of_attachment(TICKET_ATTACHMENT_PREVIEW, "ATS-7", "abc"),
            "/support/tickets/ATS-7/attachments/abc/preview"
        );
    }
}
