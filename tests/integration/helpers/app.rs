//! The portal under test: started on a random port with a fresh database, as `main` starts it.

use std::time::Duration;

use incident_portal::auth::api_key::SecretCipher;
use incident_portal::clock::Clock;
use incident_portal::settings::{DatabaseSettings, LogFormat, Settings};
use incident_portal::startup::Application;
use incident_portal::store::{PoolSettings, Pooler, Store};
use secrecy::SecretString;

use super::database::{Backend, TestDatabase, create_database};
use super::pgbouncer::PgBouncer;

/// The key every test app encrypts secrets with (the demo's two-factor secrets are encrypted
/// with it when the template database is made).
pub const CIPHER_KEY: &str = "dGVzdC1vbmx5LWVuY3J5cHRpb24ta2V5LTMyLWJ5dGU=";

pub fn cipher() -> SecretCipher {
    SecretCipher::from_base64(CIPHER_KEY).expect("a 32-byte test key")
}

pub struct TestApp {
    pub address: String,
    /// The test's own way to the database: always direct, never through a pooler.
    pub store: Store,
    pub clock: Clock,
    /// The key the app encrypts API key secrets with.
    pub api_cipher: SecretCipher,
    /// The database as the app reaches it (through PgBouncer in the pooler binary).
    pub database_url: String,
    /// `Pooler::Transaction` when the app reaches PostgreSQL through PgBouncer.
    pub pooler: Pooler,
    _database: TestDatabase,
    /// Dropped after the database, whose drop ends its server connections.
    _pgbouncer: Option<PgBouncer>,
}

/// Whether this test binary runs its tests on PostgreSQL through PgBouncer only (`tests/pooler`).
pub fn through_pgbouncer() -> bool {
    crate::THROUGH_PGBOUNCER
}

pub fn settings(database_url: &str) -> Settings {
    Settings {
        bind: "127.0.0.1:0".parse().unwrap(),
        database: DatabaseSettings {
            url: SecretString::from(database_url.to_string()),
            pool: PoolSettings {
                max_connections: 5,
                acquire_timeout: Duration::from_secs(3),
                ..PoolSettings::default()
            },
            log_format: LogFormat::Text,
            replicas: Default::default(),
        },
        demo: false,
        session_key: Some(SecretString::from("a test session key that is long enough to use".to_string())),
        secure_cookies: false,
        public_url: None,
        idle_timeout: chrono::Duration::minutes(30),
        absolute_timeout: chrono::Duration::hours(12),
        trust_proxy_headers: false,
        workers: 1,
        api_key_encryption: incident_portal::settings::ApiKeyEncryption::Key(SecretString::from(CIPHER_KEY)),
        api_rate_limit_per_minute: 30,
        dashboard_refresh_seconds: 1,
        compression_level: 3,
        mail: incident_portal::settings::MailSettings::default(),
        metrics_token: None,
        attachments: incident_portal::settings::AttachmentSettings::default(),
        webhooks: incident_portal::domain::webhook::OutboundPolicy::default(),
    }
}

/// The portal on a fresh copy of the demo data; `None` when PostgreSQL is asked for but
/// not available (and not required).
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_via(backend, |url| url).await
}

/// The portal on a fresh database whose URL `route` may change (to reach it through a proxy).
pub async fn spawn_app_via(backend: Backend, route: impl FnOnce(String) -> String) -> Option<TestApp> {
    spawn_app_with(backend, route, |_| {}).await
}

/// The portal with a database pool of `max_connections`.
pub async fn spawn_app_with_pool(backend: Backend, max_connections: u32) -> Option<TestApp> {
    spawn_app_with(backend, |url| url, |settings| settings.database.pool.max_connections = max_connections).await
}

/// The portal with settings `adjust` changes.
pub async fn spawn_app_configured(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    spawn_app_with(backend, |url| url, adjust).await
}

