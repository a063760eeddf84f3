//! The state of a ticket table (filters, sort, page), parsed from and written back to a query
//! string, so that every view can be bookmarked, shared and reloaded. Three tables share it: the
//! Security Incidents screen, a customer's Support > Tickets and the support queue; their
//! [`ListKind`] decides which filters exist and what they default to.

use serde::Deserialize;

pub use super::cursor::{Cursor, CursorKey};
use super::ticket::{Severity, TicketNumber, TicketStatus};

pub const PAGE_SIZES: [u32; 3] = [25, 50, 100];
pub const DEFAULT_PAGE_SIZE: u32 = 25;
pub const MAX_SEARCH_CHARS: usize = 200;
pub const MAX_SEARCH_WORDS: usize = 8;
/// Far beyond any real table; keeps OFFSET arithmetic and page links bounded.
pub const MAX_PAGE: u32 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Number,
    Summary,
    Severity,
    Status,
    Created,
}

impl SortKey {
    pub const ALL: [SortKey; 5] =
        [SortKey::Number, SortKey::Summary, SortKey::Severity, SortKey::Status, SortKey::Created];

    pub fn code(self) -> &'static str {
        match self {
            SortKey::Number => "number",
            SortKey::Summary => "summary",
            SortKey::Severity => "severity",
            SortKey::Status => "status",
            SortKey::Created => "created",
        }
    }

    /// The direction a first click on the column sorts in: most severe, newest and highest first.
    pub fn natural_dir(self) -> SortDir {
        match self {
            SortKey::Summary | SortKey::Status => SortDir::Asc,
            SortKey::Number | SortKey::Severity | SortKey::Created => SortDir::Desc,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortDir {
    Asc,
    Desc,
}

impl SortDir {
    pub fn code(self) -> &'static str {
        match self {
            SortDir::Asc => "asc",
            SortDir::Desc => "desc",
        }
    }

    pub fn flip(self) -> SortDir {
        match self {
            SortDir::Asc => SortDir::Desc,
            SortDir::Desc => SortDir::Asc,
        }
    }
}

/// What a search box asks for: a ticket number, or words that must all appear in the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    pub text: String,
    pub number: Option<TicketNumber>,
    pub words: Vec<String>,
}

impl Search {
    fn parse(input: &str) -> Result<Option<Search>, QueryError> {
        if input.chars().count() > MAX_SEARCH_CHARS {
            return Err(QueryError(format!("The search text is too long: at most {MAX_SEARCH_CHARS} characters.")));
        }
        if input.chars().any(char::is_control) {
            return Err(QueryError("The search text contains control characters.".into()));
        }
        let words: Vec<String> = input.split_whitespace().map(str::to_lowercase).collect();
        if words.is_empty() {
            return Ok(None);
        }
        if words.len() > MAX_SEARCH_WORDS {
            return Err(QueryError(format!("Search for at most {MAX_SEARCH_WORDS} words at a time.")));
        }
        let text = words.join(" ");
        let number = if words.len() == 1 { TicketNumber::parse(&words[0]) } else { None };
        Ok(Some(Search { text, number, words }))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// Open incidents the customer may see.
    SecurityIncidents,
    /// Every ticket the customer opened or receives, of any status.
    MyTickets,
    /// Support staff: tickets of every account; incidents unless asked otherwise.
    SupportQueue,
}

impl ListKind {
    /// The statuses this table may be filtered to.
    pub fn allowed_statuses(self) -> &'static [TicketStatus] {
        match self {
            ListKind::SecurityIncidents => &TicketStatus::ACTIVE,
            ListKind::MyTickets | ListKind::SupportQueue => &TicketStatus::ALL,
        }
    }

    /// The statuses listed when the query names none.
    pub fn default_statuses(self) -> &'static [TicketStatus] {
        match self {
            ListKind::SecurityIncidents | ListKind::SupportQueue => &TicketStatus::ACTIVE,
            ListKind::MyTickets => &TicketStatus::ALL,
        }
    }

    fn default_labelled(self) -> Labelled {
        match self {
            ListKind::SecurityIncidents | ListKind::SupportQueue => Labelled::Yes,
            ListKind::MyTickets => Labelled::Any,
        }
    }

    fn default_sort(self) -> SortKey {
        match self {
            ListKind::SecurityIncidents | ListKind::SupportQueue => SortKey::Severity,
            ListKind::MyTickets => SortKey::Created,
        }
    }

    /// Only the support queue filters by account, by label and by closure request.
    pub fn is_support_queue(self) -> bool {
        self == ListKind::SupportQueue
    }
}

/// Whether a table lists security incidents, other tickets, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labelled {
    Yes,
    No,
    Any,
}

impl Labelled {
    pub fn code(self) -> &'static str {
        match self {
            Labelled::Yes => "yes",
            Labelled::No => "no",
            Labelled::Any => "any",
        }
    }
}

