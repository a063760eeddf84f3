//! The incident table, as the Security Incidents screen and the support queue show it.

use askama::Template;
use chrono_tz::Tz;

use super::format::{SeverityBadge, Timestamp, severity_badge, status_name, timestamp};
use super::layout::Layout;
use crate::domain::listing::{IncidentQuery, PAGE_SIZES, SortDir, SortKey};
use crate::domain::ticket::{Severity, TicketNumber, TicketStatus};
use crate::paths;
use crate::store::{IncidentPage, IncidentRow};

/// Which of the two screens a table is on; they differ in paths, title and the account column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    SecurityIncidents,
    SupportQueue,
}

impl Screen {
    pub fn path(self) -> &'static str {
        match self {
            Screen::SecurityIncidents => paths::INCIDENTS,
            Screen::SupportQueue => paths::DESK_INCIDENTS,
        }
    }

    pub fn csv_path(self) -> &'static str {
        match self {
            Screen::SecurityIncidents => paths::INCIDENTS_CSV,
            Screen::SupportQueue => paths::DESK_INCIDENTS_CSV,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Screen::SecurityIncidents => "Security Incidents",
            Screen::SupportQueue => "Incident queue",
        }
    }

    pub fn shows_account(self) -> bool {
        self == Screen::SupportQueue
    }
}

pub struct ColumnHeader {
    pub label: &'static str,
    pub href: String,
    /// `ascending` or `descending` on the sorted column, else `None`.
    pub aria_sort: Option<&'static str>,
    /// The arrow drawn after the sorted column's label.
    pub indicator: &'static str,
}

