//! The per-user counters derived from `ticket_visibility` (`incident_counts`, `incident_activity`):
//! when a ticket's visibility rows are rebuilt, the counters move by the difference between the
//! rows before and after.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct VisibilityRow {
    pub user_id: i64,
    pub severity: Option<i16>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// Hours since the Unix epoch: the activity counters' bucket.
pub fn hour_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(3600)
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Deltas {
    /// (user, severity, status) → change of the open-incident count.
    pub counts: Vec<((i64, i16, String), i64)>,
    /// (user, hour) → change of (opened, closed).
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
        activity.entry((row.user_id, hour_of(row.created_at))).or_default().0 += sign;
        if let Some(closed) = row.closed_at {
            activity.entry((row.user_id, hour_of(closed))).or_default().1 += sign;
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
        }
    }

    #[test]
    fn labelling_a_ticket_counts_it_for_each_viewer() {
        let before = [row(1, None, "open", false), row(2, None, "open", false)];
        let after = [row(1, Some(4), "open", false), row(2, Some(4), "open", false)];
        let d = deltas(&before, &after);
        assert_eq!(d.counts, vec![((1, 4, "open".into()), 1), ((2, 4, "open".into()), 1)]);
        let hour = hour_of(after[0].created_at);
        assert_eq!(d.activity, vec![((1, hour), (1, 0)), ((2, hour), (1, 0))]);
    }

    #[test]
    fn closing_moves_an_incident_out_of_the_counts_and_into_the_closed_activity() {
        let before = [row(1, Some(2), "requires_attention", false)];
        let after = [row(1, Some(2), "closed", true)];
        let d = deltas(&before, &after);
        assert_eq!(d.counts, vec![((1, 2, "requires_attention".into()), -1)]);
        assert_eq!(d.activity, vec![((1, hour_of(after[0].closed_at.unwrap())), (0, 1))]);
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
}
