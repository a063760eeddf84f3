//! The dashboard's activity chart: incidents opened and closed per day of the reader's calendar.
//! A customer's come from their daily counters in `incident_activity` (see `counters`), the
//! support desk's from the tickets.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::counters::{daily_activity, day_number};
use super::sql::{Sql, Value, bind_values};
use super::{Store, StoreResult, in_transaction, on_pool};
use crate::domain::activity::ActivityWindow;
use crate::domain::policy::TicketScope;

/// The zone a customer's rows were built in, and one day's row of the window if any.
type ActivityRow = (Option<String>, Option<i64>, Option<i64>, Option<i64>);

/// `CASE WHEN column < b1 THEN 0 WHEN column < b2 THEN 1 … END`: the period a value falls in.
fn push_period<V: Into<Value> + Clone>(sql: &mut Sql, column: &str, boundaries: &[V]) {
    sql.push("CASE");
    for (period, boundary) in boundaries.iter().skip(1).enumerate() {
        sql.push(&format!(" WHEN {column} < ")).bind(boundary.clone()).push(" THEN ").bind(period as i64);
    }
    sql.push(" END");
}

/// A customer's activity rows over the window's days, each with the zone they were built in
/// (one row with the zone alone when there are none): see [`Store::incident_activity`].
pub(super) fn activity_sql(user_id: i64, window: &ActivityWindow) -> Sql {
    let first = window.days.first().map_or(0, |d| day_number(*d));
    let mut sql = Sql::new(
        "SELECT u.activity_zone, a.day, a.opened, a.closed FROM users u \
         LEFT JOIN incident_activity a ON a.user_id = u.id AND a.day >= ",
    );
    sql.bind(first).push(" AND a.day < ").bind(first + window.days.len() as i64).push(" WHERE u.id = ").bind(user_id);
    sql
}

impl Store {
    /// Incidents in scope opened and closed on each day of the window. A customer's come from
    /// their daily counters (built in their zone first if they are not yet), the support desk's
    /// from the tickets, grouped by the database; either way a handful of rows come back.
    #[tracing::instrument(skip(self, window))]
    pub async fn incident_activity(
        &self,
        scope: &TicketScope,
        window: &ActivityWindow,
    ) -> StoreResult<Vec<(i64, i64)>> {
        let boundaries = &window.boundaries;
        let periods = window.days.len();
        let mut totals = vec![(0, 0); periods];
        if periods == 0 {
            return Ok(totals);
        }
        let grouped = match scope {
            TicketScope::VisibleTo { user_id, .. } => {
                let mut rows = self.fetch_activity_rows(*user_id, window).await?;
                if rows.first().and_then(|row| row.0.as_deref()) != Some(window.zone.name()) {
                    self.rebuild_activity(*user_id, window.zone).await?;
                    rows = self.fetch_activity_rows(*user_id, window).await?;
                }
                let first = day_number(window.days[0]);
                rows.into_iter().filter_map(|(_, day, opened, closed)| Some((day? - first, opened?, closed?))).collect()
            }
            TicketScope::Everything => {
                let mut grouped = Vec::new();
                for (column, opened) in [("created_at", true), ("closed_at", false)] {
                    let mut sql = Sql::new("SELECT ");
                    push_period(&mut sql, column, boundaries);
                    let counts = if opened {
                        " AS period, COUNT(*), CAST(0 AS BIGINT)"
                    } else {
                        " AS period, CAST(0 AS BIGINT), COUNT(*)"
                    };
                    sql.push(counts)
                        .push(&format!(" FROM tickets WHERE severity IS NOT NULL AND {column} >= "))
                        .bind(boundaries[0])
                        .push(&format!(" AND {column} < "))
                        .bind(boundaries[periods])
                        .push(" GROUP BY period");
                    grouped.extend(self.fetch_periods(sql).await?);
                }
                grouped
            }
        };
        for (period, opened, closed) in grouped {
            if let Some(total) = usize::try_from(period).ok().and_then(|p| totals.get_mut(p)) {
                total.0 += opened;
                total.1 += closed;
            }
        }
        Ok(totals)
    }

    async fn fetch_activity_rows(&self, user_id: i64, window: &ActivityWindow) -> StoreResult<Vec<ActivityRow>> {
        let (text, values) = activity_sql(user_id, window).into_parts();
        Ok(on_pool!(self, pool => bind_values!(sqlx::query_as(text), values).fetch_all(pool).await)?)
    }

    /// Builds a user's daily activity rows in `zone` from `ticket_visibility`, unless they are in
    /// that zone already (another request may have just built them).
    pub async fn rebuild_activity(&self, user_id: i64, zone: Tz) -> StoreResult<()> {
        const CLAIM: &str =
            "UPDATE users SET activity_zone = $1 WHERE id = $2 AND (activity_zone IS NULL OR activity_zone <> $1)";
        const INCIDENTS: &str =
            "SELECT created_at, closed_at FROM ticket_visibility WHERE user_id = $1 AND severity IS NOT NULL";
        in_transaction!(self, tx => {
            let claimed = sqlx::query(CLAIM).bind(zone.name()).bind(user_id).execute(&mut *tx).await?.rows_affected();
            if claimed == 1 {
                sqlx::query("DELETE FROM incident_activity WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
                let incidents: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> =
                    sqlx::query_as(INCIDENTS).bind(user_id).fetch_all(&mut *tx).await?;
                let days: Vec<_> = daily_activity(zone, incidents).into_iter().collect();
                for chunk in days.chunks(200) {
                    let mut sql = Sql::new("INSERT INTO incident_activity (user_id, day, opened, closed) VALUES ");
                    for (i, (day, (opened, closed))) in chunk.iter().enumerate() {
                        sql.push(if i == 0 { "(" } else { ", (" });
                        sql.bind(user_id).push(", ").bind(*day).push(", ").bind(*opened).push(", ").bind(*closed).push(")");
                    }
                    let (text, values) = sql.into_parts();
                    bind_values!(sqlx::query(text), values).execute(&mut *tx).await?;
                }
            }
        })
    }

    /// Builds the activity rows of every user who has none in their zone (after loading the demo
    /// data, so that every later change keeps them up to date).
    pub async fn rebuild_all_activity(&self) -> StoreResult<()> {
        const STALE: &str =
            "SELECT id, time_zone FROM users WHERE activity_zone IS NULL OR activity_zone <> time_zone ORDER BY id";
        let users: Vec<(i64, String)> = on_pool!(self, pool => sqlx::query_as(STALE).fetch_all(pool).await)?;
        for (user_id, zone) in users {
            self.rebuild_activity(user_id, zone.parse().unwrap_or(Tz::UTC)).await?;
        }
        Ok(())
    }

    async fn fetch_periods(&self, sql: Sql) -> StoreResult<Vec<(i64, i64, i64)>> {
        let (text, values) = sql.into_parts();
        Ok(on_pool!(self, pool => bind_values!(sqlx::query_as(text), values).fetch_all(pool).await)?)
    }
}
