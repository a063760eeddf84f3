//! The two backends kept in step: after migration SQLite and PostgreSQL have the same tables with
//! the same columns (their types differ, as the dialects do).

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

/// SQLite's tables, in the main file and in the attached `calls` file, which holds the signed API
/// calls' tables that PostgreSQL keeps with the rest.
async fn sqlite_schema(app: &TestApp) -> Schema {
    let mut tables = Schema::new();
    for database in ["main", "calls"] {
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
    for table in ["tickets", "users", "api_nonces", "api_rate"] {
        assert!(sqlite.contains_key(table) && postgres.contains_key(table), "both schemas were read: {table}");
    }
    assert_eq!(only_in(&sqlite, &postgres), Vec::<String>::new(), "only on SQLite");
    assert_eq!(only_in(&postgres, &sqlite), Vec::<String>::new(), "only on PostgreSQL");
}
