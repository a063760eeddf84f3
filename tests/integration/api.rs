//! The JSON API: ARMOR-PSK signatures, account context, the same visibility as the pages, and
//! the API Keys page.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha512;

use crate::helpers::*;
use crate::on_both_backends;

/// The signature computed here, independently of the portal's code, from the documented formula.
fn signature(secret: &str, parts: &[&str]) -> String {
    let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(parts.concat().as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn call(app: &TestApp, target: &str, authorization: &str, extra: Option<(&str, &str)>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(app.url(target)).header("authorization", authorization);
    if let Some((name, value)) = extra {
        request = request.header(name, value);
    }
    request.send().await.unwrap()
}

async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"), "errors are JSON");
    let body: Value = response.json().await.unwrap();
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    (status, body["code"].as_str().unwrap().to_string())
}

async fn a_correctly_signed_request_is_accepted_and_every_alteration_refused(app: TestApp) {
    let key = app.api_key_for(TESS).await;
    let now = app.clock.now().timestamp();
    let path = "/api/v1/me";
    let header = |sig: &str, nonce: &str, ts: i64| format!("ARMOR-PSK {}:{sig}:{nonce}:{ts}", key.id);

    let good = signature(&key.secret, &[&key.id, "GET", path, "nonce-1", &now.to_string()]);
    let response = call(&app, path, &header(&good, "nonce-1", now), None).await;
    assert_eq!(response.status().as_u16(), 200);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["email"], TESS);
    assert_eq!(me["account"]["number"], 100234);
    assert!(me["permissions"].as_array().unwrap().iter().any(|p| p == "Read Ticket"));

    // The same nonce again is a replay.
    assert_eq!(error_code(call(&app, path, &header(&good, "nonce-1", now), None).await).await.0, 401);

    let cases = [
        ("method", signature(&key.secret, &[&key.id, "POST", path, "nonce-2", &now.to_string()]), "nonce-2", now, path),
        (
            "path",
            signature(&key.secret, &[&key.id, "GET", "/api/v1/security-incidents", "nonce-3", &now.to_string()]),
            "nonce-3",
            now,
            path,
        ),
        (
            "body",
            signature(&key.secret, &[&key.id, "GET", path, "nonce-4", &now.to_string(), "{}"]),
            "nonce-4",
            now,
            path,
        ),
        (
            "secret",
            signature("not the secret", &[&key.id, "GET", path, "nonce-5", &now.to_string()]),
            "nonce-5",
            now,
            path,
        ),
        (
            "timestamp",
            signature(&key.secret, &[&key.id, "GET", path, "nonce-6", &(now - 360).to_string()]),
            "nonce-6",
            now - 360,
            path,
        ),
        (
            "future",
            signature(&key.secret, &[&key.id, "GET", path, "nonce-7", &(now + 360).to_string()]),
            "nonce-7",
            now + 360,
            path,
        ),
    ];
    for (what, sig, nonce, ts, target) in cases {
        let (status, code) = error_code(call(&app, target, &header(&sig, nonce, ts), None).await).await;
        assert_eq!((status, code.as_str()), (401, "unauthorized"), "a changed {what}");
    }
    let unknown = format!("ARMOR-PSK ak_unknown:{good}:nonce-8:{now}");
    assert_eq!(error_code(call(&app, path, &unknown, None).await).await.0, 401, "an unknown key");
    for malformed in ["ARMOR-PSK", "ARMOR-PSK a:b", "Bearer abc", "ARMOR-PSK a:%%%:n:1", "ARMOR-PSK a:YQ==:n:soon"] {
        let response = call(&app, path, malformed, None).await;
        assert!(response.headers().contains_key("www-authenticate"));
        assert_eq!(error_code(response).await.0, 401, "{malformed}");
    }
    // A request with no credentials at all.
    let response = reqwest::Client::new().get(app.url(path)).send().await.unwrap();
    assert_eq!(error_code(response).await, (401, "unauthorized".to_string()));
}

async fn the_account_context_must_be_the_callers_own(app: TestApp) {
    let key = app.api_key_for(TESS).await;
    let sign = |nonce: &str| {
        let now = app.clock.now().timestamp();
        format!(
            "ARMOR-PSK {}:{}:{nonce}:{now}",
            key.id,
            signature(&key.secret, &[&key.id, "GET", "/api/v1/me", nonce, &now.to_string()])
        )
    };
    let own = call(&app, "/api/v1/me", &sign("ctx-1"), Some(("x-account-context", "100234"))).await;
    assert_eq!(own.status().as_u16(), 200);
    let other = call(&app, "/api/v1/me", &sign("ctx-2"), Some(("x-account-context", "100577"))).await;
    let status = other.status().as_u16();
    let body: Value = other.json().await.unwrap();
    assert_eq!(
        (status, body["code"].as_str().unwrap(), body["message"].as_str().unwrap()),
        (403, "invalid_account_context", "invalid account context")
    );
    let junk = call(&app, "/api/v1/me", &sign("ctx-3"), Some(("x-account-context", "northwind"))).await;
    assert_eq!(junk.status().as_u16(), 403);
}

