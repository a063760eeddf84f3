use crate::helpers::*;
use crate::on_both_backends;

async fn a_customer_signs_in_and_lands_on_security_incidents(app: TestApp) {
    let client = client();
    let response = app.try_sign_in(&client, TESS, PASSWORD).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(location(&response), "/");
    let home = app.get(&client, "/").await;
    assert_eq!(location(&home), "/security/incidents");
    let (status, html) = app.get_text(&client, "/security/incidents").await;
    assert_eq!(status, 200);
    assert!(html.contains("Tess Okafor"), "the signed-in user is shown");
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'sign_in'").await, 1);
}

async fn support_staff_sign_in_on_the_same_page_and_land_on_the_queue(app: TestApp) {
    let client = app.sign_in(SAM).await;
    let home = app.get(&client, "/").await;
    assert_eq!(location(&home), "/desk/queue");
    let (status, html) = app.get_text(&client, "/desk/queue").await;
    assert_eq!(status, 200);
    assert!(html.contains("Ticket queue"));
}

async fn wrong_password_unknown_email_and_disabled_user_get_the_same_answer(app: TestApp) {
    let mut answers = Vec::new();
    for (email, password) in [(TESS, "wrong-password"), ("nobody@nowhere.example", PASSWORD), (DORA, PASSWORD)] {
        let client = client();
        let response = app.try_sign_in(&client, email, password).await;
        let status = response.status().as_u16();
        let html = response.text().await.unwrap();
        let document = scraper::Html::parse_document(&html);
        let error = document
            .select(&scraper::Selector::parse(".form-error").unwrap())
            .next()
            .map(|e| e.text().collect::<String>())
            .expect("an error message");
        answers.push((status, error));
    }
    assert_eq!(answers[0].0, 422);
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    assert_eq!(answers[0].1, "The email or password is not correct.");
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'sign_in_failed'").await, 3);
}

