//! On SQLite, the bytes of attachments live in a third file beside the database, attached to every
//! connection as `files`, as the signed calls' `calls` file is: blobs of megabytes would crowd the
//! main file's page cache, and in WAL mode every commit to a file makes the other connections drop
//! their cache of that file. Main has no tables of these names, so the unqualified names in the
//! queries find them in `files`, and the queries stay those of PostgreSQL.

use super::statement;
use sqlx::sqlite::SqliteConnectOptions;

/// Creates the tables if the file is new.
const SCHEMA: &str = include_str!("../../migrations/sqlite_files.sql");

/// The `files` file of a database: `<file>-files` beside it, or an in-memory database shared by
/// the pool's connections beside an in-memory one.
pub(super) fn location(options: &SqliteConnectOptions, url: &str) -> String {
    let file = options.get_filename().to_string_lossy();
    if url.contains(":memory:") || url.contains("mode=memory") {
        format!("file:{}-files?mode=memory&cache=shared", file.trim_start_matches("file:"))
    } else {
        format!("{file}-files")
    }
}

/// Attaches the `files` file to a new connection, creating its tables if missing.
pub(super) async fn attach(conn: &mut sqlx::SqliteConnection, location: &str) -> Result<(), sqlx::Error> {
    statement::query("ATTACH DATABASE $1 AS files").bind(location).execute(&mut *conn).await?;
    sqlx::raw_sql(SCHEMA).execute(conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn the_files_file_sits_beside_the_database() {
        let file = SqliteConnectOptions::from_str("sqlite:///var/lib/portal/portal.db").unwrap();
        assert_eq!(location(&file, "sqlite:///var/lib/portal/portal.db"), "/var/lib/portal/portal.db-files");
    }
}
