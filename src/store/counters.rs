//! The per-user counters derived from `ticket_visibility` (`incident_counts`, `incident_activity`):
//! when a ticket's visibility rows are rebuilt, the counters move by the difference between the
//! rows before and after.
//!
//! `incident_activity` counts per day of the user's own time zone, the zone recorded in
//! `users.activity_zone` when their rows were last built from scratch: the dashboard's chart then
//! reads one row per day. A user without one (new, or after a bulk load) gets theirs built on
//! their next dashboard, as does one whose time zone has changed since.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct VisibilityRow {
    pub user_id: i64,
    pub severity: Option<i16>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The zone of the viewer's activity rows; `None` while they have none to keep up to date.
    pub activity_zone: Option<String>,
}

/// Days since 1970-01-01: the activity counters' bucket.
pub fn day_number(day: NaiveDate) -> i64 {
    i64::from(day.to_epoch_days())
}

/// The day number of the date `at` falls on in `zone`.
pub fn day_of(at: DateTime<Utc>, zone: Tz) -> i64 {
    day_number(at.with_timezone(&zone).date_naive())
}

/// A user's activity rows built from scratch: (day → (opened, closed)) from the opening and
/// closing times of the incidents they see.
pub fn daily_activity(
    zone: Tz,
    incidents: impl IntoIterator<Item = (DateTime<Utc>, Option<DateTime<Utc>>)>,
) -> BTreeMap<i64, (i64, i64)> {
    let mut days = BTreeMap::<i64, (i64, i64)>::new();
    for (created, closed) in incidents {
        days.entry(day_of(created, zone)).or_default().0 += 1;
        if let Some(closed) = closed {
            days.entry(day_of(closed, zone)).or_default().1 += 1;
        }
    }
    days
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Deltas {
    /// (user, severity, status) → change of the open-incident count.
    pub counts: Vec<((i64, i16, String), i64)>,
    /// (user, day) → change of (opened, closed).
    pub activity: Vec<((i64, i64), (i64, i64))>,
}

fn add(
    rows: &[VisibilityRow],
    sign: i64,
    counts: &mut BTreeMap<(i64, i16, String), i64>,
    activity: &mut BTreeMap<(i64, i64), (i64, i64)>,
) {
    for row in rows {
        let Some(severity) = row.severity else { continue };
        if row.status != "closed" {
            *counts.entry((row.user_id, severity, row.status.clone())).or_default() += sign;
        }
        let Some(zone) = row.activity_zone.as_deref().and_then(|z| z.parse::<Tz>().ok()) else { continue };
        activity.entry((row.user_id, day_of(row.created_at, zone))).or_default().0 += sign;
        if let Some(closed) = row.closed_at {
            activity.entry((row.user_id, day_of(closed, zone))).or_default().1 += sign;
        }
    }
}

/// How the counters change when a ticket's rows go from `before` to `after`.
pub fn deltas(before: &[VisibilityRow], after: &[VisibilityRow]) -> Deltas {
    let mut counts = BTreeMap::new();
    let mut activity = BTreeMap::new();
    add(before, -1, &mut counts, &mut activity);
    add(after, 1, &mut counts, &mut activity);
    Deltas {
        counts: counts.into_iter().filter(|(_, d)| *d != 0).collect(),
        activity: activity.into_iter().filter(|(_, d)| *d != (0, 0)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn row(user_id: i64, severity: Option<i16>, status: &str, closed: bool) -> VisibilityRow {
        let created_at = Utc.with_ymd_and_hms(2026, 1, 1, 10, 15, 0).unwrap();
        VisibilityRow {
            user_id,
            severity,
            status: status.into(),
            created_at,
            closed_at: closed.then(|| Utc.with_ymd_and_hms(2026, 1, 2, 9, 0, 0).unwrap()),
            activity_zone: Some("UTC".into()),
        }
    }

    fn day(y: i32, m: u32, d: u32) -> i64 {
        day_number(NaiveDate::from_ymd_opt(y, m, d).unwrap())
    }

    #[test]
    fn labelling_a_ticket_counts_it_for_each_viewer() {
        let before = [row(1, None, "open", false), row(2, None, "open", false)];
        let after = [row(1, Some(4), "open", false), row(2, Some(4), "open", false)];
        let d = deltas(&before, &after);
        assert_eq!(d.counts, vec![((1, 4, "open".into()), 1), ((2, 4, "open".into()), 1)]);
        assert_eq!(d.activity, vec![((1, day(2026, 1, 1)), (1, 0)), ((2, day(2026, 1, 1)), (1, 0))]);
    }

    #[test]
    fn closing_moves_an_incident_out_of_the_counts_and_into_the_closed_activity() {
        let before = [row(1, Some(2), "requires_attention", false)];
        let after = [row(1, Some(2), "closed", true)];
        let d = deltas(&before, &after);
        assert_eq!(d.counts, vec![((1, 2, "requires_attention".into()), -1)]);
        assert_eq!(d.activity, vec![((1, day(2026, 1, 2)), (0, 1))]);
    }

    #[test]
    fn a_new_recipient_gains_what_the_others_already_count() {
        let before = [row(1, Some(3), "open", false)];
        let after = [row(1, Some(3), "open", false), row(7, Some(3), "open", false)];
        let d = deltas(&before, &after);
        assert_eq!(d.counts, vec![((7, 3, "open".into()), 1)]);
        assert_eq!(d.activity.len(), 1);
    }

    #[test]
    fn nothing_changes_when_nothing_counted_changes() {
        let rows = [row(1, None, "open", false)];
        assert_eq!(deltas(&rows, &rows), Deltas::default());
    }

    #[test]
    fn activity_falls_on_the_viewers_own_day() {
        // 10:15 UTC on 1 January is already 00:15 on 2 January in Kiritimati (UTC+14).
        let mut kiritimati = row(2, Some(4), "open", false);
        kiritimati.activity_zone = Some("Pacific/Kiritimati".into());
        let d = deltas(&[], &[row(1, Some(4), "open", false), kiritimati]);
        assert_eq!(d.activity, vec![((1, day(2026, 1, 1)), (1, 0)), ((2, day(2026, 1, 2)), (1, 0))]);
    }

    #[test]
    fn viewers_without_activity_rows_are_left_to_their_rebuild() {
        let mut unbuilt = row(1, Some(4), "open", false);
        unbuilt.activity_zone = None;
        let d = deltas(&[], &[unbuilt]);
        assert_eq!(d.counts, vec![((1, 4, "open".into()), 1)]);
        assert!(d.activity.is_empty());
    }

    #[test]
    fn a_rebuild_counts_each_opening_and_closing_on_its_local_day() {
        let at = |d, h| Utc.with_ymd_and_hms(2026, 3, d, h, 30, 0).unwrap();
        // New York is UTC-5 until 8 March 2026: 03:30 UTC on the 3rd is still the 2nd there.
        let days = daily_activity(chrono_tz::America::New_York, [(at(3, 3), Some(at(3, 12))), (at(3, 12), None)]);
        assert_eq!(days, BTreeMap::from([(day(2026, 3, 2), (1, 0)), (day(2026, 3, 3), (1, 1))]));
    }
}
