//! The rules, principal by principal.

use super::*;
use crate::domain::permission::{BuiltinRole, PermissionSet};
use crate::domain::principal::{AccountRef, TwoFactor};

const ACCOUNT: i64 = 10;
const OTHER_ACCOUNT: i64 = 20;
const ME: i64 = 1;
const SOMEONE_ELSE: i64 = 2;

fn customer(permissions: PermissionSet) -> Principal {
    Principal {
        user_id: ME,
        email: "me@example.com".into(),
        first_name: "Me".into(),
        last_name: String::new(),
        display_name: "Me".into(),
        time_zone: chrono_tz::UTC,
        role: PrincipalRole::Customer {
            account: AccountRef {
                id: ACCOUNT,
                number: 1000,
                name: "Acme".into(),
                fh_auth_enabled: false,
                query_signing_required: false,
            },
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
    assert_eq!(dashboard_access(&billing), Err(Denial::MissingPermissions(vec![Permission::ReadDashboardStatistics])));
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
fn webhooks_need_manage_webhooks_which_only_admin_holds_of_the_builtin_roles() {
    let admin = customer(BuiltinRole::Admin.permissions());
    assert_eq!(webhook_access(&admin), Ok(WebhookAccess { account_id: ACCOUNT }));
    for role in [BuiltinRole::Technical, BuiltinRole::Billing] {
        let user = customer(role.permissions());
        assert_eq!(webhook_access(&user), Err(Denial::MissingPermissions(vec![Permission::ManageWebhooks])));
    }
    assert_eq!(webhook_access(&support()), Err(Denial::CustomersOnly));
}

#[test]
fn only_support_administrators_manage_accounts() {
    assert_eq!(require_support_admin(&support()), Err(Denial::SupportAdminOnly));
    let admin = Principal { role: PrincipalRole::Support { admin: true }, ..support() };
    assert!(require_support_admin(&admin).is_ok());
    assert_eq!(require_support_admin(&customer(BuiltinRole::Admin.permissions())), Err(Denial::SupportAdminOnly));
}

#[test]
fn customers_are_kept_out_of_the_support_desk_and_internal_notes() {
    let admin = customer(BuiltinRole::Admin.permissions());
    assert_eq!(require_support(&admin), Err(Denial::SupportOnly));
    assert!(!sees_internal_notes(&admin));
    assert!(require_support(&support()).is_ok());
    assert!(sees_internal_notes(&support()));
}

fn with_account(principal: Principal, change: impl FnOnce(&mut AccountRef)) -> Principal {
    let mut principal = principal;
    if let PrincipalRole::Customer { account, .. } = &mut principal.role {
        change(account);
    }
    principal
}

#[test]
fn fh_auth_needs_the_account_to_allow_it_and_a_user_without_two_factor() {
    let technical = customer(BuiltinRole::Technical.permissions());
    assert_eq!(may_use_fh_auth(&technical), Err(FhAuthRefusal::TurnedOff), "off by default");
    let allowed = with_account(technical, |a| a.fh_auth_enabled = true);
    assert_eq!(may_use_fh_auth(&allowed), Ok(()));
    let enrolled = Principal { two_factor: TwoFactor { enrolled: true, required: false }, ..allowed.clone() };
    assert_eq!(may_use_fh_auth(&enrolled), Err(FhAuthRefusal::TwoFactor));
    let required = Principal { two_factor: TwoFactor { enrolled: false, required: true }, ..allowed.clone() };
    assert_eq!(may_use_fh_auth(&required), Err(FhAuthRefusal::TwoFactor));
    assert_eq!(may_use_fh_auth(&support()), Err(FhAuthRefusal::SupportStaff));
}

#[test]
fn an_account_may_require_the_documented_signing_form() {
    let technical = customer(BuiltinRole::Technical.permissions());
    assert!(accepts_signing(&technical, SigningForm::Original));
    assert!(accepts_signing(&technical, SigningForm::Documented));
    let strict = with_account(technical, |a| a.query_signing_required = true);
    assert!(!accepts_signing(&strict, SigningForm::Original));
    assert!(accepts_signing(&strict, SigningForm::Documented));
}

#[test]
fn customers_are_offered_closure_moves_and_support_the_status_changes() {
    use crate::domain::ticket::{Severity, TicketStatus};
    let incident = TicketState { status: TicketStatus::Open, severity: Some(Severity::High), closure_requested: false };
    let technical = customer(BuiltinRole::Technical.permissions());
    assert_eq!(transitions_offered(&technical, incident), vec![Transition::RequestClosure]);
    let requested = TicketState { closure_requested: true, ..incident };
    assert_eq!(transitions_offered(&technical, requested), vec![Transition::WithdrawClosure]);
    let billing = customer(BuiltinRole::Billing.permissions());
    assert!(transitions_offered(&billing, incident).is_empty(), "reading is not writing");
    assert_eq!(
        transitions_offered(&support(), requested),
        vec![Transition::RequiresAttention, Transition::Close, Transition::DeclineClosure]
    );
    assert_eq!(may_transition(&technical, Transition::Close), Err(Denial::SupportOnly));
    assert_eq!(may_transition(&support(), Transition::RequestClosure), Err(Denial::CustomersOnly));
    assert_eq!(
        may_transition(&billing, Transition::RequestClosure),
        Err(Denial::MissingPermissions(vec![Permission::WriteTicket]))
    );
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
        assert_eq!(may_scrape(ip("127.0.0.1"), true, None, token().as_ref()), Err(ScrapeRefusal::ProxiedWithoutToken));
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
