//! Start-up's first contact with the database: one connection opened directly, bounded in time,
//! whose failure says once what failed and why. Through the pool, a refused connection is retried
//! until the acquire timeout and then reported only as "pool timed out".

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use super::Store;

/// The database of `DATABASE_URL` cannot be used. Names it without its password.
#[derive(Debug, thiserror::Error)]
pub enum Unreachable {
    #[error("cannot connect to PostgreSQL at {url}: {cause}")]
    Postgres { url: String, cause: Cause },
    #[error("cannot open the SQLite database {}: {cause}", path.display())]
    Sqlite { path: PathBuf, cause: Cause },
}

/// Why, in words a person can act on. The driver's error is replaced, not wrapped, so that its
/// text is not said a second time.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    #[error("connection refused (is the server running on {0}?)")]
    Refused(String),
    #[error("unknown host {host} ({reason})")]
    UnknownHost { host: String, reason: String },
    #[error("no answer within {} s (DATABASE_ACQUIRE_TIMEOUT_SECONDS)", .0.as_secs())]
    NoAnswer(Duration),
    #[error("the database \"{0}\" does not exist")]
    NoDatabase(String),
    #[error("password authentication failed for user \"{0}\"")]
    WrongPassword(String),
    #[error("authentication failed: {0}")]
    NotAuthorized(String),
    #[error("the directory {} does not exist", .0.display())]
    NoDirectory(PathBuf),
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("the directory {} is not writable", .0.display())]
    DirectoryNotWritable(PathBuf),
    #[error("the file is not writable")]
    FileNotWritable,
    /// Anything else, in the driver's or the system's words.
    #[error("{0}")]
    Other(String),
}

impl Store {
    /// Opens and closes one connection with the pool's options, waiting at most `within` (the
    /// acquire timeout, which the message names) for the server.
    pub async fn reach(&self, within: Duration) -> Result<(), Unreachable> {
        match self {
            Store::Postgres(pool, _) => {
                let options = pool.connect_options();
                reach_postgres(&options, within)
                    .await
                    .map_err(|cause| Unreachable::Postgres { url: postgres_url(&options), cause })
            }
            Store::Sqlite(pool, _) => {
                let options = pool.connect_options();
                let path = options.get_filename().to_path_buf();
                reach_sqlite(&options, within).await.map_err(|cause| Unreachable::Sqlite { path, cause })
            }
        }
    }
}

/// The URL rebuilt from its parts, so that a password (in the URL or its query) cannot appear.
pub(super) fn postgres_url(options: &PgConnectOptions) -> String {
    let user = options.get_username();
    let database = options.get_database().unwrap_or(user);
    match socket(options) {
        Some(directory) => format!("postgres://{user}@/{database}?host={directory}"),
        None => format!("postgres://{user}@{}:{}/{database}", options.get_host(), options.get_port()),
    }
}

/// The directory of a Unix socket, when the URL names one instead of a host.
fn socket(options: &PgConnectOptions) -> Option<String> {
    match options.get_socket() {
        Some(directory) => Some(directory.display().to_string()),
        None => options.get_host().starts_with('/').then(|| options.get_host().to_string()),
    }
}

async fn reach_postgres(options: &PgConnectOptions, within: Duration) -> Result<(), Cause> {
    let host = options.get_host();
    if socket(options).is_none() && host.trim_matches(['[', ']']).parse::<IpAddr>().is_err() {
        resolve(host, options.get_port(), within).await?;
    }
    let connected = tokio::time::timeout(within, options.connect()).await.map_err(|_| Cause::NoAnswer(within))?;
    let _ = connected.map_err(|error| postgres_cause(error, options))?.close().await;
    Ok(())
}

/// Looks the host name up first: the driver reports a name that does not resolve as an untyped
/// I/O error. Bounded on its own, so that a resolver that does not answer is named as the cause.
async fn resolve(host: &str, port: u16, within: Duration) -> Result<(), Cause> {
    let unknown = |reason: String| Cause::UnknownHost { host: host.to_string(), reason };
    match tokio::time::timeout(within, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(mut addresses)) => match addresses.next() {
            Some(_) => Ok(()),
            None => Err(unknown("it has no address".to_string())),
        },
        Ok(Err(error)) => {
            let text = error.to_string();
            Err(unknown(text.strip_prefix("failed to lookup address information: ").unwrap_or(&text).to_string()))
        }
        Err(_) => Err(unknown(format!("the resolver did not answer within {} s", within.as_secs()))),
    }
}

