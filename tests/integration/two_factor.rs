//! Two-factor sign-in: the second step, enrolment, recovery codes, accounts that require it,
//! resets, and the refusals around each.

use incident_portal::auth::totp;

use crate::helpers::*;
use crate::on_both_backends;

/// Posts a form with the session's CSRF token, read from `page`.
async fn post(
    app: &TestApp,
    client: &reqwest::Client,
    page: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let token = app.csrf_token(client, page).await;
    let mut all = vec![("csrf_token", token.as_str())];
    all.extend_from_slice(fields);
    app.post_form(client, path, &all).await
}

/// The secret the enrolment page shows, as the user would type it into their app.
async fn enrolment_secret(app: &TestApp, client: &reqwest::Client) -> Vec<u8> {
    let (status, html) = app.get_text(client, "/account/profile/two-factor").await;
    assert_eq!(status, 200);
    assert!(html.contains("data:image/svg+xml;base64,"), "the QR code is drawn inline");
    let document = scraper::Html::parse_document(&html);
    let selector = scraper::Selector::parse("#totp-secret").unwrap();
    let text: String = document.select(&selector).next().expect("the key is shown").text().collect();
    totp::from_base32(&text.replace(' ', "")).expect("the key is base32")
}

fn code(app: &TestApp, secret: &[u8]) -> String {
    app.clock.advance(chrono::Duration::seconds(30));
    totp::code_at(secret, app.clock.now().timestamp())
}

fn recovery_codes(html: &str) -> Vec<String> {
    let document = scraper::Html::parse_document(html);
    let selector = scraper::Selector::parse("#recovery-codes code").unwrap();
    document.select(&selector).map(|c| c.text().collect()).collect()
}

/// Tess turns two-factor on and receives her recovery codes.
async fn enrol(app: &TestApp, email: &str) -> (Vec<u8>, Vec<String>) {
    let client = app.sign_in(email).await;
    let secret = enrolment_secret(app, &client).await;
    let page = "/account/profile/two-factor";
    let response = post(app, &client, page, page, &[("code", &code(app, &secret))]).await;
    assert_eq!(response.status().as_u16(), 200);
    let codes = recovery_codes(&response.text().await.unwrap());
    assert_eq!(codes.len(), totp::RECOVERY_CODES);
    (secret, codes)
}

async fn password_step(app: &TestApp, email: &str) -> reqwest::Client {
    let client = client();
    let response = app.try_sign_in(&client, email, PASSWORD).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(location(&response), "/login/verify");
    client
}

async fn verify(app: &TestApp, client: &reqwest::Client, code: &str) -> reqwest::Response {
    // The token comes from the sign-in page: the code page itself sends a stale step away.
    post(app, client, "/login", "/login/verify", &[("code", code)]).await
}

async fn staff_need_a_code_after_the_password_and_each_code_works_once(app: TestApp) {
    let client = password_step(&app, SAM).await;
    // Not signed in yet: the password alone opens nothing.
    let response = app.get(&client, "/desk/queue").await;
    assert_eq!(response.status().as_u16(), 303);
    assert!(location(&response).starts_with("/login"));

    let response = verify(&app, &client, "000000").await;
    assert_eq!(response.status().as_u16(), 422);
    assert!(response.text().await.unwrap().contains("The code is not correct"));
    app.clock.advance(chrono::Duration::seconds(30));
    let used = demo_code(&app.clock);
    let response = verify(&app, &client, &used).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(app.get(&client, "/desk/queue").await.status().as_u16(), 200);

    // The same code, again within its 30 seconds, from another browser: refused.
    let other = password_step(&app, SAM).await;
    assert_eq!(verify(&app, &other, &used).await.status().as_u16(), 422);
    let events = app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'sign_in_failed'").await;
    assert_eq!(events, 2, "both wrong codes are in the audit log");
}