async fn spawn_app_with(
    backend: Backend,
    route: impl FnOnce(String) -> String,
    adjust: impl FnOnce(&mut Settings),
) -> Option<TestApp> {
    if std::env::var("TEST_LOG").is_ok() {
        incident_portal::telemetry::init(LogFormat::Text, std::io::stdout);
    }
    let (direct_url, database) = create_database(backend).await?;
    let pgbouncer = match backend {
        Backend::Postgres if through_pgbouncer() => Some(PgBouncer::start().await?),
        _ => None,
    };
    let url = route(pgbouncer.as_ref().map_or_else(|| direct_url.clone(), |bouncer| bouncer.route(&direct_url)));
    let mut settings = settings(&url);
    if pgbouncer.is_some() {
        settings.database.pool.pooler = Pooler::Transaction;
        before_pooling(&direct_url).await;
    }
    adjust(&mut settings);
    let api_cipher = cipher();
    let pooler = settings.database.pool.pooler;
    let app_store = Store::connect(&url, &settings.database.pool).expect("a valid database URL");
    app_store.migrate().await.expect("migrations run");
    let store = match pgbouncer {
        Some(_) => Store::connect(&direct_url, &PoolSettings::default()).expect("a valid database URL"),
        None => app_store.clone(),
    };
    let clock = Clock::system();
    let app = Application::build_with_store(settings, app_store, clock.clone()).await.expect("the app starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    Some(TestApp {
        address,
        store,
        clock,
        api_cipher,
        database_url: url,
        pooler,
        _database: database,
        _pgbouncer: pgbouncer,
    })
}

/// What the README asks of a database the portal reaches through a pooler: the settings it can
/// no longer send at connection time.
async fn before_pooling(direct_url: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(direct_url).await.expect("connect to the test database");
    let name: String = sqlx::query_scalar("SELECT current_database()").fetch_one(&mut conn).await.unwrap();
    for setting in ["max_parallel_workers_per_gather = 0", "jit = off"] {
        let statement = format!("ALTER DATABASE \"{name}\" SET {setting}");
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement)).execute(&mut conn).await.expect("set a database default");
    }
}

impl TestApp {
    /// Another instance of the portal on the same database, with a pool of its own, as a second
    /// server behind a load balancer would be; its address.
    pub async fn another_instance(&self) -> String {
        self.another_instance_configured(|_| {}).await
    }

    /// As [`TestApp::another_instance`], with settings `adjust` changes.
    pub async fn another_instance_configured(&self, adjust: impl FnOnce(&mut Settings)) -> String {
        let mut settings = settings(&self.database_url);
        settings.database.pool.pooler = self.pooler;
        adjust(&mut settings);
        let store = Store::connect(&self.database_url, &settings.database.pool).expect("a valid database URL");
        let app = Application::build_with_store(settings, store, self.clock.clone()).await.expect("the app starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        address
    }
}

/// Runs each named test `async fn name(app: TestApp)` once on SQLite and once on PostgreSQL.
/// After `configured by adjust;` the apps start with settings changed by the calling module's
/// `fn adjust(&mut Settings)`.
#[macro_export]
macro_rules! on_both_backends {
    (configured by $adjust:ident; $($name:ident),* $(,)?) => {
        $crate::on_both_backends!(@with super::$adjust; $($name),*);
    };
    ($($name:ident),* $(,)?) => {
        $crate::on_both_backends!(@with |_| {}; $($name),*);
    };
    (@with $adjust:expr; $($name:ident),*) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    if $crate::helpers::through_pgbouncer() {
                        return;
                    }
                    let app = $crate::helpers::spawn_app_configured($crate::helpers::Backend::Sqlite, $adjust)
                        .await
                        .expect("SQLite always works");
                    super::$name(app).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(app) =
                        $crate::helpers::spawn_app_configured($crate::helpers::Backend::Postgres, $adjust).await
                    {
                        super::$name(app).await;
                    }
                }
            )*
        }
    };
}
