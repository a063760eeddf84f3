use crate::helpers::*;
use crate::on_both_backends;

const SECURITY_HEADERS: [&str; 5] =
    ["content-security-policy", "x-content-type-options", "referrer-policy", "x-frame-options", "cache-control"];

fn assert_security_headers(response: &reqwest::Response, what: &str) {
    for header in SECURITY_HEADERS {
        assert!(response.headers().contains_key(header), "{header} on {what}");
    }
    let csp = response.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}

async fn security_headers_are_on_every_class_of_response(app: TestApp) {
    let anonymous = client();
    let redirect = app.get(&anonymous, "/").await;
    assert_eq!(redirect.status().as_u16(), 303);
    assert_security_headers(&redirect, "303");

    let client = app.sign_in(TESS).await;
    let ok = app.get(&client, "/security/incidents").await;
    assert_eq!(ok.status().as_u16(), 200);
    assert_security_headers(&ok, "200");

    let bad = app.get(&client, "/security/incidents?size=many").await;
    assert_eq!(bad.status().as_u16(), 400);
    assert_security_headers(&bad, "400");

    let forbidden = app.get(&client, "/desk/queue").await;
    assert_eq!(forbidden.status().as_u16(), 403);
    assert_security_headers(&forbidden, "403");

    let missing = app.get(&client, "/no/such/page").await;
    assert_eq!(missing.status().as_u16(), 404);
    assert_security_headers(&missing, "404");
    assert!(missing.text().await.unwrap().contains("Page not found"));

    let throttled = client_with_failures(&app, RILEY, 6).await;
    assert_eq!(throttled.status().as_u16(), 429);
    assert_security_headers(&throttled, "429");
    assert!(throttled.headers().contains_key("retry-after"));

    let key = app.api_key_for(TESS).await;
    let api = app.api_get(&key, "/api/v1/me").await;
    assert_eq!(api.status().as_u16(), 200);
    assert_security_headers(&api, "API 200");
    let unsigned = app.get(&crate::helpers::client(), "/api/v1/me").await;
    assert_eq!(unsigned.status().as_u16(), 401);
    assert_security_headers(&unsigned, "API 401");
    assert!(unsigned.headers()["content-type"].to_str().unwrap().starts_with("application/json"));

    // Break the database under the running app: the page fails with the 500 page.
    app.execute("DROP TABLE ticket_visibility").await;
    let broken = app.get(&client, "/security/incidents").await;
    assert_eq!(broken.status().as_u16(), 500);
    assert_security_headers(&broken, "500");
    let request_id = broken.headers()["x-request-id"].to_str().unwrap().to_string();
    let html = broken.text().await.unwrap();
    assert!(html.contains(&request_id), "the 500 page shows the request id");
    assert!(!html.to_lowercase().contains("ticket_visibility") && !html.contains("sqlx"), "no cause reaches the user");

    // And take the database away: 503.
    app.store.close().await;
    let unavailable = app.get(&client, "/security/dashboard").await;
    assert_eq!(unavailable.status().as_u16(), 503);
    assert_security_headers(&unavailable, "503");
}

/// The answer to the last of `attempts` wrong passwords for `email`.
async fn client_with_failures(app: &TestApp, email: &str, attempts: usize) -> reqwest::Response {
    let client = crate::helpers::client();
    let mut last = None;
    for _ in 0..attempts {
        last = Some(app.try_sign_in(&client, email, "not the password").await);
    }
    last.expect("at least one attempt")
}

async fn a_form_without_the_csrf_token_is_refused(app: TestApp) {
    let client = client();
    app.get(&client, "/login").await;
    let response = app.post_form(&client, "/login", &[("email", TESS), ("password", PASSWORD)]).await;
    assert_eq!(response.status().as_u16(), 403);
    assert!(response.text().await.unwrap().contains("did not come from this portal"));
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions WHERE user_id IS NOT NULL").await, 0, "nobody signed in");
}

async fn another_sessions_csrf_token_is_refused(app: TestApp) {
    let victim = app.sign_in(TESS).await;
    let attacker = client();
    let attacker_token = app.csrf_token(&attacker, "/login").await;
    let response = app.post_form(&victim, "/logout", &[("csrf_token", &attacker_token)]).await;
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(app.get(&victim, "/security/incidents").await.status().as_u16(), 200, "still signed in");
}

