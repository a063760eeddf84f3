//! Reading and writing the test database directly, whichever backend it is on: the same SQL text
//! runs on either pool, as in the store.

use incident_portal::domain::principal::Principal;
use sqlx::FromRow;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use super::app::TestApp;

/// Runs `$body` with `$pool` bound to the pool of `$store`, SQLite's or PostgreSQL's:
/// `on_test_pool!(&app.store, pool => sqlx::query(sql).execute(pool).await)`.
#[macro_export]
macro_rules! on_test_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            incident_portal::store::Store::Sqlite($pool, _) => $body,
            incident_portal::store::Store::Postgres($pool, _) => $body,
        }
    };
}

/// A row type both backends can decode: a `FromRow` struct, or a tuple such as `(i64, String)`.
pub trait Row: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}

impl<T> Row for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}

impl TestApp {
    /// Runs a statement directly on the test database.
    pub async fn execute(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        on_test_pool!(&self.store, pool => sqlx::raw_sql(sql).execute(pool).await.map(|_| ()))
            .expect("the statement runs");
    }

    /// Every row `sql` returns.
    pub async fn rows<T: Row>(&self, sql: &str) -> Vec<T> {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        on_test_pool!(&self.store, pool => sqlx::query_as(sql).fetch_all(pool).await).expect("the query runs")
    }

    /// The first column of the one row `sql` returns.
    pub async fn scalar<T: Send + Unpin>(&self, sql: &str) -> T
    where
        (T,): Row,
    {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        on_test_pool!(&self.store, pool => sqlx::query_scalar(sql).fetch_one(pool).await).expect("the query runs")
    }

    /// The first column of every row `sql` returns.
    pub async fn scalars<T: Send + Unpin>(&self, sql: &str) -> Vec<T>
    where
        (T,): Row,
    {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        on_test_pool!(&self.store, pool => sqlx::query_scalar(sql).fetch_all(pool).await).expect("the query runs")
    }

    /// The first column of every row `sql` returns, as text.
    pub async fn strings(&self, sql: &str) -> Vec<String> {
        self.scalars(sql).await
    }

    /// The one integer `sql` returns: a count, or an id or version.
    pub async fn count(&self, sql: &str) -> i64 {
        self.scalar(sql).await
    }

    pub async fn user_id(&self, email: &str) -> i64 {
        let sql = "SELECT id FROM users WHERE email = $1";
        on_test_pool!(&self.store, pool => sqlx::query_scalar(sql).bind(email).fetch_one(pool).await)
            .expect("the user exists")
    }

    pub async fn principal(&self, email: &str) -> Principal {
        let id = self.user_id(email).await;
        self.store.load_principal(id).await.unwrap().expect("an enabled user")
    }
}
