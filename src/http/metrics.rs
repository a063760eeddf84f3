//! `/metrics`: every metric in the Prometheus text format, for a scraper on this host or one
//! holding METRICS_TOKEN (see `policy::may_scrape`).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::domain::policy;
use crate::error::AppError;
use crate::metrics;
use crate::state::AppState;

/// Headers that proxies add: a request with one may have come through a proxy on this host, which
/// makes any client a loopback peer.
const FORWARDING_HEADERS: [&str; 6] =
    ["forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip", "via"];

pub async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let peer = req.peer_addr().map(|address| address.ip());
    let proxied =
        state.settings.trust_proxy_headers || FORWARDING_HEADERS.iter().any(|name| req.headers().contains_key(*name));
    if let Err(refusal) = policy::may_scrape(peer, proxied, bearer(&req), state.settings.metrics_token.as_ref()) {
        tracing::info!(target: "security", reason = refusal.reason(), "metrics scrape refused");
        // As an unknown address answers: a caller without the token learns nothing, not even
        // whether this portal serves metrics or wants a token.
        return Err(AppError::NotFound);
    }
    let text = state.metrics.encode().await;
    Ok(HttpResponse::Ok().content_type(metrics::CONTENT_TYPE).body(text))
}

/// The credential of an `Authorization: Bearer …` header (the scheme in any case). Another scheme
/// (an API key's signature) carries no metrics token.
fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credential) = value.split_once(' ').unwrap_or((value, ""));
    scheme.eq_ignore_ascii_case("bearer").then(|| credential.trim())
}
