//! Every route of the portal, declared once: registered from here, and listed by [`table`] for
//! the tests that must cover every route.

use std::collections::HashSet;
use std::sync::LazyLock;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::from_fn;
use actix_web::web::{self, ServiceConfig};
use actix_web::{Error, Resource};

use super::middleware::{catch_panic, optional_sign_in, require_sign_in};
use super::{
    api, api_keys, attachments, dashboard, desk, health, home, identity, metrics, notification_settings, password,
    profile, sign_in, static_files, tables, tickets, two_factor, unsubscribe, webhooks,
};
use crate::error::AppError;
use crate::paths;

/// The pattern a request's route was registered with, kept in the resource's data: the request
/// metrics read it without allocating, where `HttpRequest::match_pattern` builds a new `String`.
#[derive(Debug, Clone, Copy)]
pub struct RoutePattern(pub &'static str);

/// Request bodies the API reads: a comment of 20,000 characters, each written as a six-byte JSON
/// escape at worst, fits.
pub const API_BODY_LIMIT: usize = 256 * 1024;

/// A resource whose handler panics answer with the 500 page, that tells its pattern, and that
/// answers a method it lacks with 405 and the `Allow` header naming those it has.
fn resource(
    path: &'static str,
    methods: &'static [Method],
) -> Resource<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    let allow = methods.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
    let not_allowed = web::to(move || {
        let allow = allow.clone();
        async move { actix_web::HttpResponse::MethodNotAllowed().insert_header((header::ALLOW, allow)).finish() }
    });
    let resource = web::resource(path).app_data(RoutePattern(path)).default_service(not_allowed);
    let resource = match paths::api_family(path) {
        Some(_) => resource.app_data(web::PayloadConfig::new(API_BODY_LIMIT)),
        None => resource,
    };
    resource.wrap(from_fn(catch_panic))
}

/// Who may reach a route before its handler applies its own rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Anyone: sign-in, health checks, static files, the API (which checks its own credentials).
    Public,
    /// Anyone; a signed-in reader gets their navigation.
    OptionalSignIn,
    /// A signed-in user (others are sent to sign in), who has set up two-factor sign-in where
    /// it is required.
    SignedIn,
}

/// One method on one path, as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub gate: Gate,
}

macro_rules! gated {
    (Public, $resource:expr) => {
        $resource
    };
    (OptionalSignIn, $resource:expr) => {
        $resource.wrap(from_fn(optional_sign_in))
    };
    (SignedIn, $resource:expr) => {
        $resource.wrap(from_fn(require_sign_in))
    };
}

/// Declares every route once and derives from it both the registration and [`table`], the list
/// the authorization and CSRF tests walk (so a new route cannot escape them).
macro_rules! routes {
    ($($gate:ident $path:expr => { $($method:ident $handler:path),+ $(,)? })*) => {
        fn register(cfg: &mut ServiceConfig) {
            $(cfg.service(gated!($gate, resource($path, &[$(Method::$method),+])$(.route(web::method(Method::$method).to($handler)))+));)*
        }

        /// Every registered route and method.
        pub fn table() -> Vec<Route> {
            vec![$($(Route { method: Method::$method, path: $path, gate: Gate::$gate },)+)*]
        }
    };
}

