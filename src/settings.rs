//! Typed settings, checked once at start-up. A bad value stops the program with one line that
//! names the setting; secrets are wrapped so they never print.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;

use crate::cli::{DatabaseArgs, ServeArgs};
use crate::domain::webhook::OutboundPolicy;
use crate::store::{PoolSettings, Pooler, ReplicaSettings};

mod attachments;
mod mail;
mod public_url;
mod replicas;
pub use attachments::{AttachmentSettings, ScannerAddress, ScannerSettings, parse_size};
pub use mail::MailSettings;
pub use public_url::{PublicUrl, PublicUrlError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub pool: PoolSettings,
    pub log_format: LogFormat,
    /// `DATABASE_READ_URL` and how far behind a replica may be; no replicas by default.
    pub replicas: ReplicaSettings,
}

/// Where the key that encrypts API key secrets comes from.
#[derive(Debug, Clone)]
pub enum ApiKeyEncryption {
    Key(SecretString),
    File(std::path::PathBuf),
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    pub database: DatabaseSettings,
    pub demo: bool,
    pub session_key: Option<SecretString>,
    pub secure_cookies: bool,
    /// `PUBLIC_URL`; when unset, `http://` and the address bound (see `PublicUrl::local`).
    pub public_url: Option<PublicUrl>,
    pub idle_timeout: chrono::Duration,
    pub absolute_timeout: chrono::Duration,
    pub trust_proxy_headers: bool,
    pub workers: usize,
    pub api_key_encryption: ApiKeyEncryption,
    pub api_rate_limit_per_minute: u32,
    pub dashboard_refresh_seconds: u32,
    /// 0 (off) to 9; see `http::compression`.
    pub compression_level: u32,
    pub mail: MailSettings,
    /// `METRICS_TOKEN`: the bearer token that opens `/metrics` to other hosts; `None` when unset.
    pub metrics_token: Option<SecretString>,
    /// Attachments' limits and the virus scanner.
    pub attachments: AttachmentSettings,
    /// Where webhooks may call beyond public HTTPS addresses (`WEBHOOKS_ALLOW_HTTP`,
    /// `WEBHOOKS_ALLOW_PRIVATE_ADDRESSES`).
    pub webhooks: OutboundPolicy,
}

/// A setting with a bad value: `BIND_ADDRESS (--bind): "x" is not …`. The names come from the
/// command line's own definition (`cli`), so each is written once.
#[derive(Debug, thiserror::Error)]
#[error("{variable} ({flag}): {problem}")]
pub struct SettingError {
    variable: String,
    flag: String,
    problem: String,
}

/// The setting whose `cli` field is `id` has a bad value.
fn bad(id: &str, problem: impl Into<String>) -> SettingError {
    let command = <crate::cli::Cli as clap::CommandFactory>::command();
    let arg = command.get_arguments().find(|arg| arg.get_id() == id);
    debug_assert!(arg.is_some(), "no setting named {id} on the command line");
    let variable =
        arg.and_then(|a| a.get_env()).map_or_else(|| id.to_uppercase(), |v| v.to_string_lossy().into_owned());
    let flag = arg.and_then(|a| a.get_long()).map_or_else(|| id.replace('_', "-"), str::to_string);
    SettingError { variable, flag: format!("--{flag}"), problem: problem.into() }
}

fn parse_bool(value: &str, id: &str) -> Result<bool, SettingError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(bad(id, format!("\"{value}\" is not true or false"))),
    }
}

fn parse_number(value: &str, range: std::ops::RangeInclusive<u64>, id: &str) -> Result<u64, SettingError> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| bad(id, format!("\"{value}\" is not a whole number from {} to {}", range.start(), range.end())))
}

impl DatabaseSettings {
    pub fn from_args(args: &DatabaseArgs) -> Result<Self, SettingError> {
        let url = args.database_url.trim();
        if url.is_empty() {
            return Err(bad("database_url", "must not be empty"));
        }
        let known = ["sqlite:", "postgres://", "postgresql://"];
        if url.contains("://") && !known.iter().any(|prefix| url.starts_with(prefix)) {
            return Err(bad("database_url", "use sqlite://<file> or postgres://<user>@<host>/<database>"));
        }
        let max_connections = parse_number(&args.database_max_connections, 1..=1000, "database_max_connections")?;
        let acquire =
            parse_number(&args.database_acquire_timeout_seconds, 1..=300, "database_acquire_timeout_seconds")?;
        let log_format = match args.log_format.trim() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => return Err(bad("log_format", format!("\"{other}\" is not text or json"))),
        };
        let pooler =
            Pooler::parse(&args.database_pooler).map_err(|problem| bad("database_pooler", problem.to_string()))?;
        let max_lag = parse_number(&args.database_read_max_lag_seconds, 1..=3600, "database_read_max_lag_seconds")?;
        let replicas = replicas::parse(args.database_read_url.as_deref(), url, Duration::from_secs(max_lag))?;
        Ok(DatabaseSettings {
            url: SecretString::from(url.to_string()),
            pool: PoolSettings {
                max_connections: max_connections as u32,
                acquire_timeout: Duration::from_secs(acquire),
                pooler,
            },
            log_format,
            replicas,
        })
    }
}

