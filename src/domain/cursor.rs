//! Where a page of a ticket table starts or ends (keyset paging): a row's position in the table's
//! order, opaque in the page links, so that a deep page costs what the first one does.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use super::listing::SortKey;
use super::ticket::{Severity, TicketStatus};

/// A row's position in the order of a table: what its sort column holds, its creation time and
/// its number, which together are unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorKey {
    /// The sort column's value as text (empty when the sort column is the time or the number).
    pub primary: String,
    pub created_at: DateTime<Utc>,
    pub id: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// The rows that follow this one.
    After(CursorKey),
    /// The rows that precede this one.
    Before(CursorKey),
    /// The last page.
    Last,
}

impl CursorKey {
    /// The key of a row for the given sort.
    pub fn of(
        sort: SortKey,
        summary: &str,
        severity: Option<Severity>,
        status: TicketStatus,
        created_at: DateTime<Utc>,
        id: i64,
    ) -> CursorKey {
        let primary = match sort {
            SortKey::Summary => summary.to_lowercase(),
            SortKey::Severity => severity.map_or(0, Severity::rank).to_string(),
            SortKey::Status => status.code().to_string(),
            SortKey::Number | SortKey::Created => String::new(),
        };
        CursorKey { primary, created_at, id }
    }

    /// `base64url(primary)~microseconds~id`: opaque to users, stable in bookmarks.
    pub fn encode(&self) -> String {
        format!("{}~{}~{}", URL_SAFE_NO_PAD.encode(&self.primary), self.created_at.timestamp_micros(), self.id)
    }

    pub fn decode(token: &str) -> Option<CursorKey> {
        let mut parts = token.split('~');
        let primary = String::from_utf8(URL_SAFE_NO_PAD.decode(parts.next()?).ok()?).ok()?;
        let created_at = DateTime::from_timestamp_micros(parts.next()?.parse().ok()?)?;
        let id = parts.next()?.parse().ok()?;
        if parts.next().is_some() || primary.len() > 1024 {
            return None;
        }
        Some(CursorKey { primary, created_at, id })
    }

    /// The primary value as the sort column's type: severity rank, or text.
    pub fn severity_rank(&self) -> Option<i64> {
        self.primary.parse().ok()
    }
}
