//! What only a pooler shows: clients' transactions interleaved on two server connections, the
//! migrations run through it, and no server connection left holding anything of a client's.

use std::time::Duration;

use incident_portal::store::{PoolSettings, Pooler, Store};
use serde_json::json;
use sqlx::{ConnectOptions, Connection};

use crate::helpers::*;

/// The app through PgBouncer, or `None` when PostgreSQL or PgBouncer is missing (and not required).
async fn app() -> Option<TestApp> {
    spawn_app(Backend::Postgres).await
}

/// Named statements on the server connections PgBouncer holds for the app's database: each of
/// them is taken at once by a transaction of its own, and asked.
async fn named_statements_on_server_connections(app: &TestApp) -> Vec<i64> {
    let mut clients = Vec::new();
    for _ in 0..SERVER_CONNECTIONS {
        let options = app.database_url.parse::<sqlx::postgres::PgConnectOptions>().unwrap().extra_float_digits(None);
        let mut conn = options.connect().await.expect("connect through PgBouncer");
        // The simple protocol only: this client must not prepare anything itself.
        sqlx::raw_sql("BEGIN").execute(&mut conn).await.unwrap();
        clients.push(conn);
    }
    let mut counts = Vec::new();
    for conn in &mut clients {
        let row =
            sqlx::raw_sql("SELECT COUNT(*)::text FROM pg_prepared_statements").fetch_one(&mut *conn).await.unwrap();
        let count: String = sqlx::Row::try_get::<String, _>(&row, 0).unwrap_or_else(|_| "?".into());
        counts.push(count.parse().unwrap_or(-1));
        sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await.unwrap();
    }
    counts
}

#[tokio::test]
async fn requests_at_once_from_two_instances_share_two_server_connections_without_a_failure() {
    let Some(app) = app().await else { return };
    let second = app.another_instance().await;
    let ticket = app.fresh_incident().await;
    let key = app.api_key_for(TESS).await;
    let tess = app.sign_in(TESS).await;
    let token = app.csrf_token(&tess, "/security/incidents").await;
    let mut calls = tokio::task::JoinSet::new();
    for round in 0..12 {
        let (address, second, tess, token, number) =
            (app.address.clone(), second.clone(), tess.clone(), token.clone(), ticket.number.clone());
        calls.spawn(async move {
            let base = if round % 2 == 0 { address } else { second };
            let mut statuses = Vec::new();
            for path in ["/security/incidents", "/security/dashboard", &format!("/security/incidents/{number}")] {
                statuses.push(tess.get(format!("{base}{path}")).send().await.unwrap().status().as_u16());
            }
            let comment = format!("Round {round} through the pooler");
            let form = [("csrf_token", token.as_str()), ("body", comment.as_str())];
            let posted =
                tess.post(format!("{base}/support/tickets/{number}/comments")).form(&form).send().await.unwrap();
            statuses.push(posted.status().as_u16());
            statuses
        });
    }
    for round in 0..6 {
        let body = json!({ "comment": format!("API round {round}") }).to_string().into_bytes();
        let response = app
            .api_call(&key, Signing::Documented, "POST", &format!("/tickets/{}/comments", ticket.number), &body)
            .await;
        assert_eq!(response.status().as_u16(), 200, "a signed API comment through the pooler");
        assert_eq!(app.api_get(&key, "/api/v1/security-incidents").await.status().as_u16(), 200);
    }
    while let Some(statuses) = calls.join_next().await {
        let statuses = statuses.unwrap();
        assert!(statuses[..3].iter().all(|s| *s == 200) && statuses[3] == 303, "every request succeeds: {statuses:?}");
    }
    let comments = app.count(&format!("SELECT COUNT(*) FROM comments WHERE ticket_id = {}", ticket.id)).await;
    assert_eq!(comments, 18, "each comment stored once");
    assert!(
        named_statements_on_server_connections(&app).await.iter().all(|n| *n == 0),
        "no server connection keeps a named statement"
    );
}

#[tokio::test]
async fn migrations_run_through_the_pooler_from_two_instances_at_once_on_an_empty_database() {
    if !postgres_reachable() {
        return;
    }
    let Some(bouncer) = PgBouncer::start().await else { return };
    let admin_url = postgres_admin_url();
    let name = format!("ip_pooler_migrate_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
    sqlx::raw_sql(sqlx::AssertSqlSafe(drop.clone())).execute(&mut admin).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).execute(&mut admin).await.unwrap();
    let direct = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    let pooled = bouncer.route(&direct);
    let settings = PoolSettings { pooler: Pooler::Transaction, ..PoolSettings::default() };
    let (first, second) = (Store::connect(&pooled, &settings).unwrap(), Store::connect(&pooled, &settings).unwrap());
    let (a, b) = tokio::join!(first.migrate(), second.migrate());
    a.expect("the first instance migrates");
    b.expect("the second instance waits, then finds nothing to do");
    // And again, as every start does.
    first.migrate().await.expect("a start on a migrated database");
    let mut conn = sqlx::PgConnection::connect(&direct).await.unwrap();
    let applied: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success").fetch_one(&mut conn).await.unwrap();
    let files = std::fs::read_dir("migrations/postgres").unwrap().count() as i64;
    assert_eq!(applied, files, "every migration applied once");
    // This database's only: other tests' sign-in throttling takes advisory locks meanwhile.
    let advisory = "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' \
                    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
    let held: i64 = sqlx::query_scalar(advisory).fetch_one(&mut conn).await.unwrap();
    assert_eq!(held, 0, "no advisory lock outlives the migration");
    conn.close().await.unwrap();
    first.close().await;
    second.close().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(drop)).execute(&mut admin).await.unwrap();
    assert!(!bouncer.log().contains("unsupported startup parameter"), "{}", bouncer.log());
}
