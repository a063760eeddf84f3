//! Answers every handler gives alike.

use actix_web::HttpResponse;
use actix_web::http::header;

/// POST → 303 → GET: the browser follows with a GET of `location`, a path of this site.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}
