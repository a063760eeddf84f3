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
    let response = app.comment_with_files(&tess, &ticket.number, &[("body", "")], std::slice::from_ref(&empty)).await;
    assert_eq!(response.status().as_u16(), 422);
    let response = app.comment_with_files(&tess, &ticket.number, &[("body", "Text, no file")], &[empty]).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(app.stored_files(ticket.id).await.len(), 1);
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM comments WHERE ticket_id = {}", ticket.id)).await, 2);
}

async fn opening_a_ticket_with_files_attaches_them_to_the_ticket(app: TestApp) {
    let tess = app.sign_in(TESS).await;
    let token = app.csrf_token(&tess, "/support/tickets/new").await;
    let (riley, billie) = (app.user_id(RILEY).await.to_string(), app.user_id(BILLIE).await.to_string());
    let response = app
        .post_multipart(
            &tess,
            "/support/tickets",
            &[
                ("csrf_token", &token),
                ("summary", "Phishing mail with attachment"),
                ("description", "See the file."),
                ("recipient", &riley),
                ("recipient", &billie),
            ],
            &[file("mail.eml", "message/rfc822", "From: x@example.com\r\n\r\nhello")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let id: i64 = location(&response).rsplit('-').next().unwrap().parse().unwrap();
    let recipients = app.count(&format!("SELECT COUNT(*) FROM ticket_recipients WHERE ticket_id = {id}")).await;
    assert_eq!(recipients, 2, "repeated fields of a multipart form are read as a list");
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
    // 700 KiB in parts of 256 KiB: three parts, stored once; nothing unsealed or left to delete.
    app.wait_for_file_rows([2, 1, 3, 0, 0]).await;

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
    app.wait_for_file_rows([3, 2, 6, 0, 0]).await;

    // Support removes one: the other still names the bytes. Removing the last deletes them.
    let sam = app.sign_in(SAM).await;
    let token = app.csrf_token(&sam, "/account/profile").await;
    let remove = |id: &str| format!("/desk/tickets/{}/attachments/{id}/remove", ticket.number);
    let response = app.post_form(&sam, &remove(&stored[0].public_id), &[("csrf_token", &token)]).await;
    assert_eq!(response.status().as_u16(), 303);
    app.wait_for_file_rows([2, 2, 6, 0, 0]).await;
    let response = app.post_form(&sam, &remove(&stored[1].public_id), &[("csrf_token", &token)]).await;
    assert_eq!(response.status().as_u16(), 303);
    app.wait_for_file_rows([1, 1, 3, 0, 0]).await;
    let (_, audit) = app.get_text(&sam, "/desk/audit").await;
    assert!(audit.contains("attachment_removed") || audit.contains("same-again.bin"), "the removal is audited");
    // The removed file answers like one that never existed.
    let tess_view =
        app.get(&tess, &format!("/support/tickets/{}/attachments/{}", ticket.number, stored[1].public_id)).await;
    assert_eq!(tess_view.status().as_u16(), 404);
}

async fn files_on_internal_notes_never_reach_customers(app: TestApp) {
    let ticket = app.fresh_incident().await;
    let sam = app.sign_in(SAM).await;
    let secret = "INTERNAL-canary-firewall-dump.txt";
    let response = app
        .comment_with_files(
            &sam,
            &ticket.number,
            &[("body", "Our own notes"), ("internal", "on")],
            &[file(secret, "text/plain", "internal bytes")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let stored = app.stored_files(ticket.id).await;
    assert!(stored[0].internal, "a file on an internal note is internal");
    let id = &stored[0].public_id;

    // Support sees it, on the page and in the API.
    let (_, desk_page) = app.get_text(&sam, &format!("/support/tickets/{}", ticket.number)).await;
    assert!(desk_page.contains(secret));
    let (_, desk_api) = app.get_text(&sam, &format!("/api/v1/tickets/{}/attachments", ticket.number)).await;
    assert!(desk_api.contains(secret) && desk_api.contains("\"internal\":true"), "{desk_api}");

    let key = app.api_key_for(TESS).await;
    for who in [TESS, RILEY, AVERY] {
        let client = app.sign_in(who).await;
        for path in [
            format!("/support/tickets/{}", ticket.number),
            format!("/security/incidents/{}", ticket.number),
            "/support/tickets.csv".to_string(),
            "/security/incidents.csv".to_string(),
            format!("/api/v1/tickets/{}/attachments", ticket.number),
        ] {
            let (_, body) = app.get_text(&client, &path).await;
            assert!(!body.contains(secret) && !body.contains(id.as_str()), "{who} {path} shows the internal file");
        }
        for path in [
            format!("/support/tickets/{}/attachments/{id}", ticket.number),
            format!("/support/tickets/{}/attachments/{id}/preview", ticket.number),
            format!("/api/v1/attachments/{id}"),
        ] {
            assert_eq!(app.get(&client, &path).await.status().as_u16(), 404, "{who} {path}");
        }
    }
    let listed = app.api_get(&key, &format!("/api/v1/tickets/{}/attachments", ticket.number)).await;
    assert_eq!(listed.status().as_u16(), 200);
    assert!(!listed.text().await.unwrap().contains(secret));
    assert_eq!(app.api_get(&key, &format!("/api/v1/attachments/{id}")).await.status().as_u16(), 404);
}

/// Files whose bytes or declared types would render as a page, and odd declared types.
pub fn hostile_files() -> Vec<FilePart> {
    let script = "<script>fetch('/pwned')</script>";
    vec![
        file(
            "drawing.svg",
            "image/svg+xml",
            format!("<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\">{script}</svg>"),
        ),
        file("page.html", "text/html", format!("<!DOCTYPE html><html><body>{script}</body></html>")),
        file(
            "page.xhtml",
            "application/xhtml+xml",
            format!("<?xml version=\"1.0\"?><html xmlns=\"http://www.w3.org/1999/xhtml\">{script}</html>"),
        ),
        file("shouting.txt", "TEXT/HTML; x", format!("<html>{script}</html>")),
        file("plain-but-html.txt", "text/plain", format!("<html><body>{script}</body></html>")),
        file("data.xml", "application/xml", "<?xml version=\"1.0\"?><a/>"),
        file("odd.bin", "not/a type\"; x", "\u{0}\u{1}binary"),
    ]
}

async fn markup_is_always_downloaded_and_never_served_as_markup(app: TestApp) {
    let ticket = app.fresh_incident().await;
    let tess = app.sign_in(TESS).await;
    let files = hostile_files();
    for chunk in files.chunks(3) {
        let response = app.comment_with_files(&tess, &ticket.number, &[("body", "files")], chunk).await;
        assert_eq!(response.status().as_u16(), 303);
    }
    let key = app.api_key_for(TESS).await;
    // A file the browser calls multipart/… is refused with a way out (the page's script sends
    // such files as plain bytes).
    let mixed = file("saved.mhtml", "multipart/related; boundary=x", "--x\r\n\r\n<script>1</script>");
    let response = app.comment_with_files(&tess, &ticket.number, &[("body", "files")], &[mixed]).await;
    assert_eq!(response.status().as_u16(), 400);
    assert!(response.text().await.unwrap().contains("put it in a .zip file first"));
    let stored = app.stored_files(ticket.id).await;
    assert_eq!(stored.len(), files.len());
    for (stored, sent) in stored.iter().zip(&files) {
        let page =
            app.get(&tess, &format!("/support/tickets/{}/attachments/{}", ticket.number, stored.public_id)).await;
        assert_safe_download(&page, &sent.name);
        assert_eq!(page.bytes().await.unwrap(), sent.bytes, "{}: the bytes as uploaded", sent.name);
        let api = app.api_get(&key, &format!("/api/v1/attachments/{}", stored.public_id)).await;
        assert_safe_download(&api, &sent.name);
        // None of them is an image: no preview, whatever the type claimed.
        let preview = app
            .get(&tess, &format!("/support/tickets/{}/attachments/{}/preview", ticket.number, stored.public_id))
            .await;
        assert_eq!(preview.status().as_u16(), 404, "{}", sent.name);
    }
}

async fn hostile_names_are_cleaned_in_pages_and_headers(app: TestApp) {
    let ticket = app.fresh_incident().await;
    let tess = app.sign_in(TESS).await;
    let names = [
        ("../../../etc/passwd", "passwd"),
        ("C:/Windows/System32/evil.dll", "evil.dll"),
        ("invoice\u{202e}fdp.exe", "invoicefdp.exe"),
        // Browsers send a quote as %22 (and the multipart parser takes backslashes as escapes).
        ("\"><img src=x onerror=alert(1)>.png", "%22__img src=x onerror=alert(1)_.png"),
        ("..", "attachment"),
    ];
    let files: Vec<FilePart> = names.iter().map(|(raw, _)| file(raw, "application/octet-stream", "x")).collect();
    for chunk in files.chunks(3) {
        let response = app.comment_with_files(&tess, &ticket.number, &[("body", "names")], chunk).await;
        assert_eq!(response.status().as_u16(), 303);
    }
    let stored = app.stored_files(ticket.id).await;
    let stored_names: Vec<&str> = stored.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(stored_names, names.iter().map(|(_, clean)| *clean).collect::<Vec<_>>());
    let (_, html) = app.get_text(&tess, &format!("/support/tickets/{}", ticket.number)).await;
    assert!(!html.contains("<img src=x") && !html.contains('\u{202e}'), "names are escaped and cleaned");
    for stored in &stored {
        let response =
            app.get(&tess, &format!("/support/tickets/{}/attachments/{}", ticket.number, stored.public_id)).await;
        assert_safe_download(&response, &stored.name);
        let disposition = header(&response, "content-disposition");
        assert!(disposition.bytes().all(|b| b.is_ascii_graphic() || b == b' '), "{disposition}");
        assert!(!disposition.contains("..") && !disposition.contains('/'), "{disposition}");
    }
}

async fn over_limit_uploads_are_refused_before_anything_is_kept(app: TestApp) {
    let ticket = app.fresh_incident().await;
    let tess = app.sign_in(TESS).await;
    let before = app.snapshot().await;
    let comments = format!("SELECT COUNT(*) FROM comments WHERE ticket_id = {}", ticket.id);
    let cases: Vec<(&str, Vec<FilePart>)> = vec![
        // One file over the 3 MiB limit (the body's length is within what the form may send).
        ("one file too large", vec![file("big.bin", "application/octet-stream", noise(3 * MIB as usize + 1, 3))]),
        // Four files where three are allowed; the first three are streamed before the fourth.
        ("too many files", (0..4).map(|i| file(&format!("f{i}.txt"), "text/plain", format!("file {i}"))).collect()),
        // A body larger than any allowed upload: refused from its length, unread.
        (
            "a body over every limit",
            (0..3)
                .map(|i| file(&format!("h{i}.bin"), "application/octet-stream", noise(3 * MIB as usize + 400_000, i)))
                .collect(),
        ),
    ];
    for (what, files) in cases {
        let response = app.comment_with_files(&tess, &ticket.number, &[("body", what)], &files).await;
        assert_eq!(response.status().as_u16(), 413, "{what}");
        let html = response.text().await.unwrap();
        assert!(
            html.contains("Nothing was stored") || html.contains("larger than the portal accepts"),
            "{what}: {html}"
        );
        app.wait_for_file_rows([0, 0, 0, 0, 0]).await;
        assert_eq!(app.count(&comments).await, 0, "{what}: no comment either");
    }
    assert_eq!(app.snapshot().await, before);

    // The quota (8 MiB): two files of 2.9 MiB each fit, a third does not; what fits stays.
    for seed in [10, 11] {
        let files = [file("part.bin", "application/octet-stream", noise(2_900_000, seed))];
        let response = app.comment_with_files(&tess, &ticket.number, &[("body", "fits")], &files).await;
        assert_eq!(response.status().as_u16(), 303);
    }
    let kept = app.file_rows().await;
    let files = [file("over.bin", "application/octet-stream", noise(2_900_000, 12))];
    let response = app.comment_with_files(&tess, &ticket.number, &[("body", "over quota")], &files).await;
    assert_eq!(response.status().as_u16(), 413);
    assert!(response.text().await.unwrap().contains("quota"));
    app.wait_for_file_rows(kept).await;
    // The same bytes again take no more room: attaching them once more is fine.
    let files = [file("part-again.bin", "application/octet-stream", noise(2_900_000, 10))];
    let response = app.comment_with_files(&tess, &ticket.number, &[("body", "again")], &files).await;
    assert_eq!(response.status().as_u16(), 413, "the stream is counted before its hash is known");

    // The administrator sees the usage against the quota.
    let avery = app.sign_in(AVERY).await;
    let (_, users) = app.get_text(&avery, "/account/users").await;
    assert!(users.contains("5.5 MB of the account's 8 MB used (69%)"), "{users}");
    let (_, technical) = app.get_text(&tess, "/account/profile").await;
    assert!(!technical.contains("of the account's"), "only those who manage users see it");
}

async fn a_forged_or_misordered_multipart_form_is_refused_before_any_file_is_read(app: TestApp) {
    let ticket = app.fresh_incident().await;
    let tess = app.sign_in(TESS).await;
    let token = app.csrf_token(&tess, "/account/profile").await;
    let other = app.csrf_token(&app.sign_in(RILEY).await, "/account/profile").await;
    let path = format!("/support/tickets/{}/comments", ticket.number);
    let payload = file("x.txt", "text/plain", "x");
    let attempts: Vec<(&str, Vec<Part<'_>>, u16)> = vec![
        ("no token", vec![Part::Field("body", "b"), Part::File("attachments", &payload)], 403),
        ("another session's token", vec![Part::Field("csrf_token", &other), Part::File("attachments", &payload)], 403),
        // The token after the file: the file is refused unread.
        (
            "the token after the file",
            vec![Part::Field("body", "b"), Part::File("attachments", &payload), Part::Field("csrf_token", &token)],
            403,
        ),
        // A field after the files.
        (
            "a field after the files",
            vec![Part::Field("csrf_token", &token), Part::File("attachments", &payload), Part::Field("body", "b")],
            400,
        ),
        (
            "a file under another name",
            vec![Part::Field("csrf_token", &token), Part::Field("body", "b"), Part::File("evil", &payload)],
            400,
        ),
    ];
    for (what, parts, expected) in attempts {
        let (content_type, body) = multipart_parts(&parts);
        let response = tess.post(app.url(&path)).header("content-type", content_type).body(body).send().await.unwrap();
        assert_eq!(response.status().as_u16(), expected, "{what}");
        app.wait_for_file_rows([0, 0, 0, 0, 0]).await;
    }
    // A foreign Origin is refused before the form is read at all.
    let (content_type, body) = multipart(&[("csrf_token", &token), ("body", "b")], std::slice::from_ref(&payload));
    let response = tess
        .post(app.url(&path))
        .header("content-type", content_type)
        .header("origin", "https://evil.example")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(app.file_rows().await, [0, 0, 0, 0, 0]);
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM comments WHERE ticket_id = {}", ticket.id)).await, 0);
}

async fn an_upload_cut_off_midway_leaves_nothing(app: TestApp) {
    let ticket = app.fresh_incident().await;
    let (tess, cookie) = app.sign_in_with_cookie(TESS).await;
    let token = app.csrf_token(&tess, "/account/profile").await;
    let (content_type, body) = multipart(
        &[("csrf_token", &token), ("body", "cut off")],
        &[file("big.bin", "application/octet-stream", noise(2 * MIB as usize, 5))],
    );
    // Half the body on a raw connection, which then goes away.
    let port = app.address.rsplit(':').next().unwrap();
    let mut stream = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}")).await.unwrap();
    let head = format!(
        "POST /support/tickets/{}/comments HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        ticket.number,
        body.len()
    );
    use tokio::io::AsyncWriteExt;
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..body.len() / 2]).await.unwrap();
    stream.flush().await.unwrap();
    // Wait until the server has stored some of it, then hang up.
    let started = std::time::Instant::now();
    while app.count("SELECT COUNT(*) FROM file_chunks").await == 0 {
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "the upload's first part was never stored");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop(stream);
    app.wait_for_file_rows([0, 0, 0, 0, 0]).await;
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM comments WHERE ticket_id = {}", ticket.id)).await, 0);
}

async fn housekeeping_deletes_what_a_crash_left_and_keeps_what_was_linked(app: TestApp) {
    use incident_portal::files::Files;
    use incident_portal::store::bytes::{ByteStore, DatabaseBytes};
    let bytes = std::sync::Arc::new(DatabaseBytes::new(app.store.clone()));
    let files = Files::new(app.store.clone(), bytes.clone(), Default::default());
    // A crash mid-upload: parts written, never linked.
    let now = app.clock.now();
    let abandoned = bytes.begin(now).await.unwrap();
    bytes.append(&abandoned, 0, noise(1000, 1).into(), now).await.unwrap();
    // A crash between the link's commit and the seal: a blob names it, still unsealed.
    let ticket = app.fresh_incident().await;
    let tess = app.sign_in(TESS).await;
    let response = app
        .comment_with_files(&tess, &ticket.number, &[("body", "kept")], &[file("kept.txt", "text/plain", "kept")])
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let key: String = app.scalar("SELECT object_key FROM blobs").await;
    app.execute(&format!("INSERT INTO file_uploads (object_key, started_at, touched_at) SELECT object_key, created_at, created_at FROM blobs WHERE object_key = '{key}'")).await;
    app.wait_for_file_rows([1, 1, 2, 2, 0]).await;
    // Nothing is touched while an upload may still be going on.
    let swept = files.sweep(app.clock.now()).await.unwrap();
    assert_eq!(swept, Default::default());
    let later = app.clock.now() + chrono::Duration::hours(7);
    let swept = files.sweep(later).await.unwrap();
    assert_eq!((swept.abandoned, swept.sealed), (1, 1));
    app.wait_for_file_rows([1, 1, 1, 0, 0]).await;
    let stored = app.stored_files(ticket.id).await;
    let download =
        app.get(&tess, &format!("/support/tickets/{}/attachments/{}", ticket.number, stored[0].public_id)).await;
    assert_eq!(download.bytes().await.unwrap().as_ref(), b"kept");
}

async fn the_api_lists_and_downloads_with_the_tickets_visibility(app: TestApp) {
    let ticket = app.fresh_incident().await;
    let tess = app.sign_in(TESS).await;
    let response = app
        .comment_with_files(
            &tess,
            &ticket.number,
            &[("body", "for the API")],
            &[file("ioc.csv", "text/csv", "ip\n203.0.113.7\n")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let id = app.stored_files(ticket.id).await[0].public_id.clone();
    let list = format!("/api/v1/tickets/{}/attachments", ticket.number);
    let download = format!("/api/v1/attachments/{id}");

    let key = app.api_key_for(TESS).await;
    let response = app.api_get(&key, &list).await;
    assert_eq!(response.status().as_u16(), 200);
    let json: serde_json::Value = response.json().await.unwrap();
    let item = &json["items"][0];
    assert_eq!(item["fileName"], "ioc.csv");
    assert_eq!(item["contentType"], "text/csv");
    assert_eq!(item["size"], 15);
    assert_eq!(item["uploadedBy"], "Tess Okafor");
    assert_eq!(item["downloadable"], true);
    assert!(item["downloadLink"].as_str().unwrap().ends_with(&download), "{item}");
    let response = app.api_get(&key, &download).await;
    assert_safe_download(&response, "ioc.csv");
    assert_eq!(response.text().await.unwrap(), "ip\n203.0.113.7\n");

    // Riley receives the ticket; Avery (same account, not on it) and Casey (another account) do
    // not: for them the file is missing, and so is the ticket.
    let riley = app.api_key_for(RILEY).await;
    assert_eq!(app.api_get(&riley, &download).await.status().as_u16(), 200);
    for who in [AVERY, CASEY] {
        let key = app.api_key_for(who).await;
        for path in [&list, &download] {
            let response = app.api_get(&key, path).await;
            assert_eq!(response.status().as_u16(), 404, "{who} {path}");
            let body = response.text().await.unwrap();
            assert!(!body.contains("ioc.csv") && !body.contains("203.0.113.7"), "{who} {path}: {body}");
        }
        let client = app.sign_in(who).await;
        let page = format!("/support/tickets/{}/attachments/{id}", ticket.number);
        assert_eq!(app.get(&client, &page).await.status().as_u16(), 404, "{who}");
    }
    // Anonymous callers and a revoked key are not told anything.
    for path in [&list, &download] {
        let response = client().get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "{path}");
        assert!(!response.text().await.unwrap().contains("ioc.csv"));
    }
    let anonymous_page =
        client().get(app.url(&format!("/support/tickets/{}/attachments/{id}", ticket.number))).send().await.unwrap();
    assert_eq!(anonymous_page.status().as_u16(), 303, "to sign in");
    app.execute(&format!("UPDATE api_keys SET revoked_at = created_at WHERE key_id = '{}'", key.id)).await;
    for path in [&list, &download] {
        let response = app.api_get(&key, path).await;
        assert_eq!(response.status().as_u16(), 401, "revoked: {path}");
        assert!(!response.text().await.unwrap().contains("ioc.csv"));
    }
    // The file must belong to the ticket in the address.
    let other = app.fresh_incident().await;
    let wrong = format!("/support/tickets/{}/attachments/{id}", other.number);
    assert_eq!(app.get(&tess, &wrong).await.status().as_u16(), 404);
    // The OpenAPI document describes both calls.
    let (_, openapi) = app.get_text(&client(), "/api/v1/openapi.json").await;
    assert!(openapi.contains("/api/v1/tickets/{number}/attachments") && openapi.contains("/api/v1/attachments/{id}"));
}

async fn downloads_go_out_as_stored_never_compressed(app: TestApp) {
    let ticket = app.fresh_incident().await;
    let tess = app.sign_in(TESS).await;
    let log = LOG.repeat(200);
    let response = app
        .comment_with_files(
            &tess,
            &ticket.number,
            &[("body", "a long log")],
            &[file("long.log", "text/plain", log.clone())],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let id = app.stored_files(ticket.id).await[0].public_id.clone();
    let response = tess
        .get(app.url(&format!("/support/tickets/{}/attachments/{id}", ticket.number)))
        .header("accept-encoding", "br, gzip")
        .send()
        .await
        .unwrap();
    assert_safe_download(&response, "long.log");
    assert_eq!(header(&response, "content-encoding"), "", "streamed as stored, not read whole to be compressed");
    assert_eq!(header(&response, "content-length"), log.len().to_string());
    assert_eq!(response.text().await.unwrap(), log);
}

on_both_backends!(
    configured by adjust;
    a_comment_carries_files_that_both_views_list_and_readers_download,
    a_comment_may_be_files_alone_but_not_nothing,
    opening_a_ticket_with_files_attaches_them_to_the_ticket,
    the_same_bytes_are_stored_once_per_account,
    files_on_internal_notes_never_reach_customers,
    markup_is_always_downloaded_and_never_served_as_markup,
    hostile_names_are_cleaned_in_pages_and_headers,
    over_limit_uploads_are_refused_before_anything_is_kept,
    a_forged_or_misordered_multipart_form_is_refused_before_any_file_is_read,
    an_upload_cut_off_midway_leaves_nothing,
    housekeeping_deletes_what_a_crash_left_and_keeps_what_was_linked,
    the_api_lists_and_downloads_with_the_tickets_visibility,
    the_same_file_attached_by_two_users_at_once_is_stored_once,
    downloads_go_out_as_stored_never_compressed,
);

async fn the_same_file_attached_by_two_users_at_once_is_stored_once(app: TestApp) {
    let ticket = app.fresh_incident().await;
    let other = app.fresh_incident().await;
    let tess = app.sign_in(TESS).await;
    let riley = app.sign_in(RILEY).await;
    for round in 0..8_u64 {
        let bytes = noise(600 * 1024, 100 + round);
        let one = [file("same.bin", "application/octet-stream", bytes.clone())];
        let two = [file("same-too.bin", "application/octet-stream", bytes)];
        // Two people, two tickets of the account (or the same one), the same bytes, at once.
        let second = if round % 2 == 0 { &ticket.number } else { &other.number };
        let (a, b) = tokio::join!(
            app.comment_with_files(&tess, &ticket.number, &[("body", "mine")], &one),
            app.comment_with_files(&riley, second, &[("body", "mine too")], &two),
        );
        assert_eq!((a.status().as_u16(), b.status().as_u16()), (303, 303), "round {round}");
    }
    let blobs = app.count("SELECT COUNT(*) FROM blobs").await;
    let attachments = app.count("SELECT COUNT(*) FROM attachments").await;
    assert_eq!((blobs, attachments), (8, 16), "each content stored once, attached twice");
    // Three parts per blob; the losers' uploads deleted.
    app.wait_for_file_rows([16, 8, 24, 0, 0]).await;
}

/// The mails of a comment name its files if they are public, and never carry them.
async fn mails_name_public_files_and_never_an_internal_notes(app: TestApp, sink: SmtpSink) {
    let ticket = app.fresh_incident().await;
    sink.wait_for(3).await;
    let sam = app.sign_in(SAM).await;
    let secret = "INTERNAL-firewall-export.txt";
    let bytes = "FILE-CONTENT-MARKER-5d1";
    let response = app
        .comment_with_files(
            &sam,
            &ticket.number,
            &[("body", "Internal"), ("internal", "on")],
            &[file(secret, "text/plain", bytes)],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let response = app
        .comment_with_files(
            &sam,
            &ticket.number,
            &[("body", "The fix is attached.")],
            &[file("fix-guide.pdf", "application/pdf", bytes)],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let mails = sink.wait_for(6).await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let mails_after = sink.received();
    assert_eq!(mails_after.len(), 6, "the internal note told no one");
    for mail in &mails[3..] {
        assert!(mail.text.contains("fix-guide.pdf") && mail.html.contains("fix-guide.pdf"), "{}", mail.text);
    }
    for mail in &mails_after {
        assert!(!mail.raw.contains(secret), "an internal note's file was named");
        assert!(!mail.raw.contains(bytes), "a file's bytes went out by mail");
    }
}

macro_rules! with_mail {
    ($name:ident) => {
        mod mails {
            async fn start(
                backend: crate::helpers::Backend,
            ) -> Option<(crate::helpers::TestApp, crate::helpers::SmtpSink)> {
                let sink = crate::helpers::SmtpSink::start().await?;
                let url = sink.url();
                let app = crate::helpers::spawn_app_configured(backend, move |s| {
                    super::adjust(s);
                    s.mail.smtp_url = Some(secrecy::SecretString::from(url));
                    s.mail.from = Some("Incident Portal <portal@portal.example>".parse().unwrap());
                    s.mail.desk = Some("desk@support.example".parse().unwrap());
                })
                .await?;
                Some((app, sink))
            }

            #[tokio::test]
            async fn sqlite() {
                if let Some((app, sink)) = start(crate::helpers::Backend::Sqlite).await {
                    super::$name(app, sink).await;
                }
            }

            #[tokio::test]
            async fn postgres() {
                if let Some((app, sink)) = start(crate::helpers::Backend::Postgres).await {
                    super::$name(app, sink).await;
                }
            }
        }
    };
}

with_mail!(mails_name_public_files_and_never_an_internal_notes);

/// A 25 MiB upload, streamed into the byte store part by part, raises the server's peak memory
/// by a few MiB at most (measured on the portal's own binary, in a process of its own).
async fn a_25_mib_upload_raises_the_servers_peak_memory_by_a_few_mib(backend: Backend) {
    let Some(server) = ServerProcess::start(backend).await else { return };
    let client = client();
    let token_of = |html: String| csrf_token(&html);
    let login = client.get(format!("{}/login", server.address)).send().await.unwrap().text().await.unwrap();
    let response = client
        .post(format!("{}/login", server.address))
        .form(&[("csrf_token", token_of(login).as_str()), ("email", TESS), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    let page =
        client.get(format!("{}/support/tickets/new", server.address)).send().await.unwrap().text().await.unwrap();
    let token = token_of(page);
    let upload = |summary: &str, bytes: Vec<u8>| {
        let (content_type, body) = multipart(
            &[("csrf_token", &token), ("summary", summary), ("description", "memory")],
            &[file("big.bin", "application/octet-stream", bytes)],
        );
        client
            .post(format!("{}/support/tickets", server.address))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    // Warm up: the same path with a file of two parts, so that every buffer exists already; the
    // peak is then reset, since the sign-in's password hash took more than an upload may.
    assert_eq!(upload("Warm-up", noise(2 * MIB as usize, 1)).await.unwrap().status().as_u16(), 303);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    server.reset_peak();
    let before = server.rss_kib();
    let response = upload("Twenty-five MiB", noise(25 * MIB as usize, 2)).await.unwrap();
    assert_eq!(response.status().as_u16(), 303);
    let peak = server.peak_rss_kib();
    let raised = peak.saturating_sub(before);
    eprintln!(
        "{backend:?}: {before} KiB resident before a 25 MiB upload, at most {peak} KiB during it (+{raised} KiB)"
    );
    assert!(raised < 4 * 1024, "{backend:?}: a 25 MiB upload raised the peak by {raised} KiB");
}

#[tokio::test]
async fn a_25_mib_upload_raises_the_servers_peak_memory_by_a_few_mib_on_sqlite() {
    a_25_mib_upload_raises_the_servers_peak_memory_by_a_few_mib(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_25_mib_upload_raises_the_servers_peak_memory_by_a_few_mib_on_postgres() {
    a_25_mib_upload_raises_the_servers_peak_memory_by_a_few_mib(Backend::Postgres).await;
}
