//! API keys signing as the original provider's script does (the path without its query string,
//! base64(SHA-512(body)), the timestamp as nonce) and as the portal documents (the target with its
//! query, the raw body): both accepted, every exact replay refused on every instance, two
//! different calls sharing a nonce both served, and an account that requires the documented form.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha512};

use crate::helpers::*;
use crate::on_both_backends;

/// The original's script, by hand, with the timestamp (and so the nonce) given.
fn original_header(key: &Key, method: &str, target: &str, body: &[u8], timestamp: i64) -> String {
    let path = target.split('?').next().unwrap();
    let body = if method == "GET" || body.is_empty() {
        String::new()
    } else {
        base64::engine::general_purpose::STANDARD.encode(Sha512::digest(body))
    };
    let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(key.secret.as_bytes()).unwrap();
    mac.update(format!("{}{method}{path}{timestamp}{timestamp}{body}", key.id).as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!("ARMOR-PSK {}:{signature}:{timestamp}:{timestamp}", key.id)
}

async fn send(address: &str, method: &str, target: &str, authorization: &str, body: &[u8]) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let response = reqwest::Client::new()
        .request(method, format!("{address}{target}"))
        .header("authorization", authorization)
        .header("content-type", "application-json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn calls_signed_as_the_original_script_signs_are_accepted(app: TestApp) {
    let key = app.api_key_for(TESS).await;
    let incident = app.fresh_incident().await;
    for (method, target, body) in [
        ("GET", "/tickets/list?maxResults=50".to_string(), Vec::new()),
        ("GET", "/security-incidents?severity=High&pageSize=10".to_string(), Vec::new()),
        ("GET", "/api/v1/me".to_string(), Vec::new()),
        (
            "POST",
            format!("/tickets/{}/comments", incident.number),
            json!({ "comment": "Signed the original way" }).to_string().into_bytes(),
        ),
    ] {
        for signing in [Signing::Original, Signing::Documented] {
            let response = app.api_call(&key, signing, method, &target, &body).await;
            assert_eq!(response.status().as_u16(), 200, "{method} {target} signed the {signing:?} way");
        }
    }
    // What the original form signs cannot change: the path, the method, the body.
    let now = app.clock.now().timestamp();
    let body = json!({ "comment": "original" }).to_string();
    let target = format!("/tickets/{}/comments", incident.number);
    let header = original_header(&key, "POST", &target, body.as_bytes(), now);
    let tampered = json!({ "comment": "tampered" }).to_string();
    assert_eq!(send(&app.address, "POST", &target, &header, tampered.as_bytes()).await.0, 401, "another body");
    let other = format!("/tickets/{}/comments", app.fresh_incident().await.number);
    assert_eq!(send(&app.address, "POST", &other, &header, body.as_bytes()).await.0, 401, "another path");
    assert_eq!(send(&app.address, "PUT", &target, &header, body.as_bytes()).await.0, 405);
    assert_eq!(send(&app.address, "POST", &target, &header, body.as_bytes()).await.0, 200, "the call itself");
    let logged = app.count("SELECT COUNT(*) FROM comments WHERE body = 'tampered'").await;
    assert_eq!(logged, 0);
}

async fn calls_sharing_a_nonce_are_served_once_each_on_every_instance(app: TestApp) {
    let key = app.api_key_for(TESS).await;
    let second = app.another_instance().await;
    // The original's script: every call of one second has the same nonce, the timestamp.
    let now = app.clock.now().timestamp();
    let first = original_header(&key, "GET", "/tickets/list?maxResults=10", b"", now);
    let other = original_header(&key, "GET", "/tickets/list?maxResults=20", b"", now);
    let me = original_header(&key, "GET", "/me", b"", now);
    assert_eq!(first, other, "the query is not signed: the headers are the same");
    assert_eq!(send(&app.address, "GET", "/tickets/list?maxResults=10", &first, b"").await.0, 200);
    assert_eq!(
        send(&second, "GET", "/tickets/list?maxResults=20", &other, b"").await.0,
        200,
        "another call, same nonce"
    );
    assert_eq!(send(&app.address, "GET", "/me", &me, b"").await.0, 200, "another path, same nonce");
    // An exact replay is refused, on this instance and on the other.
    for address in [app.address.as_str(), second.as_str()] {
        let (status, body) = send(address, "GET", "/tickets/list?maxResults=10", &first, b"").await;
        assert_eq!(status, 401, "{address}");
        assert!(body["error_description"].as_str().unwrap().contains("already made"));
    }
    // Racing copies of one call on two instances: exactly one is served.
    let header = original_header(&key, "GET", "/tickets/list?maxResults=30", b"", now);
    let racing = (0..8).map(|i| {
        let address = if i % 2 == 0 { app.address.clone() } else { second.clone() };
        let header = header.clone();
        async move { send(&address, "GET", "/tickets/list?maxResults=30", &header, b"").await.0 }
    });
    let mut statuses = futures_util::future::join_all(racing).await;
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401, 401, 401, 401, 401, 401, 401]);
    // The documented form's nonces follow the same rule.
    let (documented, _) = app.authorization(&key, "GET", "/api/v1/me", b"");
    assert_eq!(send(&app.address, "GET", "/api/v1/me", &documented, b"").await.0, 200);
    assert_eq!(send(&second, "GET", "/api/v1/me", &documented, b"").await.0, 401);
}

