//! On SQLite, the spent nonces and call counts of signed API calls live in a second file next to
//! the database, attached to every connection as `calls`. Every signed call commits to them, and
//! in WAL mode a commit to a file makes every other connection drop its whole page cache of that
//! file at its next read: in the main file, each call cost the next list query its cached pages
//! of a million tickets. Main has no tables of these names, so the unqualified names in the
//! queries find them in `calls`, and the queries stay those of PostgreSQL.

use super::statement;
use sqlx::sqlite::SqliteConnectOptions;

/// Creates the tables if the file is new (or was lost: it only holds minutes of nonces and counts).
const SCHEMA: &str = include_str!("../../migrations/sqlite_calls.sql");

/// The `calls` file of a database: `<file>-calls` beside it, or an in-memory database shared by
/// the pool's connections beside an in-memory one.
pub(super) fn location(options: &SqliteConnectOptions, url: &str) -> String {
    let file = options.get_filename().to_string_lossy();
    if url.contains(":memory:") || url.contains("mode=memory") {
        format!("file:{}-calls?mode=memory&cache=shared", file.trim_start_matches("file:"))
    } else {
        format!("{file}-calls")
    }
}

/// Attaches the `calls` file to a new connection, creating its tables if missing.
pub(super) async fn attach(conn: &mut sqlx::SqliteConnection, location: &str) -> Result<(), sqlx::Error> {
    statement::query("ATTACH DATABASE $1 AS calls").bind(location).execute(&mut *conn).await?;
    sqlx::raw_sql(SCHEMA).execute(conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn the_calls_file_sits_beside_the_database_or_in_memory_beside_memory() {
        let file = SqliteConnectOptions::from_str("sqlite:///var/lib/portal/portal.db").unwrap();
        assert_eq!(location(&file, "sqlite:///var/lib/portal/portal.db"), "/var/lib/portal/portal.db-calls");
        let memory = SqliteConnectOptions::from_str("sqlite::memory:").unwrap();
        let calls = location(&memory, "sqlite::memory:");
        assert!(
            calls.starts_with("file:sqlx-in-memory-") && calls.ends_with("-calls?mode=memory&cache=shared"),
            "{calls}"
        );
    }
}