async fn the_api_lists_exactly_the_rows_of_the_page_and_counts_like_the_table(app: TestApp) {
    let key = app.api_key_for(TESS).await;
    let client = app.sign_in(TESS).await;
    for query in ["", "severity=High", "status=requires_attention&sort=created&dir=asc", "search=host&sort=summary"] {
        let api_query = if query.is_empty() { "pageSize=100".to_string() } else { format!("{query}&pageSize=100") };
        let response = app.api_get(&key, &format!("/api/v1/security-incidents?{api_query}")).await;
        assert_eq!(response.status().as_u16(), 200, "{query}");
        let body: Value = response.json().await.unwrap();
        let api_numbers: Vec<String> =
            body["items"].as_array().unwrap().iter().map(|i| i["ticketNumber"].as_str().unwrap().to_string()).collect();
        let page_query = query.replace("search=", "q=");
        let (_, html) = app.get_text(&client, &format!("/security/incidents?{page_query}&size=100")).await;
        let page_numbers: Vec<String> = table_rows(&html).into_iter().map(|r| r.number).collect();
        assert_eq!(api_numbers, page_numbers, "API and page agree for {query:?}");
        assert_eq!(body["total"].as_i64().unwrap() as usize, page_numbers.len());
    }
    let item =
        &app.api_get(&key, "/api/v1/security-incidents?pageSize=1").await.json::<Value>().await.unwrap()["items"][0];
    for field in [
        "ticketNumber",
        "ticketSummary",
        "ticketSeverity",
        "ticketPriority",
        "ticketStatus",
        "createdDate",
        "enabled",
        "ticketLink",
    ] {
        assert!(!item[field].is_null(), "{field}");
    }
    // Without PUBLIC_URL, links lead to the address the portal listens on.
    let link = app.url(&format!("/security/incidents/{}", item["ticketNumber"].as_str().unwrap()));
    assert_eq!(item["ticketLink"], link.as_str());

    let counts: Value = app.api_get(&key, "/api/v1/security-incidents/severity-count").await.json().await.unwrap();
    for (severity, field) in [
        ("Critical", "totalCriticalStatus"),
        ("High", "totalHighStatus"),
        ("Medium", "totalMediumStatus"),
        ("Low", "totalLowStatus"),
    ] {
        let (_, html) = app.get_text(&client, &format!("/security/incidents?severity={severity}&size=100")).await;
        assert_eq!(counts[field].as_i64().unwrap() as usize, table_rows(&html).len(), "{severity}");
    }
}

async fn a_key_of_one_account_never_sees_another(app: TestApp) {
    let casey = app.api_key_for(CASEY).await;
    let body: Value = app.api_get(&casey, "/api/v1/security-incidents?pageSize=100").await.json().await.unwrap();
    let northwind = app.count("SELECT id FROM accounts WHERE number = 100234").await;
    for item in body["items"].as_array().unwrap() {
        let id: i64 = item["ticketNumber"].as_str().unwrap()[4..].parse().unwrap();
        let account = app.count(&format!("SELECT account_id FROM tickets WHERE id = {id}")).await;
        assert_ne!(account, northwind);
    }
    let northwind_incident = app
        .count(&format!("SELECT MIN(id) FROM tickets WHERE account_id = {northwind} AND severity IS NOT NULL"))
        .await;
    let search = app.api_get(&casey, &format!("/api/v1/security-incidents?search=ATS-{northwind_incident}")).await;
    let body: Value = search.json().await.unwrap();
    assert_eq!(body["total"], 0);
}

async fn bad_or_unknown_parameters_get_400_with_a_message(app: TestApp) {
    let key = app.api_key_for(TESS).await;
    for query in [
        "page=0",
        "pageSize=101",
        "pageSize=x",
        "severity=Purple",
        "status=closed",
        "sort=bogus",
        "dir=up",
        "colour=red",
        "search=%00",
    ] {
        let response = app.api_get(&key, &format!("/api/v1/security-incidents?{query}")).await;
        assert_eq!(error_code(response).await.0, 400, "{query}");
    }
    let response = app.api_get(&key, "/api/v1/security-incidents/severity-count?x=1").await;
    assert_eq!(error_code(response).await.0, 400);
    let response = app.api_get(&key, "/api/v1/nothing-here").await;
    assert_eq!(error_code(response).await, (404, "not_found".to_string()));
}

