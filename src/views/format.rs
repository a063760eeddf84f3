//! How values look on a page: dates in the reader's time zone, severities with text and colour.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;

use crate::domain::ticket::{Severity, TicketStatus};

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

pub fn timestamp(at: DateTime<Utc>, zone: Tz) -> Timestamp {
    let local = at.with_timezone(&zone);
    Timestamp {
        local: local.format("%Y-%m-%d %H:%M %Z").to_string(),
        local_date: local.format("%Y-%m-%d").to_string(),
        utc: at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        iso: at.to_rfc3339_opts(SecondsFormat::Secs, true),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeverityBadge {
    pub name: &'static str,
    pub slug: &'static str,
}

pub fn severity_badge(rank: i16) -> Option<SeverityBadge> {
    Severity::from_rank(rank).map(|s| SeverityBadge { name: s.name(), slug: s.slug() })
}

/// The status as users read it; an unknown code (never written by this code) shows as is.
pub fn status_name(code: &str) -> String {
    TicketStatus::from_code(code).map_or_else(|| code.to_string(), |s| s.name().to_string())
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
}
