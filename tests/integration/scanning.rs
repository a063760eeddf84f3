//! Virus scanning with a real ClamAV daemon (started by the tests on a socket of their own, with
//! a signature for the EICAR test file): a new file waits for its scan (support staff may take it,
//! customers not), a clean one is released, an infected one is held from everyone and flagged to
//! support; while the scanner is down, files are held or allowed as `CLAMAV_WHEN_DOWN` says, and
//! scanned once it is back.

use std::time::{Duration, Instant};

use incident_portal::domain::attachment::WhenScannerDown;
use incident_portal::settings::{ScannerAddress, ScannerSettings, Settings};

use crate::attachments::{adjust, assert_safe_download};
use crate::helpers::*;

fn with_scanner(settings: &mut Settings, socket: std::path::PathBuf, when_down: WhenScannerDown) {
    adjust(settings);
    settings.attachments.scanner = Some(ScannerSettings { address: ScannerAddress::Unix(socket), when_down });
}

/// Runs each `async fn name(app: TestApp, clamav: ClamAv)` on both databases with the scanner
/// on (holding files while it is down, unless the test's name says `allowed`).
macro_rules! with_clamav_on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(clamav) = crate::helpers::ClamAv::start().await else { return };
                    let (socket, when_down) = (clamav.socket.clone(), super::when_down(stringify!($name)));
                    let app = crate::helpers::spawn_app_configured(crate::helpers::Backend::Sqlite, move |s| {
                        super::with_scanner(s, socket, when_down)
                    })
                    .await
                    .expect("SQLite always works");
                    super::$name(app, clamav).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(clamav) = crate::helpers::ClamAv::start().await else { return };
                    let (socket, when_down) = (clamav.socket.clone(), super::when_down(stringify!($name)));
                    let configured = crate::helpers::spawn_app_configured(crate::helpers::Backend::Postgres, move |s| {
                        super::with_scanner(s, socket, when_down)
                    });
                    if let Some(app) = configured.await {
                        super::$name(app, clamav).await;
                    }
                }
            )*
        }
    };
}

fn when_down(test: &str) -> WhenScannerDown {
    if test.contains("allowed") { WhenScannerDown::Allow } else { WhenScannerDown::Hold }
}

