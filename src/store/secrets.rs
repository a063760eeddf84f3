//! Secrets the server makes for itself when configuration gives none.

use super::statement;
use super::{Store, StoreResult, execute, on_pool};

impl Store {
    /// The secret stored under `name`, created from `generate` by whichever instance asks first;
    /// every instance sharing the database then reads the same value.
    pub async fn server_secret(&self, name: &str, generate: impl FnOnce() -> String) -> StoreResult<String> {
        let insert = "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";
        let candidate = generate();
        execute!(self, statement::query(insert).bind(name).bind(&candidate))?;
        let select = "SELECT value FROM server_secrets WHERE name = $1";
        Ok(on_pool!(self, pool => statement::query_scalar(select).bind(name).fetch_one(pool).await)?)
    }
}