async fn permissions_revocation_and_disabled_users_apply_to_keys(app: TestApp) {
    let billie = app.api_key_for(BILLIE).await;
    let (status, code) = error_code(app.api_get(&billie, "/api/v1/security-incidents").await).await;
    assert_eq!((status, code.as_str()), (403, "missing_permissions"));
    assert_eq!(app.api_get(&billie, "/api/v1/me").await.status().as_u16(), 200);

    let key = app.api_key_for(TESS).await;
    assert_eq!(app.api_get(&key, "/api/v1/me").await.status().as_u16(), 200);
    app.execute(&format!("UPDATE api_keys SET revoked_at = created_at WHERE key_id = '{}'", key.id)).await;
    assert_eq!(app.api_get(&key, "/api/v1/me").await.status().as_u16(), 401, "revoked at once");

    let riley = app.api_key_for(RILEY).await;
    assert_eq!(app.api_get(&riley, "/api/v1/me").await.status().as_u16(), 200);
    app.execute("UPDATE users SET enabled = FALSE WHERE email = 'riley.recipient@northwind.example'").await;
    let spent = app.count("SELECT COUNT(*) FROM api_nonces").await;
    assert_eq!(app.api_get(&riley, "/api/v1/me").await.status().as_u16(), 401, "a disabled user's key stops at once");
    assert_eq!(app.count("SELECT COUNT(*) FROM api_nonces").await, spent, "a refused key spends nothing");
    app.execute("UPDATE users SET enabled = TRUE WHERE email = 'riley.recipient@northwind.example'").await;
    assert_eq!(app.api_get(&riley, "/api/v1/me").await.status().as_u16(), 200, "and works again once enabled");
}

async fn calls_beyond_the_rate_are_refused_with_retry_after(app: TestApp) {
    let key = app.api_key_for(TESS).await;
    // Rates are counted per minute: start the calls at the beginning of one.
    let second = i64::from(chrono::Timelike::second(&app.clock.now()));
    app.clock.advance(chrono::Duration::seconds(61 - second));
    // The test app allows 30 calls a minute per key.
    for _ in 0..30 {
        assert_eq!(app.api_get(&key, "/api/v1/me").await.status().as_u16(), 200);
    }
    let response = app.api_get(&key, "/api/v1/me").await;
    assert_eq!(response.status().as_u16(), 429);
    let retry: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    let other = app.api_get(&app.api_key_for(TESS).await, "/api/v1/me").await;
    assert_eq!(other.status().as_u16(), 200, "the limit is per key");
}

async fn a_signed_in_browser_may_call_the_api_and_the_openapi_document_is_served(app: TestApp) {
    let client = app.sign_in(TESS).await;
    let response = app.get(&client, "/api/v1/security-incidents/severity-count").await;
    assert_eq!(response.status().as_u16(), 200);
    let doc: Value = reqwest::get(app.url("/api/v1/openapi.json")).await.unwrap().json().await.unwrap();
    for path in ["/api/v1/security-incidents", "/api/v1/security-incidents/severity-count", "/api/v1/me"] {
        assert!(doc["paths"][path]["get"].is_object(), "{path}");
    }
    assert!(doc["components"]["securitySchemes"]["ARMOR-PSK"].is_object());
    let (status, html) = app.get_text(&client, "/docs/api").await;
    assert_eq!(status, 200);
    assert!(html.contains("/api/v1/security-incidents/severity-count") && html.contains("HMAC-SHA512"));
}

fn secret_and_id(html: &str) -> (String, String) {
    let document = scraper::Html::parse_document(html);
    let codes: Vec<String> = document
        .select(&scraper::Selector::parse(".secret-card code.secret-link").unwrap())
        .map(|c| c.text().collect())
        .collect();
    (codes[0].clone(), codes[1].clone())
}

