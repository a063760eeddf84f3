//! Attachments: files on tickets and comments, stored once per account, listed on the ticket's
//! page and in the API, downloaded only through the ticket's own rule and never rendered; limits
//! refused before anything is kept; hostile names cleaned; nothing half-written left behind.

use std::io::Cursor;

use incident_portal::domain::attachment::MIB;
use incident_portal::settings::Settings;

use crate::helpers::*;
use crate::on_both_backends;

/// Small limits, so that tests can pass them with small files.
pub fn adjust(settings: &mut Settings) {
    settings.attachments.limits.max_file_bytes = 3 * MIB;
    settings.attachments.limits.max_files = 3;
    settings.attachments.limits.account_quota_bytes = 8 * MIB;
}

/// A PNG of `width` × `height` pixels.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let image =
        image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x * 7 % 256) as u8, (y * 3 % 256) as u8, 200]));
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(image).write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    bytes
}

/// `n` bytes that do not compress and differ with `seed`.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

const LOG: &str = "2026-11-30T08:15:00Z sshd[811]: Failed password for root from 203.0.113.7\n";

fn download_links(html: &str) -> Vec<(String, String)> {
    let document = scraper::Html::parse_document(html);
    let selector = scraper::Selector::parse(".attachment-name a").unwrap();
    document
        .select(&selector)
        .map(|a| (a.text().collect::<String>(), a.value().attr("href").unwrap_or_default().to_string()))
        .collect()
}

