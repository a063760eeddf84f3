//! Builds the application: the store, the session layer, the middleware stack and the routes.
//! `main` and the integration tests both start the portal through [`Application`].

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_session::SessionMiddleware;
use actix_session::config::{BrowserSession, CookieContentSecurity, TtlExtensionPolicy};
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use base64::Engine;
use secrecy::ExposeSecret;
use tracing_actix_web::TracingLogger;

use crate::auth::api_key::{KeyCache, SecretCipher};
use crate::auth::password;
use crate::auth::session_store::DbSessionStore;
use crate::auth::signer::Signer;
use crate::clock::Clock;
use crate::files::scan::{Scanner, ScannerGuard};
use crate::files::{Files, Swept};
use crate::http::compression::compress;
use crate::http::csrf::set_anonymous_cookie;
use crate::http::middleware::{
    keep_token_for_error_pages, one_connection, record_metrics, reject_cross_origin, render_errors, security_headers,
    session_health, without_session_cookie,
};
use crate::http::routes;
use crate::metrics::Metrics;
use crate::notify::mail::Mailer;
use crate::notify::webhooks::Webhooks;
use crate::notify::{Outbox, Sender, SenderGuard, SenderMetrics};
use crate::settings::{ApiKeyEncryption, DatabaseSettings, PublicUrl, Settings};
use crate::state::AppState;
use crate::store::bytes::DatabaseBytes;
use crate::store::{ProbeGuard, ReplicaHealth, Replicas, Store};
use crate::telemetry::RedactingRootSpan;

/// How long settled notifications stay listed for support administrators.
const NOTIFICATIONS_KEPT_DAYS: i64 = 30;

/// How often expired sessions and tokens and old sign-in attempts are deleted.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(600);

pub struct Application {
    port: u16,
    public_url: PublicUrl,
    server: Server,
    /// The notification sender stops when this is dropped with the application.
    _sender: SenderGuard,
    /// The virus scanner (when one is configured) stops likewise.
    _scanner: Option<ScannerGuard>,
    /// So does the read replicas' probe.
    _probe: Option<ProbeGuard>,
}

impl Application {
    /// Opens the database named in the settings, migrates it and binds the listener.
    pub async fn build(settings: Settings, clock: Clock) -> anyhow::Result<Application> {
        let store = open_store(&settings.database).await?;
        Self::build_with_store(settings, store, clock).await
    }

    pub async fn build_with_store(settings: Settings, store: Store, clock: Clock) -> anyhow::Result<Application> {
        let key = session_key(&settings, &store).await?;
        let cipher = secret_cipher(&settings)?;
        let listener =
            TcpListener::bind(settings.bind).with_context(|| format!("cannot listen on {}", settings.bind))?;
        let address = listener.local_addr()?;
        let port = address.port();
        // Known only now when the settings ask for port 0 (as the tests do).
        let public_url = settings.public_url.clone().unwrap_or_else(|| PublicUrl::local(address));
        password::prepare();
        crate::http::static_files::prepare();
        let files =
            Files::new(store.clone(), Arc::new(DatabaseBytes::new(store.clone())), settings.attachments.clone());
        spawn_housekeeping(store.clone(), files.clone(), clock.clone());
        let signer = signer(&store).await?;
        let outbox = Outbox::default();
        let metrics = Metrics::new();
        database_pool_metrics(&metrics, &store);
        let sender = Sender {
            store: store.clone(),
            clock: clock.clone(),
            public_url: public_url.clone(),
            desk: settings.mail.desk.as_ref().map(ToString::to_string),
            mailer: Mailer::from_settings(&settings.mail, &public_url)?,
            signer: signer.clone(),
            outbox: outbox.clone(),
            metrics: SenderMetrics::register(&metrics, &store, &clock),
            webhooks: Webhooks::new(settings.webhooks, cipher.clone(), public_url.clone(), &metrics)?,
        }
        .spawn()?;
        let scanner = match &settings.attachments.scanner {
            Some(scanner) => Some(
                Scanner { files: files.clone(), store: store.clone(), clock: clock.clone(), settings: scanner.clone() }
                    .spawn()?,
            ),
            None => None,
        };
        attachment_metrics(&metrics, &store);
        let replicas = Replicas::connect(&store, &settings.database.replicas, &settings.database.pool)?;
        let probe = replicas.spawn_probe();
        replica_metrics(&metrics, &replicas);

        let workers = settings.workers;
        let tls = settings.secure_cookies;
        let state = web::Data::new(AppState {
            store: store.clone(),
            replicas,
            clock: clock.clone(),
            settings,
            public_url: public_url.clone(),
            cipher,
            api_keys: KeyCache::default(),
            outbox,
            signer,
            metrics,
            files,
        });
        let server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(reject_cross_origin))
                .wrap(from_fn(session_health))
                .wrap(from_fn(keep_token_for_error_pages))
                .wrap(from_fn(set_anonymous_cookie))
                .wrap(session_middleware(&state, key.clone()))
                .wrap(from_fn(without_session_cookie))
                .wrap(from_fn(render_errors))
                .wrap(from_fn(compress))
                .wrap(TracingLogger::<RedactingRootSpan>::new())
                .wrap(security_headers(tls))
                .wrap(from_fn(one_connection))
                .wrap(from_fn(record_metrics))
                .app_data(state.clone())
                .configure(routes::configure)
        })
        .workers(workers)
        .listen(listener)?
        .run();
        Ok(Application { port, public_url, server, _sender: sender, _scanner: scanner, _probe: probe })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where users reach the portal.
    pub fn public_url(&self) -> &PublicUrl {
        &self.public_url
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let _sender = self._sender;
        let _scanner = self._scanner;
        let _probe = self._probe;
        self.server.await
    }
}

