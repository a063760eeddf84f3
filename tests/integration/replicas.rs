//! Read replicas against a real streaming standby: pages read it, a user never reads a state
//! older than their own last change while another user still reads the replica, and a replica
//! that lags or is down is skipped (reads go to the primary) with `/readyz` saying so.

use std::time::{Duration, Instant};

use incident_portal::settings::Settings;
use incident_portal::store::ReplicaSettings;
use secrecy::{ExposeSecret, SecretString};

use crate::helpers::*;

/// The app on PostgreSQL with `standby` as its read replica, at most `max_lag` behind.
async fn app_reading(standby: &Standby, max_lag: Duration) -> Option<TestApp> {
    let adjust = |settings: &mut Settings| {
        let replica = standby.route(settings.database.url.expose_secret());
        settings.database.replicas = ReplicaSettings { urls: vec![SecretString::from(replica)], max_lag };
    };
    spawn_app_configured(Backend::Postgres, adjust).await
}

/// `/readyz` once its replica line says `state` (within 20 s).
async fn readyz_once(app: &TestApp, state: &str) -> String {
    let started = Instant::now();
    loop {
        let (status, body) = app.get_text(&client(), "/readyz").await;
        assert_eq!(status, 200, "the primary answers, so the instance is ready: {body}");
        if body.lines().nth(1).is_some_and(|line| line.contains(&format!(": {state}"))) {
            return body;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "/readyz never said {state}: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The replica serves the app once it has this test's database and the probe has seen it.
async fn replica_ready(app: &TestApp, standby: &Standby) {
    standby.catch_up().await;
    readyz_once(app, "ready").await;
    // The probe's view is at most a second old.
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

/// Resumes replay however the test ends, for the next replica test.
struct Resume(&'static Standby);

impl Drop for Resume {
    fn drop(&mut self) {
        let standby = self.0;
        on_own_runtime(async move { standby.resume_replay().await });
    }
}

const ORIGINAL: &str = "Test fixture: suspicious logins";
const CHANGED: &str = "Changed on the primary only";

#[tokio::test]
async fn pages_read_the_replica_but_never_a_state_older_than_the_users_own_last_change() {
    let Some((standby, _turn)) = Standby::take().await else { return };
    let Some(app) = app_reading(standby, Duration::from_secs(120)).await else { return };
    let ticket = app.fresh_incident().await;
    // Signing in is a change of one's own (a POST): both are signed in before the replica stops.
    let (tess, riley) = (app.sign_in(TESS).await, app.sign_in(RILEY).await);
    let key = app.api_key_for(TESS).await;
    replica_ready(&app, standby).await;

    standby.pause_replay().await;
    let _resume = Resume(standby);
    app.execute(&format!("UPDATE tickets SET summary = '{CHANGED}' WHERE id = {}", ticket.id)).await;
    let page = format!("/security/incidents/{}", ticket.number);
    for (who, client) in [("Tess", &tess), ("Riley", &riley)] {
        let (status, body) = app.get_text(client, &page).await;
        assert_eq!(status, 200);
        assert!(body.contains(ORIGINAL) && !body.contains(CHANGED), "{who} reads the replica, which lags");
    }

    // Tess comments: her own change. Every read of hers now goes to the primary.
    let token = app.csrf_token(&tess, &page).await;
    let comment = "Seen on our side too";
    let form = [("csrf_token", token.as_str()), ("body", comment), ("return_to", page.as_str())];
    let posted = app.post_form(&tess, &format!("/support/tickets/{}/comments", ticket.number), &form).await;
    assert_eq!(posted.status().as_u16(), 303);
    for path in [page.clone(), "/security/incidents".into(), format!("/support/tickets/{}", ticket.number)] {
        let (status, body) = app.get_text(&tess, &path).await;
        assert_eq!(status, 200);
        assert!(body.contains(CHANGED), "Tess reads the primary after her change: {path}");
    }
    let (_, body) = app.get_text(&tess, &page).await;
    assert!(body.contains(comment), "Tess sees her comment at once");
    let listed = app.api_get(&key, "/api/v1/security-incidents?pageSize=100").await.text().await.unwrap();
    assert!(listed.contains(CHANGED), "so does her API key");

    // Riley changed nothing: the replica still serves her, as it stood.
    let (_, body) = app.get_text(&riley, &page).await;
    assert!(body.contains(ORIGINAL) && !body.contains(comment), "Riley still reads the replica");

    standby.resume_replay().await;
    standby.catch_up().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, body) = app.get_text(&riley, &page).await;
    assert!(body.contains(CHANGED) && body.contains(comment), "once replayed, Riley sees both");
}

#[tokio::test]
async fn a_replica_that_lags_or_is_down_is_skipped_and_readyz_says_which() {
    let Some((standby, _turn)) = Standby::take().await else { return };
    let Some(app) = app_reading(standby, Duration::from_secs(1)).await else { return };
    let ticket = app.fresh_incident().await;
    let riley = app.sign_in(RILEY).await;
    replica_ready(&app, standby).await;
    let page = format!("/security/incidents/{}", ticket.number);

    standby.pause_replay().await;
    let resume = Resume(standby);
    app.execute(&format!("UPDATE tickets SET summary = '{CHANGED}' WHERE id = {}", ticket.id)).await;
    let body = readyz_once(&app, "lagging").await;
    assert!(body.starts_with("ready\nreplica 1 postgres://"), "{body}");
    let (status, body) = app.get_text(&riley, &page).await;
    assert_eq!(status, 200);
    assert!(body.contains(CHANGED), "a lagging replica is not read");
    drop(resume);
    readyz_once(&app, "ready").await;

    standby.stop();
    let body = readyz_once(&app, "down").await;
    assert!(body.contains("reads go to the primary"), "{body}");
    for path in [page.as_str(), "/security/incidents", "/security/dashboard"] {
        let (status, body) = app.get_text(&riley, path).await;
        assert_eq!(status, 200, "{path} with the replica down");
        assert!(!body.contains(ORIGINAL), "{path} comes from the primary");
    }
    standby.start();
    readyz_once(&app, "ready").await;
}
