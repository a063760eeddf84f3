//! Starts the real portal on a random port with a fresh database (SQLite, or PostgreSQL when it is
//! reachable) filled with the demo data set, and talks HTTP to it.

use std::sync::LazyLock;
use std::time::Duration;

use incident_portal::auth::api_key::SecretCipher;
use incident_portal::auth::totp;
use incident_portal::clock::Clock;
use incident_portal::demo;
use incident_portal::domain::principal::Principal;
use incident_portal::settings::{DatabaseSettings, LogFormat, Settings};
use incident_portal::startup::Application;
use incident_portal::store::{PoolSettings, Store};
use reqwest::redirect::Policy;
use secrecy::SecretString;
use sqlx::Connection;

pub const PASSWORD: &str = demo::DEMO_PASSWORD;
pub use incident_portal::demo::{AVERY, BILLIE, CASEY, DANA, DORA, MORGAN, RILEY, SAM, TESS};

/// The key every test app encrypts secrets with (the demo's two-factor secrets are encrypted
/// with it when the template database is made).
pub const CIPHER_KEY: &str = "dGVzdC1vbmx5LWVuY3J5cHRpb24ta2V5LTMyLWJ5dGU=";

pub fn cipher() -> SecretCipher {
    SecretCipher::from_base64(CIPHER_KEY).expect("a 32-byte test key")
}

/// The code the demo staff's authenticator shows at `clock`'s time.
pub fn demo_code(clock: &Clock) -> String {
    let secret = totp::from_base32(demo::DEMO_TOTP_SECRET).unwrap();
    totp::code_at(&secret, clock.now().timestamp())
}

