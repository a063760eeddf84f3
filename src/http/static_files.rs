//! Serves the compiled-in stylesheet and script (see `assets`).

use actix_web::http::header::{self, ContentType};
use actix_web::{HttpResponse, web};

use crate::assets;
use crate::error::AppError;

pub async fn serve_asset(name: web::Path<String>) -> Result<HttpResponse, AppError> {
    let asset = assets::find(name.as_str()).ok_or(AppError::NotFound)?;
    Ok(HttpResponse::Ok()
        .content_type(ContentType(asset.content_type.parse().map_err(|_| AppError::NotFound)?))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(asset.body))
}
