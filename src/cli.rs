//! The command line: one binary, `serve` by default.

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "incident-portal", version, about = "Security incidents portal of a managed security provider")]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `incident-portal --demo` is `incident-portal serve --demo`.
    #[command(flatten)]
    pub serve: ServeArgs,
}

// Parsed once at start-up; boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web portal (the default).
    Serve(ServeArgs),
    /// Apply the database migrations and exit.
    Migrate(DatabaseArgs),
    /// Create a support staff user. The password is read from INCIDENT_PORTAL_PASSWORD, else from
    /// standard input; never from the command line.
    CreateSupportUser(CreateSupportUserArgs),
    /// Fill an empty database with a large deterministic data set for benchmarks.
    Generate(GenerateArgs),
    /// Print the current two-factor code of the demo support staff (their key is published).
    DemoCode,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// How many tickets (accounts and users scale with it: a thousand and fifty thousand per million).
    #[arg(long, default_value_t = 1_000_000)]
    pub tickets: u64,
    /// The same seed gives the same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// `sqlite://path/to/file.db` (the default, created if missing) or `postgres://user@host/db`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://incident-portal.db")]
    pub database_url: String,
    /// Connections per app instance.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value = "10")]
    pub database_max_connections: String,
    /// Seconds a request waits for a database connection before answering 503.
    #[arg(long, env = "DATABASE_ACQUIRE_TIMEOUT_SECONDS", default_value = "3")]
    pub database_acquire_timeout_seconds: String,
    /// `transaction` when DATABASE_URL (and DATABASE_READ_URL) name a pooler in transaction mode,
    /// such as PgBouncer's `pool_mode = transaction`; `none` (or `session`) otherwise.
    #[arg(long, env = "DATABASE_POOLER", default_value = "none")]
    pub database_pooler: String,
    /// Read replicas of the PostgreSQL database, comma-separated: the incident tables, the
    /// dashboard, ticket pages and the API's reads go to one that has caught up.
    #[arg(long, env = "DATABASE_READ_URL", hide_env_values = true)]
    pub database_read_url: Option<String>,
    /// A replica further behind the primary than this many seconds is not read.
    #[arg(long, env = "DATABASE_READ_MAX_LAG_SECONDS", default_value = "5")]
    pub database_read_max_lag_seconds: String,
    /// `text` for people, `json` for log collectors.
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Address and port to listen on.
    #[arg(long = "bind", env = "BIND_ADDRESS", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Fill an empty database with the demo data set and print the demo sign-ins.
    #[arg(long)]
    pub demo: bool,
    /// At least 32 characters; every instance behind a load balancer needs the same one. When
    /// unset, a key is generated once and kept in the database.
    #[arg(long, env = "SESSION_KEY", hide_env_values = true)]
    pub session_key: Option<String>,
    /// Set when users reach the portal over HTTPS: cookies become Secure and `__Host-` prefixed,
    /// and HSTS is sent.
    #[arg(long, env = "SECURE_COOKIES", default_value = "false", num_args = 0..=1, default_missing_value = "true")]
    pub secure_cookies: String,
    /// The portal's own origin as users reach it, such as `https://portal.example.com`: every
    /// absolute link and the cross-origin check use it. Required with SECURE_COOKIES; otherwise
    /// `http://` and the bound address (loopback for 0.0.0.0 or ::).
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Minutes without a request before a session ends.
    #[arg(long, env = "SESSION_IDLE_TIMEOUT_MINUTES", default_value = "30")]
    pub session_idle_timeout_minutes: String,
    /// Hours after sign-in when a session ends regardless of activity.
    #[arg(long, env = "SESSION_ABSOLUTE_TIMEOUT_HOURS", default_value = "12")]
    pub session_absolute_timeout_hours: String,
    /// Trust `X-Forwarded-For` / `Forwarded` for the client address (only behind your own proxy);
    /// the host and scheme always come from PUBLIC_URL.
    #[arg(long, env = "TRUST_PROXY_HEADERS", default_value = "false", num_args = 0..=1, default_missing_value = "true")]
    pub trust_proxy_headers: String,
    /// Worker threads; defaults to the number of CPU cores.
    #[arg(long, env = "WORKERS")]
    pub workers: Option<String>,
    /// 32 random bytes, base64: encrypts API key secrets at rest. Every instance needs the same.
    #[arg(long, env = "API_KEY_ENCRYPTION_KEY", hide_env_values = true)]
    pub api_key_encryption_key: Option<String>,
    /// Where the key is kept when API_KEY_ENCRYPTION_KEY is unset; created (mode 0600) if missing.
    #[arg(long, env = "API_KEY_ENCRYPTION_KEY_FILE", default_value = "incident-portal.key")]
    pub api_key_encryption_key_file: String,
    /// Signed API calls one key may make per minute.
    #[arg(long, env = "API_RATE_LIMIT_PER_MINUTE", default_value = "120")]
    pub api_rate_limit_per_minute: String,
    /// How hard pages and JSON are compressed for clients that accept it: 0 (off) to 9, as
    /// zstd's, gzip's or Brotli's level (whichever the client takes, in that order).
    #[arg(long, env = "COMPRESSION_LEVEL", default_value = "3")]
    pub compression_level: String,
    /// How often an open Security Dashboard refreshes its panel.
    #[arg(long, env = "DASHBOARD_REFRESH_SECONDS", default_value = "30")]
    pub dashboard_refresh_seconds: String,
    /// Where notification mails go out: `smtp://host:port` (plain, for a local relay),
    /// `smtp://host?tls=required` (STARTTLS) or `smtps://host` (TLS); credentials in the user part.
    /// Unset: notifications are recorded and shown to support administrators, not mailed.
    #[arg(long, env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender of notification mails, such as `Incident Portal <portal@example.com>`.
    #[arg(long, env = "MAIL_FROM")]
    pub mail_from: Option<String>,
    /// The support desk's own address: told of new tickets, customer replies and closure requests.
    #[arg(long, env = "DESK_EMAIL")]
    pub desk_email: Option<String>,
    /// Lets a scraper on another host read `/metrics` with `Authorization: Bearer <token>`; at
    /// least 16 characters. Loopback clients need none (unless proxy headers are trusted).
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// The largest file one may attach, such as `25MiB` (binary units; a bare number is bytes).
    #[arg(long, env = "ATTACHMENT_MAX_FILE_SIZE", default_value = "25MiB")]
    pub attachment_max_file_size: String,
    /// The most files one comment or new ticket may carry.
    #[arg(long, env = "ATTACHMENT_MAX_FILES", default_value = "10")]
    pub attachment_max_files: String,
    /// The most bytes of attachments an account may keep (each stored file counted once).
    #[arg(long, env = "ATTACHMENT_ACCOUNT_QUOTA", default_value = "2GiB")]
    pub attachment_account_quota: String,
    /// A ClamAV daemon to scan every upload with: `unix:/run/clamav/clamd.ctl` or `tcp://host:3310`.
    /// Unset: files are not scanned.
    #[arg(long, env = "CLAMAV_ADDRESS")]
    pub clamav_address: Option<String>,
    /// While the scanner cannot be reached: `hold` keeps new files from customers until scanned,
    /// `allow` lets them be downloaded unscanned (and scans them when it is back).
    #[arg(long, env = "CLAMAV_WHEN_DOWN", default_value = "hold")]
    pub clamav_when_down: String,
    /// Let webhooks call plain `http://` addresses (a receiver on a network you trust); by default
    /// an endpoint must be `https://`.
    #[arg(long, env = "WEBHOOKS_ALLOW_HTTP", default_value = "false", num_args = 0..=1, default_missing_value = "true")]
    pub webhooks_allow_http: String,
    /// Let webhooks call loopback, private (RFC 1918, unique-local), shared (CGNAT) and link-local
    /// addresses, for a receiver on your own network; metadata, multicast and reserved addresses
    /// stay refused.
    #[arg(
        long,
        env = "WEBHOOKS_ALLOW_PRIVATE_ADDRESSES",
        default_value = "false",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub webhooks_allow_private_addresses: String,
}

#[derive(Debug, Args)]
pub struct CreateSupportUserArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[arg(long)]
    pub email: String,
    /// Full name, e.g. "Sam Rivera".
    #[arg(long)]
    pub name: String,
    /// A support administrator also manages accounts and support staff.
    #[arg(long)]
    pub admin: bool,
}