async fn the_code_step_expires_and_is_throttled_like_the_password(app: TestApp) {
    let client = password_step(&app, SAM).await;
    app.clock.advance(chrono::Duration::seconds(301));
    let response = verify(&app, &client, &demo_code(&app.clock)).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(location(&response), "/login?expired=1", "a stale password step must start over");

    let client = password_step(&app, SAM).await;
    for _ in 0..5 {
        assert_eq!(verify(&app, &client, "123456").await.status().as_u16(), 422);
    }
    app.clock.advance(chrono::Duration::seconds(30));
    let response = verify(&app, &client, &demo_code(&app.clock)).await;
    assert_eq!(response.status().as_u16(), 429, "even the right code waits once the limit is reached");
    // A right password does not forgive failed codes (or the limit could be reset at will).
    let again = crate::helpers::client();
    assert_eq!(app.try_sign_in(&again, SAM, PASSWORD).await.status().as_u16(), 429);
}

async fn a_customer_enrols_signs_in_with_a_code_and_with_each_recovery_code_once(app: TestApp) {
    let client = app.sign_in(TESS).await;
    let page = "/account/profile/two-factor";
    let secret = enrolment_secret(&app, &client).await;
    assert_eq!(enrolment_secret(&app, &client).await, secret, "a reload shows the same key");
    let response = post(&app, &client, page, page, &[("code", "999999")]).await;
    assert_eq!(response.status().as_u16(), 422);
    assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE totp_enabled_at IS NOT NULL").await, 2, "staff only");
    let (secret, codes) = enrol(&app, TESS).await;

    let html = app.get_text(&app.sign_in_with_code(TESS, &secret).await, "/account/profile").await.1;
    assert!(html.contains("Manage two-factor sign-in"));

    let client = password_step(&app, TESS).await;
    assert_eq!(verify(&app, &client, &codes[3].to_uppercase()).await.status().as_u16(), 303);
    let client = password_step(&app, TESS).await;
    assert_eq!(verify(&app, &client, &codes[3]).await.status().as_u16(), 422, "a recovery code works once");
    let stored: i64 = app.count("SELECT COUNT(*) FROM recovery_codes").await;
    assert_eq!(stored, 9);
    let hashes = app.count(&format!("SELECT COUNT(*) FROM recovery_codes WHERE code_hash = '{}'", codes[0])).await;
    assert_eq!(hashes, 0, "only hashes are stored");
}

async fn recovery_codes_and_turning_off_need_a_current_code(app: TestApp) {
    let (secret, old_codes) = enrol(&app, TESS).await;
    let client = app.sign_in_with_code(TESS, &secret).await;
    let page = "/account/profile/two-factor";
    let response = post(&app, &client, page, "/account/profile/two-factor/recovery-codes", &[("code", "111111")]).await;
    assert_eq!(response.status().as_u16(), 422);
    let response =
        post(&app, &client, page, "/account/profile/two-factor/recovery-codes", &[("code", &code(&app, &secret))])
            .await;
    assert_eq!(response.status().as_u16(), 200);
    let new_codes = recovery_codes(&response.text().await.unwrap());
    assert_eq!(new_codes.len(), totp::RECOVERY_CODES);
    let other = password_step(&app, TESS).await;
    assert_eq!(verify(&app, &other, &old_codes[0]).await.status().as_u16(), 422, "old codes stop working");

    let response = post(&app, &client, page, "/account/profile/two-factor/disable", &[("code", "111111")]).await;
    assert_eq!(response.status().as_u16(), 422);
    let response = post(&app, &client, page, "/account/profile/two-factor/disable", &[("code", &new_codes[0])]).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(app.count("SELECT COUNT(*) FROM recovery_codes").await, 0);
    let fresh = crate::helpers::client();
    assert_eq!(location(&app.try_sign_in(&fresh, TESS, PASSWORD).await), "/");
}

