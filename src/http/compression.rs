//! Compressed responses: HTML, JSON, CSV, SVG and plain text go out as zstd, gzip or Brotli when
//! the client accepts it, at `COMPRESSION_LEVEL`. Static assets are compressed once, at start-up
//! (see `static_files`), not here.
//!
//! A page is compressed while its reader waits, so speed decides the order: on a 15 KB page zstd
//! (level 3, its context kept per thread) takes about 30 µs, gzip about 110 µs, and this Brotli
//! encoder 850 µs at quality 4 for much the same size (BENCHMARKS.md, per-request cost). Fixed
//! bodies, compressed once, prefer Brotli at its strongest.
//!
//! BREACH: a compressed page's size can leak a secret it holds if it also reflects what an
//! attacker chose. Form tokens are masked anew on every page (`auth::token::mask`), so their bytes
//! never repeat; and a page that shows a secret once (a new API key, recovery codes, a
//! set-password link in a flash message) is marked with [`uncompressed`] and goes out as is.

use std::cell::RefCell;
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
    Zstd,
    Brotli,
    Gzip,
}

impl Coding {
    pub fn name(self) -> &'static str {
        match self {
            Coding::Zstd => "zstd",
            Coding::Brotli => "br",
            Coding::Gzip => "gzip",
        }
    }
}

/// Codings for a body compressed as it is sent, fastest first.
pub const PER_RESPONSE: &[Coding] = &[Coding::Zstd, Coding::Gzip, Coding::Brotli];

/// The first coding of `preference` that the client takes, or none. A coding with `q=0` is
/// refused; the client's other weights are not ours to follow (the order is chosen for speed).
pub fn negotiate(accept: Option<&HeaderValue>, preference: &[Coding]) -> Option<Coding> {
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
    preference.iter().copied().find(|coding| accepted(coding.name()))
}

/// `bytes` compressed with `coding` at `level` (1–9 for gzip, 1–11 for Brotli, 1–19 for zstd),
/// or `None` if the compressor failed (the body then goes out as it is).
pub fn compress_bytes(bytes: &[u8], coding: Coding, level: u32) -> Option<Vec<u8>> {
    match coding {
        Coding::Zstd => zstd(bytes, level.clamp(1, 19) as i32),
        Coding::Brotli => Some(brotli(bytes, level)),
        Coding::Gzip => Some(gzip(bytes, level)),
    }
}

thread_local! {
    /// Each worker thread keeps one zstd context between responses: setting one up costs about as
    /// much as compressing a small page with it.
    static ZSTD: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
}

fn zstd(bytes: &[u8], level: i32) -> Option<Vec<u8>> {
    ZSTD.with_borrow_mut(|kept| {
        if kept.as_ref().is_none_or(|(kept_level, _)| *kept_level != level) {
            *kept = Some((level, zstd::bulk::Compressor::new(level).ok()?));
        }
        kept.as_mut()?.1.compress(bytes).ok()
    })
}

pub fn brotli(bytes: &[u8], quality: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() / 3);
    // A window no larger than the body, and its size told: otherwise the encoder sets up
    // (and the kernel zeroes) buffers for 4 MiB on every response.
    let window = (usize::BITS - bytes.len().saturating_sub(1).leading_zeros()).clamp(10, 22) as i32;
    let params = brotli::enc::BrotliEncoderParams {
        quality: quality.min(11) as i32,
        lgwin: window,
        size_hint: bytes.len(),
        ..Default::default()
    };
    // Writing to a Vec cannot fail.
    let _ = brotli::BrotliCompress(&mut &bytes[..], &mut out, &params);
    out
}

pub fn gzip(bytes: &[u8], level: u32) -> Vec<u8> {
    let mut encoder =
        flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 3), flate2::Compression::new(level.min(9)));
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
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
    let coding = negotiate(req.headers().get(header::ACCEPT_ENCODING), PER_RESPONSE);
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
    let Some(compressed) = compress_bytes(&bytes, coding, level) else {
        return Ok(ServiceResponse::new(request, response.set_body(BoxBody::new(bytes))));
    };
    response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding.name()));
    Ok(ServiceResponse::new(request, response.set_body(BoxBody::new(compressed))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &'static str) -> Option<Coding> {
        negotiate(Some(&HeaderValue::from_static(value)), PER_RESPONSE)
    }

    #[test]
    fn the_fastest_accepted_coding_is_chosen_and_refused_codings_are_skipped() {
        assert_eq!(accept("gzip, deflate, br, zstd"), Some(Coding::Zstd));
        assert_eq!(accept("gzip, deflate, br"), Some(Coding::Gzip));
        assert_eq!(accept("br"), Some(Coding::Brotli));
        assert_eq!(accept("zstd;q=0, br;q=0, gzip;q=0.5"), Some(Coding::Gzip));
        assert_eq!(accept("br;q=0.1"), Some(Coding::Brotli));
        assert_eq!(accept("gzip;q=0.0, br"), Some(Coding::Brotli));
        assert_eq!(accept("identity"), None);
        assert_eq!(negotiate(None, PER_RESPONSE), None);
        let fixed = &[Coding::Brotli, Coding::Gzip];
        assert_eq!(negotiate(Some(&HeaderValue::from_static("gzip, br, zstd")), fixed), Some(Coding::Brotli));
    }

    #[test]
    fn what_is_compressed_comes_back() {
        let page = "<p>Security Incidents</p>".repeat(200);
        for coding in [Coding::Zstd, Coding::Brotli, Coding::Gzip] {
            // Twice: the second zstd call reuses the thread's context.
            for _ in 0..2 {
                let packed = compress_bytes(page.as_bytes(), coding, 4).unwrap();
                assert!(packed.len() < page.len() / 10, "{coding:?}: {}", packed.len());
                let out = match coding {
                    Coding::Zstd => zstd::stream::decode_all(&packed[..]).unwrap(),
                    Coding::Brotli => {
                        let mut out = Vec::new();
                        brotli::BrotliDecompress(&mut &packed[..], &mut out).unwrap();
                        out
                    }
                    Coding::Gzip => {
                        let mut out = Vec::new();
                        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&packed[..]), &mut out).unwrap();
                        out
                    }
                };
                assert_eq!(out, page.as_bytes());
            }
        }
    }
}