/// Opens and migrates the database, for every command alike. One connection is tried first, so
/// that a database out of reach stops start-up at once with its cause.
pub async fn open_store(database: &DatabaseSettings) -> anyhow::Result<Store> {
    let store = Store::connect(database.url.expose_secret(), &database.pool)?;
    store.reach(database.pool.acquire_timeout).await?;
    store.migrate().await?;
    Ok(store)
}

/// Sessions live in the database; the cookie holds only a random key, encrypted and signed.
/// Idle expiry is enforced by the sign-in guard and by the row's expiry, which each state change
/// (at most once a minute, see `TypedSession::touch`) pushes forward.
fn session_middleware(state: &web::Data<AppState>, key: Key) -> SessionMiddleware<DbSessionStore> {
    let secure = state.settings.secure_cookies;
    // The row outlives the idle timeout a little, so the guard can still see the session and
    // tell the user it expired; the guard, not the row, enforces the timeout.
    let row_ttl = state.settings.idle_timeout + chrono::Duration::minutes(10);
    let idle = actix_web::cookie::time::Duration::seconds(row_ttl.num_seconds());
    // The `__Host-` prefix pins the cookie to this host and path; browsers accept it only over TLS.
    let name = if secure { "__Host-incident-portal" } else { "incident-portal" };
    SessionMiddleware::builder(DbSessionStore::new(state.store.clone(), state.clock.clone()), key)
        .cookie_name(name.to_string())
        .cookie_secure(secure)
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_path("/".to_string())
        .cookie_content_security(CookieContentSecurity::Private)
        .session_lifecycle(
            BrowserSession::default().state_ttl(idle).state_ttl_extension_policy(TtlExtensionPolicy::OnStateChanges),
        )
        .build()
}

/// The configured key, or one generated once and shared through the database by all instances.
async fn session_key(settings: &Settings, store: &Store) -> anyhow::Result<Key> {
    let master = match &settings.session_key {
        Some(key) => key.expose_secret().as_bytes().to_vec(),
        None => {
            let encoded = store
                .server_secret("session_key", || {
                    let mut bytes = [0u8; 64];
                    rand::fill(&mut bytes);
                    base64::engine::general_purpose::STANDARD.encode(bytes)
                })
                .await
                .context("cannot read or create the session key")?;
            base64::engine::general_purpose::STANDARD.decode(encoded).context("the stored session key is corrupt")?
        }
    };
    Ok(Key::derive_from(&master))
}

/// The key of what the portal signs for itself, generated once and shared through the database.
async fn signer(store: &Store) -> anyhow::Result<Signer> {
    let encoded = store
        .server_secret("unsubscribe_link_key", || {
            let mut bytes = [0u8; 32];
            rand::fill(&mut bytes);
            base64::engine::general_purpose::STANDARD.encode(bytes)
        })
        .await
        .context("cannot read or create the unsubscribe link key")?;
    let key = base64::engine::general_purpose::STANDARD.decode(encoded).context("the stored link key is corrupt")?;
    Ok(Signer::new(key))
}

