//! Every route of the portal, registered in one place from the paths in `crate::paths`.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::web::{self, ServiceConfig};
use actix_web::{Error, Resource};

use super::middleware::{catch_panic, optional_sign_in, require_sign_in};
use super::{
    api, api_keys, dashboard, desk, health, home, identity, password, profile, sign_in, static_files, tables, tickets,
};
use crate::error::AppError;
use crate::paths;

/// A resource whose handler panics answer with the 500 page.
fn resource(
    path: &'static str,
) -> Resource<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    web::resource(path).wrap(from_fn(catch_panic))
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.app_data(
        web::QueryConfig::default().error_handler(|error, _| {
            AppError::BadRequest(format!("The address has a malformed query: {error}.")).into()
        }),
    )
    .app_data(web::PathConfig::default().error_handler(|_, _| AppError::NotFound.into()))
    .app_data(web::PayloadConfig::new(64 * 1024))
    .service(resource(paths::HEALTHZ).get(health::healthz))
    .service(resource(paths::READYZ).get(health::readyz))
    .service(resource(paths::STATIC_ASSET_ROUTE).get(static_files::serve_asset))
    .service(resource(paths::HOME).get(home::home))
    .service(resource(paths::LOGIN).get(sign_in::login_form).post(sign_in::login))
    .service(resource(paths::LOGOUT).post(sign_in::logout))
    .service(
        web::scope(paths::API)
            .service(resource("/security-incidents").get(api::security_incidents))
            .service(resource("/security-incidents/severity-count").get(api::severity_count))
            .service(resource("/me").get(api::me))
            .service(resource("/openapi.json").get(api::openapi_json))
            .default_service(web::to(api::not_found)),
    )
    .service(resource(paths::PASSWORD_SET).get(password::set_password_form).post(password::set_password))
    .service(
        web::scope(paths::SECURITY)
            .wrap(from_fn(require_sign_in))
            .service(resource("/dashboard").get(dashboard::dashboard))
            .service(resource("/dashboard/panel").get(dashboard::dashboard_panel))
            .service(resource("/incidents").get(tables::security_incidents))
            .service(resource("/incidents.csv").get(tables::security_incidents_csv))
            .service(resource(paths::INCIDENT_ROUTE).get(tickets::incident_page)),
    )
    .service(
        web::scope(paths::SUPPORT)
            .wrap(from_fn(require_sign_in))
            .service(resource("/tickets").get(tables::my_tickets).post(tickets::open_ticket))
            .service(resource("/tickets.csv").get(tables::my_tickets_csv))
            .service(resource("/tickets/new").get(tickets::new_ticket_form))
            .service(resource(paths::TICKET_ROUTE).get(tickets::ticket_page))
            .service(resource("/tickets/{number}/comments").post(tickets::add_comment))
            .service(resource("/tickets/{number}/recipients").post(tickets::add_recipient)),
    )
    .service(
        web::scope(paths::ACCOUNT)
            .wrap(from_fn(require_sign_in))
            .service(resource("/users").get(identity::users).post(identity::create_user))
            .service(resource("/users/new").get(identity::new_user_form))
            .service(resource("/users/{user_id}").get(identity::user))
            .service(resource("/users/{user_id}/roles").post(identity::set_user_roles))
            .service(resource("/users/{user_id}/disable").post(identity::disable_user))
            .service(resource("/users/{user_id}/enable").post(identity::enable_user))
            .service(resource("/users/{user_id}/password-link").post(identity::password_link))
            .service(resource("/roles").get(identity::roles).post(identity::create_role))
            .service(resource("/roles/{role_id}").get(identity::role))
            .service(resource("/roles/{role_id}/rename").post(identity::rename_role))
            .service(resource("/roles/{role_id}/permissions").post(identity::set_role_permissions))
            .service(resource("/roles/{role_id}/members").post(identity::add_member))
            .service(resource("/roles/{role_id}/members/{user_id}/remove").post(identity::remove_member))
            .service(resource("/roles/{role_id}/delete").get(identity::delete_role_form).post(identity::delete_role))
            .service(resource("/profile").get(profile::profile).post(profile::update_profile))
            .service(resource("/profile/password").post(profile::change_password))
            .service(resource("/profile/sign-out-everywhere").post(profile::sign_out_everywhere))
            .service(resource("/api-keys").get(api_keys::api_keys).post(api_keys::create_api_key))
            .service(resource("/api-keys/{key_id}/revoke").post(api_keys::revoke_api_key)),
    )
    .service(resource(paths::API_DOCS).wrap(from_fn(optional_sign_in)).get(api::docs))
    .service(
        web::scope(paths::DESK)
            .wrap(from_fn(require_sign_in))
            .service(resource("/queue").get(tables::support_queue))
            .service(resource("/queue.csv").get(tables::support_queue_csv))
            .service(resource("/tickets").post(desk::open_ticket))
            .service(resource("/tickets/new").get(desk::new_ticket_form))
            .service(resource("/tickets/{number}/severity").post(desk::set_severity))
            .service(resource("/tickets/{number}/status").post(desk::set_status))
            .service(resource("/tickets/{number}/close").post(desk::close))
            .service(resource("/tickets/{number}/decline-closure").post(desk::decline_closure))
            .service(resource("/tickets/{number}/reopen").post(desk::reopen))
            .service(resource("/tickets/{number}/recipients/{user_id}/remove").post(desk::remove_recipient))
            .service(resource("/accounts").get(desk::accounts).post(desk::create_account))
            .service(resource("/accounts/new").get(desk::new_account_form))
            .service(resource("/staff").get(desk::staff).post(desk::create_staff))
            .service(resource("/audit").get(desk::audit_log)),
    )
    .default_service(web::to(|| async { Err::<actix_web::HttpResponse, _>(AppError::NotFound) }));
}
