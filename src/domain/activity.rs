//! The dashboard's activity window: the last 30 days of the reader's own calendar.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

const DAYS: i64 = 30;

/// The days of the chart in the reader's zone, oldest first, and the UTC moments that separate
/// them (one more than the days: each day's start, then the end of today).
#[derive(Debug, Clone)]
pub struct ActivityWindow {
    pub zone: Tz,
    pub days: Vec<NaiveDate>,
    pub boundaries: Vec<DateTime<Utc>>,
}

impl ActivityWindow {
    /// The 30 days up to and including today in `zone`.
    pub fn ending(now: DateTime<Utc>, zone: Tz) -> Self {
        let today = now.with_timezone(&zone).date_naive();
        let days: Vec<NaiveDate> = (0..DAYS).rev().map(|back| today - Duration::days(back)).collect();
        let start_of = |day: NaiveDate| {
            day.and_hms_opt(0, 0, 0).and_then(|midnight| midnight.and_local_timezone(zone).earliest()).map_or_else(
                || day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
                |start| start.with_timezone(&Utc),
            )
        };
        let mut boundaries: Vec<DateTime<Utc>> = days.iter().map(|d| start_of(*d)).collect();
        boundaries.push(start_of(today + Duration::days(1)));
        ActivityWindow { zone, days, boundaries }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn days_start_at_the_readers_midnight() {
        let now = Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).unwrap();
        let window = ActivityWindow::ending(now, chrono_tz::Asia::Tokyo);
        assert_eq!(window.days.len(), 30);
        assert_eq!(window.boundaries.len(), 31);
        assert_eq!(window.days.last().unwrap().to_string(), "2026-01-10");
        // Midnight in Tokyo is 15:00 UTC the day before.
        assert_eq!(window.boundaries[29], Utc.with_ymd_and_hms(2026, 1, 9, 15, 0, 0).unwrap());
        let utc = ActivityWindow::ending(now, chrono_tz::UTC);
        assert_eq!(utc.boundaries[30], Utc.with_ymd_and_hms(2026, 1, 11, 0, 0, 0).unwrap());
    }
}
