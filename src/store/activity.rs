//! The dashboard's figures: open incidents per severity and status, and incidents opened and
//! closed per day of the reader's calendar for the activity chart. A customer's come from their
//! counters (`incident_counts`, and the daily `incident_activity`, see `counters`) in one
//! statement; the support desk's from the tickets, grouped by the database.

use super::statement;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::counters::{daily_activity, day_number};
use super::listing::OpenIncidentCounts;
use super::sql::{Sql, Value, bind_values};
use super::{Store, StoreResult, in_transaction, on_pool};
use crate::domain::activity::ActivityWindow;
use crate::domain::policy::TicketScope;

/// The zone a customer's rows were built in, and one day's row of the window if any.
type ActivityRow = (Option<String>, Option<i64>, Option<i64>, Option<i64>);

/// A row of [`figures_sql`]: the part (0 for a count, 1 for activity), then the count's status,
/// severity and number, or the activity row.
type FigureRow = (i64, Option<String>, Option<i64>, Option<i64>, Option<i64>);

/// The dashboard's open-incident counts and its activity chart's totals per day of the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardFigures {
    pub open: OpenIncidentCounts,
    /// (opened, closed) per day of the window, oldest first.
    pub activity: Vec<(i64, i64)>,
}

/// `CASE WHEN column < b1 THEN 0 WHEN column < b2 THEN 1 … END`: the period a value falls in.
fn push_period<V: Into<Value> + Clone>(sql: &mut Sql, column: &str, boundaries: &[V]) {
    sql.push("CASE");
    for (period, boundary) in boundaries.iter().skip(1).enumerate() {
        sql.push(&format!(" WHEN {column} < ")).bind(boundary.clone()).push(" THEN ").bind(period as i64);
    }
    sql.push(" END");
}

/// `SELECT <columns> u.activity_zone, a.day, a.opened, a.closed …`: a customer's activity rows
/// over the window's days, each with the zone they were built in (one row with the zone alone
/// when there are none).
fn push_activity(sql: &mut Sql, columns: &str, user_id: i64, window: &ActivityWindow) {
    let first = window.days.first().map_or(0, |d| day_number(*d));
    sql.push("SELECT ")
        .push(columns)
        .push(
            "u.activity_zone, a.day, a.opened, a.closed FROM users u \
             LEFT JOIN incident_activity a ON a.user_id = u.id AND a.day >= ",
        )
        .bind(first)
        .push(" AND a.day < ")
        .bind(first + window.days.len() as i64)
        .push(" WHERE u.id = ")
        .bind(user_id);
}

/// A customer's activity rows alone, read again after they were rebuilt.
fn activity_sql(user_id: i64, window: &ActivityWindow) -> Sql {
    let mut sql = Sql::new("");
    push_activity(&mut sql, "", user_id, window);
    sql
}

/// A customer's dashboard figures in one round trip: their open counts (part 0) and their
/// activity rows (part 1).
pub(super) fn figures_sql(user_id: i64, window: &ActivityWindow) -> Sql {
    let mut sql = Sql::new(
        "SELECT CAST(0 AS BIGINT), status, CAST(severity AS BIGINT), CAST(SUM(n) AS BIGINT), CAST(0 AS BIGINT) \
         FROM incident_counts WHERE status <> 'closed' AND user_id = ",
    );
    sql.bind(user_id).push(" GROUP BY severity, status UNION ALL ");
    push_activity(&mut sql, "1, ", user_id, window);
    sql
}

impl Store {
    /// The dashboard's figures for the scope: a customer's from their counters (activity built in
    /// their zone first if it is not yet), the support desk's from the tickets.
    pub async fn dashboard_figures(
        &self,
        scope: &TicketScope,
        window: &ActivityWindow,
    ) -> StoreResult<DashboardFigures> {
        self.dashboard_figures_built_on(self, scope, window).await
    }

