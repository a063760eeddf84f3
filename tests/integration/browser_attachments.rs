//! Attachments in headless Chromium: a customer attaches two files to a comment (the script shows
//! the upload's progress), sees them listed with a preview and downloads one; support staff see
//! the same files with their desk controls; and a page or drawing with a script, uploaded as a
//! file, is downloaded, never rendered: its script never runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fantoccini::Locator;

use crate::attachments::png;
use crate::browser::start_browser_downloading_to;
use crate::helpers::*;
use crate::on_both_backends;

/// Scrolls the element `css` to the top of the window, for a screenshot of it.
async fn scroll_to(browser: &crate::browser::Browser, css: &str) {
    let script = format!("document.querySelector('{css}').scrollIntoView({{block: 'start'}});");
    browser.client.execute(&script, vec![]).await.unwrap();
}

fn prefix(app: &TestApp, what: &str) -> String {
    format!("{what}-{}", if app.store.backend_name() == "SQLite" { "sqlite" } else { "postgres" })
}

/// Waits until the file named `name` in `dir` is finished: Chromium makes an empty file of that
/// name first, writes a `.crdownload` beside it and renames that over it at the end.
async fn downloaded(dir: &Path, name: &str) -> Vec<u8> {
    let path = dir.join(name);
    let started = Instant::now();
    loop {
        let present: Vec<String> = std::fs::read_dir(dir)
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let writing = present.iter().any(|f| f.ends_with(".crdownload"));
        if let Ok(bytes) = std::fs::read(&path)
            && !writing
            && !bytes.is_empty()
        {
            return bytes;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{name} was not downloaded; the folder holds {present:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_customer_attaches_two_files_sees_a_preview_and_downloads_one(app: TestApp) {
    let downloads = tempfile::tempdir().unwrap();
    let Some(browser) = start_browser_downloading_to(&prefix(&app, "attachments"), Some(downloads.path())).await else {
        return;
    };
    let ticket = app.fresh_incident().await;
    let files = tempfile::tempdir().unwrap();
    let screenshot_file: PathBuf = files.path().join("firewall-console.png");
    std::fs::write(&screenshot_file, png(800, 500)).unwrap();
    let log_file = files.path().join("auth.log");
    let log = "Nov 30 08:15:00 bastion sshd[811]: Failed password for root from 203.0.113.7 port 52144\n".repeat(40);
    std::fs::write(&log_file, &log).unwrap();

    browser.sign_in(&app, TESS).await;
    browser.goto(&app.url(&format!("/support/tickets/{}", ticket.number))).await;
    browser.fill("#comment-body", "The console showed this; the log is attached too.").await;
    let input = browser.client.find(Locator::Css("#comment-files")).await.expect("the file input");
    input.send_keys(&format!("{}\n{}", screenshot_file.display(), log_file.display())).await.unwrap();
    scroll_to(&browser, "form.comment-form").await;
    browser.screenshot("01-two-files-chosen").await;
    browser.click("form.comment-form button[type=submit]").await;
    browser.client.wait().for_element(Locator::Css("ul.attachments li")).await.expect("the files are listed");
    let names: Vec<String> = {
        let mut names = Vec::new();
        for link in browser.client.find_all(Locator::Css(".attachment-name a")).await.unwrap() {
            names.push(link.text().await.unwrap());
        }
        names
    };
    assert_eq!(names, ["firewall-console.png", "auth.log"]);
    assert!(browser.text(".flashes").await.contains("2 files are attached"), "the flash says so");
    // The preview is loaded: an image the server made, shown at its place.
    let loaded = browser
        .client
        .execute(
            "const img = document.querySelector('.attachment-preview img'); return img && img.complete ? img.naturalWidth : 0;",
            vec![],
        )
        .await
        .unwrap();
    let started = Instant::now();
    let mut width = loaded.as_u64().unwrap_or(0);
    while width == 0 && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        width = browser
            .client
            .execute(
                "const img = document.querySelector('.attachment-preview img'); return img ? img.naturalWidth : 0;",
                vec![],
            )
            .await
            .unwrap()
            .as_u64()
            .unwrap_or(0);
    }
    assert_eq!(width, 320, "the preview is the server's 320-pixel image");
    scroll_to(&browser, "#comments-heading").await;
    browser.screenshot("02-customer-sees-files-with-preview").await;

    let log_link = browser
        .client
        .find(Locator::XPath("//p[@class='attachment-name']/a[text()='auth.log']"))
        .await
        .expect("the log's link");
    log_link.click().await.unwrap();
    assert_eq!(downloaded(downloads.path(), "auth.log").await, log.as_bytes());
    assert_eq!(browser.path().await, format!("/support/tickets/{}", ticket.number), "the page stays");
    browser.sign_out().await;

    browser.sign_in(&app, SAM).await;
    browser.goto(&app.url(&format!("/support/tickets/{}", ticket.number))).await;
    browser.client.wait().for_element(Locator::Css("ul.attachments li")).await.unwrap();
    scroll_to(&browser, "#comments-heading").await;
    browser.screenshot("03-support-sees-files").await;
    browser.sign_out().await;

    // The account's administrator sees what the files take of the quota.
    browser.sign_in(&app, AVERY).await;
    browser.goto(&app.url("/account/users")).await;
    assert!(browser.text(".quota").await.contains("of the account's 2 GB used"));
    browser.screenshot("04-administrator-sees-the-quota").await;
    browser.goto(&app.url("/support/tickets/new")).await;
    browser.screenshot("05-new-ticket-with-files").await;
}

/// A listener that counts the requests a script would make if it ran.
async fn beacon() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (port, hits)
}

async fn a_page_or_drawing_with_a_script_is_downloaded_and_its_script_never_runs(app: TestApp) {
    let downloads = tempfile::tempdir().unwrap();
    let Some(browser) =
        start_browser_downloading_to(&prefix(&app, "attachments-hostile"), Some(downloads.path())).await
    else {
        return;
    };
    let (port, hits) = beacon().await;
    let script = format!(
        "document.title='PWNED';fetch('http://127.0.0.1:{port}/fetch');new Image().src='http://127.0.0.1:{port}/img';\
         location='http://127.0.0.1:{port}/navigate';"
    );
    let hostile = [
        file(
            "drawing.svg",
            "image/svg+xml",
            format!("<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"{script}\"><script>{script}</script></svg>"),
        ),
        file(
            "page.html",
            "text/html",
            format!(
                "<!DOCTYPE html><html><head><title>file</title></head><body><script>{script}</script></body></html>"
            ),
        ),
        file(
            "page.xhtml",
            "application/xhtml+xml",
            format!("<html xmlns=\"http://www.w3.org/1999/xhtml\"><body><script>{script}</script></body></html>"),
        ),
    ];
    let ticket = app.fresh_incident().await;
    let tess = app.sign_in(TESS).await;
    let response = app.comment_with_files(&tess, &ticket.number, &[("body", "Suspicious files")], &hostile).await;
    assert_eq!(response.status().as_u16(), 303);
    let stored = app.stored_files(ticket.id).await;

    browser.sign_in(&app, TESS).await;
    let page = format!("/support/tickets/{}", ticket.number);
    for (file, sent) in stored.iter().zip(&hostile) {
        browser.goto(&app.url(&page)).await;
        let title = browser.client.title().await.unwrap();
        // Opened directly, as a link in a mail or another tab would open it.
        let _ = browser.client.goto(&app.url(&format!("{page}/attachments/{}", file.public_id))).await;
        assert_eq!(downloaded(downloads.path(), &sent.name).await, sent.bytes, "{} is saved as uploaded", sent.name);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(browser.client.title().await.unwrap(), title, "{}: the page is still the ticket's", sent.name);
        assert_eq!(browser.path().await, page, "{}", sent.name);
        // Shown as a preview it would be an image: there is none for these.
        let preview = app.get(&tess, &format!("{page}/attachments/{}/preview", file.public_id)).await;
        assert_eq!(preview.status().as_u16(), 404);
    }
    browser.screenshot("01-still-on-the-ticket").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a script in an uploaded file ran");
}

on_both_backends!(
    a_customer_attaches_two_files_sees_a_preview_and_downloads_one,
    a_page_or_drawing_with_a_script_is_downloaded_and_its_script_never_runs,
);

/// With the page's script, a file over the limit is refused beside the form, the page kept.
#[tokio::test]
async fn a_file_over_the_limit_is_refused_beside_the_form() {
    let app = spawn_app_configured(Backend::Sqlite, crate::attachments::adjust).await.expect("SQLite always works");
    let Some(browser) = start_browser_downloading_to("attachments-limit-sqlite", None).await else { return };
    let ticket = app.fresh_incident().await;
    let files = tempfile::tempdir().unwrap();
    let big = files.path().join("memory-dump.bin");
    std::fs::write(&big, crate::attachments::noise(3 * 1024 * 1024 + 300_000, 9)).unwrap();
    browser.sign_in(&app, TESS).await;
    browser.goto(&app.url(&format!("/support/tickets/{}", ticket.number))).await;
    browser.fill("#comment-body", "The memory dump").await;
    let input = browser.client.find(Locator::Css("#comment-files")).await.unwrap();
    input.send_keys(&big.display().to_string()).await.unwrap();
    browser.click("form.comment-form button[type=submit]").await;
    browser.client.wait().for_element(Locator::Css(".upload-status[role=alert]")).await.expect("a message");
    let message = browser.text(".upload-status").await;
    assert!(
        message.contains("memory-dump.bin is larger than 3 MB") && message.contains("Nothing was stored"),
        "{message}"
    );
    assert_eq!(browser.text("#comment-body").await, "", "the textarea's text is a value, not text");
    let typed = browser.client.find(Locator::Css("#comment-body")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(typed.as_deref(), Some("The memory dump"), "what was typed stays");
    scroll_to(&browser, "form.comment-form").await;
    browser.screenshot("01-refused-beside-the-form").await;
    app.wait_for_file_rows([0, 0, 0, 0, 0]).await;
}
