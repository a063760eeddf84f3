//! A fresh database for each test: a copy of one migrated, seeded template per backend, made once
//! per test process (SQLite, or PostgreSQL when it is reachable) and removed when it exits.

use std::sync::LazyLock;
use std::time::Duration;

use incident_portal::demo;
use incident_portal::store::{PoolSettings, Store};
use sqlx::Connection;

use super::app::cipher;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// `INCIDENT_PORTAL_TEST_REQUIRE=postgres,browser` (set by `.ci/run`) turns a missing PostgreSQL or
/// browser into a failure instead of a skip.
pub fn required(what: &str) -> bool {
    std::env::var("INCIDENT_PORTAL_TEST_REQUIRE").is_ok_and(|v| v.split(',').any(|r| r.trim() == what))
}

pub fn postgres_admin_url() -> String {
    std::env::var("INCIDENT_PORTAL_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// Whether tests that need PostgreSQL can run; says why one is skipped, and fails it when
/// PostgreSQL is required.
pub fn postgres_reachable() -> bool {
    if !*POSTGRES_AVAILABLE {
        assert!(!required("postgres"), "PostgreSQL is required but not reachable at {}", postgres_admin_url());
        eprintln!("skipped: PostgreSQL is not reachable at {}", postgres_admin_url());
    }
    *POSTGRES_AVAILABLE
}

/// A database that exists for one test and is removed afterwards.
pub enum TestDatabase {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { admin_url, name } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs outside any runtime we may block; use a thread with its own.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                runtime.block_on(async move {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
                    }
                });
            })
            .join();
        }
    }
}

static POSTGRES_AVAILABLE: LazyLock<bool> = LazyLock::new(|| {
    let url = postgres_admin_url();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            tokio::time::timeout(Duration::from_secs(3), sqlx::PgConnection::connect(&url))
                .await
                .is_ok_and(|c| c.is_ok())
        })
    })
    .join()
    .unwrap_or(false)
});

/// Runs `work` on a thread of its own with its own runtime: the templates are made once per
/// test process, from whichever test's runtime asks first.
pub fn on_own_runtime<T: Send + 'static>(work: impl std::future::Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(work)
    })
    .join()
    .expect("the template thread finishes")
}

async fn migrated_and_seeded(url: &str) {
    let store = Store::connect(url, &PoolSettings::default()).expect("a valid database URL");
    store.migrate().await.expect("migrations run");
    demo::seed(&store, &cipher()).await.expect("demo data loads");
    if let Store::Sqlite(pool, _) = &store {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(pool).await.expect("checkpoint");
    }
    store.close().await;
}

/// Each test starts from a copy of one migrated, seeded database made once per test process;
/// the templates are removed when the process exits.
static SQLITE_TEMPLATE: LazyLock<std::path::PathBuf> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("incident-portal-template-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("portal.db");
    let url = format!("sqlite://{}", file.display());
    on_own_runtime(async move { migrated_and_seeded(&url).await });
    register_cleanup();
    file
});

static POSTGRES_TEMPLATE: LazyLock<String> = LazyLock::new(|| {
    let name = format!("ip_template_{}", std::process::id());
    let admin_url = postgres_admin_url();
    let template = name.clone();
    on_own_runtime(async move {
        let mut conn = sqlx::PgConnection::connect(&admin_url).await.expect("connect to PostgreSQL");
        let drop = format!("DROP DATABASE IF EXISTS \"{template}\" WITH (FORCE)");
        sqlx::raw_sql(sqlx::AssertSqlSafe(drop)).execute(&mut conn).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{template}\""))).execute(&mut conn).await.unwrap();
        migrated_and_seeded(&database_url(&admin_url, &template)).await;
    });
    register_cleanup();
    name
});

fn database_url(admin_url: &str, name: &str) -> String {
    let base = admin_url.rsplit_once('/').map_or(admin_url, |(base, _)| base);
    format!("{base}/{name}")
}

unsafe extern "C" {
    fn atexit(callback: extern "C" fn()) -> i32;
}

extern "C" fn remove_templates() {
    let _ =
        std::fs::remove_dir_all(std::env::temp_dir().join(format!("incident-portal-template-{}", std::process::id())));
    if *POSTGRES_AVAILABLE {
        let name = format!("ip_template_{}", std::process::id());
        let admin_url = postgres_admin_url();
        on_own_runtime(async move {
            if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
            }
        });
    }
}

fn register_cleanup() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: registers a plain function to run at process exit.
    ONCE.call_once(|| unsafe {
        atexit(remove_templates);
    });
}

/// A copy of the template on `backend`: its URL, and what removes it when dropped. `None` when
/// PostgreSQL is asked for but not available (and not required).
pub async fn create_database(backend: Backend) -> Option<(String, TestDatabase)> {
    match backend {
        Backend::Sqlite => {
            let template = SQLITE_TEMPLATE.clone();
            let dir = tempfile::tempdir().expect("a temporary directory");
            let file = dir.path().join("portal.db");
            std::fs::copy(&template, &file).expect("copy the template database");
            Some((format!("sqlite://{}", file.display()), TestDatabase::Sqlite(dir)))
        }
        Backend::Postgres => {
            if !postgres_reachable() {
                return None;
            }
            let template = POSTGRES_TEMPLATE.clone();
            let admin_url = postgres_admin_url();
            let name = format!(
                "ip_test_{}",
                incident_portal::auth::session::new_token().to_lowercase().replace(['-', '_'], "")
            );
            let name = name[..40.min(name.len())].to_string();
            let mut conn = sqlx::PgConnection::connect(&admin_url).await.expect("connect to PostgreSQL");
            let create = format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"");
            sqlx::raw_sql(sqlx::AssertSqlSafe(create)).execute(&mut conn).await.expect("create a test database");
            Some((database_url(&admin_url, &name), TestDatabase::Postgres { admin_url, name }))
        }
    }
}