/// The configured key, or the one in the key file, created on first start. (A file keeps the key
/// out of the database it protects; several instances need `API_KEY_ENCRYPTION_KEY` or a shared file.)
pub fn secret_cipher(settings: &Settings) -> anyhow::Result<SecretCipher> {
    let encoded = match &settings.api_key_encryption {
        ApiKeyEncryption::Key(key) => key.expose_secret().to_string(),
        ApiKeyEncryption::File(path) => match std::fs::read_to_string(path) {
            Ok(key) => key,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let key = SecretCipher::generate_key();
                write_private_file(path, &key)
                    .with_context(|| format!("cannot create the API key encryption key file {}", path.display()))?;
                tracing::info!(path = %path.display(), "created the API key encryption key file");
                key
            }
            Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
        },
    };
    SecretCipher::from_base64(&encoded).context("the API key encryption key must be 32 bytes, base64-encoded")
}

fn write_private_file(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

/// The pool's connections, read at each scrape.
fn database_pool_metrics(metrics: &Metrics, store: &Store) {
    let in_use = metrics.gauge("db_pool_connections_in_use", "Database connections held by requests and tasks");
    let idle = metrics.gauge("db_pool_connections_idle", "Database connections open and waiting for work");
    let max = metrics.gauge("db_pool_max_connections", "The most database connections the pool opens");
    let store = store.clone();
    metrics.on_scrape("db_pool", move || {
        let usage = store.pool_usage();
        in_use.set(usage.in_use.into());
        idle.set(usage.idle.into());
        max.set(usage.max.into());
        std::future::ready(Ok(()))
    });
}

/// Each read replica's state as the probe last found it, read at each scrape.
fn replica_metrics(metrics: &Metrics, replicas: &Replicas) {
    if replicas.is_empty() {
        return;
    }
    let ready =
        metrics.gauge("db_replicas_ready", "Read replicas that reads may go to now (up, within the allowed lag)");
    let configured = metrics.gauge("db_replicas", "Read replicas configured (DATABASE_READ_URL)");
    let replicas = replicas.clone();
    metrics.on_scrape("db_replicas", move || {
        let health = replicas.health();
        configured.set(health.len() as i64);
        ready.set(health.iter().filter(|(_, h)| matches!(h, ReplicaHealth::Ready { .. })).count() as i64);
        std::future::ready(Ok(()))
    });
}

/// Files waiting for the virus scanner, read at each scrape.
fn attachment_metrics(metrics: &Metrics, store: &Store) {
    let waiting = metrics.gauge("attachment_scans_waiting", "Attachments waiting for (or retrying) a virus scan");
    let store = store.clone();
    metrics.on_scrape("attachments", move || {
        let (store, waiting) = (store.clone(), waiting.clone());
        async move {
            let n = tokio::time::timeout(Duration::from_secs(1), store.scans_waiting())
                .await
                .map_err(|_| anyhow::anyhow!("counting the files waiting for a scan took over a second"))??;
            waiting.set(n);
            Ok(())
        }
    });
}

fn spawn_housekeeping(store: Store, files: Files, clock: Clock) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(HOUSEKEEPING_INTERVAL);
        loop {
            interval.tick().await;
            let now = clock.now();
            if let Err(error) = store.purge_expired_sessions(now).await {
                tracing::warn!(?error, "could not purge expired sessions");
            }
            if let Err(error) = store.purge_sign_in_attempts(now - chrono::Duration::days(1)).await {
                tracing::warn!(?error, "could not purge old sign-in attempts");
            }
            if let Err(error) = store.purge_api_nonces(now - chrono::Duration::minutes(15)).await {
                tracing::warn!(?error, "could not purge old API nonces");
            }
            // Interrupted uploads, and bytes whose deletion a crash interrupted.
            match files.sweep(now).await {
                Ok(swept) if swept != Swept::default() => tracing::info!(?swept, "swept attachments' bytes"),
                Ok(_) => {}
                Err(error) => tracing::warn!(?error, "could not sweep attachments' bytes"),
            }
            if let Err(error) = store.purge_notifications(now - chrono::Duration::days(NOTIFICATIONS_KEPT_DAYS)).await {
                tracing::warn!(?error, "could not purge old notifications");
            }
            if let Err(error) = store.purge_expired_fh_auth_tokens(now).await {
                tracing::warn!(?error, "could not purge expired FH-AUTH tokens");
            }
        }
    });
}
