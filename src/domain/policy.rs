//! Who may see and do what. Every authorization decision of the portal is one of these functions;
//! handlers and the store ask them instead of deciding themselves.

use std::net::IpAddr;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::attachment::ScanState;
use super::features::{self, Feature};
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
mod tests {
    use super::*;
    use crate::domain::permission::{BuiltinRole, PermissionSet};
    use crate::domain::principal::AccountRef;

    const ACCOUNT: i64 = 10;
    const OTHER_ACCOUNT: i64 = 20;
    const ME: i64 = 1;
    const SOMEONE_ELSE: i64 = 2;

    fn customer(permissions: PermissionSet) -> Principal {
        Principal {
            user_id: ME,
            email: "me@example.com".into(),
            display_name: "Me".into(),
            time_zone: chrono_tz::UTC,
            role: PrincipalRole::Customer {
                account: AccountRef { id: ACCOUNT, number: 1000, name: "Acme".into() },
                permissions,
            },
            two_factor: Default::default(),
        }
    }

    fn support() -> Principal {
        Principal { role: PrincipalRole::Support { admin: false }, ..customer(PermissionSet::default()) }
    }

    fn ticket(account_id: i64, opener_id: i64, recipients: &[i64]) -> TicketFacts<'_> {
        TicketFacts { account_id, opener_id, recipient_ids: recipients }
    }

    #[test]
    fn a_customer_sees_a_ticket_they_opened() {
        let me = customer(BuiltinRole::Billing.permissions());
        assert!(can_see_ticket(&me, &ticket(ACCOUNT, ME, &[])));
    }

    #[test]
    fn a_customer_sees_a_ticket_they_receive() {
        let me = customer(BuiltinRole::Billing.permissions());
        assert!(can_see_ticket(&me, &ticket(ACCOUNT, SOMEONE_ELSE, &[3, ME])));
    }

    #[test]
    fn a_customer_does_not_see_a_colleagues_ticket_even_as_administrator() {
        let admin = customer(BuiltinRole::Admin.permissions());
        assert!(!can_see_ticket(&admin, &ticket(ACCOUNT, SOMEONE_ELSE, &[3])));
    }

    #[test]
    fn a_customer_never_sees_another_accounts_ticket() {
        let me = customer(BuiltinRole::Admin.permissions());
        assert!(!can_see_ticket(&me, &ticket(OTHER_ACCOUNT, ME, &[ME])));
    }

    #[test]
    fn without_read_ticket_even_an_own_ticket_is_invisible() {
        let me = customer([Permission::ReadDashboardStatistics].into_iter().collect());
        assert!(!can_see_ticket(&me, &ticket(ACCOUNT, ME, &[ME])));
    }

    #[test]
    fn support_staff_see_every_ticket() {
        assert!(can_see_ticket(&support(), &ticket(OTHER_ACCOUNT, SOMEONE_ELSE, &[])));
        assert_eq!(incident_screen_scope(&support()), Ok(TicketScope::Everything));
    }

    #[test]
    fn the_incident_screen_names_each_missing_permission() {
        let billing = customer(BuiltinRole::Billing.permissions());
        assert_eq!(
            incident_screen_scope(&billing),
            Err(Denial::MissingPermissions(vec![Permission::ReadDashboardStatistics]))
        );
        let nothing = customer(PermissionSet::default());
        assert_eq!(
            incident_screen_scope(&nothing),
            Err(Denial::MissingPermissions(vec![Permission::ReadTicket, Permission::ReadDashboardStatistics]))
        );
    }

    #[test]
    fn a_technical_user_lists_only_what_they_may_see() {
        let tech = customer(BuiltinRole::Technical.permissions());
        assert_eq!(incident_screen_scope(&tech), Ok(TicketScope::VisibleTo { user_id: ME, account_id: ACCOUNT }));
    }

    #[test]
    fn the_ticket_list_needs_read_ticket_only() {
        let billing = customer(BuiltinRole::Billing.permissions());
        assert_eq!(ticket_list_scope(&billing), Ok(TicketScope::VisibleTo { user_id: ME, account_id: ACCOUNT }));
        let dashboard_only = customer([Permission::ReadDashboardStatistics].into_iter().collect());
        assert_eq!(ticket_list_scope(&dashboard_only), Err(Denial::MissingPermissions(vec![Permission::ReadTicket])));
    }

    #[test]
    fn writing_to_tickets_needs_write_ticket() {
        assert_eq!(
            may_write_tickets(&customer(BuiltinRole::Billing.permissions())),
            Err(Denial::MissingPermissions(vec![Permission::WriteTicket]))
        );
        assert!(may_write_tickets(&customer(BuiltinRole::Technical.permissions())).is_ok());
        assert!(may_write_tickets(&support()).is_ok());
    }

    #[test]
    fn the_dashboard_needs_read_dashboard_statistics_and_its_rows_read_ticket() {
        let dashboard_only = customer([Permission::ReadDashboardStatistics].into_iter().collect());
        assert_eq!(dashboard_access(&dashboard_only).map(|a| a.rows), Ok(false));
        let technical = customer(BuiltinRole::Technical.permissions());
        assert_eq!(dashboard_access(&technical).map(|a| a.rows), Ok(true));
        let billing = customer(BuiltinRole::Billing.permissions());
        assert_eq!(
            dashboard_access(&billing),
            Err(Denial::MissingPermissions(vec![Permission::ReadDashboardStatistics]))
        );
        assert_eq!(dashboard_access(&support()).map(|a| a.scope), Ok(TicketScope::Everything));
    }

    #[test]
    fn api_keys_follow_the_three_key_permissions() {
        let technical = customer(BuiltinRole::Technical.permissions());
        let access = api_key_access(&technical).unwrap();
        assert!(access.may_see(&technical, ME) && access.may_revoke(&technical, ME));
        assert!(!access.may_see(&technical, SOMEONE_ELSE) && !access.may_revoke(&technical, SOMEONE_ELSE));
        let reader = customer([Permission::ApiKeysAllRead].into_iter().collect());
        let access = api_key_access(&reader).unwrap();
        assert!(access.may_see(&reader, SOMEONE_ELSE) && !access.may_revoke(&reader, SOMEONE_ELSE));
        let deleter = customer([Permission::ApiKeysAllDelete].into_iter().collect());
        assert!(api_key_access(&deleter).unwrap().may_revoke(&deleter, SOMEONE_ELSE));
        assert!(api_key_access(&customer(BuiltinRole::Billing.permissions())).is_err());
        assert_eq!(api_key_access(&support()), Err(Denial::CustomersOnly));
    }

    #[test]
    fn identity_pages_need_read_identity_and_changes_write_identity() {
        let reader = customer([Permission::ReadIdentity].into_iter().collect());
        assert_eq!(identity_access(&reader).map(|a| a.write), Ok(false));
        assert_eq!(may_change_identity(&reader), Err(Denial::MissingPermissions(vec![Permission::WriteIdentity])));
        let admin = customer(BuiltinRole::Admin.permissions());
        assert_eq!(may_change_identity(&admin).map(|a| a.account_id), Ok(ACCOUNT));
        let technical = customer(BuiltinRole::Technical.permissions());
        assert_eq!(identity_access(&technical), Err(Denial::MissingPermissions(vec![Permission::ReadIdentity])));
        assert_eq!(identity_access(&support()), Err(Denial::CustomersOnly));
    }

    #[test]
    fn customers_mute_their_tickets_and_staff_choose_under_my_profile() {
        assert!(may_mute_tickets(&customer(BuiltinRole::Billing.permissions())).is_ok());
        assert_eq!(may_mute_tickets(&support()), Err(Denial::CustomersOnly));
    }

    #[test]
    fn only_support_administrators_manage_accounts() {
        assert_eq!(require_support_admin(&support()), Err(Denial::SupportAdminOnly));
        let admin = Principal { role: PrincipalRole::Support { admin: true }, ..support() };
        assert!(require_support_admin(&admin).is_ok());
        assert_eq!(require_support_admin(&customer(BuiltinRole::Admin.permissions())), Err(Denial::SupportAdminOnly));
    }

    #[test]
    fn files_on_internal_notes_are_for_support_staff_only() {
        let admin = customer(BuiltinRole::Admin.permissions());
        assert!(sees_attachment(&admin, false));
        assert!(!sees_attachment(&admin, true));
        assert!(sees_attachment(&support(), true));
    }

    #[test]
    fn a_file_waiting_for_its_scan_is_for_support_and_an_infected_one_for_nobody() {
        let me = customer(BuiltinRole::Admin.permissions());
        for (scan, customers, staff) in [
            (ScanState::NotScanned, true, true),
            (ScanState::Clean, true, true),
            (ScanState::Unchecked, true, true),
            (ScanState::Pending, false, true),
            (ScanState::Infected, false, false),
        ] {
            assert_eq!(may_download_attachment(&me, scan), customers, "{scan:?}");
            assert_eq!(may_download_attachment(&support(), scan), staff, "{scan:?}");
        }
    }

    #[test]
    fn only_support_staff_remove_attachments_and_only_identity_readers_see_the_quota() {
        assert!(may_remove_attachment(&support()).is_ok());
        assert_eq!(may_remove_attachment(&customer(BuiltinRole::Admin.permissions())), Err(Denial::SupportOnly));
        assert!(sees_attachment_quota(&customer(BuiltinRole::Admin.permissions())));
        assert!(!sees_attachment_quota(&customer(BuiltinRole::Technical.permissions())));
        assert!(!sees_attachment_quota(&support()));
    }

    #[test]
    fn customers_are_kept_out_of_the_support_desk_and_internal_notes() {
        let admin = customer(BuiltinRole::Admin.permissions());
        assert_eq!(require_support(&admin), Err(Denial::SupportOnly));
        assert!(!sees_internal_notes(&admin));
        assert!(require_support(&support()).is_ok());
        assert!(sees_internal_notes(&support()));
    }

    mod scraping {
        use super::super::*;

        const TOKEN: &str = "a-metrics-token-0123456789";

        fn ip(text: &str) -> Option<IpAddr> {
            Some(text.parse().unwrap())
        }

        fn token() -> Option<SecretString> {
            Some(SecretString::from(TOKEN))
        }

        #[test]
        fn a_loopback_peer_needs_no_token() {
            for peer in ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"] {
                assert_eq!(may_scrape(ip(peer), false, None, None), Ok(()), "{peer}");
                assert_eq!(may_scrape(ip(peer), false, None, token().as_ref()), Ok(()), "{peer}");
            }
        }

        #[test]
        fn another_host_needs_the_token() {
            for peer in ["203.0.113.9", "10.0.0.1", "::ffff:192.0.2.1", "2001:db8::1"] {
                assert_eq!(may_scrape(ip(peer), false, None, token().as_ref()), Err(ScrapeRefusal::RemoteWithoutToken));
                assert_eq!(may_scrape(ip(peer), false, Some(TOKEN), token().as_ref()), Ok(()), "{peer}");
            }
            assert_eq!(may_scrape(None, false, None, None), Err(ScrapeRefusal::RemoteWithoutToken));
        }

        #[test]
        fn a_request_that_may_have_come_through_a_proxy_needs_the_token_even_from_loopback() {
            assert_eq!(may_scrape(ip("127.0.0.1"), true, None, None), Err(ScrapeRefusal::ProxiedWithoutToken));
            assert_eq!(
                may_scrape(ip("127.0.0.1"), true, None, token().as_ref()),
                Err(ScrapeRefusal::ProxiedWithoutToken)
            );
            assert_eq!(may_scrape(ip("127.0.0.1"), true, Some(TOKEN), token().as_ref()), Ok(()));
        }

        #[test]
        fn a_wrong_token_is_refused_even_from_loopback() {
            let near_misses =
                ["", "a-metrics-token-012345678", "a-metrics-token-01234567890", "A-METRICS-TOKEN-0123456789"];
            for presented in near_misses {
                for peer in ["127.0.0.1", "203.0.113.9"] {
                    let decision = may_scrape(ip(peer), false, Some(presented), token().as_ref());
                    assert_eq!(decision, Err(ScrapeRefusal::WrongToken), "{presented:?} from {peer}");
                }
            }
        }

        #[test]
        fn no_token_is_right_while_none_is_set() {
            for presented in ["", TOKEN] {
                assert_eq!(may_scrape(ip("127.0.0.1"), false, Some(presented), None), Err(ScrapeRefusal::WrongToken));
            }
        }
    }
}
