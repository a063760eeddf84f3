//! The plans the databases choose for the statements every page and API call runs, so that tests
//! can hold each to its index without timing anything.

use super::activity::figures_sql;
use super::listing::{count_sql, list_sql, open_counts_sql};
use super::sql::{Sql, bind_values};
use super::statement;
use super::{Store, StoreResult, api_keys, attachments, sessions, users};
use crate::domain::activity::ActivityWindow;
use crate::domain::listing::ListQuery;
use crate::domain::policy::TicketScope;

/// A statement to explain, with the values it runs with.
pub enum Planned<'a> {
    /// A page of a ticket table (first page, a keyset page, the last page).
    List(&'a ListQuery),
    /// The total under a ticket table.
    Count(&'a ListQuery),
    /// The counts per severity and status (the severity-count API; the desk's dashboard).
    OpenCounts,
    /// A customer dashboard's counts and activity chart over this window, in one statement.
    Figures(&'a ActivityWindow),
    /// The user behind a session, on every signed-in request.
    Principal(i64),
    /// An API key, on a signed API call whose key is not cached.
    ApiKey(&'a str),
    /// The session itself.
    Session(&'a str),
    /// A ticket's attachments, on its page (support staff's reading: internal ones too).
    Attachments(i64),
}

impl Store {
    /// The plan of `planned` for `scope`, one line per step. PostgreSQL is asked with sequential
    /// scans, bitmap scans and sorts discouraged, as it would otherwise scan and sort a small test
    /// database whatever its indexes; the question is whether an index serves the statement, in
    /// order where it has one.
    pub async fn query_plan(&self, scope: &TicketScope, planned: Planned<'_>) -> StoreResult<String> {
        let user_id = match scope {
            TicketScope::VisibleTo { user_id, .. } => *user_id,
            TicketScope::Everything => 0,
        };
        let sql = match planned {
            Planned::List(query) => list_sql(scope, query, 100).0,
            Planned::Count(query) => count_sql(scope, query),
            Planned::OpenCounts => open_counts_sql(scope),
            Planned::Figures(window) => figures_sql(user_id, window),
            Planned::Principal(id) => Sql::with_values(users::PRINCIPAL_SQL, vec![id.into()]),
            Planned::ApiKey(key_id) => Sql::with_values(api_keys::SECRET_SQL, vec![key_id.to_string().into()]),
            Planned::Attachments(ticket_id) => {
                Sql::with_values(attachments::TICKET_ATTACHMENTS_SQL, vec![ticket_id.into(), true.into()])
            }
            Planned::Session(id) => Sql::with_values(
                sessions::LOAD_SESSION_SQL,
                vec![id.to_string().into(), Some(crate::clock::now()).into()],
            ),
        };
        match self {
            Store::Sqlite(pool, _) => {
                let mut explain = Sql::new("EXPLAIN QUERY PLAN ");
                explain.push(sql.text());
                let (_, values) = sql.into_parts();
                let (text, _) = explain.into_parts();
                let rows: Vec<(i64, i64, i64, String)> =
                    bind_values!(statement::query_as(text), values).fetch_all(pool).await?;
                Ok(rows.into_iter().map(|(.., detail)| detail).collect::<Vec<_>>().join("\n"))
            }
            Store::Postgres(pool, _) => {
                let mut conn = pool.acquire().await?;
                // The generic plan is the one a pooled connection settles on after a few runs.
                for setting in [
                    "enable_seqscan = off",
                    "enable_bitmapscan = off",
                    "enable_sort = off",
                    "plan_cache_mode = force_generic_plan",
                ] {
                    statement::query(sqlx::AssertSqlSafe(format!("SET {setting}"))).execute(&mut *conn).await?;
                }
                let mut explain = Sql::new("EXPLAIN ");
                explain.push(sql.text());
                let (_, values) = sql.into_parts();
                let (text, _) = explain.into_parts();
                let rows: Vec<String> =
                    bind_values!(statement::query_scalar(text), values).fetch_all(&mut *conn).await?;
                statement::query("RESET ALL").execute(&mut *conn).await?;
                Ok(rows.join("\n"))
            }
        }
    }
}
