//! Who may see and do what. Every authorization decision of the portal is one of these functions;
//! handlers and the store ask them instead of deciding themselves.

use std::net::IpAddr;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::attachment::ScanState;
use super::credentials::SigningForm;
use super::features::{self, Feature};
use super::lifecycle::{TicketState, Transition};
use super::permission::Permission;
use super::principal::{Principal, PrincipalRole};

/// The Security Incidents screen needs both, as the original documentation says.
pub const INCIDENT_SCREEN_PERMISSIONS: [Permission; 2] = [Permission::ReadTicket, Permission::ReadDashboardStatistics];

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// A customer lacks these permissions; the page names them.
    MissingPermissions(Vec<Permission>),
    /// The page belongs to the provider's support staff.
    SupportOnly,
    /// The page belongs to the provider's support administrators.
    SupportAdminOnly,
    /// The page is about a customer account's own things (API keys, users).
    CustomersOnly,
}

/// Which tickets a list query may return, derived from the rules below and applied by the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketScope {
    /// Support staff see every ticket of every account.
    Everything,
    /// A customer sees tickets of their account that they opened or receive.
    VisibleTo { user_id: i64, account_id: i64 },
}

/// What the visibility rule needs to know about one ticket.
#[derive(Debug, Clone)]
pub struct TicketFacts<'a> {
    pub account_id: i64,
    pub opener_id: i64,
    pub recipient_ids: &'a [i64],
}

/// The core rule: a customer sees a ticket only if it belongs to their account, they opened it or
/// are a recipient on it, and they hold Read Ticket. Account administrators are no exception.
pub fn can_see_ticket(principal: &Principal, ticket: &TicketFacts<'_>) -> bool {
    match &principal.role {
        PrincipalRole::Support { .. } => true,
        PrincipalRole::Customer { account, permissions } => {
            permissions.contains(Permission::ReadTicket)
                && ticket.account_id == account.id
                && (ticket.opener_id == principal.user_id || ticket.recipient_ids.contains(&principal.user_id))
        }
    }
}

/// May this principal open the Security Incidents screen (and its export and incident pages), and
/// if so, which incidents does it list?
pub fn incident_screen_scope(principal: &Principal) -> Result<TicketScope, Denial> {
    match &principal.role {
        PrincipalRole::Support { .. } => Ok(TicketScope::Everything),
        PrincipalRole::Customer { account, permissions } => {
            let missing = permissions.missing(features::SECURITY_INCIDENTS.requires);
            if missing.is_empty() {
                Ok(TicketScope::VisibleTo { user_id: principal.user_id, account_id: account.id })
            } else {
                Err(Denial::MissingPermissions(missing))
            }
        }
    }
}

/// What the Security Dashboard may show a principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardAccess {
    /// Whose incidents the counts and charts cover.
    pub scope: TicketScope,
    /// Whether the incident rows (the Critical Incidents panel) are shown: they need Read Ticket.
    pub rows: bool,
}

/// The dashboard needs Read Dashboard Statistics; its counts cover the incidents the user opened
/// or receives, and its incident rows also need Read Ticket.
pub fn dashboard_access(principal: &Principal) -> Result<DashboardAccess, Denial> {
    match &principal.role {
        PrincipalRole::Support { .. } => Ok(DashboardAccess { scope: TicketScope::Everything, rows: true }),
        PrincipalRole::Customer { account, permissions } => {
            let missing = permissions.missing(features::SECURITY_DASHBOARD.requires);
            if !missing.is_empty() {
                return Err(Denial::MissingPermissions(missing));
            }
            Ok(DashboardAccess {
                scope: TicketScope::VisibleTo { user_id: principal.user_id, account_id: account.id },
                rows: permissions.missing(features::SECURITY_INCIDENTS.requires).is_empty(),
            })
        }
    }
}