/// Does signing in as this demo user ask for a two-factor code? (Only the support staff have
/// set it up.)
pub fn is_staff(email: &str) -> bool {
    let user = demo::USERS.iter().find(|user| user.email == email);
    user.unwrap_or_else(|| panic!("{email} is not a demo user")).account.is_none()
}

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
enum TestDatabase {
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
fn on_own_runtime<T: Send + 'static>(work: impl std::future::Future<Output = T> + Send + 'static) -> T {
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

async fn create_database(backend: Backend) -> Option<(String, TestDatabase)> {
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

pub struct TestApp {
    pub address: String,
    pub store: Store,
    pub clock: Clock,
    /// The key the app encrypts API key secrets with.
    pub api_cipher: SecretCipher,
    pub database_url: String,
    _database: TestDatabase,
}

pub fn settings(database_url: &str) -> Settings {
    Settings {
        bind: "127.0.0.1:0".parse().unwrap(),
        database: DatabaseSettings {
            url: SecretString::from(database_url.to_string()),
            pool: PoolSettings { max_connections: 5, acquire_timeout: Duration::from_secs(3) },
            log_format: LogFormat::Text,
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
    let (url, database) = create_database(backend).await?;
    let url = route(url);
    let mut settings = settings(&url);
    adjust(&mut settings);
    let api_cipher = cipher();
    let store = Store::connect(&url, &settings.database.pool).expect("a valid database URL");
    store.migrate().await.expect("migrations run");
    let clock = Clock::system();
    let app = Application::build_with_store(settings, store.clone(), clock.clone()).await.expect("the app starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    Some(TestApp { address, store, clock, api_cipher, database_url: url, _database: database })
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

/// Headers that claim the portal is `https://evil.example`, the two ways proxies say it. They must
/// never choose the portal's origin, whether TRUST_PROXY_HEADERS is on or off.
pub const SPOOFED_HOSTS: [&[(&str, &str)]; 2] = [
    &[("x-forwarded-host", "evil.example"), ("x-forwarded-proto", "https")],
    &[("forwarded", "host=evil.example;proto=https")],
];

/// A browser-like client: keeps cookies, does not follow redirects (tests check them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap()
}

pub fn csrf_token(html: &str) -> String {
    let document = scraper::Html::parse_document(html);
    let selector = scraper::Selector::parse("input[name=csrf_token]").unwrap();
    document
        .select(&selector)
        .next()
        .and_then(|input| input.value().attr("value"))
        .expect("the page has a CSRF token")
        .to_string()
}

pub fn location(response: &reqwest::Response) -> String {
    response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, client: &reqwest::Client, path: &str) -> reqwest::Response {
        client.get(self.url(path)).send().await.expect("the request completes")
    }

    pub async fn get_text(&self, client: &reqwest::Client, path: &str) -> (u16, String) {
        let response = self.get(client, path).await;
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    pub async fn post_form(&self, client: &reqwest::Client, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        client.post(self.url(path)).form(form).send().await.expect("the request completes")
    }

    /// The CSRF token of the session, read from a page that has a form.
    pub async fn csrf_token(&self, client: &reqwest::Client, page: &str) -> String {
        let (_, html) = self.get_text(client, page).await;
        csrf_token(&html)
    }

    pub async fn try_sign_in(&self, client: &reqwest::Client, email: &str, password: &str) -> reqwest::Response {
        let token = self.csrf_token(client, "/login").await;
        self.post_form(client, "/login", &[("csrf_token", &token), ("email", email), ("password", password)]).await
    }

    /// A new client signed in as `email` with the demo password.
    pub async fn sign_in(&self, email: &str) -> reqwest::Client {
        self.sign_in_with(email, PASSWORD).await
    }

    pub async fn sign_in_with(&self, email: &str, password: &str) -> reqwest::Client {
        let client = client();
        let response = self.try_sign_in(&client, email, password).await;
        assert_eq!(response.status().as_u16(), 303, "signing in as {email}");
        if location(&response) == "/login/verify" {
            let secret = totp::from_base32(demo::DEMO_TOTP_SECRET).unwrap();
            let response = self.give_code(&client, &secret).await;
            assert_eq!(response.status().as_u16(), 303, "the two-factor step of {email}");
        }
        client
    }

    /// Signs in a user who set up two-factor sign-in with `secret`.
    pub async fn sign_in_with_code(&self, email: &str, secret: &[u8]) -> reqwest::Client {
        let client = client();
        let response = self.try_sign_in(&client, email, PASSWORD).await;
        assert_eq!(location(&response), "/login/verify", "{email} is asked for a code");
        let response = self.give_code(&client, secret).await;
        assert_eq!(response.status().as_u16(), 303, "the two-factor step of {email}");
        client
    }

    /// Answers the two-factor step with the current code. The clock first moves to the next
    /// 30-second step, since each code works only once.
    pub async fn give_code(&self, client: &reqwest::Client, secret: &[u8]) -> reqwest::Response {
        self.clock.advance(chrono::Duration::seconds(30));
        let code = totp::code_at(secret, self.clock.now().timestamp());
        let token = self.csrf_token(client, "/login/verify").await;
        self.post_form(client, "/login/verify", &[("csrf_token", &token), ("code", &code)]).await
    }

    /// Another instance of the portal on the same database, with a pool of its own, as a second
    /// server behind a load balancer would be; its address.
    pub async fn another_instance(&self) -> String {
        let settings = settings(&self.database_url);
        let store = Store::connect(&self.database_url, &settings.database.pool).expect("a valid database URL");
        let app = Application::build_with_store(settings, store, self.clock.clone()).await.expect("the app starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        address
    }

    pub async fn user_id(&self, email: &str) -> i64 {
        let sql = "SELECT id FROM users WHERE email = $1";
        match &self.store {
            Store::Sqlite(pool, _) => sqlx::query_scalar(sql).bind(email).fetch_one(pool).await,
            Store::Postgres(pool) => sqlx::query_scalar(sql).bind(email).fetch_one(pool).await,
        }
        .expect("the user exists")
    }

    pub async fn principal(&self, email: &str) -> Principal {
        let id = self.user_id(email).await;
        self.store.load_principal(id).await.unwrap().expect("an enabled user")
    }

    /// Runs a statement directly on the test database.
    pub async fn execute(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match &self.store {
            Store::Sqlite(pool, _) => sqlx::raw_sql(sql).execute(pool).await.map(|_| ()),
            Store::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.map(|_| ()),
        }
        .expect("the statement runs");
    }

    /// The first column of every row `sql` returns, as text.
    pub async fn strings(&self, sql: &str) -> Vec<String> {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match &self.store {
            Store::Sqlite(pool, _) => sqlx::query_scalar(sql).fetch_all(pool).await,
            Store::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
        }
        .expect("the query runs")
    }

    pub async fn count(&self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match &self.store {
            Store::Sqlite(pool, _) => sqlx::query_scalar(sql).fetch_one(pool).await,
            Store::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        }
        .expect("the count runs")
    }
}

/// One row of an incident table: the ticket number and the text of every cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    pub number: String,
    pub cells: Vec<String>,
}

pub fn table_rows(html: &str) -> Vec<TableRow> {
    let document = scraper::Html::parse_document(html);
    let row_selector = scraper::Selector::parse("table.incidents tbody tr").unwrap();
    let cell_selector = scraper::Selector::parse("td").unwrap();
    document
        .select(&row_selector)
        .map(|row| {
            let cells: Vec<String> = row
                .select(&cell_selector)
                .map(|cell| cell.text().collect::<String>().split_whitespace().collect::<Vec<_>>().join(" "))
                .collect();
            TableRow { number: cells[0].clone(), cells }
        })
        .collect()
}

/// A ticket opened for a test: by Tess, with Riley and Billie as recipients, labelled High, Open.
pub struct Fixture {
    pub id: i64,
    pub number: String,
}

impl TestApp {
    pub async fn fresh_incident(&self) -> Fixture {
        use incident_portal::domain::lifecycle::Change;
        use incident_portal::domain::ticket::{Severity, TicketStatus};
        use incident_portal::store::NewTicket;
        let tess = self.user_id(TESS).await;
        let account_id = self.principal(TESS).await.account().unwrap().id;
        let ticket = NewTicket {
            account_id,
            opener_id: tess,
            created_by: tess,
            summary: "Test fixture: suspicious logins".into(),
            description: "Fixture".into(),
            recipient_ids: vec![self.user_id(RILEY).await, self.user_id(BILLIE).await],
            status: TicketStatus::Open,
            severity: None,
            created_at: self.clock.now(),
            submission_key: None,
        };
        let id = self.store.insert_ticket(&ticket).await.unwrap();
        let sam = self.user_id(SAM).await;
        self.store
            .change_ticket(id, sam, None, None, &[Change::SetSeverity(Some(Severity::High))], self.clock.now())
            .await
            .unwrap();
        Fixture { id, number: format!("ATS-{id}") }
    }

    pub async fn ticket_version(&self, id: i64) -> i64 {
        self.count(&format!("SELECT version FROM tickets WHERE id = {id}")).await
    }

    pub async fn ticket_status(&self, id: i64) -> String {
        let sql = format!("SELECT status FROM tickets WHERE id = {id}");
        let sql = sqlx::AssertSqlSafe(sql);
        match &self.store {
            Store::Sqlite(pool, _) => sqlx::query_scalar(sql).fetch_one(pool).await,
            Store::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        }
        .unwrap()
    }

    /// Everything a refused request must leave as it was (the audit log may grow: refusals are
    /// logged).
    pub async fn snapshot(&self) -> Vec<i64> {
        let mut values = Vec::new();
        for sql in [
            "SELECT COUNT(*) FROM tickets",
            "SELECT COUNT(*) FROM comments",
            "SELECT COUNT(*) FROM ticket_events",
            "SELECT COUNT(*) FROM ticket_recipients",
            "SELECT COUNT(*) FROM ticket_visibility",
            "SELECT COUNT(*) FROM accounts",
            "SELECT COUNT(*) FROM users",
            "SELECT COUNT(*) FROM password_tokens",
            "SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) FROM tickets",
            "SELECT COUNT(*) FROM tickets WHERE closure_requested_at IS NOT NULL",
            "SELECT COUNT(*) FROM tickets WHERE status = 'closed'",
        ] {
            values.push(self.count(sql).await);
        }
        values
    }
}

/// An API key as its owner holds it.
#[derive(Clone, Debug)]
pub struct Key {
    pub id: String,
    pub secret: String,
}

impl TestApp {
    /// A key for `email`, made directly in the store (whatever the user's permissions).
    pub async fn api_key_for(&self, email: &str) -> Key {
        let principal = self.principal(email).await;
        let (id, secret) = incident_portal::auth::api_key::generate();
        let sealed = self.api_cipher.encrypt(&secret, &id);
        self.store
            .create_api_key(
                principal.user_id,
                principal.account().unwrap().id,
                "test key",
                &id,
                &sealed,
                self.clock.now(),
            )
            .await
            .unwrap();
        Key { id, secret }
    }

    /// The `Authorization` header of a call signed with a new nonce, exactly as the documented
    /// formula says, and the signature in it.
    pub fn authorization(&self, key: &Key, method: &str, target: &str, body: &[u8]) -> (String, String) {
        let nonce = incident_portal::auth::token::new_token();
        let timestamp = self.clock.now().timestamp();
        let signature =
            incident_portal::auth::api_key::sign(&key.secret, &key.id, method, target, &nonce, timestamp, body);
        (format!("ARMOR-PSK {}:{signature}:{nonce}:{timestamp}", key.id), signature)
    }

    /// A signed GET.
    pub async fn api_get(&self, key: &Key, target: &str) -> reqwest::Response {
        let (authorization, _) = self.authorization(key, "GET", target, b"");
        reqwest::Client::new().get(self.url(target)).header("authorization", authorization).send().await.unwrap()
    }
}

impl TestApp {
    /// The per-user counters equal what `ticket_visibility` says, after whatever the test did.
    pub async fn assert_counters_consistent(&self) {
        let counted =
            "SELECT user_id, CAST(severity AS BIGINT), status, n FROM incident_counts WHERE n <> 0 ORDER BY 1, 2, 3";
        let actual = "SELECT user_id, CAST(severity AS BIGINT), status, COUNT(*) FROM ticket_visibility \
                      WHERE severity IS NOT NULL AND status <> 'closed' GROUP BY user_id, severity, status ORDER BY 1, 2, 3";
        // Users without an activity zone have no rows to keep up to date (theirs are built on
        // their next dashboard).
        let rows = "SELECT v.user_id, u.activity_zone, v.created_at, v.closed_at FROM ticket_visibility v \
                    JOIN users u ON u.id = v.user_id WHERE v.severity IS NOT NULL AND u.activity_zone IS NOT NULL";
        let activity = "SELECT user_id, day, opened, closed FROM incident_activity WHERE opened <> 0 OR closed <> 0";
        type Times = Vec<(i64, String, chrono::DateTime<chrono::Utc>, Option<chrono::DateTime<chrono::Utc>>)>;
        type Counts = Vec<(i64, i64, String, i64)>;
        type Activity = Vec<(i64, i64, i64, i64)>;
        let (counted, actual, rows, activity): (Counts, Counts, Times, Activity) = match &self.store {
            Store::Sqlite(pool, _) => (
                sqlx::query_as(counted).fetch_all(pool).await.unwrap(),
                sqlx::query_as(actual).fetch_all(pool).await.unwrap(),
                sqlx::query_as(rows).fetch_all(pool).await.unwrap(),
                sqlx::query_as(activity).fetch_all(pool).await.unwrap(),
            ),
            Store::Postgres(pool) => (
                sqlx::query_as(counted).fetch_all(pool).await.unwrap(),
                sqlx::query_as(actual).fetch_all(pool).await.unwrap(),
                sqlx::query_as(rows).fetch_all(pool).await.unwrap(),
                sqlx::query_as(activity).fetch_all(pool).await.unwrap(),
            ),
        };
        assert_eq!(counted, actual, "incident_counts follow ticket_visibility");
        let mut expected = std::collections::BTreeMap::<(i64, i64), (i64, i64)>::new();
        for (user, zone, created, closed) in rows {
            let zone: chrono_tz::Tz = zone.parse().unwrap();
            let day =
                |at: chrono::DateTime<chrono::Utc>| i64::from(at.with_timezone(&zone).date_naive().to_epoch_days());
            expected.entry((user, day(created))).or_default().0 += 1;
            if let Some(closed) = closed {
                expected.entry((user, day(closed))).or_default().1 += 1;
            }
        }
        let stored: std::collections::BTreeMap<(i64, i64), (i64, i64)> =
            activity.into_iter().map(|(user, day, opened, closed)| ((user, day), (opened, closed))).collect();
        assert_eq!(stored, expected, "incident_activity follows ticket_visibility");
    }
}
