//! A small builder for the few queries whose shape depends on the request (filters, sort order).
//! Only fixed fragments from this crate become SQL text; every value goes in as a bind parameter.

use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub enum Value {
    Int(i64),
    Text(String),
    Time(DateTime<Utc>),
    Bool(bool),
    OptInt(Option<i64>),
    OptText(Option<String>),
    OptTime(Option<DateTime<Utc>>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<i16> for Value {
    fn from(v: i16) -> Self {
        Value::Int(i64::from(v))
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}

impl From<DateTime<Utc>> for Value {
    fn from(v: DateTime<Utc>) -> Self {
        Value::Time(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::OptInt(v)
    }
}

impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Value::OptText(v)
    }
}

impl From<Option<DateTime<Utc>>> for Value {
    fn from(v: Option<DateTime<Utc>>) -> Self {
        Value::OptTime(v)
    }
}

/// Rows for [`crate::store::Store::bulk_insert`]: one `Vec` of values per row.
pub type Rows = Vec<Vec<Value>>;

#[derive(Debug, Default, Clone)]
pub struct Sql {
    text: String,
    values: Vec<Value>,
}

impl Sql {
    /// A statement from text this crate assembled from its own fixed names (bulk loads).
    pub fn from_trusted(text: String) -> Self {
        Sql { text, values: Vec::new() }
    }

    pub fn new(fragment: &'static str) -> Self {
        Sql { text: fragment.to_string(), values: Vec::new() }
    }

    pub fn push(&mut self, fragment: &str) -> &mut Self {
        self.text.push_str(fragment);
        self
    }

    /// Appends a `$n` placeholder bound to `value`.
    pub fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.values.push(value.into());
        self.text.push('$');
        self.text.push_str(&self.values.len().to_string());
        self
    }

    /// Appends `$a, $b, …` for a non-empty list.
    pub fn bind_list<V: Into<Value>>(&mut self, values: impl IntoIterator<Item = V>) -> &mut Self {
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.bind(value);
        }
        self
    }

    /// A fixed statement whose `$1`, `$2`, … are `values`, in order.
    pub fn with_values(text: &'static str, values: Vec<Value>) -> Self {
        Sql { text: text.to_string(), values }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn into_parts(self) -> (sqlx::AssertSqlSafe<String>, Vec<Value>) {
        // Safe: the text is built only from this crate's fixed fragments; values are bound.
        (sqlx::AssertSqlSafe(self.text), self.values)
    }
}

/// `%word%` with LIKE's own wildcards escaped, so a search for `100%` means what it says.
pub fn like_pattern(word: &str) -> String {
    let mut pattern = String::with_capacity(word.len() + 2);
    pattern.push('%');
    for c in word.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Binds every value of a [`Sql`] to a sqlx query (`query`, `query_as` or `query_scalar`).
macro_rules! bind_values {
    ($query:expr, $values:expr) => {{
        let mut query = $query;
        for value in $values {
            query = match value {
                $crate::store::sql::Value::Int(v) => query.bind(v),
                $crate::store::sql::Value::Text(v) => query.bind(v),
                $crate::store::sql::Value::Time(v) => query.bind(v),
                $crate::store::sql::Value::Bool(v) => query.bind(v),
                $crate::store::sql::Value::OptInt(v) => query.bind(v),
                $crate::store::sql::Value::OptText(v) => query.bind(v),
                $crate::store::sql::Value::OptTime(v) => query.bind(v),
            };
        }
        query
    }};
}

pub(crate) use bind_values;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_in_search_words_are_escaped() {
        assert_eq!(like_pattern("100%_a\\b"), "%100\\%\\_a\\\\b%");
    }

    #[test]
    fn placeholders_are_numbered_in_order() {
        let mut sql = Sql::new("SELECT 1 WHERE a = ");
        sql.bind(1_i64).push(" AND b IN (").bind_list(["x", "y"]).push(")");
        assert_eq!(sql.text(), "SELECT 1 WHERE a = $1 AND b IN ($2, $3)");
    }
}