async fn a_form_posted_from_another_origin_is_refused(app: TestApp) {
    let client = app.sign_in(TESS).await;
    let token = app.csrf_token(&client, "/security/incidents").await;
    for (header, value) in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ] {
        let response = client
            .post(app.url("/logout"))
            .header(header, value)
            .form(&[("csrf_token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 403, "{header}: {value}");
        assert_security_headers(&response, "403");
    }
    assert_eq!(app.get(&client, "/security/incidents").await.status().as_u16(), 200, "still signed in");
    // The same form from the portal's own origin works.
    let own_origin = app.address.clone();
    let response = client
        .post(app.url("/logout"))
        .header("origin", own_origin)
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
}

async fn a_foreign_origin_is_refused_whatever_the_forwarded_headers_claim(app: TestApp) {
    let client = app.sign_in(TESS).await;
    let token = app.csrf_token(&client, "/security/incidents").await;
    let before = app.snapshot().await;
    for spoofed in SPOOFED_HOSTS {
        for (path, form) in [
            ("/support/tickets", vec![("summary", "Forged ticket"), ("description", "From another site")]),
            ("/logout", vec![]),
        ] {
            let mut request = client.post(app.url(path)).header("origin", "https://evil.example");
            for &(name, value) in spoofed {
                request = request.header(name, value);
            }
            let mut fields = vec![("csrf_token", token.as_str())];
            fields.extend(form);
            let response = request.form(&fields).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 403, "POST {path} with {spoofed:?}");
        }
    }
    assert_eq!(app.snapshot().await, before, "nothing changed");
    assert_eq!(app.get(&client, "/security/incidents").await.status().as_u16(), 200, "still signed in");
}

async fn the_audit_log_keeps_the_peer_address_when_proxy_headers_are_not_trusted(app: TestApp) {
    let client = app.sign_in(TESS).await;
    let response = client
        .get(app.url("/desk/queue"))
        .header("x-forwarded-for", "203.0.113.7")
        .header("forwarded", "for=203.0.113.8")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let addresses = app.strings("SELECT client_ip FROM audit_log WHERE action = 'permission_denied'").await;
    assert_eq!(addresses, ["127.0.0.1"]);
}

async fn signed_out_visitors_are_sent_to_sign_in(app: TestApp) {
    let client = client();
    for path in ["/security/incidents", "/security/incidents.csv", "/security/incidents/ATS-100001", "/desk/queue"] {
        let response = app.get(&client, path).await;
        assert_eq!(response.status().as_u16(), 303, "{path}");
        assert!(location(&response).starts_with("/login?next="), "{path}");
    }
    let response = app.get(&client, "/").await;
    assert_eq!(location(&response), "/login");
}

async fn health_probes_answer(app: TestApp) {
    let client = client();
    let (status, body) = app.get_text(&client, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, body) = app.get_text(&client, "/readyz").await;
    assert_eq!((status, body.as_str()), (200, "ready"));
}

async fn static_assets_are_versioned_and_cached(app: TestApp) {
    let client = client();
    let (_, html) = app.get_text(&client, "/login").await;
    let start = html.find("/static/app.css?v=").expect("the stylesheet is linked with a version");
    let href = &html[start..html[start..].find('"').unwrap() + start];
    let response = app.get(&client, href).await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/css"));
    assert!(response.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    assert_eq!(app.get(&client, "/static/nothing.js").await.status().as_u16(), 404);
}

async fn a_wrong_method_gets_a_page_not_a_blank(app: TestApp) {
    let client = client();
    let response = client.delete(app.url("/login")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_security_headers(&response, "405");
    assert!(response.text().await.unwrap().contains("Method not allowed"));
}

/// Error pages are rendered outside the session layer; a signed-in user's still carry the
/// session's token, so their sign-out button works.
async fn the_sign_out_button_on_error_pages_signs_out(app: TestApp) {
    let tess = app.fresh_incident().await;
    for (email, path, status) in [
        (TESS, "/no/such/page", 404),
        (TESS, "/security/incidents/ATS-99999999", 404),
        (CASEY, &*format!("/security/incidents/{}", tess.number), 404),
        (TESS, "/desk/queue", 403),
        (BILLIE, "/security/incidents", 403),
        (TESS, "/security/incidents?size=many", 400),
    ] {
        let client = app.sign_in(email).await;
        let (answer, html) = app.get_text(&client, path).await;
        assert_eq!(answer, status, "{path}");
        let token = csrf_token(&html);
        assert!(!token.is_empty(), "the {status} page at {path} has the session's token");
        let response = app.post_form(&client, "/logout", &[("csrf_token", &token)]).await;
        assert_eq!(location(&response), "/login?signed_out=1", "sign-out from the {status} page at {path}");
        let after = app.get(&client, "/support/tickets").await;
        assert!(location(&after).starts_with("/login"), "signed out for real after {path}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'sign_out'").await, 6);
}

on_both_backends!(
    the_sign_out_button_on_error_pages_signs_out,
    security_headers_are_on_every_class_of_response,
    a_form_without_the_csrf_token_is_refused,
    another_sessions_csrf_token_is_refused,
    a_form_posted_from_another_origin_is_refused,
    a_foreign_origin_is_refused_whatever_the_forwarded_headers_claim,
    the_audit_log_keeps_the_peer_address_when_proxy_headers_are_not_trusted,
    signed_out_visitors_are_sent_to_sign_in,
    health_probes_answer,
    static_assets_are_versioned_and_cached,
    a_wrong_method_gets_a_page_not_a_blank,
);
