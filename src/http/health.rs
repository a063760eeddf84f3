//! Probes for load balancers and orchestrators.

use std::time::Duration;

use actix_web::{HttpResponse, web};

use crate::error::AppError;
use crate::state::AppState;

/// The process is up and answering.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").body("ok")
}

/// How long `/readyz` waits for the database: health checkers give up sooner than a page waits
/// for a connection (`DATABASE_ACQUIRE_TIMEOUT_SECONDS`), and a probe that times out tells them nothing.
const READY_WITHIN: Duration = Duration::from_secs(1);

/// The database answers; a load balancer takes an instance out of rotation while it does not.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    state.store.ping(READY_WITHIN).await?;
    Ok(HttpResponse::Ok().content_type("text/plain; charset=utf-8").body("ready"))
}
