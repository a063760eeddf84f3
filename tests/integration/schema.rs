//! The two backends kept in step: after migration SQLite and PostgreSQL have the same tables with
//! the same columns (their types differ, as the dialects do), and the migration folders follow
//! the rule in `migrations/README.md`.

use std::collections::{BTreeMap, BTreeSet};

use crate::helpers::*;

/// Each table's column names.
type Schema = BTreeMap<String, BTreeSet<String>>;

fn schema(columns: Vec<(String, String)>) -> Schema {
    let mut schema = Schema::new();
    for (table, column) in columns {
        schema.entry(table).or_default().insert(column);
    }
    schema
}

/// SQLite's tables, in the main file and in the attached `calls` and `files` files, which hold the
/// signed API calls' tables and the attachments' bytes that PostgreSQL keeps with the rest.
async fn sqlite_schema(app: &TestApp) -> Schema {
    let mut tables = Schema::new();
    for database in ["main", "calls", "files"] {
        let sql = format!(
            "SELECT m.name, c.name FROM {database}.sqlite_master m JOIN pragma_table_info(m.name, '{database}') c \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND m.name <> '_sqlx_migrations'"
        );
        for (table, columns) in schema(app.rows(&sql).await) {
            assert!(tables.insert(table.clone(), columns).is_none(), "{table} is in both SQLite files");
        }
    }
    tables
}

async fn postgres_schema(app: &TestApp) -> Schema {
    let sql = "SELECT CAST(c.table_name AS TEXT), CAST(c.column_name AS TEXT) FROM information_schema.columns c \
               JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
               WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' AND c.table_name <> '_sqlx_migrations'";
    schema(app.rows(sql).await)
}

/// The tables, and columns of shared tables, that `one` has and `other` lacks.
fn only_in(one: &Schema, other: &Schema) -> Vec<String> {
    let mut missing = Vec::new();
    for (table, columns) in one {
        match other.get(table) {
            None => missing.push(format!("table {table}")),
            Some(theirs) => missing.extend(columns.difference(theirs).map(|column| format!("{table}.{column}"))),
        }
    }
    missing
}

#[tokio::test]
async fn sqlite_and_postgres_have_the_same_tables_and_columns_after_migration() {
    let sqlite = spawn_app(Backend::Sqlite).await.expect("SQLite always works");
    let Some(postgres) = spawn_app(Backend::Postgres).await else { return };
    let (sqlite, postgres) = (sqlite_schema(&sqlite).await, postgres_schema(&postgres).await);
    for table in ["tickets", "users", "api_nonces", "api_rate", "blobs", "file_chunks", "file_uploads"] {
        assert!(sqlite.contains_key(table) && postgres.contains_key(table), "both schemas were read: {table}");
    }
    assert_eq!(only_in(&sqlite, &postgres), Vec::<String>::new(), "only on SQLite");
    assert_eq!(only_in(&postgres, &sqlite), Vec::<String>::new(), "only on PostgreSQL");
}

/// Migrations in one folder only (see `migrations/README.md`).
const ONE_BACKEND_ONLY: [(&str, &str); 3] = [
    // SQLite moves the signed API calls' tables to a file of their own.
    ("sqlite", "0011_api_calls_in_their_own_file.sql"),
    // History: one change, the covering open-incident indexes, numbered 0012 on SQLite and, a
    // number too early, 0011 on PostgreSQL. Deployed databases record them, so the names stay.
    ("sqlite", "0012_covering_open_incident_indexes.sql"),
    ("postgres", "0011_covering_open_incident_indexes.sql"),
];

/// Numbers the two folders give to different migrations: the history above, and never again.
const NUMBERS_USED_TWICE: [&str; 1] = ["0011"];

/// The migration files of `migrations/<backend>`, by name.
fn migrations(backend: &str) -> BTreeSet<String> {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
    let names: BTreeSet<String> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".sql"))
        .collect();
    assert!(names.len() > 10, "{} has the migrations", folder.display());
    names
}

fn number(name: &str) -> &str {
    name.split_once('_').map_or(name, |(number, _)| number)
}

#[test]
fn every_migration_is_in_both_folders_unless_only_one_backend_needs_it() {
    let folders = [("sqlite", migrations("sqlite")), ("postgres", migrations("postgres"))];
    let mut problems = Vec::new();
    let mut names_by_number = BTreeMap::<&str, BTreeSet<&str>>::new();
    for (i, (backend, names)) in folders.iter().enumerate() {
        let (other, theirs) = &folders[1 - i];
        let mut numbers = BTreeSet::new();
        for name in names {
            let listed = ONE_BACKEND_ONLY.contains(&(backend, name.as_str()));
            if !theirs.contains(name) && !listed {
                problems.push(format!("{backend}/{name} is missing from {other}/ and not listed as one-backend-only"));
            }
            if theirs.contains(name) && listed {
                problems.push(format!("{backend}/{name} is listed as one-backend-only but {other}/ has it too"));
            }
            if !numbers.insert(number(name)) {
                problems.push(format!("{backend}/ uses {} twice", number(name)));
            }
            names_by_number.entry(number(name)).or_default().insert(name);
        }
    }
    for (backend, name) in ONE_BACKEND_ONLY {
        if !folders.iter().any(|(folder, names)| *folder == backend && names.contains(name)) {
            problems.push(format!("{backend}/{name} is listed as one-backend-only but does not exist"));
        }
    }
    for (number, names) in &names_by_number {
        let twice = names.len() > 1;
        if twice != NUMBERS_USED_TWICE.contains(number) {
            problems.push(format!("{number} names {names:?}: a number means one migration in both folders"));
        }
    }
    assert_eq!(problems, Vec::<String>::new());
}