async fn an_account_administrator_can_require_the_documented_form(app: TestApp) {
    let key = app.api_key_for(TESS).await;
    let now = app.clock.now().timestamp();
    // What the original form does not protect: whoever replays a call within the five minutes
    // may change its query string.
    let header = original_header(&key, "GET", "/security-incidents?severity=Low", b"", now);
    assert_eq!(send(&app.address, "GET", "/security-incidents?severity=Low", &header, b"").await.0, 200);
    assert_eq!(send(&app.address, "GET", "/security-incidents?severity=Critical", &header, b"").await.0, 200);

    let avery = app.sign_in(AVERY).await;
    let token = app.csrf_token(&avery, "/account/users").await;
    let response =
        app.post_form(&avery, "/account/api-access", &[("csrf_token", &token), ("query_signing", "on")]).await;
    assert_eq!(response.status().as_u16(), 303);
    let (_, page) = app.get_text(&avery, "/account/users").await;
    assert!(page.contains("must now sign the query string"));
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'account_api_signing_changed'").await, 1);

    let refused = app.api_call(&key, Signing::Original, "GET", "/security-incidents?severity=High", b"").await;
    assert_eq!(refused.status().as_u16(), 401);
    let body: Value = refused.json().await.unwrap();
    assert!(body["error_description"].as_str().unwrap().contains("documented signing form"));
    let incident = app.fresh_incident().await;
    let comment = json!({ "comment": "a body is signed differently too" }).to_string();
    let target = format!("/tickets/{}/comments", incident.number);
    assert_eq!(app.api_call(&key, Signing::Original, "POST", &target, comment.as_bytes()).await.status().as_u16(), 401);
    for target in ["/security-incidents?severity=High", "/tickets/list?maxResults=5"] {
        assert_eq!(
            app.api_call(&key, Signing::Documented, "GET", target, b"").await.status().as_u16(),
            200,
            "{target}"
        );
    }
    // Without a query or a body both forms sign the same text, which is the documented form's.
    assert_eq!(app.api_call(&key, Signing::Original, "GET", "/me", b"").await.status().as_u16(), 200);
    // Another account's keys are not affected.
    let casey = app.api_key_for(CASEY).await;
    assert_eq!(
        app.api_call(&casey, Signing::Original, "GET", "/tickets/list?maxResults=5", b"").await.status().as_u16(),
        200
    );
}

on_both_backends!(
    calls_signed_as_the_original_script_signs_are_accepted,
    calls_sharing_a_nonce_are_served_once_each_on_every_instance,
    an_account_administrator_can_require_the_documented_form,
);
