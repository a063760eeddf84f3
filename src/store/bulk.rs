//! Bulk loading for the benchmark data generator: multi-row inserts in large transactions, with
//! secondary indexes dropped during the load and rebuilt after it.

use super::sql::{Rows, Sql, bind_values};
use super::statement;
use super::{Store, StoreResult, execute, in_transaction, on_pool};

/// Bind parameters per statement. Both drivers slow down sharply with many parameters per
/// statement (measured: 30,000 took 15 times longer than 250 for the same rows).
const MAX_PARAMETERS: usize = 250;

impl Store {
    /// Inserts many rows into `table`, in one transaction, in statements of as many rows as fit.
    pub async fn bulk_insert(
        &self,
        table: &'static str,
        columns: &'static [&'static str],
        rows: Rows,
    ) -> StoreResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let per_statement = (MAX_PARAMETERS / columns.len()).max(1);
        let mut statements = Vec::new();
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let mut sql = Sql::from_trusted(format!("INSERT INTO {table} ({}) VALUES ", columns.join(", ")));
            for (i, row) in rows.by_ref().take(per_statement).enumerate() {
                sql.push(if i == 0 { "(" } else { ", (" });
                sql.bind_list(row);
                sql.push(")");
            }
            statements.push(sql);
        }
        in_transaction!(self, tx => {
            for sql in statements {
                let (text, values) = sql.into_parts();
                bind_values!(statement::query(text), values).execute(&mut *tx).await?;
            }
        })
    }

    /// Drops the secondary (non-unique) indexes and returns the statements that recreate them.
    pub async fn drop_secondary_indexes(&self) -> StoreResult<Vec<String>> {
        let sql = match self {
            Store::Sqlite(..) => {
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%'"
            }
            Store::Postgres(..) => {
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() \
                 AND indexdef NOT LIKE 'CREATE UNIQUE INDEX%'"
            }
        };
        let indexes: Vec<(String, String)> = on_pool!(self, pool => statement::query_as(sql).fetch_all(pool).await)?;
        for (name, _) in &indexes {
            let drop = format!("DROP INDEX {name}");
            execute!(self, statement::query(sqlx::AssertSqlSafe(drop.clone())))?;
        }
        Ok(indexes.into_iter().map(|(_, ddl)| ddl).collect())
    }

    /// Runs statements the store itself produced (index definitions read from the catalog).
    pub async fn run_trusted(&self, statements: &[String]) -> StoreResult<()> {
        for statement in statements {
            execute!(self, statement::query(sqlx::AssertSqlSafe(statement.clone())))?;
        }
        Ok(())
    }

    /// After rows were loaded with explicit ids: PostgreSQL's identity sequences continue after them
    /// (SQLite's rowids do so by themselves).
    pub async fn after_bulk_load(&self) -> StoreResult<()> {
        if let Store::Postgres(..) = self {
            for table in ["accounts", "users", "roles", "tickets"] {
                let sql =
                    format!("SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))");
                execute!(self, statement::query(sqlx::AssertSqlSafe(sql)))?;
            }
        }
        Ok(())
    }

    /// Counts every user's open incidents afresh from `ticket_visibility` (after a bulk load).
    pub async fn rebuild_incident_counts(&self) -> StoreResult<()> {
        in_transaction!(self, tx => {
            statement::query("DELETE FROM incident_counts").execute(&mut *tx).await?;
            statement::query(
                "INSERT INTO incident_counts (user_id, severity, status, n) \
                 SELECT user_id, severity, status, COUNT(*) FROM ticket_visibility \
                 WHERE severity IS NOT NULL AND status <> 'closed' GROUP BY user_id, severity, status",
            )
            .execute(&mut *tx)
            .await?;
        })
    }

    /// Forgets every user's daily activity rows (after a bulk load): each user's are built on
    /// their first dashboard, in their own time zone.
    pub async fn reset_incident_activity(&self) -> StoreResult<()> {
        in_transaction!(self, tx => {
            statement::query("DELETE FROM incident_activity").execute(&mut *tx).await?;
            statement::query("UPDATE users SET activity_zone = NULL WHERE activity_zone IS NOT NULL").execute(&mut *tx).await?;
        })
    }

    /// Refreshes the planner's statistics after a load. On SQLite only the per-index averages are
    /// kept, as in the plans tests' databases: the value samples of `sqlite_stat4` found no better
    /// plan for these queries (and, before `stable_plans`, made SQLite re-plan statements on
    /// every run). PostgreSQL also vacuums, as it would by itself some minutes later: the data set
    /// is then as a running database keeps it (index-only scans need the visibility map), and
    /// whatever uses it first does not compete with autovacuum. Only the tables the load filled:
    /// one analyzed while empty (sessions, nonces) is known to be empty, and until it is analyzed
    /// again every connection's cached plan for it reads the whole table as it grows.
    pub async fn analyze(&self) -> StoreResult<()> {
        if let Store::Postgres(pool, _) = self {
            const TABLES: &str = "SELECT quote_ident(relname) FROM pg_class WHERE relkind = 'r' AND relnamespace = current_schema()::regnamespace";
            let tables: Vec<String> = on_pool!(self, pool => statement::query_scalar(TABLES).fetch_all(pool).await)?;
            let mut filled = Vec::new();
            for table in tables {
                let sql = sqlx::AssertSqlSafe(format!("SELECT EXISTS (SELECT 1 FROM {table})"));
                if on_pool!(self, pool => statement::query_scalar(sql).fetch_one(pool).await)? {
                    filled.push(table);
                }
            }
            // The simple protocol, outside any transaction (VACUUM refuses one), as a pooler passes it.
            let vacuum = format!("VACUUM (ANALYZE) {}", filled.join(", "));
            sqlx::raw_sql(sqlx::AssertSqlSafe(vacuum)).execute(pool).await?;
            return Ok(());
        }
        execute!(self, statement::query("ANALYZE"))?;
        if let Store::Sqlite(pool, _) = self {
            let stat4 = "SELECT name FROM sqlite_master WHERE name = 'sqlite_stat4'";
            if statement::query_scalar::<_, String>(stat4).fetch_optional(pool).await?.is_some() {
                execute!(self, statement::query("DELETE FROM sqlite_stat4"))?;
            }
        }
        Ok(())
    }
}