/// What a customer may do on the API Keys page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiKeyAccess {
    pub account_id: i64,
    /// Create, see and revoke one's own keys.
    pub manage_own: bool,
    /// See every key of the account.
    pub read_all: bool,
    /// Revoke any key of the account.
    pub delete_all: bool,
}

impl ApiKeyAccess {
    pub fn may_see(&self, principal: &Principal, owner_id: i64) -> bool {
        self.read_all || (self.manage_own && owner_id == principal.user_id)
    }

    pub fn may_revoke(&self, principal: &Principal, owner_id: i64) -> bool {
        self.delete_all || (self.manage_own && owner_id == principal.user_id)
    }
}

/// API keys belong to customer users; the page needs at least one of the three key permissions.
pub fn api_key_access(principal: &Principal) -> Result<ApiKeyAccess, Denial> {
    let PrincipalRole::Customer { account, permissions } = &principal.role else {
        return Err(Denial::CustomersOnly);
    };
    let holds = |feature: &Feature| permissions.missing(feature.requires).is_empty();
    let access = ApiKeyAccess {
        account_id: account.id,
        manage_own: holds(&features::OWN_API_KEYS),
        read_all: holds(&features::ALL_API_KEYS_READ),
        delete_all: holds(&features::ALL_API_KEYS_DELETE),
    };
    if access.manage_own || access.read_all || access.delete_all {
        Ok(access)
    } else {
        Err(Denial::MissingPermissions(vec![Permission::ApiKeysSelfManage]))
    }
}

/// Account > Webhooks: the account whose endpoints a customer holding Manage Webhooks manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookAccess {
    pub account_id: i64,
}

/// Webhooks carry every customer-visible event of the account's tickets, so managing them is a
/// permission of its own (Admin holds it); support staff have no account's endpoints.
pub fn webhook_access(principal: &Principal) -> Result<WebhookAccess, Denial> {
    let PrincipalRole::Customer { account, permissions } = &principal.role else {
        return Err(Denial::CustomersOnly);
    };
    let missing = permissions.missing(features::WEBHOOKS.requires);
    if missing.is_empty() {
        Ok(WebhookAccess { account_id: account.id })
    } else {
        Err(Denial::MissingPermissions(missing))
    }
}

/// What a customer may do with the account's users and roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentityAccess {
    pub account_id: i64,
    /// Create, disable and edit users; create, rename and delete roles; change members and
    /// permissions.
    pub write: bool,
}

/// Account > Users and Account > Roles + Permissions: Read Identity to see (Write Identity
/// implies it), Write Identity to change.
pub fn identity_access(principal: &Principal) -> Result<IdentityAccess, Denial> {
    let PrincipalRole::Customer { account, permissions } = &principal.role else {
        return Err(Denial::CustomersOnly);
    };
    let write = permissions.missing(features::WRITE_IDENTITY.requires).is_empty();
    let read = permissions.missing(features::READ_IDENTITY.requires).is_empty();
    if read || write {
        Ok(IdentityAccess { account_id: account.id, write })
    } else {
        Err(Denial::MissingPermissions(features::READ_IDENTITY.requires.to_vec()))
    }
}

/// Changing users and roles needs Write Identity.
pub fn may_change_identity(principal: &Principal) -> Result<IdentityAccess, Denial> {
    let access = identity_access(principal)?;
    if access.write { Ok(access) } else { Err(Denial::MissingPermissions(features::WRITE_IDENTITY.requires.to_vec())) }
}

/// Support > Tickets: a customer's own and received tickets of every status, with Read Ticket.
pub fn ticket_list_scope(principal: &Principal) -> Result<TicketScope, Denial> {
    match &principal.role {
        PrincipalRole::Support { .. } => Ok(TicketScope::Everything),
        PrincipalRole::Customer { account, permissions } => {
            let missing = permissions.missing(features::SUPPORT_TICKETS.requires);
            if missing.is_empty() {
                Ok(TicketScope::VisibleTo { user_id: principal.user_id, account_id: account.id })
            } else {
                Err(Denial::MissingPermissions(missing))
            }
        }
    }
}

