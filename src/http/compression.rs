//! Compressed responses: HTML, JSON, CSV, SVG and plain text go out as Brotli or gzip when the
//! client accepts it, at `COMPRESSION_LEVEL`. Static assets are compressed once, at start-up (see
//! `assets`), not here.
//!
//! BREACH: a compressed page's size can leak a secret it holds if it also reflects what an
//! attacker chose. Form tokens are masked anew on every page (`auth::token::mask`), so their bytes
//! never repeat; and a page that shows a secret once (a new API key, recovery codes, a
//! set-password link in a flash message) is marked with [`uncompressed`] and goes out as is.

use std::io::Write;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest, web};

use crate::state::AppState;

/// Smaller bodies are not worth the work.
const MIN_BYTES: usize = 1024;

/// A response that must not be compressed (it shows a secret once).
#[derive(Clone, Copy)]
struct Uncompressed;

/// Marks the response to `req` as one that shows a secret: it goes out uncompressed.
pub fn uncompressed(req: &HttpRequest) {
    req.extensions_mut().insert(Uncompressed);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Brotli,
    Gzip,
}

impl Coding {
    pub fn name(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Gzip => "gzip",
        }
    }
}

/// The coding to answer with: Brotli if the client takes it, else gzip, else none. A coding
/// with `q=0` is refused; the order of preference is ours.
pub fn negotiate(accept: Option<&HeaderValue>) -> Option<Coding> {
    let accept = accept?.to_str().ok()?;
    let accepted = |name: &str| {
        accept.split(',').any(|part| {
            let mut pieces = part.split(';');
            let coding = pieces.next().unwrap_or("").trim();
            let refused = pieces.any(|p| {
                p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()).is_some_and(|q| q <= 0.0)
            });
            coding.eq_ignore_ascii_case(name) && !refused
        })
    };
    if accepted("br") {
        Some(Coding::Brotli)
    } else if accepted("gzip") {
        Some(Coding::Gzip)
    } else {
        None
    }
}

/// `bytes` compressed with `coding` at `level` (1–9).
pub fn compress_bytes(bytes: &[u8], coding: Coding, level: u32) -> Vec<u8> {
    match coding {
        Coding::Brotli => {
            let mut out = Vec::with_capacity(bytes.len() / 3);
            let params = brotli::enc::BrotliEncoderParams { quality: level.min(11) as i32, ..Default::default() };
            // Writing to a Vec cannot fail.
            let _ = brotli::BrotliCompress(&mut &bytes[..], &mut out, &params);
            out
        }
        Coding::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(bytes.len() / 3),
                flate2::Compression::new(level.min(9)),
            );
            let _ = encoder.write_all(bytes);
            encoder.finish().unwrap_or_default()
        }
    }
}

fn compressible(content_type: Option<&HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|v| v.to_str().ok()) else { return false };
    let media = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    matches!(
        media.as_str(),
        "text/html" | "application/json" | "text/csv" | "image/svg+xml" | "text/plain" | "text/css" | "text/javascript"
    )
}

pub async fn compress(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let coding = negotiate(req.headers().get(header::ACCEPT_ENCODING));
    let level = req.app_data::<web::Data<AppState>>().map_or(0, |s| s.settings.compression_level);
    let head = req.method() == actix_web::http::Method::HEAD;
    let mut res = next.call(req).await?.map_into_boxed_body();
    if !compressible(res.headers().get(header::CONTENT_TYPE)) || res.headers().contains_key(header::CONTENT_ENCODING) {
        return Ok(res);
    }
    res.headers_mut().append(header::VARY, HeaderValue::from_static("accept-encoding"));
    let Some(coding) = coding else { return Ok(res) };
    let marked = res.request().extensions().get::<Uncompressed>().is_some();
    if level == 0 || head || marked || !res.status().is_success() && !res.status().is_client_error() {
        return Ok(res);
    }
    let (request, response) = res.into_parts();
    let (mut response, body) = response.into_parts();
    let bytes = match body.try_into_bytes() {
        Ok(bytes) => bytes,
        Err(body) => actix_web::body::to_bytes(body)
            .await
            .map_err(|e| actix_web::error::ErrorInternalServerError(e.to_string()))?,
    };
    if bytes.len() < MIN_BYTES {
        return Ok(ServiceResponse::new(request, response.set_body(BoxBody::new(bytes))));
    }
    let compressed = compress_bytes(&bytes, coding, level);
    response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding.name()));
    Ok(ServiceResponse::new(request, response.set_body(BoxBody::new(compressed))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &'static str) -> Option<Coding> {
        negotiate(Some(&HeaderValue::from_static(value)))
    }

    #[test]
    fn brotli_is_preferred_then_gzip_and_refused_codings_are_skipped() {
        assert_eq!(accept("gzip, deflate, br, zstd"), Some(Coding::Brotli));
        assert_eq!(accept("gzip"), Some(Coding::Gzip));
        assert_eq!(accept("br;q=0, gzip;q=0.5"), Some(Coding::Gzip));
        assert_eq!(accept("br;q=0.1"), Some(Coding::Brotli));
        assert_eq!(accept("br;q=0.0, gzip"), Some(Coding::Gzip));
        assert_eq!(accept("identity"), None);
        assert_eq!(negotiate(None), None);
    }

    #[test]
    fn what_is_compressed_comes_back() {
        let page = "<p>Security Incidents</p>".repeat(200);
        for coding in [Coding::Brotli, Coding::Gzip] {
            let packed = compress_bytes(page.as_bytes(), coding, 4);
            assert!(packed.len() < page.len() / 10, "{coding:?}: {}", packed.len());
            let mut out = Vec::new();
            match coding {
                Coding::Brotli => {
                    brotli::BrotliDecompress(&mut &packed[..], &mut out).unwrap();
                }
                Coding::Gzip => {
                    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&packed[..]), &mut out).unwrap();
                }
            }
            assert_eq!(out, page.as_bytes());
        }
    }
}
