//! Outages: PostgreSQL going away and coming back while requests flow (through a TCP proxy the
//! test cuts), and a SQLite database locked by another connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::helpers::*;

/// Forwards connections to PostgreSQL; `cut` drops every open connection and refuses new ones
/// until `restore`, as a stopped and restarted server would.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (accepting, tracked) = (up.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accepting.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let upstream = upstream.clone();
                tracked.lock().await.push(tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Proxy { port, up, connections }
    }

    async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for connection in self.connections.lock().await.drain(..) {
            connection.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

async fn comment(app: &TestApp, client: &reqwest::Client, token: &str, path: &str, body: &str, key: &str) -> u16 {
    let form = [("csrf_token", token), ("body", body), ("submission_key", key)];
    match client.post(app.url(path)).form(&form).timeout(Duration::from_secs(10)).send().await {
        Ok(response) => response.status().as_u16(),
        Err(_) => 0,
    }
}

async fn stored(app: &TestApp, body: &str) -> i64 {
    app.count(&format!("SELECT COUNT(*) FROM comments WHERE body = '{body}'")).await
}

/// Rounds of cutting PostgreSQL off while comments are being posted.
const OUTAGE_ROUNDS: usize = 3;

#[tokio::test]
async fn postgres_going_away_answers_503_fast_recovers_and_keeps_each_acknowledged_comment_once() {
    let admin = postgres_admin_url();
    let host = admin.split('@').nth(1).and_then(|rest| rest.split('/').next()).unwrap_or("127.0.0.1:5432").to_string();
    let proxy = Proxy::start(host.clone()).await;
    let through_proxy = format!("127.0.0.1:{}", proxy.port);
    let Some(app) = spawn_app_via(Backend::Postgres, |url| url.replacen(&host, &through_proxy, 1)).await else {
        return;
    };
    let ticket = app.fresh_incident().await;
    let riley = app.sign_in(RILEY).await;
    let token = app.csrf_token(&riley, "/support/tickets").await;
    let path = format!("/support/tickets/{}/comments", ticket.number);

    let mut acknowledged = Vec::new();
    let mut unanswered = Vec::new();
    for round in 0..OUTAGE_ROUNDS {
        for i in 0..3 {
            let (body, key) = (format!("before outage {round}.{i}"), format!("key-{round}-a{i}"));
            assert_eq!(comment(&app, &riley, &token, &path, &body, &key).await, 303, "round {round}: all is well");
            acknowledged.push(body);
        }
        proxy.cut().await;
        let started = Instant::now();
        let page = riley.get(app.url("/security/incidents")).send().await.unwrap();
        assert_eq!(page.status().as_u16(), 503, "round {round}: a page during the outage");
        assert!(started.elapsed() < Duration::from_secs(5), "round {round}: the 503 took {:?}", started.elapsed());
        assert!(page.text().await.unwrap().contains("try again"), "round {round}: the 503 page says what to do");
        for i in 0..3 {
            let (body, key) = (format!("during outage {round}.{i}"), format!("key-{round}-b{i}"));
            match comment(&app, &riley, &token, &path, &body, &key).await {
                303 => acknowledged.push(body),
                status => {
                    assert!(status == 503 || status == 0, "round {round}: got {status} during the outage");
                    unanswered.push((body, key));
                }
            }
        }
        proxy.restore();
        // Recovery needs nobody: the pool reconnects on its own.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let status = riley.get(app.url("/security/incidents")).send().await.unwrap().status().as_u16();
            if status == 200 {
                break;
            }
            assert!(Instant::now() < deadline, "round {round}: still {status} 15 s after PostgreSQL came back");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // The user retries what got no answer, with the same form (same submission key).
        for (body, key) in unanswered.drain(..) {
            assert_eq!(comment(&app, &riley, &token, &path, &body, &key).await, 303, "round {round}: the retry");
            acknowledged.push(body);
        }
    }
    for body in &acknowledged {
        assert_eq!(stored(&app, body).await, 1, "{body:?} is stored exactly once");
    }
    assert_eq!(acknowledged.len(), OUTAGE_ROUNDS * 6);
    app.assert_counters_consistent().await;
}

#[tokio::test]
async fn a_locked_sqlite_database_refuses_writes_with_503_and_keeps_serving_reads() {
    use sqlx::Connection;
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite always works");
    let ticket = app.fresh_incident().await;
    let riley = app.sign_in(RILEY).await;
    let token = app.csrf_token(&riley, "/support/tickets").await;
    let path = format!("/support/tickets/{}/comments", ticket.number);

    // Another connection (SQLite's locks work alike between processes and connections) takes
    // the write lock and keeps it.
    let mut other = sqlx::SqliteConnection::connect(&app.database_url).await.unwrap();
    sqlx::raw_sql("BEGIN EXCLUSIVE").execute(&mut other).await.unwrap();

    let (status, html) = app.get_text(&riley, "/security/incidents").await;
    assert_eq!(status, 200, "reads keep working");
    assert!(html.contains(&ticket.number));
    let started = Instant::now();
    let response = riley
        .post(app.url(&path))
        .form(&[("csrf_token", token.as_str()), ("body", "written while locked"), ("submission_key", "locked-1")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503, "a write waits for the busy timeout, then says so");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(response.text().await.unwrap().contains("try again"), "with a message");

    sqlx::raw_sql("ROLLBACK").execute(&mut other).await.unwrap();
    let form = [("csrf_token", token.as_str()), ("body", "written while locked"), ("submission_key", "locked-1")];
    assert_eq!(app.post_form(&riley, &path, &form).await.status().as_u16(), 303, "the retry is stored");
    assert_eq!(stored(&app, "written while locked").await, 1);
}
