//! `DATABASE_READ_URL`: the read replicas, checked without ever echoing a URL (it may hold a
//! password).

use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;

use super::{SettingError, bad};
use crate::store::{ReplicaSettings, is_postgres_url};

/// The replicas named in `value` (comma-separated), for the primary at `primary_url`.
pub(super) fn parse(
    value: Option<&str>,
    primary_url: &str,
    max_lag: Duration,
) -> Result<ReplicaSettings, SettingError> {
    let urls: Vec<&str> = value.unwrap_or_default().split(',').map(str::trim).filter(|url| !url.is_empty()).collect();
    if urls.is_empty() {
        return Ok(ReplicaSettings { urls: Vec::new(), max_lag });
    }
    if !is_postgres_url(primary_url) {
        return Err(bad(
            "database_read_url",
            "read replicas need PostgreSQL, and DATABASE_URL is a SQLite file: unset DATABASE_READ_URL",
        ));
    }
    for (n, url) in urls.iter().enumerate() {
        let which = n + 1;
        if !is_postgres_url(url) {
            return Err(bad("database_read_url", format!("replica {which} is not a postgres:// URL")));
        }
        if sqlx::postgres::PgConnectOptions::from_str(url).is_err() {
            return Err(bad("database_read_url", format!("replica {which} is not a valid PostgreSQL URL")));
        }
    }
    Ok(ReplicaSettings { urls: urls.into_iter().map(|url| SecretString::from(url.to_string())).collect(), max_lag })
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    const LAG: Duration = Duration::from_secs(5);

    #[test]
    fn replicas_are_a_comma_separated_list_of_postgres_urls() {
        let replicas = parse(Some(" postgres://r1/db, postgres://r2:5433/db ,"), "postgres://primary/db", LAG).unwrap();
        let urls: Vec<&str> = replicas.urls.iter().map(|u| u.expose_secret()).collect();
        assert_eq!(urls, ["postgres://r1/db", "postgres://r2:5433/db"]);
        assert!(parse(None, "sqlite://portal.db", LAG).unwrap().urls.is_empty());
        assert!(parse(Some(" "), "sqlite://portal.db", LAG).unwrap().urls.is_empty());
    }

    #[test]
    fn sqlite_with_replicas_is_refused_with_a_clear_message() {
        let error = parse(Some("postgres://r1/db"), "sqlite://portal.db", LAG).unwrap_err().to_string();
        assert!(error.starts_with("DATABASE_READ_URL (--database-read-url): read replicas need PostgreSQL"), "{error}");
    }

    #[test]
    fn a_bad_replica_url_is_named_by_its_place_never_echoed() {
        let error =
            parse(Some("postgres://r1/db,mysql://u:hunter2@r2/db"), "postgres://p/db", LAG).unwrap_err().to_string();
        assert!(error.contains("replica 2 is not a postgres:// URL"), "{error}");
        assert!(!error.contains("hunter2"));
    }
}