async fn an_account_that_requires_two_factor_sends_its_users_to_enrol_and_keeps_it_on(app: TestApp) {
    let riley = app.sign_in(RILEY).await;
    let tess = app.sign_in(TESS).await;
    // Only Write Identity may change the setting; the refusal changes nothing.
    let response = post(&app, &tess, "/security/incidents", "/account/two-factor", &[("require", "on")]).await;
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(app.count("SELECT COUNT(*) FROM accounts WHERE mfa_required = TRUE").await, 0);
    let casey = app.sign_in(CASEY).await;
    let response = post(&app, &casey, "/account/users", "/account/two-factor", &[("require", "yes")]).await;
    assert_eq!(response.status().as_u16(), 400);

    let avery = app.sign_in(AVERY).await;
    let response = post(&app, &avery, "/account/users", "/account/two-factor", &[("require", "on")]).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(app.count("SELECT COUNT(*) FROM accounts WHERE mfa_required = TRUE").await, 1, "Northwind only");

    // Riley's open session now leads only to enrolment, pages and API alike.
    let response = app.get(&riley, "/security/incidents").await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(location(&response), "/account/profile/two-factor");
    assert_eq!(app.get(&riley, "/api/v1/security-incidents").await.status().as_u16(), 403);
    assert_eq!(app.get(&riley, "/account/profile/two-factor").await.status().as_u16(), 200);
    // Casey's account does not require it.
    assert_eq!(app.get(&casey, "/security/incidents").await.status().as_u16(), 200);

    let (secret, _) = enrol(&app, RILEY).await;
    let riley = app.sign_in_with_code(RILEY, &secret).await;
    assert_eq!(app.get(&riley, "/security/incidents").await.status().as_u16(), 200);
    let page = "/account/profile/two-factor";
    let response =
        post(&app, &riley, page, "/account/profile/two-factor/disable", &[("code", &code(&app, &secret))]).await;
    assert_eq!(response.status().as_u16(), 403, "required two-factor cannot be turned off");
    assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE totp_enabled_at IS NOT NULL").await, 3);
}

async fn administrators_reset_a_lost_device_and_nobody_else_can(app: TestApp) {
    let (secret, _) = enrol(&app, TESS).await;
    let tess = app.sign_in_with_code(TESS, &secret).await;
    let tess_id = app.user_id(TESS).await;
    let path = format!("/account/users/{tess_id}/reset-two-factor");
    for (who, expected) in [(RILEY, 403), (CASEY, 404), (SAM, 403)] {
        let client = app.sign_in(who).await;
        let response = post(&app, &client, "/account/profile", &path, &[]).await;
        assert_eq!(response.status().as_u16(), expected, "{who}");
        assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE totp_enabled_at IS NOT NULL").await, 3, "{who}");
    }
    let avery = app.sign_in(AVERY).await;
    assert_eq!(post(&app, &avery, "/account/users", &path, &[]).await.status().as_u16(), 303);
    let response = app.get(&tess, "/security/incidents").await;
    assert!(location(&response).starts_with("/login"), "the lost device's session has ended");
    assert_eq!(location(&app.try_sign_in(&client(), TESS, PASSWORD).await), "/");

    // Staff: a support administrator resets an agent, who must then enrol again.
    let sam_id = app.user_id(SAM).await;
    let path = format!("/desk/staff/{sam_id}/reset-two-factor");
    let sam = app.sign_in(SAM).await;
    assert_eq!(post(&app, &sam, "/desk/queue", &path, &[]).await.status().as_u16(), 403);
    let morgan = app.sign_in(MORGAN).await;
    assert_eq!(post(&app, &morgan, "/desk/staff", &path, &[]).await.status().as_u16(), 303);
    let response = app.get(&sam, "/desk/queue").await;
    assert!(location(&response).starts_with("/login"), "the lost device's session has ended");
    let sam = client();
    assert_eq!(location(&app.try_sign_in(&sam, SAM, PASSWORD).await), "/");
    let response = app.get(&sam, "/desk/queue").await;
    assert_eq!(location(&response), "/account/profile/two-factor", "staff must enrol before anything else");
}

on_both_backends!(
    staff_need_a_code_after_the_password_and_each_code_works_once,
    the_code_step_expires_and_is_throttled_like_the_password,
    a_customer_enrols_signs_in_with_a_code_and_with_each_recovery_code_once,
    recovery_codes_and_turning_off_need_a_current_code,
    an_account_that_requires_two_factor_sends_its_users_to_enrol_and_keeps_it_on,
    administrators_reset_a_lost_device_and_nobody_else_can,
);
