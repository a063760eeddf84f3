//! The ticket tables: Security Incidents, a customer's Support > Tickets and the support queue.

use askama::Template;
use chrono_tz::Tz;

use super::format::{SeverityBadge, Timestamp, severity_badge, timestamp};
use super::layout::Layout;
use super::widgets::{Choice, Pager};
use crate::domain::listing::{Cursor, CursorKey, Labelled, ListKind, ListQuery, PAGE_SIZES, SortDir, SortKey};
use crate::domain::ticket::{Severity, TicketNumber, TicketStatus};
use crate::paths;
use crate::store::{QueueCounts, TicketPage, TicketRow};

/// Which table a page shows; they differ in paths, title, filters and columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    SecurityIncidents,
    MyTickets,
    SupportQueue,
}

impl Screen {
    pub fn kind(self) -> ListKind {
        match self {
            Screen::SecurityIncidents => ListKind::SecurityIncidents,
            Screen::MyTickets => ListKind::MyTickets,
            Screen::SupportQueue => ListKind::SupportQueue,
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Screen::SecurityIncidents => paths::INCIDENTS,
            Screen::MyTickets => paths::TICKETS,
            Screen::SupportQueue => paths::DESK_QUEUE,
        }
    }

    pub fn csv_path(self) -> &'static str {
        match self {
            Screen::SecurityIncidents => paths::INCIDENTS_CSV,
            Screen::MyTickets => paths::TICKETS_CSV,
            Screen::SupportQueue => paths::DESK_QUEUE_CSV,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Screen::SecurityIncidents => "Security Incidents",
            Screen::MyTickets => "Support Tickets",
            Screen::SupportQueue => "Ticket queue",
        }
    }

    /// Where a row leads: the incident page on the incidents screen, else the ticket page.
    pub fn row_href(self, number: TicketNumber) -> String {
        match self {
            Screen::SecurityIncidents => paths::incident(number),
            Screen::MyTickets | Screen::SupportQueue => paths::ticket(number),
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

pub struct Filters {
    pub severities: Vec<Choice>,
    pub statuses: Vec<Choice>,
    pub labels: Vec<Choice>,
    pub sizes: Vec<Choice>,
    pub search: String,
    pub account: String,
    pub closure_requested: bool,
    pub sort: &'static str,
    pub dir: &'static str,
    pub active: bool,
}

/// A count above the support queue that is also a link to its filter.
pub struct CountLink {
    pub label: String,
    pub count: i64,
    pub href: String,
    pub slug: &'static str,
}

/// What an empty table says, as the original's troubleshooting does.
pub enum EmptyState {
    NothingYet,
    NoMatch,
    PastTheEnd,
}

#[derive(Template)]
#[template(path = "pages/ticket_table.html")]
pub struct TicketTablePage {
    pub layout: Layout,
    pub screen: Screen,
    pub heading: &'static str,
    pub action: &'static str,
    pub show_account: bool,
    pub is_queue: bool,
    pub caption: String,
    pub headers: Vec<ColumnHeader>,
    pub rows: Vec<RowView>,
    pub filters: Filters,
    pub counts: Vec<CountLink>,
    pub pager: Pager,
    pub csv_href: String,
    pub clear_href: &'static str,
    pub new_ticket_href: Option<&'static str>,
    pub empty: Option<EmptyState>,
}

impl TicketTablePage {
    pub fn new(
        layout: Layout,
        screen: Screen,
        query: &ListQuery,
        page: TicketPage,
        zone: Tz,
        counts: Option<QueueCounts>,
        new_ticket_href: Option<&'static str>,
    ) -> TicketTablePage {
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
        let rows: Vec<RowView> = page.rows.iter().map(|row| row_view(screen, row, zone)).collect();
        let empty = match (rows.is_empty(), page.total, query.is_filtered()) {
            (false, _, _) => None,
            (true, 0, false) => Some(EmptyState::NothingYet),
            (true, 0, true) => Some(EmptyState::NoMatch),
            (true, _, _) => Some(EmptyState::PastTheEnd),
        };
        TicketTablePage {
            layout,
            screen,
            heading: screen.title(),
            action: base,
            show_account: screen.shows_account(),
            is_queue: screen == Screen::SupportQueue,
            caption: caption(screen, query, page.total),
            headers,
            rows,
            filters: filters(query),
            counts: counts.map(|c| count_links(&c)).unwrap_or_default(),
            pager: pager(query, &page, base),
            csv_href: paths::with_query(screen.csv_path(), &query.unpaged().to_query_string()),
            clear_href: base,
            new_ticket_href,
            empty,
        }
    }
}

fn header(label: &'static str, key: SortKey, query: &ListQuery, base: &str) -> ColumnHeader {
    let (aria_sort, indicator) = match (query.sort == key, query.dir) {
        (false, _) => (None, ""),
        (true, SortDir::Asc) => (Some("ascending"), "▲"),
        (true, SortDir::Desc) => (Some("descending"), "▼"),
    };
    ColumnHeader { label, href: paths::with_query(base, &query.sorted_by(key).to_query_string()), aria_sort, indicator }
}

pub fn row_view(screen: Screen, row: &TicketRow, zone: Tz) -> RowView {
    let number = TicketNumber::from_id(row.id);
    RowView {
        number: number.to_string(),
        href: screen.row_href(number),
        summary: row.summary.clone(),
        severity: row.severity.map(severity_badge),
        status: row.status.name().to_string(),
        requires_attention: row.status == TicketStatus::RequiresAttention,
        closure_requested: row.closure_requested_at.is_some(),
        created: timestamp(row.created_at, zone),
        account: format!("{} ({})", row.account_name, row.account_number),
    }
}

fn caption(screen: Screen, query: &ListQuery, total: i64) -> String {
    let noun = match (screen, total == 1) {
        (Screen::SecurityIncidents, true) => "open incident",
        (Screen::SecurityIncidents, false) => "open incidents",
        (_, true) => "ticket",
        (_, false) => "tickets",
    };
    let mut caption = format!("{total} {noun}");
    if query.is_filtered() {
        caption.push_str(" matching the filters");
    }
    if screen == Screen::SupportQueue {
        caption.push_str(" across all accounts");
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
    format!("{caption}, sorted by {sort}, {dir}")
}

fn filters(query: &ListQuery) -> Filters {
    let severities = Severity::ALL
        .into_iter()
        .map(|s| Choice { value: s.name().into(), label: s.name().into(), selected: query.severities.contains(&s) })
        .collect();
    let defaults = query.kind.default_statuses();
    let all_label = defaults.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ");
    let mut statuses = vec![Choice { value: String::new(), label: all_label, selected: query.statuses.is_empty() }];
    statuses.extend(query.kind.allowed_statuses().iter().map(|s| Choice {
        value: s.code().into(),
        label: s.name().into(),
        selected: query.statuses == [*s],
    }));
    let labels =
        [(Labelled::Yes, "Security incidents"), (Labelled::No, "Not labelled"), (Labelled::Any, "All tickets")]
            .into_iter()
            .map(|(l, label)| Choice { value: l.code().into(), label: label.into(), selected: query.labelled == l })
            .collect();
    let sizes = PAGE_SIZES
        .into_iter()
        .map(|n| Choice { value: n.to_string(), label: format!("{n} per page"), selected: query.page_size == n })
        .collect();
    Filters {
        severities,
        statuses,
        labels,
        sizes,
        search: query.search.as_ref().map(|s| s.text.clone()).unwrap_or_default(),
        account: query.account.map(|a| a.to_string()).unwrap_or_default(),
        closure_requested: query.closure_requested,
        sort: query.sort.code(),
        dir: query.dir.code(),
        active: query.is_filtered(),
    }
}

fn count_links(counts: &QueueCounts) -> Vec<CountLink> {
    let queue = |query: &str| paths::with_query(paths::DESK_QUEUE, query);
    let mut links: Vec<CountLink> = counts
        .by_severity
        .iter()
        .map(|(severity, count)| CountLink {
            label: severity.name().to_string(),
            count: *count,
            href: queue(&format!("severity={}", severity.name())),
            slug: severity.slug(),
        })
        .collect();
    links.push(CountLink {
        label: "Closure requested".into(),
        count: counts.closure_requested,
        href: queue("closure=requested"),
        slug: "closure",
    });
    links.push(CountLink {
        label: "Not labelled".into(),
        count: counts.unlabelled,
        href: queue("labelled=no"),
        slug: "unlabelled",
    });
    links
}

/// Page links. Past the first page they carry a cursor (the neighbouring row), so a deep page is
/// read like the first one instead of skipping over every row before it.
fn pager(query: &ListQuery, page: &TicketPage, base: &str) -> Pager {
    let total = page.total;
    let size = i64::from(query.page_size);
    let pages = u32::try_from(((total + size - 1) / size).max(1)).unwrap_or(u32::MAX);
    let number = if query.cursor == Some(Cursor::Last) { pages } else { query.page };
    let link = |n: u32, cursor: Option<Cursor>| paths::with_query(base, &query.at(n, cursor).to_query_string());
    let key =
        |row: &TicketRow| CursorKey::of(query.sort, &row.summary, row.severity, row.status, row.created_at, row.id);
    let first_row = (i64::from(number) - 1) * size + 1;
    let last_row = (first_row + page.rows.len() as i64 - 1).min(total);
    let summary = if page.rows.is_empty() {
        format!("No rows on page {number} of {pages}")
    } else {
        format!("Showing {first_row}–{last_row} of {total}")
    };
    let previous = match (number, page.rows.first()) {
        (0 | 1, _) => None,
        (2, _) | (_, None) => Some(link(number - 1, None)),
        (n, Some(row)) => Some(link(n - 1, Some(Cursor::Before(key(row))))),
    };
    Pager {
        summary,
        page: number,
        pages,
        first: (number > 1).then(|| link(1, None)),
        previous,
        next: (number < pages)
            .then(|| page.rows.last().map(|row| link(number + 1, Some(Cursor::After(key(row))))))
            .flatten(),
        last: (number < pages).then(|| link(pages, Some(Cursor::Last))),
    }
}
