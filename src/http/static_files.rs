//! The stylesheet and script, compiled into the binary and served with a content hash in the URL,
//! so they can be cached forever and a deployment never serves a stale copy.

use std::sync::LazyLock;

use actix_web::http::header::{self, ContentType};
use actix_web::{HttpResponse, web};
use sha2::{Digest, Sha256};

use crate::error::AppError;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: [Asset; 2] = [
    Asset { name: "app.css", content_type: "text/css; charset=utf-8", body: include_str!("../../static/app.css") },
    Asset { name: "app.js", content_type: "text/javascript; charset=utf-8", body: include_str!("../../static/app.js") },
];

static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hasher = Sha256::new();
    for asset in &ASSETS {
        hasher.update(asset.body.as_bytes());
    }
    hasher.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect()
});

/// The `?v=` query string of asset URLs.
pub fn version() -> &'static str {
    VERSION.as_str()
}

pub async fn serve_asset(name: web::Path<String>) -> Result<HttpResponse, AppError> {
    let asset = ASSETS.iter().find(|a| a.name == name.as_str()).ok_or(AppError::NotFound)?;
    Ok(HttpResponse::Ok()
        .content_type(ContentType(asset.content_type.parse().map_err(|_| AppError::NotFound)?))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(asset.body))
}
