//! Bodies that never change while the process runs: the stylesheet and script (see `assets`) and
//! the OpenAPI document. Each is compressed once, at start-up, in every coding it is offered in,
//! and carries an `ETag` and `Last-Modified`, so a client that has it gets a 304.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::SystemTime;

use actix_web::http::header::{self, HeaderValue, HttpDate};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};

use super::compression::{self, Coding, negotiate};
use crate::assets;
use crate::error::AppError;

/// The strongest levels: the work is done once. Brotli at its strongest is also the smallest, so
/// zstd is not offered for these.
const CODINGS: &[Coding] = &[Coding::Brotli, Coding::Gzip];
const BROTLI_QUALITY: u32 = 11;
const GZIP_LEVEL: u32 = 9;

pub struct Fixed {
    content_type: &'static str,
    identity: Bytes,
    brotli: Bytes,
    gzip: Bytes,
    /// A hash of the content; each coding's `ETag` adds its name.
    tag: String,
    last_modified: HttpDate,
}

/// When this process started: what its fixed bodies were last modified at, as far as a client
/// can tell.
/// (Whole seconds, as the header says it.)
static STARTED: LazyLock<HttpDate> = LazyLock::new(|| {
    let seconds = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    HttpDate::from(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(seconds))
});

impl Fixed {
    pub fn new(content_type: &'static str, body: Vec<u8>) -> Fixed {
        let tag = Sha256::digest(&body).iter().take(8).map(|b| format!("{b:02x}")).collect();
        Fixed {
            content_type,
            brotli: compression::brotli(&body, BROTLI_QUALITY).into(),
            gzip: compression::gzip(&body, GZIP_LEVEL).into(),
            identity: body.into(),
            tag,
            last_modified: *STARTED,
        }
    }

    /// The body in the best coding `req` accepts, or 304 when the client has it already.
    pub fn respond(&self, req: &HttpRequest, cache_control: &'static str) -> HttpResponse {
        let coding = negotiate(req.headers().get(header::ACCEPT_ENCODING), CODINGS);
        let (body, suffix) = match coding {
            Some(Coding::Brotli) => (&self.brotli, "-br"),
            Some(Coding::Gzip) => (&self.gzip, "-gz"),
            Some(Coding::Zstd) | None => (&self.identity, ""),
        };
        let etag = format!("\"{}{suffix}\"", self.tag);
        let mut response = if self.is_fresh(req, &etag) {
            HttpResponse::NotModified().finish()
        } else {
            let mut response = HttpResponse::Ok().content_type(self.content_type).body(body.clone());
            if let Some(coding) = coding {
                response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding.name()));
            }
            response
        };
        let headers = response.headers_mut();
        if let Ok(etag) = HeaderValue::from_str(&etag) {
            headers.insert(header::ETAG, etag);
        }
        if let Ok(date) = HeaderValue::from_str(&self.last_modified.to_string()) {
            headers.insert(header::LAST_MODIFIED, date);
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control));
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        response
    }

    /// `If-None-Match` names this representation, or (without it) `If-Modified-Since` is not
    /// before the last modification.
    fn is_fresh(&self, req: &HttpRequest, etag: &str) -> bool {
        let headers = req.headers();
        if let Some(none_match) = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
            return none_match.split(',').any(|t| {
                let t = t.trim().trim_start_matches("W/");
                t == "*" || t == etag
            });
        }
        headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<HttpDate>().ok())
            .is_some_and(|since| SystemTime::from(since) >= SystemTime::from(self.last_modified))
    }
}

static ASSETS: LazyLock<HashMap<&'static str, Fixed>> =
    LazyLock::new(|| assets::all().map(|a| (a.name, Fixed::new(a.content_type, a.body.as_bytes().to_vec()))).collect());

/// Compresses the fixed bodies now rather than on the first request.
pub fn prepare() {
    LazyLock::force(&ASSETS);
}

pub async fn serve_asset(req: HttpRequest, name: web::Path<String>) -> Result<HttpResponse, AppError> {
    let fixed = ASSETS.get(name.as_str()).ok_or(AppError::NotFound)?;
    // The URL carries a hash of the content: a new release has new URLs.
    Ok(fixed.respond(&req, "public, max-age=31536000, immutable"))
}