/// A session that exists before a sign-in (a planted one, say) is not the one signed in.
async fn signing_in_renews_the_session_id(app: TestApp) {
    let client = client();
    let first = app.try_sign_in(&client, RILEY, PASSWORD).await;
    let before = session_cookie(&first).expect("a session before the sign-in");
    let token = app.csrf_token(&client, "/account/profile").await;
    let response =
        app.post_form(&client, "/login", &[("csrf_token", &token), ("email", TESS), ("password", PASSWORD)]).await;
    let after = session_cookie(&response).expect("sign-in sets a new session cookie");
    assert_ne!(before, after);
    // The pre-sign-in session no longer exists: replaying its cookie is an anonymous visit.
    let replay = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = replay
        .get(app.url("/security/incidents"))
        .header("cookie", format!("incident-portal={before}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert!(location(&response).starts_with("/login"));
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response.cookies().find(|c| c.name() == "incident-portal").map(|c| c.value().to_string())
}

async fn a_cookie_replayed_after_sign_out_is_refused(app: TestApp) {
    let client = client();
    let login = app.try_sign_in(&client, TESS, PASSWORD).await;
    let cookie = session_cookie(&login).unwrap();
    let token = app.csrf_token(&client, "/security/incidents").await;
    let response = app.post_form(&client, "/logout", &[("csrf_token", &token)]).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(location(&response), "/login?signed_out=1");
    let replay = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = replay
        .get(app.url("/security/incidents"))
        .header("cookie", format!("incident-portal={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert!(location(&response).starts_with("/login"));
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions WHERE user_id IS NOT NULL").await, 0);
}

async fn throttling_refuses_even_the_right_password_after_repeated_failures(app: TestApp) {
    let client = client();
    for _ in 0..5 {
        let response = app.try_sign_in(&client, TESS, "wrong-password").await;
        assert_eq!(response.status().as_u16(), 422);
    }
    let response = app.try_sign_in(&client, TESS, PASSWORD).await;
    assert_eq!(response.status().as_u16(), 429);
    assert!(response.headers().get("retry-after").is_some());
    assert!(response.text().await.unwrap().contains("Too many failed sign-ins"));
    // Another user from the same address is not locked out by Tess's failures.
    let other = app.try_sign_in(&client, RILEY, PASSWORD).await;
    assert_eq!(other.status().as_u16(), 303);
}

async fn an_idle_session_expires_after_thirty_minutes(app: TestApp) {
    let client = app.sign_in(TESS).await;
    app.clock.advance(chrono::Duration::minutes(29));
    assert_eq!(app.get(&client, "/security/incidents").await.status().as_u16(), 200);
    app.clock.advance(chrono::Duration::minutes(29));
    assert_eq!(app.get(&client, "/security/incidents").await.status().as_u16(), 200, "activity extends the session");
    app.clock.advance(chrono::Duration::minutes(31));
    let response = app.get(&client, "/security/incidents").await;
    assert_eq!(response.status().as_u16(), 303);
    assert!(location(&response).contains("expired=1"));
}

async fn a_session_ends_twelve_hours_after_sign_in_however_active(app: TestApp) {
    let client = app.sign_in(TESS).await;
    for _ in 0..24 {
        app.clock.advance(chrono::Duration::minutes(29));
        assert_eq!(app.get(&client, "/security/incidents").await.status().as_u16(), 200);
    }
    app.clock.advance(chrono::Duration::minutes(29));
    let response = app.get(&client, "/security/incidents").await;
    assert_eq!(response.status().as_u16(), 303, "past the absolute timeout");
}

async fn after_sign_in_the_user_returns_to_the_page_they_asked_for_but_never_offsite(app: TestApp) {
    let client = client();
    let response = app.get(&client, "/security/incidents?severity=Critical").await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(location(&response), "/login?next=%2Fsecurity%2Fincidents%3Fseverity%3DCritical");
    let token = app.csrf_token(&client, "/login").await;
    let form = [
        ("csrf_token", token.as_str()),
        ("email", TESS),
        ("password", PASSWORD),
        ("next", "/security/incidents?severity=Critical"),
    ];
    let response = app.post_form(&client, "/login", &form).await;
    assert_eq!(location(&response), "/security/incidents?severity=Critical");

    let client = self::client();
    let token = app.csrf_token(&client, "/login").await;
    let form = [("csrf_token", token.as_str()), ("email", TESS), ("password", PASSWORD), ("next", "//evil.example/")];
    let response = app.post_form(&client, "/login", &form).await;
    assert_eq!(location(&response), "/");
}

/// `next` values that a prefix check let through or that could not become a header: each is
/// followed only as this site's own re-encoded path, and none gets a 5xx.
const HOSTILE_NEXT: [&str; 12] = [
    "%2F%09%2Fevil.example%2Fx",
    "%2F%0A%2Fevil.example",
    "%2F%0D%2Fevil.example",
    "%2F%0B",
    "%2F%00",
    "%2F%1B",
    "%2F%7F",
    "%2F%01",
    "%2F..%2F%2Fevil.example",
    "%2F%5C%2Fevil.example",
    "%2F%C2%A0%2Fevil.example",
    "%09%2F%2Fevil.example",
];

fn assert_stays_here(response: &reqwest::Response, what: &str) {
    let status = response.status().as_u16();
    assert!(status < 500, "{what}: {status}");
    let target = location(response);
    assert!(
        target.starts_with('/') && !target.starts_with("//") && target.bytes().all(|b| b.is_ascii_graphic()),
        "{what} redirected to {target:?}"
    );
}

async fn a_next_with_tabs_or_control_characters_goes_home_never_offsite_nor_to_a_5xx(app: TestApp) {
    let signed_in = app.sign_in(TESS).await;
    for next in HOSTILE_NEXT {
        let response = app.get(&signed_in, &format!("/login?next={next}")).await;
        assert_eq!(response.status().as_u16(), 303, "GET /login?next={next}");
        assert_eq!(location(&response), "/", "GET /login?next={next}");
    }
    for next in HOSTILE_NEXT {
        let decoded = percent_decode(next);
        let client = client();
        let token = app.csrf_token(&client, &format!("/login?next={next}")).await;
        let form = [("csrf_token", token.as_str()), ("email", TESS), ("password", PASSWORD), ("next", &decoded)];
        let response = app.post_form(&client, "/login", &form).await;
        assert_stays_here(&response, &format!("POST /login with next={next}"));
        assert_eq!(location(&response), "/", "POST /login with next={next}");
        assert_eq!(app.get(&client, "/security/incidents").await.status().as_u16(), 200, "signed in");
    }
    // Through the two-factor step, which keeps `next` in the session meanwhile.
    let client = client();
    let token = app.csrf_token(&client, "/login").await;
    let form = [("csrf_token", token.as_str()), ("email", SAM), ("password", PASSWORD), ("next", "/\t/evil.example")];
    let response = app.post_form(&client, "/login", &form).await;
    assert_eq!(location(&response), "/login/verify");
    let secret = incident_portal::auth::totp::from_base32(incident_portal::demo::DEMO_TOTP_SECRET).unwrap();
    let response = app.give_code(&client, &secret).await;
    assert_eq!(location(&response), "/");
    // A good `next` still works, re-encoded.
    let response = app.get(&signed_in, "/login?next=%2Fsupport%2Ftickets%3Fq%3Dcaf%C3%A9").await;
    assert_eq!(location(&response), "/support/tickets?q=caf%C3%A9");
}

fn percent_decode(encoded: &str) -> String {
    let bytes = encoded.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&encoded[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

async fn a_disabled_users_open_session_is_refused_on_the_next_request(app: TestApp) {
    let client = app.sign_in(TESS).await;
    assert_eq!(app.get(&client, "/security/incidents").await.status().as_u16(), 200);
    app.execute("UPDATE users SET enabled = FALSE WHERE email = 'tess.tech@northwind.example'").await;
    let response = app.get(&client, "/security/incidents").await;
    assert_eq!(response.status().as_u16(), 303);
    assert!(location(&response).starts_with("/login"));
}

/// A sign-out button on a page whose session has already ended signs nobody out and lands on the
/// sign-in page; while signed in, a sign-out without the session's token is still refused.
async fn signing_out_of_an_ended_session_lands_on_the_sign_in_page(app: TestApp) {
    let client = app.sign_in(TESS).await;
    let token = app.csrf_token(&client, "/security/incidents").await;
    let forged = app.post_form(&client, "/logout", &[("csrf_token", "not-the-token")]).await;
    assert_eq!(forged.status().as_u16(), 403);
    assert_eq!(app.get(&client, "/security/incidents").await.status().as_u16(), 200, "still signed in");
    app.clock.advance(chrono::Duration::minutes(31));
    let response = app.post_form(&client, "/logout", &[("csrf_token", &token)]).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(location(&response), "/login?signed_out=1");
}

/// Anonymous pages store nothing: their forms' token is a signed cookie value, so a visitor (or
/// anyone at thousands of requests a second) cannot grow the sessions table. The session begins
/// at sign-in.
async fn anonymous_pages_write_no_session_and_their_tokens_are_bound_to_the_cookie(app: TestApp) {
    let before = app.count("SELECT COUNT(*) FROM sessions").await;
    for path in ["/login", "/login?next=%2Fsupport%2Ftickets", "/password/set?token=nope", "/no/such/page", "/docs/api"]
    {
        for _ in 0..20 {
            let response = client().get(app.url(path)).send().await.unwrap();
            assert!(response.status().as_u16() < 500, "{path}");
            assert!(
                !response
                    .headers()
                    .get_all("set-cookie")
                    .iter()
                    .any(|c| c.to_str().unwrap_or("").starts_with("incident-portal=")),
                "{path} set a session cookie"
            );
        }
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, before, "no session row for anonymous pages");

    // One browser's token does not work with another's cookie, nor without one.
    let first = client();
    let token = app.csrf_token(&first, "/login").await;
    let second = client();
    let _ = app.get(&second, "/login").await;
    let form = [("csrf_token", token.as_str()), ("email", TESS), ("password", PASSWORD)];
    assert_eq!(app.post_form(&second, "/login", &form).await.status().as_u16(), 403, "another browser's token");
    let bare = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    assert_eq!(bare.post(app.url("/login")).form(&form).send().await.unwrap().status().as_u16(), 403, "no cookie");
    let forged = format!("{}.AAAA", token.split('.').next().unwrap());
    let form = [("csrf_token", forged.as_str()), ("email", TESS), ("password", PASSWORD)];
    assert_eq!(app.post_form(&first, "/login", &form).await.status().as_u16(), 403, "a forged signature");
    let form = [("csrf_token", token.as_str()), ("email", TESS), ("password", PASSWORD)];
    assert_eq!(app.post_form(&first, "/login", &form).await.status().as_u16(), 303, "its own browser signs in");
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, before + 1, "the session begins at sign-in");
}

on_both_backends!(
    anonymous_pages_write_no_session_and_their_tokens_are_bound_to_the_cookie,
    a_customer_signs_in_and_lands_on_security_incidents,
    support_staff_sign_in_on_the_same_page_and_land_on_the_queue,
    wrong_password_unknown_email_and_disabled_user_get_the_same_answer,
    signing_in_renews_the_session_id,
    a_cookie_replayed_after_sign_out_is_refused,
    throttling_refuses_even_the_right_password_after_repeated_failures,
    an_idle_session_expires_after_thirty_minutes,
    a_session_ends_twelve_hours_after_sign_in_however_active,
    after_sign_in_the_user_returns_to_the_page_they_asked_for_but_never_offsite,
    a_next_with_tabs_or_control_characters_goes_home_never_offsite_nor_to_a_5xx,
    a_disabled_users_open_session_is_refused_on_the_next_request,
    signing_out_of_an_ended_session_lands_on_the_sign_in_page,
);