async fn the_api_keys_page_shows_a_secret_once_and_revokes(app: TestApp) {
    let tess = app.sign_in(TESS).await;
    let token = app.csrf_token(&tess, "/account/api-keys").await;
    let response = app.post_form(&tess, "/account/api-keys", &[("csrf_token", &token), ("name", "SIEM")]).await;
    assert_eq!(response.status().as_u16(), 200);
    let html = response.text().await.unwrap();
    let (id, secret) = secret_and_id(&html);
    assert!(html.contains("openssl dgst -sha512"), "a ready-to-run example");
    let key = Key { id: id.clone(), secret: secret.clone() };
    assert_eq!(app.api_get(&key, "/api/v1/me").await.status().as_u16(), 200, "the shown key works");
    let (_, list) = app.get_text(&tess, "/account/api-keys").await;
    assert!(list.contains(&id) && !list.contains(&secret), "listed, secret never shown again");
    let stored = app.count(&format!("SELECT COUNT(*) FROM api_keys WHERE secret_ciphertext LIKE '%{secret}%'")).await;
    assert_eq!(stored, 0, "the secret is not stored in plain text");

    // Avery (Admin: All Read and All Delete) sees and can revoke Tess's key; Riley sees only his own.
    let riley = app.sign_in(RILEY).await;
    let (_, riley_list) = app.get_text(&riley, "/account/api-keys").await;
    assert!(!riley_list.contains(&id));
    let riley_token = app.csrf_token(&riley, "/account/api-keys").await;
    let response =
        app.post_form(&riley, &format!("/account/api-keys/{id}/revoke"), &[("csrf_token", &riley_token)]).await;
    assert_eq!(response.status().as_u16(), 404, "another user's key is not his to see");
    let casey = app.sign_in(CASEY).await;
    let casey_token = app.csrf_token(&casey, "/account/api-keys").await;
    let response =
        app.post_form(&casey, &format!("/account/api-keys/{id}/revoke"), &[("csrf_token", &casey_token)]).await;
    assert_eq!(response.status().as_u16(), 404, "nor another account's");
    assert_eq!(app.api_get(&key, "/api/v1/me").await.status().as_u16(), 200);

    let avery = app.sign_in(AVERY).await;
    let (_, avery_list) = app.get_text(&avery, "/account/api-keys").await;
    assert!(avery_list.contains(&id) && avery_list.contains("Tess Okafor"));
    let avery_token = app.csrf_token(&avery, "/account/api-keys").await;
    let response =
        app.post_form(&avery, &format!("/account/api-keys/{id}/revoke"), &[("csrf_token", &avery_token)]).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(app.api_get(&key, "/api/v1/me").await.status().as_u16(), 401, "revoked keys stop at once");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action IN ('api_key_created', 'api_key_revoked')").await,
        2
    );

    for (email, status) in [(BILLIE, 403), (SAM, 403)] {
        let client = app.sign_in(email).await;
        assert_eq!(app.get(&client, "/account/api-keys").await.status().as_u16(), status, "{email}");
    }
}

on_both_backends!(
    a_correctly_signed_request_is_accepted_and_every_alteration_refused,
    the_account_context_must_be_the_callers_own,
    the_api_lists_exactly_the_rows_of_the_page_and_counts_like_the_table,
    a_key_of_one_account_never_sees_another,
    bad_or_unknown_parameters_get_400_with_a_message,
    permissions_revocation_and_disabled_users_apply_to_keys,
    calls_beyond_the_rate_are_refused_with_retry_after,
    a_signed_in_browser_may_call_the_api_and_the_openapi_document_is_served,
    the_api_keys_page_shows_a_secret_once_and_revokes,
);

/// On SQLite a signed call writes its nonce and count to the attached `calls` file only: a commit
/// to the main file would make every other connection drop its cached pages of it.
#[tokio::test]
async fn on_sqlite_signed_calls_leave_the_main_file_alone() {
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite always works");
    let incident_portal::store::Store::Sqlite(pool, _) = &app.store else { unreachable!("a SQLite app") };
    let key = app.api_key_for(TESS).await;
    // The key's first call also notes, in the main file, when it was last used.
    assert_eq!(app.api_get(&key, "/api/v1/me").await.status().as_u16(), 200);
    // `data_version` changes when another connection commits to that database.
    let mut watcher = pool.acquire().await.unwrap();
    let before = (data_version(&mut watcher, "main").await, data_version(&mut watcher, "calls").await);
    assert_eq!(app.api_get(&key, "/api/v1/me").await.status().as_u16(), 200);
    assert_eq!(data_version(&mut watcher, "main").await, before.0, "nothing committed to the main file");
    assert_ne!(data_version(&mut watcher, "calls").await, before.1, "the nonce went to the calls file");
}

/// Changes whenever another connection commits to the database `schema`.
async fn data_version(conn: &mut sqlx::SqliteConnection, schema: &str) -> i64 {
    let sql = sqlx::AssertSqlSafe(format!("PRAGMA {schema}.data_version"));
    sqlx::query_scalar(sql).fetch_one(conn).await.unwrap()
}