/// Waits until the file named `name` reaches `state` (a scan takes a moment).
async fn wait_for_scan(app: &TestApp, name: &str, state: &str) {
    let sql =
        format!("SELECT b.scan_state FROM blobs b JOIN attachments a ON a.blob_id = b.id WHERE a.name = '{name}'");
    let started = Instant::now();
    loop {
        let now: String = app.scalar(&sql).await;
        if now == state {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{name} is {now}, not {state}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn path_of(number: &str, files: &[StoredFile], name: &str) -> String {
    let file = files.iter().find(|f| f.name == name).unwrap();
    format!("/support/tickets/{number}/attachments/{}", file.public_id)
}

async fn an_infected_file_is_held_from_everyone_and_flagged_to_support(app: TestApp, _clamav: ClamAv) {
    let ticket = app.fresh_incident().await;
    let tess = app.sign_in(TESS).await;
    let sam = app.sign_in(SAM).await;
    let response = app
        .comment_with_files(
            &tess,
            &ticket.number,
            &[("body", "Found this on a laptop")],
            &[file("eicar.com", "application/octet-stream", EICAR), file("notes.txt", "text/plain", "clean notes")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let files = app.stored_files(ticket.id).await;
    wait_for_scan(&app, "notes.txt", "clean").await;
    wait_for_scan(&app, "eicar.com", "infected").await;

    let (_, metrics) = app.get_text(&client(), "/metrics").await;
    assert!(metrics.contains("incident_portal_attachment_scans_waiting 0"), "{metrics}");
    let notes = app.get(&tess, &path_of(&ticket.number, &files, "notes.txt")).await;
    assert_safe_download(&notes, "a clean file");
    for (who, client) in [("the uploader", &tess), ("support", &sam)] {
        let response = app.get(client, &path_of(&ticket.number, &files, "eicar.com")).await;
        assert_eq!(response.status().as_u16(), 409, "{who} may not download an infected file");
        let text = response.text().await.unwrap();
        assert!(text.contains("Eicar-Test-Signature") && !text.contains("EICAR-STANDARD"), "{who}: {text}");
    }
    let (_, desk) = app.get_text(&sam, &format!("/support/tickets/{}", ticket.number)).await;
    assert!(desk.contains("Virus found.") && desk.contains("Eicar-Test-Signature"), "flagged to support");
    assert!(desk.contains("attachment-infected"));
    let key = app.api_key_for(TESS).await;
    let json: serde_json::Value =
        app.api_get(&key, &format!("/api/v1/tickets/{}/attachments", ticket.number)).await.json().await.unwrap();
    let eicar = json["items"].as_array().unwrap().iter().find(|i| i["fileName"] == "eicar.com").unwrap();
    assert_eq!((eicar["scanStatus"].as_str(), eicar["downloadable"].as_bool()), (Some("infected"), Some(false)));
    let id = eicar["id"].as_str().unwrap();
    assert_eq!(app.api_get(&key, &format!("/api/v1/attachments/{id}")).await.status().as_u16(), 409);
    // Support removes it; the bytes go.
    let token = app.csrf_token(&sam, "/account/profile").await;
    let remove = path_of(&ticket.number, &files, "eicar.com").replace("/support/", "/desk/") + "/remove";
    assert_eq!(app.post_form(&sam, &remove, &[("csrf_token", &token)]).await.status().as_u16(), 303);
    app.wait_for_file_rows([1, 1, 1, 0, 0]).await;
}

async fn while_the_scanner_is_down_new_files_are_held_then_scanned_when_it_is_back(app: TestApp, mut clamav: ClamAv) {
    clamav.stop();
    let ticket = app.fresh_incident().await;
    let tess = app.sign_in(TESS).await;
    let sam = app.sign_in(SAM).await;
    let response = app
        .comment_with_files(&tess, &ticket.number, &[("body", "logs")], &[file("held.log", "text/plain", "held")])
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let files = app.stored_files(ticket.id).await;
    let path = path_of(&ticket.number, &files, "held.log");
    // The scanner tried, failed, and keeps the file from customers.
    let started = Instant::now();
    while app.count("SELECT CAST(scan_attempts AS BIGINT) FROM blobs").await == 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "the scanner never tried");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_for_scan(&app, "held.log", "pending").await;
    let response = app.get(&tess, &path).await;
    assert_eq!(response.status().as_u16(), 409);
    assert!(response.text().await.unwrap().contains("waiting for its virus scan"));
    let (_, page) = app.get_text(&tess, &format!("/support/tickets/{}", ticket.number)).await;
    assert!(page.contains("Waiting for the virus scan"), "the page says why");
    assert_eq!(app.get(&sam, &path).await.status().as_u16(), 200, "support staff may take it meanwhile");

    clamav.resume().await;
    // The next try is due a minute later.
    app.clock.advance(chrono::Duration::minutes(2));
    wait_for_scan(&app, "held.log", "clean").await;
    assert_safe_download(&app.get(&tess, &path).await, "released after its scan");
}

async fn while_the_scanner_is_down_new_files_are_allowed_unchecked(app: TestApp, mut clamav: ClamAv) {
    clamav.stop();
    let ticket = app.fresh_incident().await;
    let tess = app.sign_in(TESS).await;
    let response = app
        .comment_with_files(&tess, &ticket.number, &[("body", "logs")], &[file("allowed.log", "text/plain", "ok")])
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let files = app.stored_files(ticket.id).await;
    wait_for_scan(&app, "allowed.log", "unchecked").await;
    assert_safe_download(&app.get(&tess, &path_of(&ticket.number, &files, "allowed.log")).await, "allowed unscanned");
    let (_, page) = app.get_text(&tess, &format!("/support/tickets/{}", ticket.number)).await;
    assert!(page.contains("Not virus-scanned: the scanner was unavailable."));
    clamav.resume().await;
    app.clock.advance(chrono::Duration::minutes(2));
    wait_for_scan(&app, "allowed.log", "clean").await;
}

with_clamav_on_both_backends!(
    an_infected_file_is_held_from_everyone_and_flagged_to_support,
    while_the_scanner_is_down_new_files_are_held_then_scanned_when_it_is_back,
    while_the_scanner_is_down_new_files_are_allowed_unchecked,
);
