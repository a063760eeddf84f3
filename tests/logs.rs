//! The security log, captured: sign-ins, failures, denials, forged forms, closure, role changes,
//! API key use (either signing form), FH-AUTH sign-ins, failures and token use, and refused
//! metrics scrapes are logged with the request id, and no password, cookie, CSRF token, API
//! secret, signature, FH-AUTH code or token or metrics token appears in any line. Its own test binary, because the log subscriber is
//! global to a process.

// Tests read and write their databases directly, never through a pooler: sqlx's own statements are fine.
#![allow(clippy::disallowed_methods)]

// The integration tests' helpers, of which this binary uses a few.
#[allow(dead_code, unused_imports)]
#[path = "integration/helpers/mod.rs"]
mod helpers;

/// PostgreSQL directly (see `tests/pooler`).
pub const THROUGH_PGBOUNCER: bool = false;

use std::io::Write;
use std::sync::{Arc, Mutex};

use helpers::*;
use incident_portal::settings::LogFormat;
use secrecy::SecretString;

const METRICS_TOKEN: &str = "metrics-token-never-logged-8c2f";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn cookie_of(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.split_once('=').map(|(_, value)| value.to_string()))
        .filter(|value| value.len() > 8)
        .collect()
}

#[tokio::test]
async fn security_events_are_logged_with_the_request_id_and_without_secrets() {
    let captured = Captured::default();
    let sink = captured.clone();
    incident_portal::telemetry::init(LogFormat::Json, move || sink.clone());
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let configured = |settings: &mut incident_portal::settings::Settings| {
            settings.metrics_token = Some(SecretString::from(METRICS_TOKEN));
        };
        let Some(app) = spawn_app_configured(backend, configured).await else { continue };
        let mut secrets: Vec<String> = vec![PASSWORD.into(), "a wrong password".into()];

        // Sign-in: a failure, then success (whose cookie and token must never be logged).
        let tess = client();
        secrets.push(app.csrf_token(&tess, "/login").await);
        app.try_sign_in(&tess, TESS, "a wrong password").await;
        let token = app.csrf_token(&tess, "/login").await;
        let response =
            app.post_form(&tess, "/login", &[("csrf_token", &token), ("email", TESS), ("password", PASSWORD)]).await;
        secrets.extend(cookie_of(&response));
        secrets.push(app.csrf_token(&tess, "/security/incidents").await);

        // A denial and a forged form; the denial claims another client address, which is not
        // believed without TRUST_PROXY_HEADERS.
        let claimed = tess
            .get(app.url("/desk/queue"))
            .header("x-forwarded-for", "203.0.113.77")
            .header("forwarded", "for=203.0.113.78")
            .send()
            .await
            .unwrap();
        assert_eq!(claimed.status().as_u16(), 403);
        app.post_form(&tess, "/account/profile", &[("csrf_token", "forged"), ("first_name", "X")]).await;

        // Support closes an incident; an administrator changes roles.
        let ticket = app.fresh_incident().await;
        let sam = app.sign_in(SAM).await;
        let sam_token = app.csrf_token(&sam, "/desk/queue").await;
        secrets.push(sam_token.clone());
        let version = app.ticket_version(ticket.id).await.to_string();
        let close = format!("/desk/tickets/{}/close", ticket.number);
        app.post_form(&sam, &close, &[("csrf_token", &sam_token), ("version", &version), ("resolution", "Done")]).await;
        let avery = app.sign_in(AVERY).await;
        let avery_token = app.csrf_token(&avery, "/account/users").await;
        let riley = app.user_id(RILEY).await;
        let technical = app
            .count(&format!(
                "SELECT r.id FROM roles r JOIN users u ON u.account_id = r.account_id \
                 WHERE u.id = {riley} AND r.builtin = 'technical'"
            ))
            .await
            .to_string();
        app.post_form(
            &avery,
            &format!("/account/users/{riley}/roles"),
            &[("csrf_token", &avery_token), ("role", &technical)],
        )
        .await;

        // An API key in use.
        let key = app.api_key_for(TESS).await;
        secrets.push(key.secret.clone());
        let target = "/api/v1/me";
        let (authorization, signature) = app.authorization(&key, "GET", target, b"");
        secrets.push(signature);
        let signed =
            reqwest::Client::new().get(app.url(target)).header("authorization", authorization).send().await.unwrap();
        assert_eq!(signed.status().as_u16(), 200);

        // The original's signing form, and FH-AUTH: its code and token, a wrong password.
        let original = app.original_authorization(&key, "GET", "/tickets/list?maxResults=5", b"");
        secrets.push(original.split(':').nth(1).unwrap().to_string());
        let listed = reqwest::Client::new()
            .get(app.url("/tickets/list?maxResults=5"))
            .header("authorization", original)
            .send()
            .await
            .unwrap();
        assert_eq!(listed.status().as_u16(), 200);
        app.allow_fh_auth(TESS).await;
        let wrong = reqwest::Client::new()
            .post(app.url("/auth/authorize"))
            .json(&serde_json::json!({ "username": TESS, "password": "an FH-AUTH wrong password" }))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status().as_u16(), 401);
        secrets.push("an FH-AUTH wrong password".into());
        let code: serde_json::Value = reqwest::Client::new()
            .post(app.url("/auth/authorize"))
            .json(&serde_json::json!({ "username": TESS, "password": PASSWORD }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        secrets.push(code["code"].as_str().unwrap().to_string());
        let token = app.fh_auth_token(TESS).await;
        secrets.push(token.clone());
        let me = reqwest::Client::new()
            .get(app.url("/me"))
            .header("authorization", format!("FH-AUTH {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(me.status().as_u16(), 200);

        // Metrics through a proxy: a wrong token is refused, the right one served.
        let wrong_token = "wrong-metrics-token-5d0e91";
        secrets.extend([METRICS_TOKEN.to_string(), wrong_token.to_string()]);
        for (token, expected) in [(wrong_token, 404), (METRICS_TOKEN, 200)] {
            let scrape = reqwest::Client::new()
                .get(app.url("/metrics"))
                .header("x-forwarded-for", "203.0.113.77")
                .header("authorization", format!("Bearer {token}"))
                .send()
                .await
                .unwrap();
            assert_eq!(scrape.status().as_u16(), expected);
        }

        let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
        let lines: Vec<&str> = log.lines().collect();
        for (what, needle) in [
            ("sign-in failure", "\"action\":\"sign_in_failed\""),
            ("sign-in", "\"action\":\"sign_in\""),
            ("permission denial", "\"action\":\"permission_denied\""),
            ("forged form", "CSRF token refused"),
            ("role change", "\"action\":\"user_roles_changed\""),
            ("API key use", "API key used"),
            ("FH-AUTH failure", "\"action\":\"fh_auth_failed\""),
            ("FH-AUTH sign-in", "\"action\":\"fh_auth_sign_in\""),
            ("FH-AUTH token use", "FH-AUTH token used"),
            ("metrics refusal", "metrics scrape refused"),
        ] {
            let line = lines.iter().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no {what} in the log"));
            assert!(line.contains("request_id"), "the {what} line has no request id: {line}");
        }
        let closed = lines.iter().find(|l| l.contains(&ticket.number) && l.contains("security event"));
        assert!(closed.is_some_and(|l| l.contains("request_id")), "the closure is logged with the request id");
        for claimed in ["203.0.113.77", "203.0.113.78"] {
            assert!(!log.contains(claimed), "the claimed address {claimed} was believed");
        }
        let denial = lines.iter().find(|l| l.contains("\"action\":\"permission_denied\"")).unwrap();
        assert!(denial.contains("\"http.client_ip\":\"127.0.0.1\""), "the peer is logged: {denial}");
        for secret in &secrets {
            assert!(!log.contains(secret.as_str()), "a secret reached the log: {secret}");
        }
        captured.0.lock().unwrap().clear();
    }
}