/// The value is not echoed: it might hold a password (which is refused, but must not print).
fn public_url(value: Option<&str>, secure_cookies: bool) -> Result<Option<PublicUrl>, SettingError> {
    let bad = |problem: String| bad("public_url", problem);
    let url = match value.map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(PublicUrl::parse(text).map_err(|problem| bad(problem.to_string()))?),
    };
    // Secure cookies mean users arrive over HTTPS, so a guessed http:// origin would be wrong.
    match &url {
        None if secure_cookies => Err(bad(
            "must be set when SECURE_COOKIES is on: the portal's https:// origin, such as https://portal.example.com"
                .into(),
        )),
        Some(url) if secure_cookies && !url.is_https() => {
            Err(bad("must start with https:// when SECURE_COOKIES is on".into()))
        }
        _ => Ok(url),
    }
}

/// The fewest characters a metrics token may have.
const MIN_METRICS_TOKEN_CHARS: usize = 16;

/// The value is never echoed: it is a secret.
fn metrics_token(value: Option<&str>) -> Result<Option<SecretString>, SettingError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(token) if token.len() < MIN_METRICS_TOKEN_CHARS => Err(bad(
            "metrics_token",
            format!("must be at least {MIN_METRICS_TOKEN_CHARS} characters long (openssl rand -hex 32 makes one)"),
        )),
        // It travels in an `Authorization` header, which holds no spaces or control characters.
        Some(token) if !token.bytes().all(|b| b.is_ascii_graphic()) => {
            Err(bad("metrics_token", "may hold only printable ASCII characters without spaces"))
        }
        Some(token) => Ok(Some(SecretString::from(token.to_string()))),
    }
}