/// Opening tickets, commenting, requesting closure and adding recipients: a customer needs Write
/// Ticket (and, for an existing ticket, to see it); support staff always may.
pub fn may_write_tickets(principal: &Principal) -> Result<(), Denial> {
    match &principal.role {
        PrincipalRole::Support { .. } => Ok(()),
        PrincipalRole::Customer { permissions, .. } => {
            let missing = permissions.missing(features::WRITE_TICKETS.requires);
            if missing.is_empty() { Ok(()) } else { Err(Denial::MissingPermissions(missing)) }
        }
    }
}

/// The incident queue, labelling, severity, status, internal notes, closing, reopening, declining
/// closure and removing recipients are the support desk's.
pub fn require_support(principal: &Principal) -> Result<(), Denial> {
    if principal.is_support() { Ok(()) } else { Err(Denial::SupportOnly) }
}

/// Accounts and support staff are managed by support administrators.
pub fn require_support_admin(principal: &Principal) -> Result<(), Denial> {
    if principal.is_support_admin() { Ok(()) } else { Err(Denial::SupportAdminOnly) }
}

/// "Don't notify me" on a ticket's page is for the customers on it (who must see it, as for its
/// page); support staff are on no ticket and choose what they hear of under My profile.
pub fn may_mute_tickets(principal: &Principal) -> Result<(), Denial> {
    if principal.is_support() { Err(Denial::CustomersOnly) } else { Ok(()) }
}

/// Internal support notes are never shown to customers.
pub fn sees_internal_notes(principal: &Principal) -> bool {
    principal.is_support()
}

/// The moves the API offers `principal` on a ticket in `state` they may see: a customer with
/// Write Ticket their closure request and its withdrawal, support staff the status changes.
pub fn transitions_offered(principal: &Principal, state: TicketState) -> Vec<Transition> {
    Transition::ALL.into_iter().filter(|t| may_transition(principal, *t).is_ok() && t.applies_to(state)).collect()
}

/// Whether `principal` may make this move on a ticket they see: a customer's moves need Write
/// Ticket, support's are support's alone (and staff do not ask themselves to close).
pub fn may_transition(principal: &Principal, transition: Transition) -> Result<(), Denial> {
    match (transition.is_support(), principal.is_support()) {
        (true, true) => Ok(()),
        (true, false) => Err(Denial::SupportOnly),
        (false, true) => Err(Denial::CustomersOnly),
        (false, false) => may_write_tickets(principal),
    }
}

/// Why FH-AUTH is refused to someone whose password was right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FhAuthRefusal {
    /// The provider's staff always sign in with a second factor.
    SupportStaff,
    /// The user must use two-factor sign-in (their account requires it, or they turned it on),
    /// which a password alone would bypass.
    TwoFactor,
    /// The account administrator has not turned FH-AUTH on.
    TurnedOff,
}

impl FhAuthRefusal {
    /// The reason, for the caller and the audit log.
    pub fn reason(self) -> &'static str {
        match self {
            FhAuthRefusal::SupportStaff => "Support staff cannot use FH-AUTH; sign in to the portal instead.",
            FhAuthRefusal::TwoFactor => {
                "This user must use two-factor sign-in, which FH-AUTH cannot do. Use an API key instead."
            }
            FhAuthRefusal::TurnedOff => {
                "FH-AUTH is turned off for this account. Use an API key, or ask your account administrator to allow FH-AUTH."
            }
        }
    }
}

/// FH-AUTH turns a password alone into API access: only for customers whose account administrator
/// allowed it, and never for a user who must use two-factor sign-in. Checked when a token is
/// issued and again on every call, so a change of either takes effect at once.
pub fn may_use_fh_auth(principal: &Principal) -> Result<(), FhAuthRefusal> {
    let account = match &principal.role {
        PrincipalRole::Support { .. } => return Err(FhAuthRefusal::SupportStaff),
        PrincipalRole::Customer { account, .. } => account,
    };
    if principal.two_factor.required || principal.two_factor.enrolled {
        Err(FhAuthRefusal::TwoFactor)
    } else if !account.fh_auth_enabled {
        Err(FhAuthRefusal::TurnedOff)
    } else {
        Ok(())
    }
}

