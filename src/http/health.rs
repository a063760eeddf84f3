//! Probes for load balancers and orchestrators.

use actix_web::{HttpResponse, web};

use crate::error::AppError;
use crate::state::AppState;

/// The process is up and answering.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").body("ok")
}

/// The database answers; a load balancer takes an instance out of rotation while it does not.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    state.store.ping().await?;
    Ok(HttpResponse::Ok().content_type("text/plain; charset=utf-8").body("ready"))
}
