//! `/metrics`: the Prometheus text format for a scraper on this host, with requests counted by
//! route pattern (never by raw path); refused like an unknown address to a request that may have
//! come through a proxy, unless it holds METRICS_TOKEN; and with proxy headers trusted, the token
//! is needed even from loopback.

use incident_portal::settings::Settings;
use secrecy::SecretString;

use crate::helpers::*;
use crate::on_both_backends;

const TOKEN: &str = "metrics-token-4f1c9a0b7e2d";

/// What a proxy in front of the portal adds, one way or another.
const FORWARDED: [(&str, &str); 4] = [
    ("x-forwarded-for", "203.0.113.9"),
    ("forwarded", "for=203.0.113.9;proto=https"),
    ("x-real-ip", "203.0.113.9"),
    ("via", "1.1 proxy.example"),
];

async fn scrape(app: &TestApp, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut request = client().get(app.url("/metrics"));
    for &(name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("the request completes");
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    (response.status().as_u16(), content_type, response.text().await.unwrap())
}

/// The value of the sample named exactly `series` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Every line is a comment or `name{labels} value`, and every sample belongs to a family whose
/// type was declared before it, as the text format 0.0.4 wants.
fn assert_well_formed(text: &str) {
    let mut families: Vec<&str> = Vec::new();
    for line in text.lines() {
        if let Some(declared) = line.strip_prefix("# TYPE ") {
            let (name, kind) = declared.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            families.push(name);
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line:?}"));
        assert!(value.parse::<f64>().is_ok(), "not a number in {line:?}");
        let name = series.split('{').next().unwrap();
        assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'), "{line:?}");
        let family = families.last().unwrap_or_else(|| panic!("{line:?} before any # TYPE"));
        let suffixes = ["", "_bucket", "_sum", "_count"];
        assert!(suffixes.iter().any(|s| name == format!("{family}{s}")), "{line:?} is not of {family}");
        if series.contains('{') {
            assert!(series.ends_with('}'), "{line:?}");
        }
    }
    assert!(families.len() >= 7, "too few metric families:\n{text}");
}

async fn a_loopback_scrape_counts_requests_by_route_pattern(app: TestApp) {
    let anonymous = client();
    let ticket = app.fresh_incident().await;
    let incident = format!("/security/incidents/{}", ticket.number);
    assert_eq!(app.get(&anonymous, &incident).await.status().as_u16(), 303);
    assert_eq!(app.get(&anonymous, &incident).await.status().as_u16(), 303);
    assert_eq!(app.get(&anonymous, "/healthz").await.status().as_u16(), 200);
    assert_eq!(app.get(&anonymous, "/no/such/page-7731").await.status().as_u16(), 404);
    let brew = reqwest::Method::from_bytes(b"BREW").unwrap();
    let odd = anonymous.request(brew, app.url("/healthz")).send().await.unwrap();
    assert_eq!(odd.status().as_u16(), 405);
    // Refused before routing, yet counted under the route it was for.
    let token = app.csrf_token(&anonymous, "/login").await;
    let forged = anonymous
        .post(app.url("/login"))
        .header("origin", "https://evil.example")
        .form(&[("csrf_token", token.as_str()), ("email", TESS), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);

    let (status, content_type, text) = scrape(&app, &[]).await;
    assert_eq!(status, 200, "{text}");
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    assert_well_formed(&text);

    let requests = "incident_portal_http_requests_total";
    let by_pattern = format!("{requests}{{route=\"/security/incidents/{{number}}\",method=\"GET\",status=\"303\"}}");
    assert_eq!(sample(&text, &by_pattern), Some(2.0), "{text}");
    let health = format!("{requests}{{route=\"/healthz\",method=\"GET\",status=\"200\"}}");
    assert!(sample(&text, &health).is_some_and(|n| n >= 1.0), "{text}");
    let unknown = format!("{requests}{{route=\"unmatched\",method=\"GET\",status=\"404\"}}");
    assert_eq!(sample(&text, &unknown), Some(1.0), "{text}");
    let other = format!("{requests}{{route=\"/healthz\",method=\"other\",status=\"405\"}}");
    assert_eq!(sample(&text, &other), Some(1.0), "{text}");
    let cross_origin = format!("{requests}{{route=\"/login\",method=\"POST\",status=\"403\"}}");
    assert_eq!(sample(&text, &cross_origin), Some(1.0), "{text}");
    for raw in [ticket.number.as_str(), "/no/such/page-7731", "BREW"] {
        assert!(!text.contains(raw), "{raw} became a label:\n{text}");
    }

    let timed = "incident_portal_http_request_duration_seconds";
    let incident_count = format!("{timed}_count{{route=\"/security/incidents/{{number}}\",method=\"GET\"}}");
    assert_eq!(sample(&text, &incident_count), Some(2.0), "{text}");
    let incident_all = format!("{timed}_bucket{{route=\"/security/incidents/{{number}}\",method=\"GET\",le=\"+Inf\"}}");
    assert_eq!(sample(&text, &incident_all), Some(2.0), "{text}");
    assert!(sample(&text, &format!("{timed}_sum{{route=\"/healthz\",method=\"GET\"}}")).is_some(), "{text}");

    assert_eq!(sample(&text, "incident_portal_db_pool_max_connections"), Some(5.0), "{text}");
    // The notification outbox, read from the database at each scrape.
    assert!(sample(&text, "incident_portal_outbox_waiting").is_some(), "{text}");
    assert!(sample(&text, "incident_portal_outbox_oldest_due_age_seconds").is_some(), "{text}");
    assert_eq!(sample(&text, "incident_portal_mails_sent_total"), Some(0.0), "mail is off in tests: {text}");
    let in_use = sample(&text, "incident_portal_db_pool_connections_in_use").expect("connections in use");
    let idle = sample(&text, "incident_portal_db_pool_connections_idle").expect("idle connections");
    assert!(in_use + idle <= 5.0, "{in_use} + {idle}");
    let started = sample(&text, "process_start_time_seconds").expect("the start time");
    assert!(started > 1.7e9 && started <= chrono::Utc::now().timestamp() as f64, "{started}");
    assert!(text.contains("incident_portal_build_info{version=\""), "{text}");

    // The scrape itself is counted too, from the next one on.
    let (_, _, again) = scrape(&app, &[]).await;
    let scrapes = format!("{requests}{{route=\"/metrics\",method=\"GET\",status=\"200\"}}");
    assert_eq!(sample(&again, &scrapes), Some(1.0), "{again}");
}

/// Without TRUST_PROXY_HEADERS, a proxy on this host still makes every client a loopback peer:
/// a request with a forwarding header gets what an unknown address gets, signed in or not.
async fn a_forwarded_request_without_the_token_is_answered_like_an_unknown_address(app: TestApp) {
    let (_, missing) = app.get_text(&client(), "/metricz").await;
    for header in FORWARDED {
        let (status, _, body) = scrape(&app, &[header]).await;
        assert_eq!(status, 404, "{header:?}");
        assert_eq!(body.replace("/metrics", "/metricz"), missing, "{header:?}");
    }
    // No token is right while none is set, even from loopback.
    let (status, _, _) = scrape(&app, &[("authorization", &format!("Bearer {TOKEN}"))]).await;
    assert_eq!(status, 404);

    let tess = app.sign_in(TESS).await;
    let (_, missing) = app.get_text(&tess, "/metricz").await;
    let refused = tess.get(app.url("/metrics")).header("x-forwarded-for", "203.0.113.9").send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 404);
    // Each page masks its form token anew (the signed-in header's sign-out form).
    let refused = without_tokens(&refused.text().await.unwrap());
    assert_eq!(refused.replace("/metrics", "/metricz"), without_tokens(&missing));
    assert_eq!(app.get(&tess, "/metrics").await.status().as_u16(), 200, "a signed-in reader on loopback");
}

on_both_backends!(
    a_loopback_scrape_counts_requests_by_route_pattern,
    a_forwarded_request_without_the_token_is_answered_like_an_unknown_address,
);

mod with_a_token {
    use super::*;

    fn adjust(settings: &mut Settings) {
        settings.metrics_token = Some(SecretString::from(TOKEN));
    }

    async fn the_token_opens_metrics_to_a_forwarded_request_and_a_wrong_one_is_refused(app: TestApp) {
        let right = format!("Bearer {TOKEN}");
        let lower = format!("bearer {TOKEN}");
        let wrong = format!("Bearer {TOKEN}x");
        for header in FORWARDED {
            assert_eq!(scrape(&app, &[header]).await.0, 404, "{header:?} without the token");
            assert_eq!(scrape(&app, &[header, ("authorization", &right)]).await.0, 200, "{header:?}");
            assert_eq!(scrape(&app, &[header, ("authorization", &lower)]).await.0, 200, "{header:?}");
            assert_eq!(scrape(&app, &[header, ("authorization", &wrong)]).await.0, 404, "{header:?}");
        }
        assert_eq!(scrape(&app, &[]).await.0, 200, "loopback needs no token");
        assert_eq!(scrape(&app, &[("authorization", &wrong)]).await.0, 404, "but a wrong one is refused");
        assert_eq!(scrape(&app, &[("authorization", "Bearer")]).await.0, 404, "and an empty one");
        // An API key's signature is no bearer token: loopback still needs none.
        let armor = [("authorization", "ARMOR-PSK ak_x:c2ln:nonce:1700000000")];
        assert_eq!(scrape(&app, &armor).await.0, 200);
    }

    on_both_backends!(configured by adjust; the_token_opens_metrics_to_a_forwarded_request_and_a_wrong_one_is_refused);
}

mod behind_a_trusted_proxy {
    use super::*;

    fn adjust(settings: &mut Settings) {
        settings.metrics_token = Some(SecretString::from(TOKEN));
        settings.trust_proxy_headers = true;
    }

    /// The proxy may not add a forwarding header to every request, so none is needed to count as
    /// proxied: every request is.
    async fn with_proxy_headers_trusted_loopback_needs_the_token_too(app: TestApp) {
        let right = format!("Bearer {TOKEN}");
        assert_eq!(scrape(&app, &[]).await.0, 404);
        assert_eq!(scrape(&app, &[("x-forwarded-for", "127.0.0.1")]).await.0, 404);
        assert_eq!(scrape(&app, &[("authorization", &format!("Bearer {TOKEN}0"))]).await.0, 404);
        let (status, content_type, text) = scrape(&app, &[("authorization", &right)]).await;
        assert_eq!(status, 200);
        assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
        assert!(text.contains("# TYPE incident_portal_http_requests_total counter"), "{text}");
        let refused = "incident_portal_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"404\"}";
        assert_eq!(sample(&text, refused), Some(3.0), "{text}");
        let forwarded = [("x-forwarded-for", "203.0.113.9"), ("authorization", right.as_str())];
        assert_eq!(scrape(&app, &forwarded).await.0, 200);
    }

    on_both_backends!(configured by adjust; with_proxy_headers_trusted_loopback_needs_the_token_too);
}