/// A request for one page of a ticket table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub kind: ListKind,
    /// Empty means every severity.
    pub severities: Vec<Severity>,
    /// Empty means the kind's default statuses.
    pub statuses: Vec<TicketStatus>,
    pub search: Option<Search>,
    /// An account number (support queue).
    pub account: Option<i64>,
    pub labelled: Labelled,
    /// Only incidents whose closure was requested (support queue).
    pub closure_requested: bool,
    pub sort: SortKey,
    pub dir: SortDir,
    /// The page number shown; without a cursor it is also where the rows start.
    pub page: u32,
    pub page_size: u32,
    /// Where the page starts relative to a row of the previous one (keyset pagination), so that
    /// deep pages cost what the first does.
    pub cursor: Option<Cursor>,
}

impl ListQuery {
    pub fn new(kind: ListKind) -> Self {
        let sort = kind.default_sort();
        ListQuery {
            kind,
            severities: Vec::new(),
            statuses: Vec::new(),
            search: None,
            account: None,
            labelled: kind.default_labelled(),
            closure_requested: false,
            sort,
            dir: sort.natural_dir(),
            page: 1,
            page_size: DEFAULT_PAGE_SIZE,
            cursor: None,
        }
    }
}

/// A query string that cannot be understood; the message is shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError(pub String);

/// The query string as sent. Lists accept repeated keys (`severity=High&severity=Low`) and commas.
#[derive(Debug, Default, Deserialize)]
pub struct RawListQuery {
    #[serde(default)]
    pub severity: Vec<String>,
    #[serde(default)]
    pub status: Vec<String>,
    pub q: Option<String>,
    pub account: Option<String>,
    pub sort: Option<String>,
    pub dir: Option<String>,
    pub page: Option<String>,
    pub size: Option<String>,
    pub labelled: Option<String>,
    pub closure: Option<String>,
    pub after: Option<String>,
    pub before: Option<String>,
    pub last: Option<String>,
}

impl ListQuery {
    pub fn from_query_string(kind: ListKind, query_string: &str) -> Result<Self, QueryError> {
        let raw: RawListQuery = serde_html_form::from_str(query_string)
            .map_err(|e| QueryError(format!("The address has a malformed query: {e}.")))?;
        Self::parse(kind, raw)
    }

    pub fn parse(kind: ListKind, raw: RawListQuery) -> Result<Self, QueryError> {
        let defaults = ListQuery::new(kind);
        let mut severities = Vec::new();
        for token in list_tokens(&raw.severity) {
            let severity: Severity = token.parse().map_err(|()| {
                QueryError(format!("Unknown severity \"{}\": use Low, Medium, High or Critical.", truncate(token)))
            })?;
            severities.push(severity);
        }
        severities.sort_by(|a, b| b.cmp(a));
        severities.dedup();

        let allowed = kind.allowed_statuses();
        let mut statuses = Vec::new();
        for token in list_tokens(&raw.status) {
            let status = token.parse::<TicketStatus>().ok().filter(|s| allowed.contains(s)).ok_or_else(|| {
                let names: Vec<&str> = allowed.iter().map(|s| s.code()).collect();
                QueryError(format!("Unknown status \"{}\": use {}.", truncate(token), names.join(" or ")))
            })?;
            if !statuses.contains(&status) {
                statuses.push(status);
            }
        }
        statuses.sort_by_key(|s| allowed.iter().position(|a| a == s));
        if statuses == kind.default_statuses() {
            statuses.clear();
        }

        let search = match non_empty(&raw.q) {
            Some(q) => Search::parse(q)?,
            None => None,
        };

        let account = match non_empty(&raw.account).filter(|_| kind.is_support_queue()) {
            Some(a) => Some(
                a.parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| QueryError("The account must be an account number.".into()))?,
            ),
            None => None,
        };

        let labelled = match non_empty(&raw.labelled).filter(|_| kind.is_support_queue()) {
            Some(value) => [Labelled::Yes, Labelled::No, Labelled::Any]
                .into_iter()
                .find(|l| l.code() == value)
                .ok_or_else(|| QueryError("The label filter must be yes, no or any.".into()))?,
            None => defaults.labelled,
        };
        let closure_requested = match non_empty(&raw.closure).filter(|_| kind.is_support_queue()) {
            Some("requested") => true,
            Some(_) => return Err(QueryError("The closure filter must be \"requested\" or absent.".into())),
            None => false,
        };

        let sort = match non_empty(&raw.sort) {
            Some(s) => SortKey::ALL.into_iter().find(|k| k.code() == s).ok_or_else(|| {
                QueryError(format!(
                    "Unknown sort column \"{}\": use number, summary, severity, status or created.",
                    truncate(s)
                ))
            })?,
            None => defaults.sort,
        };
        let dir = match non_empty(&raw.dir) {
            Some("asc") => SortDir::Asc,
            Some("desc") => SortDir::Desc,
            Some(other) => {
                return Err(QueryError(format!("Unknown sort direction \"{}\": use asc or desc.", truncate(other))));
            }
            None => sort.natural_dir(),
        };

