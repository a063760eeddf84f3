//! Reading and writing the test database directly, whichever backend it is on: the same SQL text
//! runs on either pool, as in the store.

use incident_portal::domain::principal::Principal;
use incident_portal::store::Store;

use super::app::TestApp;

impl TestApp {
    pub async fn user_id(&self, email: &str) -> i64 {
        let sql = "SELECT id FROM users WHERE email = $1";
        match &self.store {
            Store::Sqlite(pool, _) => sqlx::query_scalar(sql).bind(email).fetch_one(pool).await,
            Store::Postgres(pool) => sqlx::query_scalar(sql).bind(email).fetch_one(pool).await,
        }
        .expect("the user exists")
    }

    pub async fn principal(&self, email: &str) -> Principal {
        let id = self.user_id(email).await;
        self.store.load_principal(id).await.unwrap().expect("an enabled user")
    }

    /// Runs a statement directly on the test database.
    pub async fn execute(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match &self.store {
            Store::Sqlite(pool, _) => sqlx::raw_sql(sql).execute(pool).await.map(|_| ()),
            Store::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.map(|_| ()),
        }
        .expect("the statement runs");
    }

    /// The first column of every row `sql` returns, as text.
    pub async fn strings(&self, sql: &str) -> Vec<String> {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match &self.store {
            Store::Sqlite(pool, _) => sqlx::query_scalar(sql).fetch_all(pool).await,
            Store::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
        }
        .expect("the query runs")
    }

    pub async fn count(&self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match &self.store {
            Store::Sqlite(pool, _) => sqlx::query_scalar(sql).fetch_one(pool).await,
            Store::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        }
        .expect("the count runs")
    }
}
