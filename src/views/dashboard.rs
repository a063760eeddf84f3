//! The Security Dashboard: severity tiles, the Critical Incidents panel and the charts, also
//! served alone as a fragment for live refresh.

use askama::Template;

use super::charts::{ActivityChart, SeverityChart};
use chrono::{DateTime, Utc};

use super::format::{Timestamp, timestamp};
use super::layout::Layout;
use crate::domain::principal::Principal;
use crate::domain::ticket::{TicketNumber, TicketStatus};
use crate::paths;
use crate::store::TicketRow;

pub struct Tile {
    pub label: String,
    pub count: i64,
    /// The filtered table, when the reader may open it.
    pub href: Option<String>,
    pub slug: &'static str,
}

pub struct CriticalRow {
    pub number: String,
    pub href: String,
    pub summary: String,
    pub status: String,
    pub requires_attention: bool,
    pub closure_requested: bool,
    pub age: String,
    pub created: Timestamp,
}

/// A Critical incident as the panel lists it: support staff open the ticket, customers the incident.
pub fn critical_row(row: TicketRow, principal: &Principal, now: DateTime<Utc>) -> CriticalRow {
    let number = TicketNumber::from_id(row.id);
    CriticalRow {
        number: number.to_string(),
        href: if principal.is_support() { paths::ticket(number) } else { paths::incident(number) },
        summary: row.summary,
        status: row.status.name().to_string(),
        requires_attention: row.status == TicketStatus::RequiresAttention,
        closure_requested: row.closure_requested_at.is_some(),
        age: age((now - row.created_at).num_seconds()),
        created: timestamp(row.created_at, principal.time_zone),
    }
}

pub struct Panel {
    pub tiles: Vec<Tile>,
    pub attention: Tile,
    pub critical_total: i64,
    pub critical_rows: Vec<CriticalRow>,
    /// "View all N" when the panel shows fewer than there are.
    pub critical_href: Option<String>,
    /// Why no incident rows are shown although there may be incidents.
    pub rows_note: Option<&'static str>,
    /// One sentence for screen readers when the panel changes.
    pub summary: String,
    pub severity_chart: SeverityChart,
    pub activity_chart: ActivityChart,
}

#[derive(Template)]
#[template(path = "partials/dashboard_panel.html")]
pub struct PanelFragment {
    pub panel: Panel,
}

#[derive(Template)]
#[template(path = "pages/dashboard.html")]
pub struct DashboardPage {
    pub layout: Layout,
    pub panel: Panel,
    pub refresh_url: &'static str,
    pub refresh_seconds: u32,
}

/// "5 minutes", "3 hours", "12 days".
pub fn age(seconds: i64) -> String {
    let (value, unit) = match seconds.max(0) {
        s if s < 3600 => ((s / 60).max(1), "minute"),
        s if s < 86_400 => (s / 3600, "hour"),
        s => (s / 86_400, "day"),
    };
    format!("{value} {unit}{}", if value == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age(5), "1 minute");
        assert_eq!(age(125), "2 minutes");
        assert_eq!(age(3600), "1 hour");
        assert_eq!(age(86_400 * 3 + 5), "3 days");
    }
}
