//! Answers every handler gives alike.

use actix_web::body::SizedStream;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};

use crate::domain::attachment as domain_attachment;
use crate::files::Files;
use crate::store::AttachmentRecord;

/// POST → 303 → GET: the browser follows with a GET of `location`, a path of this site.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

/// The policy of every download and preview: nothing in it may run, load or be framed, even if a
/// browser were made to render it.
pub const DOWNLOAD_POLICY: &str = "default-src 'none'; sandbox";

/// A stored file, streamed as it is read from the byte store: always an attachment (RFC 6266,
/// the name encoded per RFC 5987), with a type that is never HTML, SVG or XML served as such,
/// `nosniff`, a sandboxing policy, and never cached. These are set on the response itself, so the
/// pages' defaults (added only where a header is absent) do not apply. Never compressed: the
/// compression layer would read the whole file into memory first, and the bytes are the
/// uploader's, served as they were stored.
pub fn download(req: &HttpRequest, files: &Files, attachment: &AttachmentRecord) -> HttpResponse {
    super::compression::uncompressed(req);
    let size = u64::try_from(attachment.size).unwrap_or(0);
    let stream = files.bytes.read(&attachment.object_key);
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            domain_attachment::served_type(attachment.detected_type.as_deref(), attachment.declared_type.as_deref()),
        ))
        .insert_header((header::CONTENT_DISPOSITION, domain_attachment::content_disposition(&attachment.name)))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, DOWNLOAD_POLICY))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(SizedStream::new(size, stream))
}

/// A preview the server re-encoded (PNG), shown inline in the ticket's page.
pub fn preview(png: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "image/png"))
        .insert_header((header::CONTENT_DISPOSITION, "inline; filename=\"preview.png\""))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, DOWNLOAD_POLICY))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(png)
}
