//! Compression and caching: pages and JSON compressed when the client accepts it, static assets
//! and the OpenAPI document compressed once with ETags and 304s, and pages that show a secret
//! never compressed (BREACH).

use std::io::Read;

use crate::helpers::*;
use crate::on_both_backends;

const BROWSER: &str = "gzip, deflate, br, zstd";

fn decode(encoding: Option<&str>, bytes: &[u8]) -> String {
    let mut out = Vec::new();
    match encoding {
        Some("zstd") => out = zstd::stream::decode_all(bytes).unwrap(),
        Some("br") => {
            brotli::BrotliDecompress(&mut &bytes[..], &mut out).unwrap();
        }
        Some("gzip") => {
            flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
        }
        _ => out.extend_from_slice(bytes),
    }
    String::from_utf8(out).unwrap()
}

async fn fetch(
    client: &reqwest::Client,
    url: &str,
    accept: &str,
) -> (u16, Option<String>, String, reqwest::header::HeaderMap) {
    let response = client.get(url).header("accept-encoding", accept).send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let encoding = headers.get("content-encoding").map(|v| v.to_str().unwrap().to_string());
    let body = decode(encoding.as_deref(), &response.bytes().await.unwrap());
    (status, encoding, body, headers)
}

async fn pages_and_json_are_compressed_as_the_client_accepts(app: TestApp) {
    let tess = app.sign_in(TESS).await;
    let page = app.url("/security/incidents");
    let (_, plain_encoding, plain, _) = fetch(&tess, &page, "identity").await;
    assert_eq!(plain_encoding, None);
    for (accept, expected) in [(BROWSER, "zstd"), ("gzip, br", "gzip"), ("br", "br"), ("gzip", "gzip")] {
        let (status, encoding, body, headers) = fetch(&tess, &page, accept).await;
        assert_eq!((status, encoding.as_deref()), (200, Some(expected)), "{accept}");
        assert!(body.contains("Security Incidents") && body.len() > 1024, "{accept}");
        assert!(headers.get_all("vary").iter().any(|v| v.to_str().unwrap().contains("accept-encoding")));
        // Everything but the masked form token is the page as sent uncompressed.
        assert_eq!(without_tokens(&body), without_tokens(&plain), "{accept}");
    }
    let key = app.api_key_for(TESS).await;
    let (authorization, _) = app.authorization(&key, "GET", "/api/v1/security-incidents", b"");
    let response = reqwest::Client::new()
        .get(app.url("/api/v1/security-incidents"))
        .header("authorization", authorization)
        .header("accept-encoding", BROWSER)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers().get("content-encoding").unwrap(), "zstd");
    let json: serde_json::Value =
        serde_json::from_str(&decode(Some("zstd"), &response.bytes().await.unwrap())).unwrap();
    assert!(json["items"].is_array());
}

async fn static_assets_and_the_api_document_are_compressed_once_and_revalidated(app: TestApp) {
    let (_, page) = app.get_text(&client(), "/login").await;
    let href = page.split("href=\"/static/app.css").nth(1).unwrap().split('"').next().unwrap();
    let css = app.url(&format!("/static/app.css{}", href.replace("&amp;", "&")));
    let visitor = client();
    let (status, encoding, body, headers) = fetch(&visitor, &css, BROWSER).await;
    assert_eq!((status, encoding.as_deref()), (200, Some("br")));
    assert!(body.contains("prefers-color-scheme"), "the stylesheet");
    let etag = headers.get("etag").unwrap().to_str().unwrap().to_string();
    let last_modified = headers.get("last-modified").unwrap().to_str().unwrap().to_string();
    assert!(headers.get("cache-control").unwrap().to_str().unwrap().contains("immutable"));
    let again =
        visitor.get(&css).header("accept-encoding", BROWSER).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status().as_u16(), 304);
    assert!(again.bytes().await.unwrap().is_empty());
    let since = visitor.get(&css).header("if-modified-since", &last_modified).send().await.unwrap();
    assert_eq!(since.status().as_u16(), 304);
    let (_, gzip, gzip_body, gzip_headers) = fetch(&visitor, &css, "gzip").await;
    assert_eq!(gzip.as_deref(), Some("gzip"));
    assert_eq!(gzip_body, body);
    assert_ne!(gzip_headers.get("etag").unwrap().to_str().unwrap(), etag, "one ETag per coding");

    let document = app.url("/api/v1/openapi.json");
    let (status, encoding, body, headers) = fetch(&visitor, &document, "gzip").await;
    assert_eq!((status, encoding.as_deref()), (200, Some("gzip")));
    assert!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["paths"].is_object());
    let etag = headers.get("etag").unwrap().to_str().unwrap();
    let again =
        visitor.get(&document).header("accept-encoding", "gzip").header("if-none-match", etag).send().await.unwrap();
    assert_eq!(again.status().as_u16(), 304);
}

/// A page that hands over a secret once also reflects what its reader typed: it is sent
/// uncompressed, so its size tells nothing (BREACH).
async fn pages_that_show_a_secret_are_never_compressed(app: TestApp) {
    let tess = app.sign_in(TESS).await;
    let token = app.csrf_token(&tess, "/account/api-keys").await;
    let response = tess
        .post(app.url("/account/api-keys"))
        .header("accept-encoding", BROWSER)
        .form(&[("csrf_token", token.as_str()), ("name", "reflected name")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers().get("content-encoding").is_none(), "the new key's page");
    assert!(response.text().await.unwrap().contains("reflected name"));

    // A set-password link in a flash message.
    let avery = app.sign_in(AVERY).await;
    let account = app.principal(AVERY).await.account().unwrap().id;
    let technical =
        app.count(&format!("SELECT id FROM roles WHERE account_id = {account} AND builtin = 'technical'")).await;
    let token = app.csrf_token(&avery, "/account/users/new").await;
    let form = [
        ("csrf_token", token),
        ("first_name", "Nell".to_string()),
        ("last_name", "New".to_string()),
        ("email", "nell@northwind.example".to_string()),
        ("role", technical.to_string()),
    ];
    assert_eq!(avery.post(app.url("/account/users")).form(&form).send().await.unwrap().status().as_u16(), 303);
    let (_, encoding, body, _) = fetch(&avery, &app.url("/account/users"), BROWSER).await;
    assert!(body.contains("/password/set?token="), "the link is shown");
    assert_eq!(encoding, None, "the page with the link is not compressed");
    let (_, encoding, _, _) = fetch(&avery, &app.url("/account/users"), BROWSER).await;
    assert_eq!(encoding.as_deref(), Some("zstd"), "the same page without the flash is");
}

on_both_backends!(
    pages_and_json_are_compressed_as_the_client_accepts,
    static_assets_and_the_api_document_are_compressed_once_and_revalidated,
    pages_that_show_a_secret_are_never_compressed,
);