/// The original signing form leaves the query string unsigned; an account administrator may
/// require the documented form, which signs it, for every key of the account.
pub fn accepts_signing(principal: &Principal, form: SigningForm) -> bool {
    match (form, principal.account()) {
        (SigningForm::Original, Some(account)) => !account.query_signing_required,
        _ => true,
    }
}

/// An attachment is seen by whoever sees its ticket, except a file on an internal note, which
/// only support staff see (as the note itself).
pub fn sees_attachment(principal: &Principal, internal: bool) -> bool {
    !internal || sees_internal_notes(principal)
}

/// Who may download a file, by what the virus scan says of it: nobody an infected one; only
/// support staff one still waiting for the scan; anyone who sees it the others.
pub fn may_download_attachment(principal: &Principal, scan: ScanState) -> bool {
    match scan {
        ScanState::Infected => false,
        ScanState::Pending => principal.is_support(),
        ScanState::NotScanned | ScanState::Clean | ScanState::Unchecked => true,
    }
}

/// Attachments are removed by support staff (a file uploaded by mistake, or an infected one);
/// removing the last reference to stored bytes deletes them.
pub fn may_remove_attachment(principal: &Principal) -> Result<(), Denial> {
    require_support(principal)
}

/// An account's attachment usage and quota are shown to those who manage its users (account
/// administrators hold Read Identity).
pub fn sees_attachment_quota(principal: &Principal) -> bool {
    identity_access(principal).is_ok()
}

/// Why `/metrics` was refused, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScrapeRefusal {
    /// A bearer token that is not METRICS_TOKEN, or one while none is set.
    WrongToken,
    /// No token, and the request may have come through a proxy.
    ProxiedWithoutToken,
    /// No token, from another host.
    RemoteWithoutToken,
}

impl ScrapeRefusal {
    pub fn reason(self) -> &'static str {
        match self {
            ScrapeRefusal::WrongToken => "the bearer token is not METRICS_TOKEN",
            ScrapeRefusal::ProxiedWithoutToken => "through a proxy, the token is needed even from loopback",
            ScrapeRefusal::RemoteWithoutToken => "a client on another host needs the token",
        }
    }
}

/// `/metrics` is for a scraper on this host, or one holding METRICS_TOKEN. "On this host" means
/// the TCP peer (`peer`, never a forwarded address) is on loopback and the request cannot have
/// come through a proxy (`proxied`: TRUST_PROXY_HEADERS is on, or it carries a forwarding
/// header), since a proxy on this host makes every client a loopback peer. A token presented
/// (`bearer`) must be the right one, even from loopback.
pub fn may_scrape(
    peer: Option<IpAddr>,
    proxied: bool,
    bearer: Option<&str>,
    token: Option<&SecretString>,
) -> Result<(), ScrapeRefusal> {
    if let Some(presented) = bearer {
        return match token {
            Some(token) if same_secret(presented, token.expose_secret()) => Ok(()),
            _ => Err(ScrapeRefusal::WrongToken),
        };
    }
    match peer {
        _ if proxied => Err(ScrapeRefusal::ProxiedWithoutToken),
        // `to_canonical`: an IPv4 client of a dual-stack socket arrives as ::ffff:127.0.0.1.
        Some(ip) if ip.to_canonical().is_loopback() => Ok(()),
        _ => Err(ScrapeRefusal::RemoteWithoutToken),
    }
}

/// Compares digests in constant time, so that the time taken tells neither the token's bytes nor
/// its length.
fn same_secret(presented: &str, expected: &str) -> bool {
    let presented = Sha256::digest(presented.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    presented.as_slice().ct_eq(expected.as_slice()).into()
}

#[cfg(test)]
mod tests;
