//! Webhooks, received by a real HTTP server on loopback: an administrator adds an endpoint and
//! sees its secret once; matching events arrive signed per Standard Webhooks (checked here with
//! our own HMAC, not the portal's), carrying only what the account may see; retries, rotation,
//! "send again", disabling and deleting; and the outbound rules refusing plain HTTP and private
//! addresses when the settings do.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use incident_portal::domain::lifecycle::Change;
use incident_portal::domain::ticket::{Severity, TicketStatus};
use incident_portal::domain::webhook::OutboundPolicy;
use incident_portal::settings::Settings;
use incident_portal::store::{CommentInput, NewTicket};
use sha2::Sha256;

use crate::helpers::*;
use crate::on_both_backends;

const ALL_KINDS: [&str; 7] =
    ["labelled", "severity_changed", "requires_attention", "support_comment", "closure_declined", "closed", "reopened"];

fn allow_loopback(settings: &mut Settings) {
    settings.webhooks = OutboundPolicy { allow_http: true, allow_private: true };
}

/// The endpoint form as a test fills it in.
struct Endpoint<'a> {
    url: &'a str,
    kinds: &'a [&'a str],
    min_severity: &'a str,
    format: &'a str,
}

impl<'a> Endpoint<'a> {
    fn at(url: &'a str) -> Endpoint<'a> {
        Endpoint { url, kinds: &ALL_KINDS, min_severity: "", format: "standard" }
    }

    fn fields(&self, token: &str) -> Vec<(String, String)> {
        let mut fields = vec![
            ("csrf_token".to_string(), token.to_string()),
            ("url".to_string(), self.url.to_string()),
            ("min_severity".to_string(), self.min_severity.to_string()),
            ("format".to_string(), self.format.to_string()),
        ];
        fields.extend(self.kinds.iter().map(|k| ("kind".to_string(), k.to_string())));
        fields
    }
}

async fn post(app: &TestApp, client: &reqwest::Client, path: &str, fields: &[(String, String)]) -> (u16, String) {
    let response = client.post(app.url(path)).form(fields).send().await.expect("the request completes");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// POSTs a form of only the session's token to `path`.
async fn press(app: &TestApp, client: &reqwest::Client, path: &str) -> (u16, String) {
    let token = app.csrf_token(client, "/account/profile").await;
    post(app, client, path, &[("csrf_token".to_string(), token)]).await
}

fn secret_on(html: &str) -> Option<String> {
    let document = scraper::Html::parse_document(html);
    let selector = scraper::Selector::parse("#webhook-secret").unwrap();
    document.select(&selector).next().map(|code| code.text().collect::<String>().trim().to_string())
}

/// Adds an endpoint through the page as `client` (an administrator); its id and secret.
async fn add_endpoint(app: &TestApp, client: &reqwest::Client, endpoint: Endpoint<'_>) -> (i64, String) {
    let token = app.csrf_token(client, "/account/webhooks").await;
    let (status, html) = post(app, client, "/account/webhooks", &endpoint.fields(&token)).await;
    assert_eq!(status, 200, "the endpoint is added: {html}");
    let secret = secret_on(&html).expect("the secret is shown");
    let id = app.count("SELECT MAX(id) FROM webhook_endpoints").await;
    (id, secret)
}

/// The signature entries of a call that our own HMAC-SHA256 verifies with `secret`, in order.
fn verifies(secret: &str, call: &WebhookCall) -> Vec<bool> {
    let key = STANDARD.decode(secret.strip_prefix("whsec_").expect("a whsec_ secret")).unwrap();
    let signed = format!("{}.{}.", call.header("webhook-id"), call.header("webhook-timestamp"));
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
    mac.update(signed.as_bytes());
    mac.update(&call.body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    call.header("webhook-signature").split(' ').map(|entry| entry == expected).collect()
}

/// Waits until every event is fanned out and no webhook call is waiting for its first attempt or
/// under way (a call waiting for a retry is settled for now).
async fn settled(app: &TestApp) {
    let started = Instant::now();
    let busy = "SELECT (SELECT COUNT(*) FROM notification_events WHERE expanded_at IS NULL) + \
                (SELECT COUNT(*) FROM notification_deliveries WHERE channel = 'webhook' AND state = 'pending' \
                AND (attempts = 0 OR claimed_until IS NOT NULL))";
    while app.count(busy).await != 0 {
        assert!(started.elapsed() < Duration::from_secs(20), "the outbox did not settle");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until a webhook call's last error, after `attempts` attempts, contains `words`.
async fn wait_for_error(app: &TestApp, attempts: i32, words: &str) {
    let sql = format!(
        "SELECT last_error FROM notification_deliveries WHERE channel = 'webhook' AND attempts = {attempts} \
         AND last_error IS NOT NULL"
    );
    let started = Instant::now();
    loop {
        let errors = app.strings(&sql).await;
        if errors.iter().any(|e| e.contains(words)) {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no error “{words}” after {attempts}: {errors:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A Contoso ticket labelled Critical by support: Northwind's endpoints must never hear of it.
async fn contoso_incident(app: &TestApp, summary: &str) {
    let casey = app.principal(CASEY).await;
    let ticket = NewTicket {
        account_id: casey.account().unwrap().id,
        opener_id: casey.user_id,
        created_by: casey.user_id,
        summary: summary.to_string(),
        description: String::new(),
        recipient_ids: vec![],
        status: TicketStatus::Open,
        severity: None,
        created_at: app.clock.now(),
        submission_key: None,
        notify_desk: false,
    };
    let id = app.store.insert_ticket(&ticket).await.unwrap();
    let sam = app.user_id(SAM).await;
    let label = [Change::SetSeverity(Some(Severity::Critical))];
    app.store.change_ticket(id, sam, None, None, &label, app.clock.now()).await.unwrap();
}

async fn comment(app: &TestApp, ticket_id: i64, body: &str, internal: bool) {
    let sam = app.user_id(SAM).await;
    let input = CommentInput { body: body.to_string(), internal, submission_key: None };
    app.store.change_ticket(ticket_id, sam, None, Some(&input), &[], app.clock.now()).await.unwrap();
}

async fn change(app: &TestApp, ticket_id: i64, changes: &[Change], comment: Option<&str>) {
    let sam = app.user_id(SAM).await;
    let input = comment.map(|body| CommentInput { body: body.to_string(), internal: false, submission_key: None });
    app.store.change_ticket(ticket_id, sam, None, input.as_ref(), changes, app.clock.now()).await.unwrap();
}

async fn an_administrator_adds_an_endpoint_and_sees_its_secret_only_once(app: TestApp) {
    let receiver = Receiver::start().await;
    let avery = app.sign_in(AVERY).await;
    let (status, page) = app.get_text(&avery, "/account/webhooks").await;
    assert_eq!(status, 200);
    assert!(page.contains("No endpoints yet") && page.contains("Add endpoint"), "{page}");
    let url = receiver.url("/portal-hook");
    let (id, secret) = add_endpoint(&app, &avery, Endpoint::at(&url)).await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(STANDARD.decode(&secret["whsec_".len()..]).unwrap().len(), 32, "32 random bytes");

    // Stored encrypted; no page shows it again.
    let stored: String = app.scalar(&format!("SELECT secret_ciphertext FROM webhook_endpoints WHERE id = {id}")).await;
    assert!(!stored.contains(&secret["whsec_".len()..]), "the secret is not stored in plain text");
    for path in ["/account/webhooks".to_string(), format!("/account/webhooks/{id}")] {
        let (status, html) = app.get_text(&avery, &path).await;
        assert_eq!(status, 200, "{path}");
        assert!(!html.contains(&secret) && secret_on(&html).is_none(), "{path} shows the secret again");
        assert!(html.contains(&url), "{path} lists the endpoint");
    }
    let logged: Vec<String> = app.strings("SELECT detail FROM audit_log WHERE action = 'webhook_created'").await;
    assert_eq!(logged, vec![receiver.base.clone()], "the origin only: a Slack address's path is a credential");
}

async fn a_matching_event_arrives_signed_with_only_what_the_account_may_see(app: TestApp) {
    let receiver = Receiver::start().await;
    let avery = app.sign_in(AVERY).await;
    let (_, secret) = add_endpoint(&app, &avery, Endpoint::at(&receiver.url("/in"))).await;
    let ticket = app.fresh_incident().await;
    let calls = receiver.wait_for(1).await;
    let labelled = &calls[0];
    assert_eq!(labelled.path, "/in");
    assert_eq!(labelled.header("content-type"), "application/json");
    assert_eq!(verifies(&secret, labelled), vec![true], "signed with the endpoint's secret");
    let delivery = app.count("SELECT MAX(id) FROM notification_deliveries WHERE channel = 'webhook'").await;
    assert_eq!(labelled.header("webhook-id"), format!("msg_{delivery}"));
    let sent_at: i64 = labelled.header("webhook-timestamp").parse().unwrap();
    assert!((sent_at - app.clock.now().timestamp()).abs() < 30, "the time of the attempt");
    let event = labelled.json();
    assert_eq!(event["type"], "ticket.labelled");
    assert_eq!(event["data"]["ticket"]["number"], ticket.number.as_str());
    assert_eq!(event["data"]["ticket"]["severity"], "High");
    assert_eq!(event["data"]["ticket"]["status"], "Open");
    assert_eq!(event["data"]["ticket"]["summary"], "Test fixture: suspicious logins");
    assert!(
        event["data"]["ticket"]["link"].as_str().unwrap().ends_with(&format!("/support/tickets/{}", ticket.number))
    );
    assert_eq!(event["data"]["account"]["number"], app.principal(AVERY).await.account().unwrap().number);

    // An internal note sends nothing and goes with nothing; the reply goes with its words.
    let canary = "CANARY-internal-4d1e";
    comment(&app, ticket.id, canary, true).await;
    comment(&app, ticket.id, "Please rotate the VPN credentials.", false).await;
    // Another account's incident reaches none of Northwind's endpoints.
    let contoso = "CANARY-contoso-77a0";
    contoso_incident(&app, contoso).await;
    settled(&app).await;
    let calls = receiver.calls();
    assert_eq!(calls.len(), 2, "the label and the reply, nothing else: {calls:?}");
    let reply = calls[1].json();
    assert_eq!(reply["type"], "ticket.support_comment");
    assert_eq!(reply["data"]["comment"]["body"], "Please rotate the VPN credentials.");
    assert_eq!(reply["data"]["comment"]["author"], "Armor Support");
    assert_eq!(verifies(&secret, &calls[1]), vec![true]);
    for call in &calls {
        assert!(!call.text().contains(canary), "an internal note leaked: {}", call.text());
        assert!(!call.text().contains(contoso), "another account's ticket leaked: {}", call.text());
    }
}

async fn only_the_chosen_events_and_severities_are_sent(app: TestApp) {
    let receiver = Receiver::start().await;
    let avery = app.sign_in(AVERY).await;
    let closures = receiver.url("/closures");
    let labels = receiver.url("/labels");
    add_endpoint(&app, &avery, Endpoint { kinds: &["closed"], min_severity: "Critical", ..Endpoint::at(&closures) })
        .await;
    let high_up = Endpoint { kinds: &["labelled", "severity_changed"], min_severity: "High", ..Endpoint::at(&labels) };
    add_endpoint(&app, &avery, high_up).await;

    let ticket = app.fresh_incident().await; // labelled High
    change(&app, ticket.id, &[Change::SetSeverity(Some(Severity::Critical))], None).await;
    change(&app, ticket.id, &[Change::SetStatus(TicketStatus::RequiresAttention)], None).await;
    change(&app, ticket.id, &[Change::Close], Some("Verified and fixed.")).await;
    let low = app.fresh_incident().await;
    change(&app, low.id, &[Change::SetSeverity(Some(Severity::Low))], None).await;
    change(&app, low.id, &[Change::Close], Some("A false positive.")).await;
    settled(&app).await;
    let calls = receiver.calls();
    let seen: Vec<(String, String, String)> = calls
        .iter()
        .map(|c| {
            let event = c.json();
            (c.path.clone(), event["type"].as_str().unwrap().to_string(), event["data"]["ticket"]["number"].to_string())
        })
        .collect();
    let number = format!("\"{}\"", ticket.number);
    let mut expected = vec![
        ("/labels".to_string(), "ticket.labelled".to_string(), number.clone()),
        ("/labels".to_string(), "ticket.severity_changed".to_string(), number.clone()),
        ("/closures".to_string(), "ticket.closed".to_string(), number.clone()),
        ("/labels".to_string(), "ticket.labelled".to_string(), format!("\"{}\"", low.number)),
    ];
    let mut seen_sorted = seen.clone();
    seen_sorted.sort();
    expected.sort();
    assert_eq!(seen_sorted, expected, "as they came: {seen:?}");
}

async fn a_receiver_answering_500_then_200_gets_one_delivery_retried_then_sent(app: TestApp) {
    let receiver = Receiver::start().await;
    receiver.answer_next(&[500]);
    let avery = app.sign_in(AVERY).await;
    let (endpoint, secret) = add_endpoint(&app, &avery, Endpoint::at(&receiver.url("/flaky"))).await;
    app.fresh_incident().await;
    receiver.wait_for(1).await;
    let retrying = "SELECT COUNT(*) FROM notification_deliveries WHERE channel = 'webhook' AND state = 'pending' \
                    AND attempts = 1 AND response_code = 500 AND last_error = 'HTTP 500'";
    let waited = Instant::now();
    while app.count(retrying).await != 1 {
        assert!(waited.elapsed() < Duration::from_secs(20), "the failed attempt is recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let excerpt: String =
        app.scalar("SELECT response_excerpt FROM notification_deliveries WHERE channel = 'webhook'").await;
    assert!(excerpt.starts_with("receiver exploded x") && excerpt.len() <= 256, "{excerpt}");
    let (_, log) = app.get_text(&avery, &format!("/account/webhooks/{endpoint}")).await;
    assert!(log.contains("Retrying") && log.contains("500") && log.contains("next try"), "{log}");

    // Past the backoff (half a minute, give or take a fifth), the sender tries again.
    app.clock.advance(chrono::Duration::minutes(2));
    let calls = receiver.wait_for(2).await;
    let sent = "SELECT COUNT(*) FROM notification_deliveries WHERE channel = 'webhook' AND state = 'sent' \
                AND attempts = 2 AND response_code = 200";
    let waited = Instant::now();
    while app.count(sent).await != 1 {
        assert!(waited.elapsed() < Duration::from_secs(20), "the retry is recorded as sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM notification_deliveries WHERE channel = 'webhook'").await, 1);
    assert_eq!(calls[0].header("webhook-id"), calls[1].header("webhook-id"), "the same id on every retry");
    assert_ne!(calls[0].header("webhook-timestamp"), calls[1].header("webhook-timestamp"), "each attempt's time");
    assert_eq!(calls[0].body, calls[1].body);
    assert_eq!((verifies(&secret, &calls[0]), verifies(&secret, &calls[1])), (vec![true], vec![true]));

    let avery = app.sign_in(AVERY).await;
    let (_, log) = app.get_text(&avery, &format!("/account/webhooks/{endpoint}")).await;
    assert!(log.contains("Delivered") && log.contains("{&#34;received&#34;: true}"), "{log}");
    let (_, metrics) = app.get_text(&client(), "/metrics").await;
    assert!(metrics.lines().any(|l| l == "incident_portal_webhooks_sent_total 1"), "{metrics}");
    assert!(metrics.lines().any(|l| l == "incident_portal_webhooks_failed_total 0"), "{metrics}");
}

async fn during_a_rotations_grace_period_calls_are_signed_with_both_secrets(app: TestApp) {
    let receiver = Receiver::start().await;
    let avery = app.sign_in(AVERY).await;
    let (id, old) = add_endpoint(&app, &avery, Endpoint::at(&receiver.url("/rotating"))).await;
    let (status, html) = press(&app, &avery, &format!("/account/webhooks/{id}/rotate-secret")).await;
    assert_eq!(status, 200);
    let new = secret_on(&html).expect("the new secret is shown");
    assert_ne!(new, old);
    assert!(html.contains("still signs until"), "the grace period is told");
    let (_, again) = app.get_text(&avery, &format!("/account/webhooks/{id}")).await;
    assert!(!again.contains(&new) && secret_on(&again).is_none(), "shown once");
    assert!(again.contains("the previous one signs too until"), "{again}");

    app.fresh_incident().await;
    let calls = receiver.wait_for(1).await;
    assert_eq!(calls[0].header("webhook-signature").split(' ').count(), 2, "{:?}", calls[0].headers);
    assert_eq!(verifies(&new, &calls[0]), vec![true, false], "the new secret's signature first");
    assert_eq!(verifies(&old, &calls[0]), vec![false, true], "and the old one's");

    // A day later the old secret signs no more.
    app.clock.advance(chrono::Duration::hours(25));
    app.fresh_incident().await;
    let calls = receiver.wait_for(2).await;
    assert_eq!(verifies(&new, &calls[1]), vec![true]);
    assert_eq!(verifies(&old, &calls[1]), vec![false]);
}

async fn send_again_queues_a_copy_of_a_delivery(app: TestApp) {
    let receiver = Receiver::start().await;
    let avery = app.sign_in(AVERY).await;
    let (id, secret) = add_endpoint(&app, &avery, Endpoint::at(&receiver.url("/again"))).await;
    app.fresh_incident().await;
    receiver.wait_for(1).await;
    settled(&app).await;
    let first = app.count("SELECT MAX(id) FROM notification_deliveries WHERE channel = 'webhook'").await;
    let waited = Instant::now();
    while app
        .count(&format!("SELECT COUNT(*) FROM notification_deliveries WHERE id = {first} AND state = 'sent'"))
        .await
        != 1
    {
        assert!(waited.elapsed() < Duration::from_secs(20), "the first call is settled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, log) = app.get_text(&avery, &format!("/account/webhooks/{id}")).await;
    let again = format!("/account/webhooks/{id}/deliveries/{first}/send-again");
    assert!(log.contains(&again), "the log offers to send it again");
    let token = app.csrf_token(&avery, "/account/profile").await;
    let response = app.post_form(&avery, &again, &[("csrf_token", &token)]).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(location(&response), format!("/account/webhooks/{id}"));
    let calls = receiver.wait_for(2).await;
    assert_eq!(calls[1].body, calls[0].body, "the same event");
    assert_ne!(calls[1].header("webhook-id"), calls[0].header("webhook-id"), "as a new message");
    assert_eq!(verifies(&secret, &calls[1]), vec![true]);
    let (_, log) = app.get_text(&avery, &format!("/account/webhooks/{id}")).await;
    assert!(log.contains(&format!("msg_{first} is sent again")), "{log}");

    // Another account's administrator, and a delivery of another endpoint, find nothing.
    let casey = app.sign_in(CASEY).await;
    assert_eq!(press(&app, &casey, &again).await.0, 404);
    let (other, _) = add_endpoint(&app, &avery, Endpoint::at(&receiver.url("/other"))).await;
    assert_eq!(press(&app, &avery, &format!("/account/webhooks/{other}/deliveries/{first}/send-again")).await.0, 404);
}

async fn a_disabled_endpoint_hears_nothing_and_a_deleted_one_is_gone(app: TestApp) {
    let receiver = Receiver::start().await;
    let avery = app.sign_in(AVERY).await;
    let (id, _) = add_endpoint(&app, &avery, Endpoint::at(&receiver.url("/toggle"))).await;
    let (status, _) = press(&app, &avery, &format!("/account/webhooks/{id}/disable")).await;
    assert_eq!(status, 303);
    app.fresh_incident().await;
    settled(&app).await;
    assert!(receiver.calls().is_empty(), "a disabled endpoint gets no call");
    assert_eq!(press(&app, &avery, &format!("/account/webhooks/{id}/enable")).await.0, 303);
    app.fresh_incident().await;
    receiver.wait_for(1).await;

    assert_eq!(press(&app, &avery, &format!("/account/webhooks/{id}/delete")).await.0, 303);
    assert_eq!(app.count("SELECT COUNT(*) FROM webhook_endpoints").await, 0, "the endpoint and its secrets");
    assert_eq!(app.get(&avery, &format!("/account/webhooks/{id}")).await.status().as_u16(), 404);
    app.fresh_incident().await;
    settled(&app).await;
    assert_eq!(receiver.calls().len(), 1, "nothing after the deletion");
    let actions = app.strings("SELECT action FROM audit_log WHERE action LIKE 'webhook%' ORDER BY id").await;
    assert_eq!(actions, ["webhook_created", "webhook_disabled", "webhook_enabled", "webhook_deleted"]);

    // The deleted endpoint's id is never another's: its log stays its own.
    let casey = app.sign_in(CASEY).await;
    let (other, _) = add_endpoint(&app, &casey, Endpoint::at(&receiver.url("/contoso"))).await;
    assert_ne!(other, id, "a new id");
    let (_, log) = app.get_text(&casey, &format!("/account/webhooks/{other}")).await;
    assert!(log.contains("No calls yet"), "{log}");
}

async fn only_holders_of_manage_webhooks_reach_the_page_and_only_their_accounts_endpoints(app: TestApp) {
    let receiver = Receiver::start().await;
    let avery = app.sign_in(AVERY).await;
    let (id, _) = add_endpoint(&app, &avery, Endpoint::at(&receiver.url("/mine"))).await;
    let tess = app.sign_in(TESS).await;
    let (status, html) = app.get_text(&tess, "/account/webhooks").await;
    assert_eq!(status, 403);
    assert!(html.contains("Manage Webhooks"), "the page names the permission");
    let (_, nav) = app.get_text(&tess, "/support/tickets").await;
    assert!(!nav.contains("/account/webhooks"), "no link to a page Tess may not open");
    let (_, nav) = app.get_text(&avery, "/support/tickets").await;
    assert!(nav.contains("href=\"/account/webhooks\""), "the administrator's navigation has it");
    let sam = app.sign_in(SAM).await;
    assert_eq!(app.get(&sam, "/account/webhooks").await.status().as_u16(), 403);

    let casey = app.sign_in(CASEY).await;
    assert_eq!(app.get(&casey, &format!("/account/webhooks/{id}")).await.status().as_u16(), 404);
    for action in ["rotate-secret", "disable", "delete"] {
        assert_eq!(press(&app, &casey, &format!("/account/webhooks/{id}/{action}")).await.0, 404, "{action}");
    }
    let (_, list) = app.get_text(&casey, "/account/webhooks").await;
    assert!(!list.contains(&receiver.url("/mine")), "Contoso's list is its own");
    assert_eq!(app.count("SELECT COUNT(*) FROM webhook_endpoints WHERE enabled = TRUE").await, 1, "untouched");

    // The roles page explains what the permission unlocks.
    let (_, roles) = app.get_text(&avery, "/account/roles").await;
    assert!(roles.contains("Manage Webhooks") && roles.contains("/account/webhooks"), "{roles}");
}

on_both_backends!(
    configured by allow_loopback;
    an_administrator_adds_an_endpoint_and_sees_its_secret_only_once,
    a_matching_event_arrives_signed_with_only_what_the_account_may_see,
    only_the_chosen_events_and_severities_are_sent,
    a_receiver_answering_500_then_200_gets_one_delivery_retried_then_sent,
    during_a_rotations_grace_period_calls_are_signed_with_both_secrets,
    send_again_queues_a_copy_of_a_delivery,
    a_disabled_endpoint_hears_nothing_and_a_deleted_one_is_gone,
    only_holders_of_manage_webhooks_reach_the_page_and_only_their_accounts_endpoints,
);

async fn an_administrator_adds_an_endpoint_and_reads_its_delivery_log_in_the_browser(app: TestApp) {
    use fantoccini::Locator;
    let prefix = format!("webhooks-{}", if app.store.backend_name() == "SQLite" { "sqlite" } else { "postgres" });
    let Some(browser) = crate::browser::start_browser(&prefix).await else { return };
    let receiver = Receiver::start().await;
    browser.sign_in(&app, AVERY).await;
    browser.click("a[href='/account/webhooks']").await;
    browser.client.wait().for_element(Locator::Css("#create-webhook-heading")).await.unwrap();
    browser.screenshot("01-no-endpoints").await;

    // Slack-style messages about labels and closures; an address the portal does not call first.
    browser.fill("#webhook-url", "ftp://files.example.com/drop").await;
    for kind in ["severity_changed", "requires_attention", "support_comment", "closure_declined", "reopened"] {
        browser.click(&format!("input[name=kind][value={kind}]")).await;
    }
    browser.click("input[name=format][value=slack]").await;
    browser.click("form[action='/account/webhooks'] button[type=submit]").await;
    browser.client.wait().for_element(Locator::Css("#form-errors")).await.expect("the address is refused");
    assert!(browser.text("#form-errors").await.contains("must start with https:// or http://"));
    browser.screenshot("02-address-refused").await;
    // The choices stay as they were made.
    let kept = browser.client.find_all(Locator::Css("input[name=kind]:checked")).await.unwrap();
    assert_eq!(kept.len(), 2);
    browser.fill("#webhook-url", &receiver.url("/slack")).await;
    browser.click("form[action='/account/webhooks'] button[type=submit]").await;
    browser.client.wait().for_element(Locator::Css("#webhook-secret")).await.expect("the secret is shown");
    let secret = browser.text("#webhook-secret").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    browser.screenshot("03-secret-shown-once").await;

    let ticket = app.fresh_incident().await;
    change(&app, ticket.id, &[Change::Close], Some("Blocked at the firewall.")).await;
    // Calls may arrive in any order (a receiver orders them by their event's time, if it must).
    let calls = receiver.wait_for(2).await;
    let texts: Vec<String> = calls.iter().map(|c| c.json()["text"].as_str().unwrap().to_string()).collect();
    let closed = texts.iter().position(|t| t.contains("Armor Support closed")).expect("the closure's message");
    assert!(texts[closed].contains("Blocked at the firewall."), "{}", texts[closed]);
    assert_eq!(verifies(&secret, &calls[closed]), vec![true]);

    browser.goto(&app.url("/account/webhooks")).await;
    assert!(!browser.text("main").await.contains(&secret), "the list never shows the secret again");
    browser.click("table.webhooks tbody a").await;
    browser.client.wait().for_element(Locator::Css("#deliveries-heading")).await.unwrap();
    let started = Instant::now();
    while browser.client.find_all(Locator::Css("tr.delivery-delivered")).await.unwrap().len() < 2 {
        assert!(started.elapsed() < Duration::from_secs(20), "both calls show as delivered");
        tokio::time::sleep(Duration::from_millis(200)).await;
        browser.client.refresh().await.unwrap();
    }
    assert!(!browser.text("main").await.contains(&secret), "nor does the endpoint's page");
    browser.screenshot("04-delivery-log").await;

    browser.click("tr.delivery-delivered button[type=submit]").await;
    browser.client.wait().for_element(Locator::Css(".flash")).await.unwrap();
    assert!(browser.text(".flash").await.contains("is sent again"));
    receiver.wait_for(3).await;
    let started = Instant::now();
    while browser.client.find_all(Locator::Css("tr.delivery-delivered")).await.unwrap().len() < 3 {
        assert!(started.elapsed() < Duration::from_secs(20), "the copy shows as delivered");
        tokio::time::sleep(Duration::from_millis(200)).await;
        browser.client.refresh().await.unwrap();
    }
    browser.screenshot("05-sent-again").await;
}

mod in_the_browser {
    crate::on_both_backends!(configured by allow_loopback; an_administrator_adds_an_endpoint_and_reads_its_delivery_log_in_the_browser);
    use super::{allow_loopback, an_administrator_adds_an_endpoint_and_reads_its_delivery_log_in_the_browser};
}

/// With the default settings: public `https://` addresses only. No test here connects anywhere
/// but loopback, and none of these does at all.
mod outbound_rules {
    use super::*;

    async fn plain_http_and_private_loopback_or_metadata_addresses_are_refused(app: TestApp) {
        let avery = app.sign_in(AVERY).await;
        for (url, words) in [
            ("http://hooks.example.com/portal", "must start with https://"),
            ("https://127.0.0.1/hook", "127.0.0.1 is a loopback address"),
            ("https://localhost/hook", "127.0.0.1 is a loopback address"),
            ("https://[::1]:8443/hook", "::1 is a loopback address"),
            ("https://10.1.2.3/hook", "private network range"),
            ("https://192.168.0.10/hook", "private network range"),
            ("https://100.64.1.1/hook", "carrier-grade NAT"),
            ("https://169.254.169.254/latest/meta-data/", "metadata"),
            ("https://[fd00::5]/hook", "unique-local"),
            ("https://0.0.0.0/hook", "unspecified"),
            ("https://user:secret@hooks.example.com/", "user name or password"),
            ("hooks.example.com/portal", "Enter the full address"),
        ] {
            let token = app.csrf_token(&avery, "/account/webhooks").await;
            let (status, html) = post(&app, &avery, "/account/webhooks", &Endpoint::at(url).fields(&token)).await;
            assert_eq!(status, 422, "{url}");
            assert!(html.contains(words), "{url}: expected “{words}” in the page");
            assert!(secret_on(&html).is_none(), "{url}");
        }
        let token = app.csrf_token(&avery, "/account/webhooks").await;
        // Plain http:// is refused before any name is looked up: this test resolves no name.
        let no_events = Endpoint { kinds: &[], ..Endpoint::at("http://hooks.example.com/") };
        let (status, html) = post(&app, &avery, "/account/webhooks", &no_events.fields(&token)).await;
        assert_eq!(status, 422);
        assert!(html.contains("Choose at least one event"));
        assert_eq!(app.count("SELECT COUNT(*) FROM webhook_endpoints").await, 0, "nothing was stored");
    }

    /// An endpoint stored before the settings changed (or behind the page's back) is checked
    /// again at every call: no connection is made.
    async fn a_call_to_a_loopback_endpoint_is_refused_when_it_is_made(app: TestApp) {
        let receiver = Receiver::start().await;
        let account = app.principal(AVERY).await.account().unwrap().id;
        let settings = incident_portal::store::EndpointSettings {
            url: receiver.url("/sneaky"),
            subscription: incident_portal::domain::webhook::Subscription {
                kinds: [incident_portal::domain::notify::NoticeKind::Labelled].into_iter().collect(),
                min_severity: None,
            },
            format: incident_portal::domain::webhook::Format::Standard,
        };
        let secret = incident_portal::auth::webhook_secret::generate();
        let seal = |id| incident_portal::auth::webhook_secret::seal(&cipher(), id, &secret);
        app.store.create_webhook_endpoint(account, &settings, seal, app.clock.now()).await.unwrap().unwrap();
        app.fresh_incident().await;
        wait_for_error(&app, 1, "must start with https://").await;
        assert!(receiver.calls().is_empty(), "no call reached the receiver");

        // The same address over https: refused for being loopback, before any connection.
        let https = receiver.url("/sneaky").replace("http://", "https://");
        app.execute(&format!("UPDATE webhook_endpoints SET url = '{https}'")).await;
        app.clock.advance(chrono::Duration::minutes(2));
        wait_for_error(&app, 2, "127.0.0.1 is a loopback address").await;
        assert!(receiver.calls().is_empty(), "no call reached the receiver");
    }

    crate::on_both_backends!(
        plain_http_and_private_loopback_or_metadata_addresses_are_refused,
        a_call_to_a_loopback_endpoint_is_refused_when_it_is_made,
    );
}