    /// As [`Store::dashboard_figures`], read from this store (a replica, say) while activity that
    /// must be built first is built on, and then read from, `primary`.
    #[tracing::instrument(skip(self, primary, window))]
    pub(super) async fn dashboard_figures_built_on(
        &self,
        primary: &Store,
        scope: &TicketScope,
        window: &ActivityWindow,
    ) -> StoreResult<DashboardFigures> {
        match scope {
            TicketScope::VisibleTo { user_id, .. } => {
                let (text, values) = figures_sql(*user_id, window).into_parts();
                let rows: Vec<FigureRow> =
                    on_pool!(self, pool => bind_values!(statement::query_as(text), values).fetch_all(pool).await)?;
                let (counts, activity): (Vec<_>, Vec<_>) = rows.into_iter().partition(|row| row.0 == 0);
                let open = OpenIncidentCounts::from_rows(
                    counts.into_iter().filter_map(|(_, status, rank, n, _)| Some((rank?, status?, n?))),
                );
                let mut activity: Vec<ActivityRow> =
                    activity.into_iter().map(|(_, zone, day, opened, closed)| (zone, day, opened, closed)).collect();
                if activity.first().and_then(|row| row.0.as_deref()) != Some(window.zone.name()) {
                    primary.rebuild_activity(*user_id, window.zone).await?;
                    let (text, values) = activity_sql(*user_id, window).into_parts();
                    activity = on_pool!(primary, pool => bind_values!(statement::query_as(text), values).fetch_all(pool).await)?;
                }
                let first = window.days.first().map_or(0, |d| day_number(*d));
                let days =
                    activity.into_iter().filter_map(|(_, day, opened, closed)| Some((day? - first, opened?, closed?)));
                Ok(DashboardFigures { open, activity: per_day(window, days) })
            }
            TicketScope::Everything => Ok(DashboardFigures {
                open: self.open_incident_counts(scope).await?,
                activity: per_day(window, self.desk_activity(window).await?),
            }),
        }
    }

    /// Incidents of every account opened and closed per period of the window, as (period,
    /// opened, closed) rows grouped by the database.
    async fn desk_activity(&self, window: &ActivityWindow) -> StoreResult<Vec<(i64, i64, i64)>> {
        let boundaries = &window.boundaries;
        let periods = window.days.len();
        let mut grouped = Vec::new();
        if periods == 0 {
            return Ok(grouped);
        }
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
            let (text, values) = sql.into_parts();
            let rows: Vec<(i64, i64, i64)> =
                on_pool!(self, pool => bind_values!(statement::query_as(text), values).fetch_all(pool).await)?;
            grouped.extend(rows);
        }
        Ok(grouped)
    }

    /// Builds a user's daily activity rows in `zone` from `ticket_visibility`, unless they are in
    /// that zone already (another request may have just built them).
    pub async fn rebuild_activity(&self, user_id: i64, zone: Tz) -> StoreResult<()> {
        const CLAIM: &str =
            "UPDATE users SET activity_zone = $1 WHERE id = $2 AND (activity_zone IS NULL OR activity_zone <> $1)";
        const INCIDENTS: &str =
            "SELECT created_at, closed_at FROM ticket_visibility WHERE user_id = $1 AND severity IS NOT NULL";
        in_transaction!(self, tx => {
            let claimed = statement::query(CLAIM).bind(zone.name()).bind(user_id).execute(&mut *tx).await?.rows_affected();
            if claimed == 1 {
                statement::query("DELETE FROM incident_activity WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
                let incidents: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> =
                    statement::query_as(INCIDENTS).bind(user_id).fetch_all(&mut *tx).await?;
                let days: Vec<_> = daily_activity(zone, incidents).into_iter().collect();
                for chunk in days.chunks(200) {
                    let mut sql = Sql::new("INSERT INTO incident_activity (user_id, day, opened, closed) VALUES ");
                    for (i, (day, (opened, closed))) in chunk.iter().enumerate() {
                        sql.push(if i == 0 { "(" } else { ", (" });
                        sql.bind(user_id).push(", ").bind(*day).push(", ").bind(*opened).push(", ").bind(*closed).push(")");
                    }
                    let (text, values) = sql.into_parts();
                    bind_values!(statement::query(text), values).execute(&mut *tx).await?;
                }
            }
        })
    }

    /// Builds the activity rows of every user who has none in their zone (after loading the demo
    /// data, so that every later change keeps them up to date).
    pub async fn rebuild_all_activity(&self) -> StoreResult<()> {
        const STALE: &str =
            "SELECT id, time_zone FROM users WHERE activity_zone IS NULL OR activity_zone <> time_zone ORDER BY id";
        let users: Vec<(i64, String)> = on_pool!(self, pool => statement::query_as(STALE).fetch_all(pool).await)?;
        for (user_id, zone) in users {
            self.rebuild_activity(user_id, zone.parse().unwrap_or(Tz::UTC)).await?;
        }
        Ok(())
    }
}

/// (opened, closed) per day of the window from (period, opened, closed) rows.
fn per_day(window: &ActivityWindow, rows: impl IntoIterator<Item = (i64, i64, i64)>) -> Vec<(i64, i64)> {
    let mut totals = vec![(0, 0); window.days.len()];
    for (period, opened, closed) in rows {
        if let Some(total) = usize::try_from(period).ok().and_then(|p| totals.get_mut(p)) {
            total.0 += opened;
            total.1 += closed;
        }
    }
    totals
}
