//! Every route of the portal, registered in one place from the paths in `crate::paths`.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::web::{self, ServiceConfig};
use actix_web::{Error, Resource};

use super::middleware::{catch_panic, require_sign_in};
use super::{health, home, incidents, sign_in, static_files};
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
        web::scope(paths::SECURITY)
            .wrap(from_fn(require_sign_in))
            .service(resource("/incidents").get(incidents::list_incidents))
            .service(resource("/incidents.csv").get(incidents::export_incidents))
            .service(resource(paths::INCIDENT_ROUTE).get(incidents::incident_detail)),
    )
    .service(
        web::scope(paths::DESK)
            .wrap(from_fn(require_sign_in))
            .service(resource("/incidents").get(incidents::support_queue))
            .service(resource("/incidents.csv").get(incidents::export_support_queue)),
    )
    .default_service(web::to(|| async { Err::<actix_web::HttpResponse, _>(AppError::NotFound) }));
}