fn previews(html: &str) -> Vec<String> {
    let document = scraper::Html::parse_document(html);
    let selector = scraper::Selector::parse(".attachment-preview img").unwrap();
    document.select(&selector).map(|img| img.value().attr("src").unwrap_or_default().to_string()).collect()
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

/// The headers every download carries, whatever the file.
pub fn assert_safe_download(response: &reqwest::Response, what: &str) {
    assert_eq!(response.status().as_u16(), 200, "{what}");
    let disposition = header(response, "content-disposition");
    assert!(disposition.starts_with("attachment; filename=\""), "{what}: {disposition}");
    assert!(disposition.contains("; filename*=UTF-8''"), "{what}: {disposition}");
    assert_eq!(header(response, "x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header(response, "content-security-policy"), "default-src 'none'; sandbox", "{what}");
    assert_eq!(header(response, "cache-control"), "private, no-store", "{what}");
    let content_type = header(response, "content-type").to_ascii_lowercase();
    for markup in ["html", "svg", "xml", "script"] {
        assert!(!content_type.contains(markup), "{what} went out as {content_type}");
    }
}

async fn a_comment_carries_files_that_both_views_list_and_readers_download(app: TestApp) {
    let ticket = app.fresh_incident().await;
    let tess = app.sign_in(TESS).await;
    let image = png(640, 480);
    let response = app
        .comment_with_files(
            &tess,
            &ticket.number,
            &[("body", "The firewall log and a screenshot.")],
            &[file("auth.log", "text/plain", LOG), file("console.png", "image/png", image.clone())],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(location(&response), format!("/support/tickets/{}", ticket.number));
    let stored = app.stored_files(ticket.id).await;
    assert_eq!(stored.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["auth.log", "console.png"]);
    assert!(stored.iter().all(|f| f.comment_id.is_some() && !f.internal));
    assert!(stored.iter().all(|f| f.public_id.len() == 22), "ids are 128 random bits");

    // The opener, a recipient and support staff see them, on both pages of the ticket.
    for (who, page) in [(TESS, "support/tickets"), (RILEY, "security/incidents"), (SAM, "support/tickets")] {
        let client = if who == TESS { tess.clone() } else { app.sign_in(who).await };
        let (status, html) = app.get_text(&client, &format!("/{page}/{}", ticket.number)).await;
        assert_eq!(status, 200);
        let links = download_links(&html);
        assert_eq!(
            links.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(),
            ["auth.log", "console.png"],
            "{who}"
        );
        assert!(html.contains("text/plain") && html.contains("image/png"), "{who}: the types are shown");
        assert!(html.contains("Added by Tess Okafor"), "{who}: who added them");
        assert!(html.contains("The firewall log and a screenshot."));
        assert_eq!(previews(&html).len(), 1, "{who}: one preview, of the image");

        let log = app.get(&client, &links[0].1).await;
        assert_safe_download(&log, "auth.log");
        assert_eq!(header(&log, "content-type"), "text/plain");
        assert_eq!(log.bytes().await.unwrap(), LOG.as_bytes());
        let picture = app.get(&client, &links[1].1).await;
        assert_safe_download(&picture, "console.png");
        assert_eq!(header(&picture, "content-type"), "image/png");
        assert_eq!(header(&picture, "content-length"), image.len().to_string());
        assert_eq!(picture.bytes().await.unwrap(), image);

        // The preview is an image the server made, never the original bytes.
        let preview = app.get(&client, &previews(&html)[0]).await;
        assert_eq!(preview.status().as_u16(), 200);
        assert_eq!(header(&preview, "content-type"), "image/png");
        assert_eq!(header(&preview, "content-security-policy"), "default-src 'none'; sandbox");
        let preview = preview.bytes().await.unwrap();
        assert_ne!(preview.as_ref(), image.as_slice());
        let decoded = image::load_from_memory_with_format(&preview, image::ImageFormat::Png).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (320, 240));
    }
    let (_, flash_page) = app.get_text(&tess, &format!("/support/tickets/{}", ticket.number)).await;
    assert!(!flash_page.contains("required"), "a comment with files needs no text");
}

async fn a_comment_may_be_files_alone_but_not_nothing(app: TestApp) {
    let ticket = app.fresh_incident().await;
    let tess = app.sign_in(TESS).await;
    let response =
        app.comment_with_files(&tess, &ticket.number, &[("body", "")], &[file("only.txt", "text/plain", "x")]).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(app.stored_files(ticket.id).await.len(), 1);
    // An empty file input sends a part without a name: no file, and then the text is required.
    let empty = FilePart { name: String::new(), content_type: "application/octet-stream".into(), bytes: vec![] };
    let response = app.comment_with_files(&tess, &ticket.number, &[("body", "")], &[empty.clone()]).await;
    assert_eq!(response.status().as_u16(), 422);
    let response = app.comment_with_files(&tess, &ticket.number, &[("body", "Text, no file")], &[empty]).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(app.stored_files(ticket.id).await.len(), 1);
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM comments WHERE ticket_id = {}", ticket.id)).await, 2);
}

async fn opening_a_ticket_with_files_attaches_them_to_the_ticket(app: TestApp) {
    let tess = app.sign_in(TESS).await;
    let token = app.csrf_token(&tess, "/support/tickets/new").await;
    let response = app
        .post_multipart(
            &tess,
            "/support/tickets",
            &[("csrf_token", &token), ("summary", "Phishing mail with attachment"), ("description", "See the file.")],
            &[file("mail.eml", "message/rfc822", "From: x@example.com\r\n\r\nhello")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let id: i64 = location(&response).rsplit('-').next().unwrap().parse().unwrap();
    let stored = app.stored_files(id).await;
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0].name.as_str(), stored[0].comment_id), ("mail.eml", None));
    let (_, html) = app.get_text(&tess, &format!("/support/tickets/ATS-{id}")).await;
    assert_eq!(download_links(&html).len(), 1);

    // Support staff open one on a customer's behalf, with files too.
    let sam = app.sign_in(SAM).await;
    let token = app.csrf_token(&sam, "/desk/tickets/new?account=100234").await;
    let tess_id = app.user_id(TESS).await.to_string();
    let response = app
        .post_multipart(
            &sam,
            "/desk/tickets",
            &[
                ("csrf_token", &token),
                ("account", "100234"),
                ("opener_id", &tess_id),
                ("summary", "From the phone call"),
                ("description", "Notes attached."),
            ],
            &[
                file("notes.txt", "text/plain", "call notes"),
                file("trace.pcap", "application/vnd.tcpdump.pcap", noise(5000, 1)),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303, "{}", response.text().await.unwrap_or_default());
    let id: i64 = location(&response).rsplit('-').next().unwrap().parse().unwrap();
    assert_eq!(app.stored_files(id).await.len(), 2);
    let uploader: i64 =
        app.count(&format!("SELECT DISTINCT uploaded_by FROM attachments WHERE ticket_id = {id}")).await;
    assert_eq!(uploader, app.user_id(SAM).await, "the desk member who attached them");
}

async fn the_same_bytes_are_stored_once_per_account(app: TestApp) {
    let ticket = app.fresh_incident().await;
    let tess = app.sign_in(TESS).await;
    let bytes = noise(700 * 1024, 7);
    for (n, name) in ["capture.bin", "same-again.bin"].into_iter().enumerate() {
        let body = format!("Upload {n}");
        let response = app
            .comment_with_files(
                &tess,
                &ticket.number,
                &[("body", &body)],
                &[file(name, "application/octet-stream", bytes.clone())],
            )
            .await;
        assert_eq!(response.status().as_u16(), 303);
    }
    let stored = app.stored_files(ticket.id).await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].blob_id, stored[1].blob_id, "one blob for both");
    // 700 KiB in parts of 512 KiB: two parts, stored once; nothing unsealed or left to delete.
    app.wait_for_file_rows([2, 1, 2, 0, 0]).await;

    // Another account keeps its own copy (nothing is shared across accounts).
    let casey = app.sign_in(CASEY).await;
    let token = app.csrf_token(&casey, "/support/tickets/new").await;
    let response = app
        .post_multipart(
            &casey,
            "/support/tickets",
            &[("csrf_token", &token), ("summary", "Same capture"), ("description", "")],
            &[file("capture.bin", "application/octet-stream", bytes.clone())],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    app.wait_for_file_rows([3, 2, 4, 0, 0]).await;

    // Support removes one: the other still names the bytes. Removing the last deletes them.
    let sam = app.sign_in(SAM).await;
    let token = app.csrf_token(&sam, "/account/profile").await;
    let remove = |id: &str| format!("/desk/tickets/{}/attachments/{id}/remove", ticket.number);
    let response = app.post_form(&sam, &remove(&stored[0].public_id), &[("csrf_token", &token)]).await;
    assert_eq!(response.status().as_u16(), 303);
    app.wait_for_file_rows([2, 2, 4, 0, 0]).await;
    let response = app.post_form(&sam, &remove(&stored[1].public_id), &[("csrf_token", &token)]).await;
    assert_eq!(response.status().as_u16(), 303);
    app.wait_for_file_rows([1, 1, 2, 0, 0]).await;
    let (_, audit) = app.get_text(&sam, "/desk/audit").await;
    assert!(audit.contains("attachment_removed") || audit.contains("same-again.bin"), "the removal is audited");
    // The removed file answers like one that never existed.
    let tess_view =
        app.get(&tess, &format!("/support/tickets/{}/attachments/{}", ticket.number, stored[1].public_id)).await;
    assert_eq!(tess_view.status().as_u16(), 404);
}

on_both_backends!(
    configured by adjust;
    a_comment_carries_files_that_both_views_list_and_readers_download,
    a_comment_may_be_files_alone_but_not_nothing,
    opening_a_ticket_with_files_attaches_them_to_the_ticket,
    the_same_bytes_are_stored_once_per_account,
);
