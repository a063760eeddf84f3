//! Fuzzing every form and query parameter of every route with proptest-generated values: huge,
//! empty, control characters, invalid UTF-8, SQL and HTML payloads, repeated and unknown fields.
//! The API's calls are signed with a key (so that they reach the parameters, not just the
//! signature check), their bodies are JSON with the same mutations, and the same query reaches
//! both families of paths. Every answer is 2xx, 3xx or 4xx, never 5xx; payloads come back escaped;
//! what reaches a header (`Location`, `Content-Disposition`) is well-formed and stays on this
//! site; the server stays up.

use actix_web::http::Method;
use futures_util::StreamExt;
use incident_portal::http::routes::{self, Gate, Route};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::helpers::*;
use crate::on_both_backends;
use crate::route_matrix::{Caller, caller, form_for, json_for, path_for, setup};

/// Signed calls are limited per key; the fuzzing makes thousands with one.
fn adjust(settings: &mut incident_portal::settings::Settings) {
    settings.api_rate_limit_per_minute = 1_000_000;
}

/// Generated requests per backend; `FUZZ_CASES` raises it for a longer run.
fn cases() -> usize {
    std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

const SCRIPT: &str = "<script>alert('fuzz')</script>";
const IMAGE: &str = "\"><img src=x onerror=alert(1)>";

/// Every query parameter any GET route reads (the tables, the audit log, sign-in, set-password,
/// the desk's new-ticket form, the API of both families), and one that none does.
const QUERY_FIELDS: [&str; 36] = [
    "severity",
    "status",
    "q",
    "account",
    "sort",
    "dir",
    "page",
    "size",
    "labelled",
    "closure",
    "after",
    "before",
    "last",
    "actor",
    "action",
    "from",
    "until",
    "next",
    "signed_out",
    "expired",
    "password_set",
    "token",
    "pageSize",
    "search",
    "requestType",
    "maxResults",
    "orderBy",
    "orderByDirection",
    "nextPageToken",
    "start",
    "limit",
    "sortField",
    "sortOrder",
    "csrf_token",
    "unexpected",
    "zzz",
];

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        "\\PC{0,40}".prop_map(String::into_bytes),
        "[\\x00-\\x1f\\x7f]{1,16}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..64),
        (1usize..100_000).prop_map(|n| vec![b'A'; n]),
        prop::sample::select(vec![
            "' OR '1'='1",
            "'; DROP TABLE tickets; --",
            "1 UNION SELECT password_hash FROM users",
            SCRIPT,
            IMAGE,
            "../../../../etc/passwd",
            "ATS-0",
            "ATS-99999999999999999999",
            "-1",
            "0",
            "9223372036854775808",
            "Critical",
            "requires_attention",
            "on",
            "%00",
            "{{7*7}}${7*7}",
            "\u{202e}gnp.exe",
            "\u{0}",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        any::<i64>().prop_map(|n| n.to_string().into_bytes()),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    /// One field gets the payload.
    Replace(usize),
    /// The payload under a field the route does not know.
    Unknown,
    /// A field sent twice, the second time with the payload.
    Repeat(usize),
    /// The whole body (or query) is the payload.
    Raw,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (0usize..16).prop_map(Mutation::Replace),
        1 => Just(Mutation::Unknown),
        1 => (0usize..16).prop_map(Mutation::Repeat),
        1 => Just(Mutation::Raw),
    ]
}

/// What the server reads from an encoded query or body, for messages.
fn decode(encoded: &[u8]) -> String {
    let text = String::from_utf8_lossy(encoded);
    let mut bytes = Vec::new();
    let mut rest = text.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        match (first, tail.get(..2).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())) {
            (b'%', Some(byte)) => {
                bytes.push(byte);
                rest = &tail[2..];
            }
            _ => {
                bytes.push(first);
                rest = tail;
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

/// `key=value&…`, every byte percent-encoded so that any byte sequence can be sent.
fn build(fields: &[(String, Vec<u8>)]) -> String {
    fields.iter().map(|(k, v)| format!("{}={}", encode(k.as_bytes()), encode(v))).collect::<Vec<_>>().join("&")
}

/// The request's query (GET) or body (POST) after the mutation.
fn apply(
    mut fields: Vec<(String, Vec<u8>)>,
    names: &[String],
    mutation: &Mutation,
    mut payload: Vec<u8>,
    get: bool,
) -> Vec<u8> {
    if get {
        // An address has a length limit of its own (the client's); bodies test the huge values.
        payload.truncate(8 * 1024);
    }
    match mutation {
        Mutation::Raw if get => return encode(&payload).into_bytes(),
        Mutation::Raw => return payload,
        Mutation::Unknown => fields.push(("unexpected_field".into(), payload)),
        Mutation::Replace(i) | Mutation::Repeat(i) if !names.is_empty() => {
            let name = &names[i % names.len()];
            if matches!(mutation, Mutation::Replace(_)) {
                fields.retain(|(k, _)| k != name);
            }
            fields.push((name.clone(), payload));
        }
        _ => fields.push(("unexpected_field".into(), payload)),
    }
    build(&fields).into_bytes()
}

/// A JSON body after the mutation: a field's value replaced by the payload (as text when it is
/// UTF-8, else as the raw bytes, which is no longer JSON), an unknown field, a repeated key, or the
/// whole body replaced.
fn apply_json(base: &serde_json::Value, mutation: &Mutation, payload: Vec<u8>) -> Vec<u8> {
    let object = base.as_object().cloned().unwrap_or_default();
    let names: Vec<String> = object.keys().cloned().collect();
    let value = match String::from_utf8(payload.clone()) {
        Ok(text) => serde_json::to_string(&text).unwrap().into_bytes(),
        Err(_) => payload.clone(),
    };
    let mut fields: Vec<(String, Vec<u8>)> =
        object.iter().map(|(k, v)| (k.clone(), serde_json::to_vec(v).unwrap())).collect();
    match mutation {
        Mutation::Raw => return payload,
        Mutation::Unknown => fields.push(("unexpected_field".into(), value)),
        Mutation::Replace(i) | Mutation::Repeat(i) if !names.is_empty() => {
            let name = &names[i % names.len()];
            if matches!(mutation, Mutation::Replace(_)) {
                fields.retain(|(k, _)| k != name);
            }
            fields.push((name.clone(), value));
        }
        _ => fields.push(("unexpected_field".into(), value)),
    }
    let mut body = b"{".to_vec();
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend(serde_json::to_vec(key).unwrap());
        body.push(b':');
        body.extend(value);
    }
    body.push(b'}');
    body
}

/// The routes fuzzed: all but the two that end the session the fuzzing runs in.
fn targets() -> Vec<Route> {
    routes::table()
        .into_iter()
        .filter(|r| r.path != "/logout" && r.path != "/account/profile/sign-out-everywhere")
        .collect()
}

async fn no_generated_input_gets_a_5xx_or_comes_back_unescaped(app: TestApp) {
    let (_, world) = setup(&app).await;
    let avery = caller(&app, Some(AVERY.into()), None).await;
    let morgan = caller(&app, Some(MORGAN.into()), None).await;
    let anonymous = caller(&app, None, None).await;
    let signed = caller(&app, None, Some(app.api_key_for(TESS).await)).await;
    let targets = targets();

    // What each route is sent before the mutation: who calls it, the path, a valid form.
    let mut bases = Vec::new();
    for route in &targets {
        let api = incident_portal::paths::api_family(route.path).is_some() && !route.path.starts_with("/auth/");
        let who: &Caller = if route.path.starts_with("/desk/") {
            &morgan
        } else if api {
            &signed
        } else if route.gate == Gate::Public {
            &anonymous
        } else {
            &avery
        };
        let (fields, names): (Vec<(String, Vec<u8>)>, Vec<String>) = if route.method == Method::POST {
            let form = form_for(&app, "POST", route.path, &world, 3).await;
            let mut fields = vec![("csrf_token".to_string(), who.token.clone().into_bytes())];
            fields.extend(form.iter().map(|(k, v)| (k.clone(), v.clone().into_bytes())));
            (fields, form.into_iter().map(|(k, _)| k).collect())
        } else {
            (Vec::new(), QUERY_FIELDS.iter().map(|f| f.to_string()).collect())
        };
        bases.push((route.clone(), who, path_for(route.path, &world), fields, names));
    }

    let strategy = (0..targets.len(), mutation(), payload(), any::<bool>());
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]));
    let total = cases();
    // Generated one at a time as the stream asks, so the huge ones do not pile up in memory.
    let requests = std::iter::repeat_with(move || {
        let (index, mutation, payload, signed_in) = strategy.new_tree(&mut runner).unwrap().current();
        let marker = [SCRIPT, IMAGE].into_iter().find(|m| payload.windows(m.len()).any(|w| w == m.as_bytes()));
        (index, mutation, payload, marker, signed_in)
    })
    .take(total)
    .map(|(index, mutation, payload, marker, signed_in)| {
        let (route, who, path, fields, names) = &bases[index];
        let get = route.method == Method::GET;
        let encoded = match json_for(route.path, 3).filter(|_| !get) {
            Some(json) => apply_json(&json, &mutation, payload),
            None => apply(fields.clone(), names, &mutation, payload, get),
        };
        // Public pages answer a signed-in user differently (sign-in sends them on to `next`); the
        // API's reads take a session too.
        let who = if get && route.gate != Gate::SignedIn && signed_in { &avery } else { *who };
        (route.clone(), who, path.clone(), encoded, marker)
    });

    let sent = total;
    // Signed API calls that got past their signature: the fuzzing reached the parameters.
    let authenticated = std::sync::atomic::AtomicUsize::new(0);
    let failures: Vec<String> = futures_util::stream::iter(requests)
        .map(|(route, who, path, encoded, marker)| {
            let app = &app;
            let authenticated = &authenticated;
            async move {
                let api = incident_portal::paths::api_family(&path).is_some();
                let response = if route.method == Method::POST {
                    let content_type = if api { "application/json" } else { "application/x-www-form-urlencoded" };
                    let mut request =
                        who.client.post(app.url(&path)).header("content-type", content_type).body(encoded.clone());
                    if let Some(key) = &who.key {
                        request = request.header("authorization", app.authorization(key, "POST", &path, &encoded).0);
                    }
                    request.send().await
                } else {
                    let query = String::from_utf8_lossy(&encoded);
                    let target = format!("{path}?{query}");
                    let mut request = who.client.get(app.url(&target));
                    if let Some(key) = &who.key {
                        request = request.header("authorization", app.authorization(key, "GET", &target, b"").0);
                    }
                    request.send().await
                };
                let response = match response {
                    Ok(response) => response,
                    Err(error) => {
                        let error: String = error.to_string().chars().take(200).collect();
                        return Some(format!("{} {path}: no answer: {error}", route.method));
                    }
                };
                let status = response.status().as_u16();
                if let Some(problem) = header_problem(&response) {
                    let excerpt: String = format!("{:?}", decode(&encoded)).chars().take(300).collect();
                    return Some(format!("{} {path}: {problem}, for {excerpt}", route.method));
                }
                let html = response
                    .headers()
                    .get("content-type")
                    .is_some_and(|v| v.to_str().unwrap_or_default().starts_with("text/html"));
                let body = response.text().await.unwrap_or_default();
                if who.key.is_some() && status != 401 {
                    authenticated.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                if status >= 500 {
                    let excerpt: String = format!("{:?}", decode(&encoded)).chars().take(300).collect();
                    return Some(format!("{} {path} answered {status} to {excerpt}", route.method));
                }
                if let Some(marker) = marker.filter(|_| html)
                    && body.contains(marker)
                {
                    return Some(format!("{} {path} echoed {marker:?} unescaped", route.method));
                }
                None
            }
        })
        .buffer_unordered(4)
        .filter_map(|failure| async move { failure })
        .collect()
        .await;
    assert!(failures.is_empty(), "{} of {sent} generated requests failed:\n{}", failures.len(), failures.join("\n"));
    let authenticated = authenticated.into_inner();
    assert!(authenticated * 20 > sent, "only {authenticated} signed API calls were accepted");
    assert!(sent >= 10_000 || std::env::var("FUZZ_CASES").is_ok());
    assert_eq!(app.get(&client(), "/healthz").await.status().as_u16(), 200, "the server is healthy afterwards");
    assert_eq!(app.get(&client(), "/readyz").await.status().as_u16(), 200, "and its database too");
}