fn postgres_cause(error: sqlx::Error, options: &PgConnectOptions) -> Cause {
    match error {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            Cause::Refused(socket(options).unwrap_or_else(|| format!("{}:{}", options.get_host(), options.get_port())))
        }
        sqlx::Error::Io(io) => Cause::Other(io.to_string()),
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // invalid_catalog_name
            Some("3D000") => Cause::NoDatabase(options.get_database().unwrap_or(options.get_username()).to_string()),
            // invalid_password
            Some("28P01") => Cause::WrongPassword(options.get_username().to_string()),
            // invalid_authorization_specification: an unknown role, or no pg_hba.conf entry
            Some("28000") => Cause::NotAuthorized(db.message().to_string()),
            _ => Cause::Other(db.message().to_string()),
        },
        other => Cause::Other(other.to_string()),
    }
}

async fn reach_sqlite(options: &SqliteConnectOptions, within: Duration) -> Result<(), Cause> {
    let path = options.get_filename();
    // sqlx names an in-memory database `file:sqlx-in-memory-…`; it has no directory to check.
    if !path.to_string_lossy().starts_with("file:") {
        check_sqlite_file(path)?;
    }
    let connected = tokio::time::timeout(within, options.connect()).await.map_err(|_| Cause::NoAnswer(within))?;
    let connection = connected.map_err(|error| match error {
        sqlx::Error::Database(db) => Cause::Other(db.message().to_string()),
        other => Cause::Other(other.to_string()),
    })?;
    let _ = connection.close().await;
    Ok(())
}

/// SQLite says only "unable to open database file"; the file system says why. The directory must
/// be writable even when the file exists: the write-ahead log and the `-calls` file go beside it.
fn check_sqlite_file(path: &Path) -> Result<(), Cause> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    match std::fs::metadata(directory) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(Cause::NoDirectory(directory.to_path_buf()));
        }
        Err(error) => return Err(Cause::Other(format!("{}: {error}", directory.display()))),
        Ok(metadata) if !metadata.is_dir() => return Err(Cause::NotADirectory(directory.to_path_buf())),
        Ok(_) => {}
    }
    if !writable(directory) {
        return Err(Cause::DirectoryNotWritable(directory.to_path_buf()));
    }
    if path.exists() && !writable(path) {
        return Err(Cause::FileNotWritable);
    }
    Ok(())
}

/// Whether this process may write `path`, as the kernel decides (owner, group, root, read-only mounts).
#[cfg(unix)]
fn writable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else { return false };
    // SAFETY: `c_path` is a NUL-terminated string that outlives the call; access() only reads it.
    unsafe { libc::access(c_path.as_ptr(), libc::W_OK) == 0 }
}

#[cfg(not(unix))]
fn writable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|metadata| !metadata.permissions().readonly())
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn the_url_shown_never_holds_the_password() {
        let options = PgConnectOptions::from_str("postgres://ops:hunter2@db.example:6432/portal").unwrap();
        assert_eq!(postgres_url(&options), "postgres://ops@db.example:6432/portal");
        let options = PgConnectOptions::from_str("postgres://ops@db.example/portal?password=hunter2").unwrap();
        assert_eq!(postgres_url(&options), "postgres://ops@db.example:5432/portal");
    }

    #[test]
    fn a_url_naming_a_socket_shows_the_socket_directory() {
        let options = PgConnectOptions::from_str("postgres://ops@localhost/portal?host=/run/postgresql").unwrap();
        assert_eq!(postgres_url(&options), "postgres://ops@/portal?host=/run/postgresql");
    }

    #[test]
    fn a_sqlite_file_in_a_missing_directory_or_under_a_file_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        assert!(matches!(check_sqlite_file(&missing.join("portal.db")), Err(Cause::NoDirectory(d)) if d == missing));
        let file = dir.path().join("plain-file");
        std::fs::write(&file, "").unwrap();
        assert!(matches!(check_sqlite_file(&file.join("portal.db")), Err(Cause::NotADirectory(d)) if d == file));
        assert!(check_sqlite_file(&dir.path().join("portal.db")).is_ok());
    }
}
