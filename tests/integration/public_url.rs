//! Behind a proxy of its own (PUBLIC_URL set, TRUST_PROXY_HEADERS on): links and the
//! cross-origin check use PUBLIC_URL whatever host the forwarded headers name; the forwarded
//! client address reaches the audit log.

use incident_portal::settings::{PublicUrl, Settings};

use crate::helpers::*;
use crate::on_both_backends;

const PUBLIC_URL: &str = "https://portal.example.com";

fn behind_a_proxy(settings: &mut Settings) {
    settings.public_url = Some(PublicUrl::parse(PUBLIC_URL).unwrap());
    settings.trust_proxy_headers = true;
}

fn with_spoofed(mut request: reqwest::RequestBuilder, spoofed: &[(&str, &str)]) -> reqwest::RequestBuilder {
    for &(name, value) in spoofed {
        request = request.header(name, value);
    }
    request
}

/// Every absolute link in `text`, up to the first character that cannot be part of one.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for scheme in ["https://", "http://"] {
        for (start, _) in text.match_indices(scheme) {
            let link: String =
                text[start..].chars().take_while(|c| !c.is_whitespace() && !"\"'<&$".contains(*c)).collect();
            found.push(link);
        }
    }
    found
}

async fn the_api_links_to_incidents_at_the_public_url(app: TestApp) {
    let key = app.api_key_for(TESS).await;
    let target = "/api/v1/security-incidents?pageSize=5";
    for spoofed in SPOOFED_HOSTS {
        let (authorization, _) = app.authorization(&key, "GET", target, b"");
        let request = reqwest::Client::new().get(app.url(target)).header("authorization", authorization);
        let response = with_spoofed(request, spoofed).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{spoofed:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        let items = body["items"].as_array().unwrap();
        assert!(!items.is_empty());
        for item in items {
            let expected = format!("{PUBLIC_URL}/security/incidents/{}", item["ticketNumber"].as_str().unwrap());
            assert_eq!(item["ticketLink"], expected.as_str(), "{spoofed:?}");
        }
    }
}

async fn set_password_links_point_at_the_public_url(app: TestApp) {
    let avery = app.sign_in(AVERY).await;
    let account = app.principal(AVERY).await.account().unwrap().id;
    let technical =
        app.count(&format!("SELECT id FROM roles WHERE account_id = {account} AND builtin = 'technical'")).await;
    let morgan = app.sign_in(MORGAN).await;
    for (n, spoofed) in SPOOFED_HOSTS.into_iter().enumerate() {
        // Account > Users > add user, as the account's administrator.
        let token = app.csrf_token(&avery, "/account/users/new").await;
        let email = format!("new.user.{n}@northwind.example");
        let technical = technical.to_string();
        let fields = [
            ("csrf_token", token.as_str()),
            ("first_name", "New"),
            ("last_name", "User"),
            ("email", email.as_str()),
            ("role", technical.as_str()),
        ];
        let response = with_spoofed(avery.post(app.url("/account/users")), spoofed).form(&fields).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 303, "{spoofed:?}");
        let response = with_spoofed(avery.get(app.url(&location(&response))), spoofed).send().await.unwrap();
        let page = response.text().await.unwrap();
        let shown = links(&page).into_iter().find(|l| l.contains("/password/set?token=")).expect("the link is shown");
        assert!(shown.starts_with(&format!("{PUBLIC_URL}/password/set?token=")), "{spoofed:?}: {shown}");

        // A new account's first administrator, from the support desk.
        let token = app.csrf_token(&morgan, "/desk/accounts/new").await;
        let number = format!("10088{n}");
        let email = format!("first.admin.{n}@initech.example");
        let fields = [
            ("csrf_token", token.as_str()),
            ("name", "Initech"),
            ("number", number.as_str()),
            ("first_name", "First"),
            ("last_name", "Admin"),
            ("email", email.as_str()),
        ];
        let response =
            with_spoofed(morgan.post(app.url("/desk/accounts")), spoofed).form(&fields).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 303, "{spoofed:?}");
        let (_, page) = app.get_text(&morgan, &location(&response)).await;
        let shown = links(&page).into_iter().find(|l| l.contains("/password/set?token=")).expect("the link is shown");
        assert!(shown.starts_with(&format!("{PUBLIC_URL}/password/set?token=")), "{spoofed:?}: {shown}");
    }
}

async fn the_api_key_example_calls_the_public_url(app: TestApp) {
    let tess = app.sign_in(TESS).await;
    for spoofed in SPOOFED_HOSTS {
        let token = app.csrf_token(&tess, "/account/api-keys").await;
        let request = with_spoofed(tess.post(app.url("/account/api-keys")), spoofed);
        let response = request.form(&[("csrf_token", token.as_str()), ("name", "SIEM")]).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{spoofed:?}");
        let html = response.text().await.unwrap();
        assert!(html.contains("openssl dgst -sha512"), "the example is shown");
        let links = links(&html);
        assert!(links.iter().filter(|l| l.starts_with(PUBLIC_URL)).count() >= 2, "shell and Python: {links:?}");
        assert!(!links.iter().any(|l| l.contains("evil.example") || l.contains("127.0.0.1")), "{links:?}");
    }
}

async fn only_the_public_origin_may_post_even_when_forwarded_headers_are_trusted(app: TestApp) {
    let client = app.sign_in(TESS).await;
    let token = app.csrf_token(&client, "/security/incidents").await;
    let before = app.snapshot().await;
    let form = [("csrf_token", token.as_str()), ("summary", "Forged ticket"), ("description", "From elsewhere")];
    // The address the request really reached is not the portal's origin either: PUBLIC_URL is.
    for (origin, spoofed) in SPOOFED_HOSTS
        .into_iter()
        .map(|spoofed| ("https://evil.example", spoofed))
        .chain([(app.address.as_str(), &[][..])])
    {
        let request = with_spoofed(client.post(app.url("/support/tickets")), spoofed).header("origin", origin);
        let response = request.form(&form).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 403, "Origin {origin} with {spoofed:?}");
    }
    assert_eq!(app.snapshot().await, before, "nothing changed");

    let response = client
        .post(app.url("/support/tickets"))
        .header("origin", PUBLIC_URL)
        .form(&[("csrf_token", token.as_str()), ("summary", "A real ticket"), ("description", "From the portal")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303, "the portal's own origin is accepted");
}

async fn the_audit_log_takes_the_forwarded_client_address_when_trusted(app: TestApp) {
    let client = app.sign_in(TESS).await;
    let response = client.get(app.url("/desk/queue")).header("x-forwarded-for", "203.0.113.7").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let addresses = app.strings("SELECT client_ip FROM audit_log WHERE action = 'permission_denied'").await;
    assert_eq!(addresses, ["203.0.113.7"]);
}

on_both_backends!(
    configured by behind_a_proxy;
    the_api_links_to_incidents_at_the_public_url,
    set_password_links_point_at_the_public_url,
    the_api_key_example_calls_the_public_url,
    only_the_public_origin_may_post_even_when_forwarded_headers_are_trusted,
    the_audit_log_takes_the_forwarded_client_address_when_trusted,
);