/// What is wrong with the headers built from input: a `Location` that is not this site's own,
/// re-encoded path, or a `Content-Disposition` that is not a plain attachment name.
fn header_problem(response: &reqwest::Response) -> Option<String> {
    if let Some(location) = response.headers().get("location") {
        let location = String::from_utf8_lossy(location.as_bytes());
        let own = incident_portal::paths::LocalPath::parse(&location);
        if own.as_ref().map(|p| p.as_str()) != Some(location.as_ref()) {
            return Some(format!("redirected to {location:?}, not a path of this site"));
        }
    }
    if let Some(disposition) = response.headers().get("content-disposition") {
        let disposition = String::from_utf8_lossy(disposition.as_bytes());
        if !well_formed_disposition(&disposition) {
            return Some(format!("Content-Disposition {disposition:?}"));
        }
    }
    None
}

/// `attachment; filename="<letters, digits, - _ .>"`, optionally followed by the exact name in
/// RFC 5987's form (`; filename*=UTF-8''<attr-chars and %XX>`); or a preview's fixed inline name.
pub fn well_formed_disposition(disposition: &str) -> bool {
    if disposition == "inline; filename=\"preview.png\"" {
        return true;
    }
    let Some((name, rest)) = disposition.strip_prefix("attachment; filename=\"").and_then(|r| r.split_once('"')) else {
        return false;
    };
    let plain = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    let exact = rest.is_empty()
        || rest.strip_prefix("; filename*=UTF-8''").is_some_and(|encoded| {
            !encoded.is_empty() && encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~%".contains(&b))
        });
    plain && exact
}

on_both_backends!(configured by adjust; no_generated_input_gets_a_5xx_or_comes_back_unescaped);
