//! How values look on a page: dates in the reader's time zone, severities with text and colour.

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use chrono_tz::Tz;

use crate::domain::ticket::Severity;

/// A moment, shown in the reader's zone, with the exact UTC time for a tooltip and machines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    /// `2026-01-02 08:30 JST`
    pub local: String,
    /// `2026-01-02`, in the reader's zone.
    pub local_date: String,
    /// `2026-01-01 23:30:00 UTC`
    pub utc: String,
    /// `2026-01-01T23:30:00Z`, for `<time datetime>`.
    pub iso: String,
}

/// Written field by field: a `format("%Y-%m-%d …")` parses its pattern on every call, and a
/// table formats three per row.
pub fn timestamp(at: DateTime<Utc>, zone: Tz) -> Timestamp {
    let local = at.with_timezone(&zone);
    let local_date = local.date_naive().to_string();
    Timestamp {
        // A zone's offset displays as its abbreviation, as `%Z` does.
        local: format!("{local_date} {:02}:{:02} {}", local.hour(), local.minute(), local.offset()),
        local_date,
        utc: format!("{} {:02}:{:02}:{:02} UTC", at.date_naive(), at.hour(), at.minute(), at.second()),
        iso: at.to_rfc3339_opts(SecondsFormat::Secs, true),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeverityBadge {
    pub name: &'static str,
    pub slug: &'static str,
}

pub fn severity_badge(severity: Severity) -> SeverityBadge {
    SeverityBadge { name: severity.name(), slug: severity.slug() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn dates_show_in_the_readers_time_zone() {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 23, 30, 0).unwrap();
        let tokyo = timestamp(at, chrono_tz::Asia::Tokyo);
        assert_eq!(tokyo.local, "2026-01-02 08:30 JST");
        assert_eq!(tokyo.local_date, "2026-01-02");
        let new_york = timestamp(at, chrono_tz::America::New_York);
        assert_eq!(new_york.local_date, "2026-01-01");
        assert_eq!(new_york.utc, "2026-01-01 23:30:00 UTC");
        assert_eq!(new_york.iso, "2026-01-01T23:30:00Z");
    }

    #[test]
    fn timestamps_read_as_their_strftime_patterns_in_any_zone() {
        let zones =
            [chrono_tz::UTC, chrono_tz::Europe::Berlin, chrono_tz::America::St_Johns, chrono_tz::Asia::Kathmandu];
        let moments = [
            Utc.with_ymd_and_hms(2026, 3, 29, 0, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(2026, 10, 25, 1, 0, 0).unwrap() + chrono::Duration::microseconds(123_456),
            Utc.with_ymd_and_hms(1999, 12, 31, 23, 5, 9).unwrap(),
        ];
        for zone in zones {
            for at in moments {
                let local = at.with_timezone(&zone);
                let shown = timestamp(at, zone);
                assert_eq!(shown.local, local.format("%Y-%m-%d %H:%M %Z").to_string());
                assert_eq!(shown.local_date, local.format("%Y-%m-%d").to_string());
                assert_eq!(shown.utc, at.format("%Y-%m-%d %H:%M:%S UTC").to_string());
            }
        }
    }
}