impl Settings {
    pub fn from_args(args: &ServeArgs) -> Result<Self, SettingError> {
        let database = DatabaseSettings::from_args(&args.database)?;
        let bind =
            args.bind.trim().parse::<SocketAddr>().map_err(|_| {
                bad("bind", format!("\"{}\" is not an address and port such as 127.0.0.1:8080", args.bind))
            })?;
        let session_key = match args.session_key.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(key) if key.len() < 32 => {
                return Err(bad("session_key", "must be at least 32 characters long"));
            }
            Some(key) => Some(SecretString::from(key.to_string())),
        };
        let idle = parse_number(&args.session_idle_timeout_minutes, 1..=24 * 60, "session_idle_timeout_minutes")?;
        let absolute =
            parse_number(&args.session_absolute_timeout_hours, 1..=24 * 30, "session_absolute_timeout_hours")?;
        let secure_cookies = parse_bool(&args.secure_cookies, "secure_cookies")?;
        let public_url = public_url(args.public_url.as_deref(), secure_cookies)?;
        let default_workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = match &args.workers {
            Some(w) => parse_number(w, 1..=256, "workers")? as usize,
            None => default_workers,
        };
        let api_key_encryption = match args.api_key_encryption_key.as_deref().map(str::trim) {
            Some(key) if !key.is_empty() => {
                if crate::auth::api_key::SecretCipher::from_base64(key).is_none() {
                    return Err(bad(
                        "api_key_encryption_key",
                        "must be 32 random bytes, base64-encoded (openssl rand -base64 32)",
                    ));
                }
                ApiKeyEncryption::Key(SecretString::from(key.to_string()))
            }
            _ => ApiKeyEncryption::File(args.api_key_encryption_key_file.trim().into()),
        };
        let rate = parse_number(&args.api_rate_limit_per_minute, 1..=1_000_000, "api_rate_limit_per_minute")?;
        let refresh = parse_number(&args.dashboard_refresh_seconds, 1..=3600, "dashboard_refresh_seconds")?;
        Ok(Settings {
            api_key_encryption,
            api_rate_limit_per_minute: rate as u32,
            dashboard_refresh_seconds: refresh as u32,
            compression_level: parse_number(&args.compression_level, 0..=9, "compression_level")? as u32,
            mail: mail::mail_settings(args.smtp_url.as_deref(), args.mail_from.as_deref(), args.desk_email.as_deref())?,
            metrics_token: metrics_token(args.metrics_token.as_deref())?,
            attachments: attachments::attachment_settings(
                &args.attachment_max_file_size,
                &args.attachment_max_files,
                &args.attachment_account_quota,
                args.clamav_address.as_deref(),
                &args.clamav_when_down,
            )?,
            webhooks: OutboundPolicy {
                allow_http: parse_bool(&args.webhooks_allow_http, "webhooks_allow_http")?,
                allow_private: parse_bool(&args.webhooks_allow_private_addresses, "webhooks_allow_private_addresses")?,
            },
            bind,
            database,
            demo: args.demo,
            session_key,
            secure_cookies,
            public_url,
            idle_timeout: chrono::Duration::minutes(idle as i64),
            absolute_timeout: chrono::Duration::hours(absolute as i64),
            trust_proxy_headers: parse_bool(&args.trust_proxy_headers, "trust_proxy_headers")?,
            workers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn settings(args: &[&str]) -> Result<Settings, SettingError> {
        let cli =
            crate::cli::Cli::try_parse_from(std::iter::once("incident-portal").chain(args.iter().copied())).unwrap();
        Settings::from_args(&cli.serve)
    }

    #[test]
    fn the_defaults_suit_a_laptop() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert!(!s.secure_cookies);
        assert_eq!(s.idle_timeout, chrono::Duration::minutes(30));
        assert_eq!(s.absolute_timeout, chrono::Duration::hours(12));
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let error = settings(&["--bind", "nowhere"]).unwrap_err().to_string();
        assert!(error.starts_with("BIND_ADDRESS (--bind):"), "{error}");
        let error = settings(&["--secure-cookies", "maybe"]).unwrap_err().to_string();
        assert!(error.starts_with("SECURE_COOKIES"), "{error}");
        let error = settings(&["--database-url", "mysql://x"]).unwrap_err().to_string();
        assert!(error.starts_with("DATABASE_URL"), "{error}");
        let error = settings(&["--api-key-encryption-key", "not-a-key"]).unwrap_err().to_string();
        assert!(error.starts_with("API_KEY_ENCRYPTION_KEY"), "{error}");
        let error = settings(&["--session-key", "short"]).unwrap_err().to_string();
        assert!(error.starts_with("SESSION_KEY"), "{error}");
        assert!(!error.contains("short"), "the secret must not be echoed: {error}");
    }

    #[test]
    fn an_empty_metrics_token_is_unset_and_a_short_one_is_refused_unechoed() {
        assert!(settings(&[]).unwrap().metrics_token.is_none());
        assert!(settings(&["--metrics-token", "  "]).unwrap().metrics_token.is_none());
        let token = settings(&["--metrics-token", " 0123456789abcdef0123 "]).unwrap().metrics_token.unwrap();
        assert_eq!(secrecy::ExposeSecret::expose_secret(&token), "0123456789abcdef0123");
        for bad in ["tooshort", "0123456789 abcdef0123", "0123456789abcdéf0123"] {
            let error = settings(&["--metrics-token", bad]).unwrap_err().to_string();
            assert!(error.starts_with("METRICS_TOKEN (--metrics-token):"), "{error}");
            assert!(!error.contains(bad), "the secret must not be echoed: {error}");
        }
    }

    #[test]
    fn webhooks_call_only_public_https_addresses_unless_allowed() {
        assert_eq!(settings(&[]).unwrap().webhooks, OutboundPolicy::default());
        let open = settings(&["--webhooks-allow-http", "--webhooks-allow-private-addresses", "yes"]).unwrap();
        assert_eq!(open.webhooks, OutboundPolicy { allow_http: true, allow_private: true });
        let error = settings(&["--webhooks-allow-private-addresses", "maybe"]).unwrap_err().to_string();
        assert!(error.starts_with("WEBHOOKS_ALLOW_PRIVATE_ADDRESSES (--webhooks-allow-private-addresses):"), "{error}");
        let error = settings(&["--webhooks-allow-http", "sometimes"]).unwrap_err().to_string();
        assert!(error.starts_with("WEBHOOKS_ALLOW_HTTP (--webhooks-allow-http):"), "{error}");
    }

    #[test]
    fn a_bare_flag_turns_a_switch_on() {
        let s = settings(&["--secure-cookies", "--public-url", "https://portal.example.com"]).unwrap();
        assert!(s.secure_cookies);
    }

    #[test]
    fn the_public_url_defaults_to_the_bound_address_without_secure_cookies() {
        assert_eq!(settings(&[]).unwrap().public_url, None);
        assert_eq!(settings(&["--public-url", " "]).unwrap().public_url, None);
        let s = settings(&["--public-url", "http://portal.internal:8080/"]).unwrap();
        assert_eq!(s.public_url.unwrap().origin(), "http://portal.internal:8080");
    }

    #[test]
    fn secure_cookies_need_an_https_public_url() {
        let error = settings(&["--secure-cookies"]).unwrap_err().to_string();
        assert!(error.starts_with("PUBLIC_URL (--public-url): must be set"), "{error}");
        let error =
            settings(&["--secure-cookies", "--public-url", "http://portal.example.com"]).unwrap_err().to_string();
        assert!(error.starts_with("PUBLIC_URL (--public-url): must start with https://"), "{error}");
        let s = settings(&["--secure-cookies", "--public-url", "https://portal.example.com"]).unwrap();
        assert_eq!(s.public_url.unwrap().origin(), "https://portal.example.com");
    }

    #[test]
    fn a_public_url_with_more_than_an_origin_is_refused() {
        for url in [
            "https://portal.example.com/portal",
            "https://portal.example.com/?tenant=1",
            "https://portal.example.com/#top",
            "https://admin:hunter2@portal.example.com",
            "portal.example.com",
            "ftp://portal.example.com",
        ] {
            let error = settings(&["--public-url", url]).unwrap_err().to_string();
            assert!(error.starts_with("PUBLIC_URL (--public-url):"), "{url}: {error}");
            assert!(!error.contains("hunter2"), "the value is not echoed: {error}");
        }
    }
}
