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
/// Read replicas follow, one line each with what the probe last found: one that is down or lags
/// does not make the instance unready, since its reads go to the primary.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    state.store.ping(READY_WITHIN).await?;
    let mut body = String::from("ready");
    for (number, (name, health)) in state.replicas.health().into_iter().enumerate() {
        body.push_str(&format!("\nreplica {} {name}: {health}", number + 1));
    }
    Ok(HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(body))
}
