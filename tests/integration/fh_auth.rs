//! FH-AUTH, the original's username-and-password tokens: off until an account administrator turns
//! it on; the sign-in page's throttle; never for support staff or a user who must use two-factor
//! sign-in; random tokens stored hashed, 15 minutes, extended by a reissue; ended with the user's
//! sessions; audited.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

/// A session's absolute lifetime, which bounds a token's however often it is reissued.
fn adjust(settings: &mut incident_portal::settings::Settings) {
    settings.absolute_timeout = chrono::Duration::minutes(40);
}

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new().post(app.url(path)).json(&body).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn authorize(app: &TestApp, email: &str, password: &str) -> (u16, Value) {
    post(app, "/auth/authorize", json!({ "username": email, "password": password })).await
}

async fn call_me(app: &TestApp, token: &str) -> u16 {
    let response = reqwest::Client::new()
        .get(app.url("/me"))
        .header("authorization", format!("FH-AUTH {token}"))
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

async fn fh_auth_is_off_until_an_account_administrator_turns_it_on(app: TestApp) {
    let (status, body) = authorize(&app, TESS, PASSWORD).await;
    assert_eq!(status, 403, "off by default");
    assert!(body["error_description"].as_str().unwrap().contains("turned off"));
    assert_eq!(authorize(&app, TESS, "not the password").await.0, 401, "a wrong password learns nothing more");

    // Only an administrator (Write Identity) turns it on.
    let tess = app.sign_in(TESS).await;
    let token = app.csrf_token(&tess, "/account/profile").await;
    assert_eq!(
        app.post_form(&tess, "/account/api-access", &[("csrf_token", &token), ("fh_auth", "on")])
            .await
            .status()
            .as_u16(),
        403
    );
    let avery = app.sign_in(AVERY).await;
    let token = app.csrf_token(&avery, "/account/users").await;
    assert_eq!(
        app.post_form(&avery, "/account/api-access", &[("csrf_token", &token), ("fh_auth", "on")])
            .await
            .status()
            .as_u16(),
        303
    );

    let (status, authorized) = authorize(&app, TESS, PASSWORD).await;
    assert_eq!(status, 200);
    let code = authorized["code"].as_str().unwrap().to_string();
    let (status, issued) = post(&app, "/auth/token", json!({ "code": code, "grant_type": "authorization_code" })).await;
    assert_eq!(status, 200);
    let access = issued["access_token"].as_str().unwrap().to_string();
    assert_eq!(issued["id_token"], access.as_str());
    assert!(access.len() >= 43, "256 random bits");
    assert_eq!(call_me(&app, &access).await, 200);
    // Stored only as a hash.
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM fh_auth_tokens WHERE token_hash = '{access}'")).await, 0);
    let hash = incident_portal::auth::token::token_hash(&access);
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM fh_auth_tokens WHERE token_hash = '{hash}'")).await, 1);
    // A code works once; another account's administrator sees nothing of it.
    let (status, again) = post(&app, "/auth/token", json!({ "code": code })).await;
    assert_eq!((status, again["error"].as_str()), (401, Some("invalid_grant")));
    let (_, later) = authorize(&app, TESS, PASSWORD).await;
    app.clock.advance(chrono::Duration::seconds(121));
    let (status, _) =
        post(&app, "/auth/token", json!({ "code": later["code"], "grant_type": "authorization_code" })).await;
    assert_eq!(status, 401, "codes last two minutes");
    let (status, _) = post(&app, "/auth/token", json!({ "code": "x", "grant_type": "password" })).await;
    assert_eq!(status, 400);
    for action in ["fh_auth_sign_in", "fh_auth_token_issued", "account_fh_auth_changed"] {
        assert!(app.count(&format!("SELECT COUNT(*) FROM audit_log WHERE action = '{action}'")).await >= 1, "{action}");
    }
    // Casey's account never turned it on.
    assert_eq!(authorize(&app, CASEY, PASSWORD).await.0, 403);
}

async fn fh_auth_shares_the_sign_in_pages_throttle(app: TestApp) {
    app.allow_fh_auth(TESS).await;
    for _ in 0..5 {
        assert_eq!(authorize(&app, TESS, "not the password").await.0, 401);
    }
    let refused = reqwest::Client::new()
        .post(app.url("/auth/authorize"))
        .json(&json!({ "username": TESS, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!((body["error"].as_str(), body["status"].as_u64()), (Some("too_many_requests"), Some(429)));
    assert!(body["error_description"].as_str().unwrap().contains("Too many authentication attempts"));
    // The same budget: the sign-in page refuses the email now too.
    let page = app.try_sign_in(&client(), TESS, PASSWORD).await;
    assert_eq!(page.status().as_u16(), 429);
    assert!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'fh_auth_throttled'").await >= 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'fh_auth_failed'").await, 5);
}

async fn fh_auth_is_refused_to_staff_and_to_users_who_must_use_two_factor(app: TestApp) {
    app.allow_fh_auth(TESS).await;
    for staff in [SAM, MORGAN] {
        let (status, body) = authorize(&app, staff, PASSWORD).await;
        assert_eq!(status, 403, "{staff}");
        assert!(body["error_description"].as_str().unwrap().contains("Support staff"));
    }
    // Riley turns two-factor sign-in on: a password alone no longer gets him a token.
    let riley = app.user_id(RILEY).await;
    let secret = incident_portal::auth::totp::new_secret();
    let sealed = incident_portal::auth::totp::encrypt_secret(&cipher(), riley, &secret);
    app.store.begin_two_factor(riley, &sealed).await.unwrap();
    app.store.enable_two_factor(riley, 0, &[], app.clock.now()).await.unwrap();
    let (status, body) = authorize(&app, RILEY, PASSWORD).await;
    assert_eq!(status, 403);
    assert!(body["error_description"].as_str().unwrap().contains("two-factor"));
    // Tess's token stops at once when her account requires two-factor sign-in.
    let token = app.fh_auth_token(TESS).await;
    assert_eq!(call_me(&app, &token).await, 200);
    let account = app.principal(TESS).await.account().unwrap().id;
    app.store.set_account_requires_two_factor(account, true).await.unwrap();
    assert_eq!(call_me(&app, &token).await, 403);
    assert_eq!(authorize(&app, TESS, PASSWORD).await.0, 403);
    assert!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'fh_auth_refused'").await >= 3);
}

async fn fh_auth_tokens_last_fifteen_minutes_unless_reissued(app: TestApp) {
    app.allow_fh_auth(TESS).await;
    let token = app.fh_auth_token(TESS).await;
    app.clock.advance(chrono::Duration::minutes(14));
    assert_eq!(call_me(&app, &token).await, 200);
    let (status, reissued) = post(&app, "/auth/token/reissue", json!({ "token": token })).await;
    assert_eq!(status, 200);
    assert_eq!((reissued["access_token"].as_str(), reissued["expires_in"].as_i64()), (Some(token.as_str()), Some(900)));
    app.clock.advance(chrono::Duration::minutes(14));
    assert_eq!(call_me(&app, &token).await, 200, "28 minutes after its issue, 14 after its reissue");
    app.clock.advance(chrono::Duration::minutes(2));
    assert_eq!(call_me(&app, &token).await, 401, "expired");
    let (status, body) = post(&app, "/auth/token/reissue", json!({ "token": token })).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_grant")), "too late to reissue");
    // Never beyond a session's absolute lifetime (40 minutes here) from the first issue.
    let token = app.fh_auth_token(TESS).await;
    app.clock.advance(chrono::Duration::minutes(14));
    let (_, body) = post(&app, "/auth/token/reissue", json!({ "token": token })).await;
    assert_eq!(body["expires_in"], 900);
    app.clock.advance(chrono::Duration::minutes(14));
    let (status, body) = post(&app, "/auth/token/reissue", json!({ "token": token })).await;
    let expires_in = body["expires_in"].as_i64().unwrap();
    assert_eq!(status, 200);
    assert!((11 * 60..=12 * 60).contains(&expires_in), "40 minutes after the first issue, not 43: {expires_in}");
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'fh_auth_token_reissued'").await, 3);
}

async fn fh_auth_tokens_end_with_the_users_sessions(app: TestApp) {
    app.allow_fh_auth(TESS).await;
    let tess_id = app.user_id(TESS).await;
    let avery = app.sign_in(AVERY).await;
    let avery_token = app.csrf_token(&avery, "/account/users").await;

    // Disabled by an administrator.
    let token = app.fh_auth_token(TESS).await;
    let response =
        app.post_form(&avery, &format!("/account/users/{tess_id}/disable"), &[("csrf_token", &avery_token)]).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(call_me(&app, &token).await, 401, "disabled");
    app.post_form(&avery, &format!("/account/users/{tess_id}/enable"), &[("csrf_token", &avery_token)]).await;
    assert_eq!(call_me(&app, &token).await, 401, "and it stays ended after she is enabled again");

    // Signing out everywhere.
    let token = app.fh_auth_token(TESS).await;
    let tess = app.sign_in(TESS).await;
    let csrf = app.csrf_token(&tess, "/account/profile").await;
    app.post_form(&tess, "/account/profile/sign-out-everywhere", &[("csrf_token", &csrf)]).await;
    assert_eq!(call_me(&app, &token).await, 401, "signed out everywhere");

    // A password change.
    let token = app.fh_auth_token(TESS).await;
    let tess = app.sign_in(TESS).await;
    let csrf = app.csrf_token(&tess, "/account/profile").await;
    let new_password = "a brand new long password";
    let response = app
        .post_form(
            &tess,
            "/account/profile/password",
            &[("csrf_token", &csrf), ("current", PASSWORD), ("password", new_password), ("confirmation", new_password)],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(call_me(&app, &token).await, 401, "password changed");
    assert_eq!(authorize(&app, TESS, new_password).await.0, 200);

    // The account turning FH-AUTH off ends every token of its users.
    let (_, code) = authorize(&app, TESS, new_password).await;
    let (_, issued) = post(&app, "/auth/token", json!({ "code": code["code"] })).await;
    let token = issued["access_token"].as_str().unwrap().to_string();
    assert_eq!(call_me(&app, &token).await, 200);
    let response = app.post_form(&avery, "/account/api-access", &[("csrf_token", &avery_token)]).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(call_me(&app, &token).await, 401, "turned off");
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM fh_auth_tokens WHERE user_id = {tess_id}")).await, 0);
}

on_both_backends!(
    configured by adjust;
    fh_auth_is_off_until_an_account_administrator_turns_it_on,
    fh_auth_shares_the_sign_in_pages_throttle,
    fh_auth_is_refused_to_staff_and_to_users_who_must_use_two_factor,
    fh_auth_tokens_last_fifteen_minutes_unless_reissued,
    fh_auth_tokens_end_with_the_users_sessions,
);