pub struct RowView {
    pub number: String,
    pub href: String,
    pub summary: String,
    pub severity: Option<SeverityBadge>,
    pub status: String,
    pub requires_attention: bool,
    pub closure_requested: bool,
    pub created: Timestamp,
    pub account: String,
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub struct Filters {
    pub severities: Vec<Choice>,
    pub statuses: Vec<Choice>,
    pub sizes: Vec<Choice>,
    pub search: String,
    pub account: String,
    pub sort: &'static str,
    pub dir: &'static str,
    pub active: bool,
}

pub struct Pager {
    pub summary: String,
    pub page: u32,
    pub pages: u32,
    pub first: Option<String>,
    pub previous: Option<String>,
    pub next: Option<String>,
    pub last: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/incidents.html")]
pub struct IncidentsPage {
    pub layout: Layout,
    pub heading: &'static str,
    pub action: &'static str,
    pub show_account: bool,
    pub caption: String,
    pub headers: Vec<ColumnHeader>,
    pub rows: Vec<RowView>,
    pub filters: Filters,
    pub pager: Pager,
    pub csv_href: String,
    pub clear_href: &'static str,
    pub total: i64,
}

impl IncidentsPage {
    pub fn new(layout: Layout, screen: Screen, query: &IncidentQuery, page: IncidentPage, zone: Tz) -> IncidentsPage {
        let base = screen.path();
        let mut headers = vec![
            header("Ticket Number", SortKey::Number, query, base),
            header("Ticket Summary", SortKey::Summary, query, base),
            header("Ticket Severity", SortKey::Severity, query, base),
            header("Ticket Status", SortKey::Status, query, base),
            header("Created Date", SortKey::Created, query, base),
        ];
        if screen.shows_account() {
            headers.insert(1, ColumnHeader { label: "Account", href: String::new(), aria_sort: None, indicator: "" });
        }
        let rows = page.rows.iter().map(|row| row_view(row, zone)).collect();
        let caption = caption(screen, query, page.total);
        IncidentsPage {
            layout,
            heading: screen.title(),
            action: base,
            show_account: screen.shows_account(),
            caption,
            headers,
            rows,
            filters: filters(query),
            pager: pager(query, page.total, base),
            csv_href: paths::with_query(screen.csv_path(), &query.unpaged().to_query_string()),
            clear_href: base,
            total: page.total,
        }
    }
}

fn header(label: &'static str, key: SortKey, query: &IncidentQuery, base: &str) -> ColumnHeader {
    let (aria_sort, indicator) = match (query.sort == key, query.dir) {
        (false, _) => (None, ""),
        (true, SortDir::Asc) => (Some("ascending"), "▲"),
        (true, SortDir::Desc) => (Some("descending"), "▼"),
    };
    ColumnHeader { label, href: paths::with_query(base, &query.sorted_by(key).to_query_string()), aria_sort, indicator }
}

pub fn row_view(row: &IncidentRow, zone: Tz) -> RowView {
    let number = TicketNumber::from_id(row.id);
    RowView {
        number: number.to_string(),
        href: paths::incident(number),
        summary: row.summary.clone(),
        severity: severity_badge(row.severity),
        status: status_name(&row.status),
        requires_attention: row.status == TicketStatus::RequiresAttention.code(),
        closure_requested: row.closure_requested_at.is_some(),
        created: timestamp(row.created_at, zone),
        account: format!("{} ({})", row.account_name, row.account_number),
    }
}

fn caption(screen: Screen, query: &IncidentQuery, total: i64) -> String {
    let noun = if total == 1 { "incident" } else { "incidents" };
    let mut caption = format!("{total} open {noun}");
    if query.is_filtered() {
        caption.push_str(" matching the filters");
    }
    let sort = match query.sort {
        SortKey::Number => "ticket number",
        SortKey::Summary => "summary",
        SortKey::Severity => "severity",
        SortKey::Status => "status",
        SortKey::Created => "created date",
    };
    let dir = match query.dir {
        SortDir::Asc => "ascending",
        SortDir::Desc => "descending",
    };
    if screen == Screen::SupportQueue {
        caption.push_str(" across all accounts");
    }
    format!("{caption}, sorted by {sort}, {dir}")
}

fn filters(query: &IncidentQuery) -> Filters {
    let severities = Severity::ALL
        .into_iter()
        .map(|s| Choice { value: s.name().into(), label: s.name().into(), selected: query.severities.contains(&s) })
        .collect();
    let mut statuses = vec![Choice {
        value: String::new(),
        label: "Open and Requires Attention".into(),
        selected: query.statuses.is_empty(),
    }];
    statuses.extend(TicketStatus::ACTIVE.into_iter().map(|s| Choice {
        value: s.code().into(),
        label: s.name().into(),
        selected: query.statuses == [s],
    }));
    let sizes = PAGE_SIZES
        .into_iter()
        .map(|n| Choice { value: n.to_string(), label: format!("{n} per page"), selected: query.page_size == n })
        .collect();
    Filters {
        severities,
        statuses,
        sizes,
        search: query.search.as_ref().map(|s| s.text.clone()).unwrap_or_default(),
        account: query.account.map(|a| a.to_string()).unwrap_or_default(),
        sort: query.sort.code(),
        dir: query.dir.code(),
        active: query.is_filtered(),
    }
}

fn pager(query: &IncidentQuery, total: i64, base: &str) -> Pager {
    let size = i64::from(query.page_size);
    let pages = u32::try_from(((total + size - 1) / size).max(1)).unwrap_or(u32::MAX);
    let page = query.page;
    let link = |n: u32| paths::with_query(base, &query.at_page(n).to_query_string());
    let first_row = (i64::from(page) - 1) * size + 1;
    let last_row = (i64::from(page) * size).min(total);
    let summary = if total == 0 || first_row > total {
        format!("No rows on page {page} of {pages}")
    } else {
        format!("Showing {first_row}–{last_row} of {total}")
    };
    Pager {
        summary,
        page,
        pages,
        first: (page > 1).then(|| link(1)),
        previous: (page > 1).then(|| link((page - 1).min(pages))),
        next: (page < pages).then(|| link(page + 1)),
        last: (page < pages).then(|| link(pages)),
    }
}