routes! {
    Public paths::HEALTHZ => { GET health::healthz }
    Public paths::READYZ => { GET health::readyz }
    // A refusal answers like an unknown address, whose 404 page shows a signed-in reader's navigation.
    OptionalSignIn paths::METRICS => { GET metrics::metrics }
    Public paths::STATIC_ASSET => { GET static_files::serve_asset }
    Public paths::HOME => { GET home::home }
    Public paths::LOGIN => { GET sign_in::login_form, POST sign_in::login }
    Public paths::LOGIN_VERIFY => { GET sign_in::verify_form, POST sign_in::verify }
    Public paths::LOGOUT => { POST sign_in::logout }
    Public paths::UNSUBSCRIBE => { GET unsubscribe::unsubscribe_form, POST unsubscribe::unsubscribe }
    Public paths::PASSWORD_SET => { GET password::set_password_form, POST password::set_password }
    Public paths::API_INCIDENTS => { GET api::security_incidents }
    Public paths::API_SEVERITY_COUNT => { GET api::severity_count }
    Public paths::API_ME => { GET api::me }
    Public paths::API_TICKET_ATTACHMENTS => { GET api::ticket_attachments }
    Public paths::API_ATTACHMENT => { GET api::attachment_download }
    Public paths::API_OPENAPI => { GET api::openapi_json }
    OptionalSignIn paths::API_DOCS => { GET api::docs }
    // The original provider's API at the root: the same handlers and rules (see `api`).
    Public paths::ORIGINAL_INCIDENTS => { GET api::security_incidents }
    Public paths::ORIGINAL_SEVERITY_COUNT => { GET api::severity_count }
    Public paths::ORIGINAL_ME => { GET api::me }
    Public paths::ORIGINAL_TICKETS => { GET api::list_tickets }
    Public paths::ORIGINAL_TICKET_DETAILS => { GET api::ticket_details }
    Public paths::ORIGINAL_TICKET_COMMENTS => { GET api::ticket_comments, POST api::add_ticket_comment }
    Public paths::ORIGINAL_TICKET_TRANSITION => { GET api::ticket_transitions, POST api::transition_ticket }
    Public paths::FH_AUTH_AUTHORIZE => { POST api::authorize }
    Public paths::FH_AUTH_TOKEN => { POST api::token }
    Public paths::FH_AUTH_REISSUE => { POST api::reissue }

    SignedIn paths::DASHBOARD => { GET dashboard::dashboard }
    SignedIn paths::DASHBOARD_PANEL => { GET dashboard::dashboard_panel }
    SignedIn paths::INCIDENTS => { GET tables::security_incidents }
    SignedIn paths::INCIDENTS_CSV => { GET tables::security_incidents_csv }
    SignedIn paths::INCIDENT => { GET tickets::incident_page }

    SignedIn paths::TICKETS => { GET tables::my_tickets, POST tickets::open_ticket }
    SignedIn paths::TICKETS_CSV => { GET tables::my_tickets_csv }
    SignedIn paths::NEW_TICKET => { GET tickets::new_ticket_form }
    SignedIn paths::TICKET => { GET tickets::ticket_page }
    SignedIn paths::TICKET_COMMENTS => { POST tickets::add_comment }
    SignedIn paths::TICKET_RECIPIENTS => { POST tickets::add_recipient }
    SignedIn paths::TICKET_ATTACHMENT => { GET attachments::download }
    SignedIn paths::TICKET_ATTACHMENT_PREVIEW => { GET attachments::preview }
    SignedIn paths::TICKET_NOTIFICATIONS => { POST notification_settings::set_ticket_notifications }

    SignedIn paths::USERS => { GET identity::users::users, POST identity::users::create_user }
    SignedIn paths::NEW_USER => { GET identity::users::new_user_form }
    SignedIn paths::ACCOUNT_TWO_FACTOR => { POST identity::users::set_account_two_factor }
    SignedIn paths::ACCOUNT_API_ACCESS => { POST identity::users::set_api_access }
    SignedIn paths::USER => { GET identity::users::user }
    SignedIn paths::USER_ROLES => { POST identity::users::set_user_roles }
    SignedIn paths::USER_DISABLE => { POST identity::users::disable_user }
    SignedIn paths::USER_ENABLE => { POST identity::users::enable_user }
    SignedIn paths::USER_PASSWORD_LINK => { POST identity::users::password_link }
    SignedIn paths::USER_RESET_TWO_FACTOR => { POST identity::users::reset_two_factor }
    SignedIn paths::ROLES => { GET identity::roles::roles, POST identity::roles::create_role }
    SignedIn paths::ROLE => { GET identity::roles::role }
    SignedIn paths::ROLE_RENAME => { POST identity::roles::rename_role }
    SignedIn paths::ROLE_PERMISSIONS => { POST identity::roles::set_role_permissions }
    SignedIn paths::ROLE_MEMBERS => { POST identity::roles::add_member }
    SignedIn paths::ROLE_MEMBER_REMOVE => { POST identity::roles::remove_member }
    SignedIn paths::ROLE_DELETE => { GET identity::roles::delete_role_form, POST identity::roles::delete_role }
    SignedIn paths::PROFILE => { GET profile::profile, POST profile::update_profile }
    SignedIn paths::PROFILE_PASSWORD => { POST profile::change_password }
    SignedIn paths::SIGN_OUT_EVERYWHERE => { POST profile::sign_out_everywhere }
    SignedIn paths::TWO_FACTOR => { GET two_factor::two_factor, POST two_factor::enable }
    SignedIn paths::TWO_FACTOR_RECOVERY_CODES => { POST two_factor::regenerate_recovery_codes }
    SignedIn paths::TWO_FACTOR_DISABLE => { POST two_factor::disable }
    SignedIn paths::PROFILE_NOTIFICATIONS => {
        GET notification_settings::notification_settings,
        POST notification_settings::save_notification_settings,
    }
    SignedIn paths::API_KEYS => { GET api_keys::api_keys, POST api_keys::create_api_key }
    SignedIn paths::API_KEY_REVOKE => { POST api_keys::revoke_api_key }
    SignedIn paths::WEBHOOKS => { GET webhooks::webhooks, POST webhooks::create_webhook }
    SignedIn paths::WEBHOOK => { GET webhooks::webhook, POST webhooks::update_webhook }
    SignedIn paths::WEBHOOK_ROTATE => { POST webhooks::rotate_webhook_secret }
    SignedIn paths::WEBHOOK_DISABLE => { POST webhooks::disable_webhook }
    SignedIn paths::WEBHOOK_ENABLE => { POST webhooks::enable_webhook }
    SignedIn paths::WEBHOOK_DELETE => { POST webhooks::delete_webhook }
    SignedIn paths::WEBHOOK_SEND_AGAIN => { POST webhooks::send_webhook_again }

    SignedIn paths::DESK_QUEUE => { GET tables::support_queue }
    SignedIn paths::DESK_QUEUE_CSV => { GET tables::support_queue_csv }
    SignedIn paths::DESK_TICKETS => { POST desk::on_behalf::open_ticket }
    SignedIn paths::DESK_NEW_TICKET => { GET desk::on_behalf::new_ticket_form }
    SignedIn paths::DESK_SEVERITY => { POST desk::ticket_changes::set_severity }
    SignedIn paths::DESK_STATUS => { POST desk::ticket_changes::set_status }
    SignedIn paths::DESK_CLOSE => { POST desk::ticket_changes::close }
    SignedIn paths::DESK_DECLINE_CLOSURE => { POST desk::ticket_changes::decline_closure }
    SignedIn paths::DESK_REOPEN => { POST desk::ticket_changes::reopen }
    SignedIn paths::DESK_RECIPIENT_REMOVE => { POST desk::ticket_changes::remove_recipient }
    SignedIn paths::DESK_ATTACHMENT_REMOVE => { POST desk::ticket_changes::remove_attachment }
    SignedIn paths::DESK_ACCOUNTS => { GET desk::accounts::accounts, POST desk::accounts::create_account }
    SignedIn paths::DESK_NEW_ACCOUNT => { GET desk::accounts::new_account_form }
    SignedIn paths::DESK_STAFF => { GET desk::staff::staff, POST desk::staff::create_staff }
    SignedIn paths::DESK_STAFF_RESET_TWO_FACTOR => { POST desk::staff::reset_staff_two_factor }
    SignedIn paths::DESK_AUDIT => { GET desk::audit_log::audit_log }
    SignedIn paths::DESK_NOTIFICATIONS => { GET desk::notifications::notifications }
    SignedIn paths::DESK_NOTIFICATION => { GET desk::notifications::notification }
}

/// The registered pattern equal to `pattern`, as the `'static` string the router holds.
pub fn registered_pattern(pattern: &str) -> Option<&'static str> {
    static PATTERNS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| table().into_iter().map(|r| r.path).collect());
    PATTERNS.get(pattern).copied()
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.app_data(
        web::QueryConfig::default().error_handler(|error, _| {
            AppError::BadRequest(format!("The address has a malformed query: {error}.")).into()
        }),
    )
    .app_data(web::PathConfig::default().error_handler(|_, _| AppError::NotFound.into()))
    .app_data(web::PayloadConfig::new(64 * 1024));
    register(cfg);
    // Unknown paths: the 404 page (with a signed-in reader's navigation), or a JSON 404 under
    // /api/ (see `render_errors`).
    cfg.default_service(
        web::to(|| async { Err::<actix_web::HttpResponse, _>(AppError::NotFound) }).wrap(from_fn(optional_sign_in)),
    );
}
