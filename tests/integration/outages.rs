//! Outages: PostgreSQL going away and coming back while requests flow (through a TCP proxy the
//! test cuts), and a SQLite database locked by another connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::helpers::*;
use crate::{on_both_backends, on_test_pool};

/// Forwards connections to PostgreSQL; `cut` drops every open connection and refuses new ones
/// until `restore`, as a stopped and restarted server would. `stop` and `silence` close the port
/// or leave it bound but unanswered, as a stopped server's host or a broken network would.
struct Proxy {
    port: u16,
    upstream: String,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    door: Mutex<Door>,
}

/// The proxy's port.
enum Door {
    Accepting(JoinHandle<()>),
    /// Bound and never accepted: the kernel completes handshakes, nothing ever answers.
    Silent(#[allow(dead_code)] TcpListener),
    Closed,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = Proxy {
            port,
            upstream,
            up: Arc::new(AtomicBool::new(true)),
            connections: Arc::default(),
            door: Mutex::new(Door::Closed),
        };
        *proxy.door.lock().await = Door::Accepting(proxy.accept(listener));
        proxy
    }

    fn accept(&self, listener: TcpListener) -> JoinHandle<()> {
        let (accepting, tracked, upstream) = (self.up.clone(), self.connections.clone(), self.upstream.clone());
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
        })
    }

    async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for connection in self.connections.lock().await.drain(..) {
            connection.abort();
        }
    }

    /// Closes the port: new connections are refused.
    async fn stop(&self) {
        self.cut().await;
        let mut door = self.door.lock().await;
        if let Door::Accepting(accepting) = std::mem::replace(&mut *door, Door::Closed) {
            accepting.abort();
            let _ = accepting.await; // the listener is dropped once the task is
        }
    }

    /// Leaves the port bound but unanswered: new connections wait for an answer that never comes.
    async fn silence(&self) {
        self.stop().await;
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        *self.door.lock().await = Door::Silent(listener);
    }

    async fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
        let mut door = self.door.lock().await;
        if !matches!(*door, Door::Accepting(_)) {
            *door = Door::Closed; // frees the port of a silent listener
            let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
            *door = Door::Accepting(self.accept(listener));
        }
    }
}

/// The portal on a fresh PostgreSQL database reached through a [`Proxy`]; `None` when
/// PostgreSQL is not available (and not required).
async fn spawn_app_behind_proxy() -> Option<(TestApp, Proxy)> {
    let admin = postgres_admin_url();
    let host = admin.split('@').nth(1).and_then(|rest| rest.split('/').next()).unwrap_or("127.0.0.1:5432").to_string();
    let proxy = Proxy::start(host.clone()).await;
    let through_proxy = format!("127.0.0.1:{}", proxy.port);
    let app = spawn_app_via(Backend::Postgres, |url| url.replacen(&host, &through_proxy, 1)).await?;
    Some((app, proxy))
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
    let Some((app, proxy)) = spawn_app_behind_proxy().await else { return };
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
        proxy.restore().await;
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

async fn readyz(app: &TestApp) -> (u16, String, Duration) {
    let started = Instant::now();
    let response = client().get(app.url("/readyz")).timeout(Duration::from_secs(10)).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap(), started.elapsed())
}

#[tokio::test]
async fn readyz_says_503_within_a_second_while_postgres_is_stopped_or_silent_and_200_once_it_is_back() {
    let Some((app, proxy)) = spawn_app_behind_proxy().await else { return };
    assert_eq!(readyz(&app).await.0, 200);
    for outage in ["stopped", "silent"] {
        match outage {
            "stopped" => proxy.stop().await,
            _ => proxy.silence().await,
        }
        // More probes than the pool has connections: the idle ones fail at once, the rest wait
        // for a new connection, which the pool would wait for up to its 3 s acquire timeout.
        let probes = futures_util::future::join_all((0..6).map(|_| readyz(&app))).await;
        for (status, body, elapsed) in probes {
            assert_eq!(status, 503, "{outage}: not ready");
            assert!(body.contains("try again"), "{outage}: the 503 says what to do");
            assert!(elapsed < Duration::from_millis(1500), "{outage}: the 503 took {elapsed:?}");
        }
        proxy.restore().await;
        let deadline = Instant::now() + Duration::from_secs(15);
        while readyz(&app).await.0 != 200 {
            assert!(Instant::now() < deadline, "{outage}: still not ready 15 s after PostgreSQL came back");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// `/readyz` while the test holds every connection of the app's pool.
async fn readyz_with_every_connection_taken(app: &TestApp) -> (u16, String, Duration) {
    use futures_util::future::try_join_all;
    on_test_pool!(&app.store, pool => {
        let _taken = try_join_all((0..pool.options().get_max_connections()).map(|_| pool.acquire())).await.unwrap();
        readyz(app).await
    })
}

async fn readyz_says_503_within_a_second_while_every_connection_is_taken(app: TestApp) {
    let (status, body, elapsed) = readyz_with_every_connection_taken(&app).await;
    assert_eq!(status, 503, "not ready: {body}");
    assert!(body.contains("try again"), "the 503 says what to do");
    // The probe gives up after 1 s; a page would wait for the pool's 3 s. The margin is for a
    // loaded test machine, where this client's own turn can come a second or more late.
    assert!(elapsed < Duration::from_millis(2900), "the 503 took {elapsed:?}; a page would wait 3 s");
    assert_eq!(readyz(&app).await.0, 200, "ready again once a connection is free");
}

on_both_backends!(readyz_says_503_within_a_second_while_every_connection_is_taken);

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