        let page = match non_empty(&raw.page) {
            Some(p) => p
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_PAGE).contains(n))
                .ok_or_else(|| QueryError(format!("The page must be a whole number from 1 to {MAX_PAGE}.")))?,
            None => 1,
        };
        let page_size = match non_empty(&raw.size) {
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|n| PAGE_SIZES.contains(n))
                .ok_or_else(|| QueryError("The page size must be 25, 50 or 100.".to_string()))?,
            None => DEFAULT_PAGE_SIZE,
        };

        let cursor = match (non_empty(&raw.after), non_empty(&raw.before), non_empty(&raw.last)) {
            (None, None, None) => None,
            (Some(token), None, None) => Some(Cursor::After(decode_cursor(token)?)),
            (None, Some(token), None) => Some(Cursor::Before(decode_cursor(token)?)),
            (None, None, Some("1")) => Some(Cursor::Last),
            _ => return Err(QueryError("Give at most one of after, before and last=1.".into())),
        };

        Ok(ListQuery {
            kind,
            cursor,
            severities,
            statuses,
            search,
            account,
            labelled,
            closure_requested,
            sort,
            dir,
            page,
            page_size,
        })
    }

    /// The canonical query string of this state; defaults are left out so URLs stay short.
    pub fn to_query_string(&self) -> String {
        let defaults = ListQuery::new(self.kind);
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for severity in &self.severities {
            pairs.push(("severity", severity.name().to_string()));
        }
        for status in &self.statuses {
            pairs.push(("status", status.code().to_string()));
        }
        if let Some(search) = &self.search {
            pairs.push(("q", search.text.clone()));
        }
        if let Some(account) = self.account {
            pairs.push(("account", account.to_string()));
        }
        if self.labelled != defaults.labelled {
            pairs.push(("labelled", self.labelled.code().to_string()));
        }
        if self.closure_requested {
            pairs.push(("closure", "requested".to_string()));
        }
        if self.sort != defaults.sort || self.dir != self.sort.natural_dir() {
            pairs.push(("sort", self.sort.code().to_string()));
            pairs.push(("dir", self.dir.code().to_string()));
        }
        if self.page_size != defaults.page_size {
            pairs.push(("size", self.page_size.to_string()));
        }
        if self.page != 1 {
            pairs.push(("page", self.page.to_string()));
        }
        match &self.cursor {
            Some(Cursor::After(key)) => pairs.push(("after", key.encode())),
            Some(Cursor::Before(key)) => pairs.push(("before", key.encode())),
            Some(Cursor::Last) => pairs.push(("last", "1".to_string())),
            None => {}
        }
        serde_html_form::to_string(&pairs).unwrap_or_default()
    }

    /// The state after clicking a column header: the same column flips, another starts natural.
    pub fn sorted_by(&self, key: SortKey) -> ListQuery {
        let dir = if self.sort == key { self.dir.flip() } else { key.natural_dir() };
        ListQuery { sort: key, dir, page: 1, cursor: None, ..self.clone() }
    }

    /// Page `page`, starting where `cursor` says.
    pub fn at(&self, page: u32, cursor: Option<Cursor>) -> ListQuery {
        ListQuery { page, cursor, ..self.clone() }
    }

    /// Every row of this filter and order, for exports.
    pub fn unpaged(&self) -> ListQuery {
        ListQuery { page: 1, cursor: None, ..self.clone() }
    }

    pub fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.page_size)
    }

    pub fn is_filtered(&self) -> bool {
        let defaults = ListQuery::new(self.kind);
        !self.severities.is_empty()
            || !self.statuses.is_empty()
            || self.search.is_some()
            || self.account.is_some()
            || self.labelled != defaults.labelled
            || self.closure_requested
    }

    /// The statuses to list: the chosen ones, or the kind's defaults.
    pub fn effective_statuses(&self) -> &[TicketStatus] {
        if self.statuses.is_empty() { self.kind.default_statuses() } else { &self.statuses }
    }

    /// Whether rows must be incidents (`Some(true)`), must not be (`Some(false)`), or either. Asking
    /// for severities implies incidents.
    pub fn effective_labelled(&self) -> Labelled {
        if self.severities.is_empty() { self.labelled } else { Labelled::Yes }
    }
}

fn decode_cursor(token: &str) -> Result<CursorKey, QueryError> {
    CursorKey::decode(token).ok_or_else(|| QueryError("The page link is damaged; go back to the first page.".into()))
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn list_tokens(values: &[String]) -> impl Iterator<Item = &str> {
    values.iter().flat_map(|v| v.split(',')).map(str::trim).filter(|t| !t.is_empty())
}

/// Echo at most a little of a bad value back, so a huge parameter does not become a huge page.
fn truncate(value: &str) -> String {
    const MAX: usize = 40;
    if value.chars().count() <= MAX {
        value.to_string()
    } else {
        format!("{}…", value.chars().take(MAX).collect::<String>())
    }
}

#[cfg(test)]
#[path = "listing_tests.rs"]
mod tests;
