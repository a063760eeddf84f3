//! A webhook receiver for the tests: a small HTTP server on a loopback port that records every
//! call and answers with the statuses a test scripts (200 once the script runs out).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

/// One call as the receiver got it.
#[derive(Debug, Clone)]
pub struct WebhookCall {
    pub path: String,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl WebhookCall {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or_default()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Default)]
struct Recorded {
    calls: Mutex<Vec<WebhookCall>>,
    script: Mutex<VecDeque<u16>>,
}

pub struct Receiver {
    /// `http://127.0.0.1:<port>`; calls may go to any path under it.
    pub base: String,
    recorded: Arc<Recorded>,
}

async fn record(req: HttpRequest, body: web::Bytes, recorded: web::Data<Recorded>) -> HttpResponse {
    let headers = req
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().to_lowercase(), value.to_str().unwrap_or_default().to_string()))
        .collect();
    recorded.calls.lock().unwrap().push(WebhookCall { path: req.path().to_string(), headers, body: body.to_vec() });
    let status = recorded.script.lock().unwrap().pop_front().unwrap_or(200);
    let status = actix_web::http::StatusCode::from_u16(status).unwrap();
    if status.is_success() {
        HttpResponse::build(status).content_type("application/json").body("{\"received\": true}")
    } else {
        HttpResponse::build(status).body(format!("receiver exploded\r\n{}", "x".repeat(10_000)))
    }
}

impl Receiver {
    pub async fn start() -> Receiver {
        let recorded = Arc::new(Recorded::default());
        let data = web::Data::from(Arc::clone(&recorded));
        let server = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(record)))
            .workers(1)
            .bind("127.0.0.1:0")
            .expect("a loopback port");
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        Receiver { base: format!("http://127.0.0.1:{port}"), recorded }
    }

    /// The address of `path` on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The next calls are answered with these statuses, in order.
    pub fn answer_next(&self, statuses: &[u16]) {
        self.recorded.script.lock().unwrap().extend(statuses);
    }

    pub fn calls(&self) -> Vec<WebhookCall> {
        self.recorded.calls.lock().unwrap().clone()
    }

    /// The calls once there are at least `count` (waiting up to 20 seconds).
    pub async fn wait_for(&self, count: usize) -> Vec<WebhookCall> {
        let started = Instant::now();
        loop {
            let calls = self.calls();
            if calls.len() >= count {
                return calls;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "expected {count} calls, got {}", calls.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
