//! Ticket vocabulary: numbers, severities and statuses, each parsed from outside input in one place.

use std::fmt;
use std::str::FromStr;

/// `ATS-<n>`: the number users see; `<n>` is the ticket's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TicketNumber(i64);

impl TicketNumber {
    pub const PREFIX: &'static str = "ATS-";

    pub fn from_id(id: i64) -> Self {
        TicketNumber(id)
    }

    pub fn id(self) -> i64 {
        self.0
    }

    /// Accepts `ATS-123`, `ats-123` and a bare `123`.
    pub fn parse(input: &str) -> Option<Self> {
        let input = input.trim();
        let digits = match input.get(..Self::PREFIX.len()) {
            Some(prefix) if prefix.eq_ignore_ascii_case(Self::PREFIX) => &input[Self::PREFIX.len()..],
            _ => input,
        };
        if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().filter(|n| *n > 0).map(TicketNumber)
    }
}

impl fmt::Display for TicketNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", Self::PREFIX, self.0)
    }
}

/// An incident's severity; stored as its rank so that sorting by severity is sorting by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Low = 1,
    Medium = 2,
    High = 3,
    Critical = 4,
}

impl Severity {
    /// Most severe first, the order the UI lists them in.
    pub const ALL: [Severity; 4] = [Severity::Critical, Severity::High, Severity::Medium, Severity::Low];

    pub fn name(self) -> &'static str {
        match self {
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        }
    }

    /// Lower-case token used in URLs and CSS classes.
    pub fn slug(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn rank(self) -> i16 {
        self as i16
    }

    pub fn from_rank(rank: i16) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.rank() == rank)
    }
}

impl FromStr for Severity {
    type Err = ();

    fn from_str(input: &str) -> Result<Self, ()> {
        Severity::ALL.into_iter().find(|s| s.name().eq_ignore_ascii_case(input.trim())).ok_or(())
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a ticket stands: waiting for support, waiting for the customer, or done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TicketStatus {
    Open,
    RequiresAttention,
    Closed,
}

impl TicketStatus {
    pub const ALL: [TicketStatus; 3] = [TicketStatus::Open, TicketStatus::RequiresAttention, TicketStatus::Closed];
    /// The statuses the Security Incidents screen shows.
    pub const ACTIVE: [TicketStatus; 2] = [TicketStatus::Open, TicketStatus::RequiresAttention];

    pub fn name(self) -> &'static str {
        match self {
            TicketStatus::Open => "Open",
            TicketStatus::RequiresAttention => "Requires Attention",
            TicketStatus::Closed => "Closed",
        }
    }

    /// The value stored in the database and used in URLs.
    pub fn code(self) -> &'static str {
        match self {
            TicketStatus::Open => "open",
            TicketStatus::RequiresAttention => "requires_attention",
            TicketStatus::Closed => "closed",
        }
    }

    pub fn from_code(code: &str) -> Option<TicketStatus> {
        TicketStatus::ALL.into_iter().find(|s| s.code() == code)
    }
}

impl FromStr for TicketStatus {
    type Err = ();

    /// Accepts the code (`requires_attention`) or the name (`Requires Attention`), any case.
    fn from_str(input: &str) -> Result<Self, ()> {
        let input = input.trim();
        TicketStatus::ALL
            .into_iter()
            .find(|s| s.code().eq_ignore_ascii_case(input) || s.name().eq_ignore_ascii_case(input))
            .ok_or(())
    }
}

impl fmt::Display for TicketStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A change in a ticket's history, shown on its page and kept in the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Opened,
    Labelled,
    SeverityChanged,
    Unlabelled,
    StatusChanged,
    RecipientAdded,
    RecipientRemoved,
    ClosureRequested,
    ClosureWithdrawn,
    ClosureDeclined,
    Closed,
    Reopened,
}

impl EventKind {
    pub const ALL: [EventKind; 12] = [
        EventKind::Opened,
        EventKind::Labelled,
        EventKind::SeverityChanged,
        EventKind::Unlabelled,
        EventKind::StatusChanged,
        EventKind::RecipientAdded,
        EventKind::RecipientRemoved,
        EventKind::ClosureRequested,
        EventKind::ClosureWithdrawn,
        EventKind::ClosureDeclined,
        EventKind::Closed,
        EventKind::Reopened,
    ];

    pub fn code(self) -> &'static str {
        match self {
            EventKind::Opened => "opened",
            EventKind::Labelled => "labelled",
            EventKind::SeverityChanged => "severity_changed",
            EventKind::Unlabelled => "unlabelled",
            EventKind::StatusChanged => "status_changed",
            EventKind::RecipientAdded => "recipient_added",
            EventKind::RecipientRemoved => "recipient_removed",
            EventKind::ClosureRequested => "closure_requested",
            EventKind::ClosureWithdrawn => "closure_withdrawn",
            EventKind::ClosureDeclined => "closure_declined",
            EventKind::Closed => "closed",
            EventKind::Reopened => "reopened",
        }
    }

    pub fn from_code(code: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The audit log's name for this change.
    pub fn audit_action(self) -> &'static str {
        match self {
            EventKind::Opened => "ticket_opened",
            EventKind::Labelled => "ticket_labelled",
            EventKind::SeverityChanged => "ticket_severity_changed",
            EventKind::Unlabelled => "ticket_unlabelled",
            EventKind::StatusChanged => "ticket_status_changed",
            EventKind::RecipientAdded => "ticket_recipient_added",
            EventKind::RecipientRemoved => "ticket_recipient_removed",
            EventKind::ClosureRequested => "ticket_closure_requested",
            EventKind::ClosureWithdrawn => "ticket_closure_withdrawn",
            EventKind::ClosureDeclined => "ticket_closure_declined",
            EventKind::Closed => "ticket_closed",
            EventKind::Reopened => "ticket_reopened",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_numbers_parse_with_or_without_prefix() {
        assert_eq!(TicketNumber::parse("ATS-42"), Some(TicketNumber(42)));
        assert_eq!(TicketNumber::parse("ats-42"), Some(TicketNumber(42)));
        assert_eq!(TicketNumber::parse(" 42 "), Some(TicketNumber(42)));
        assert_eq!(TicketNumber(42).to_string(), "ATS-42");
    }

    #[test]
    fn malformed_ticket_numbers_are_refused() {
        for bad in ["", "ATS-", "ATS-0", "ATS--1", "-5", "ATS-1x", "1e3", "ATS-99999999999999999999", "é"] {
            assert_eq!(TicketNumber::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn severities_order_by_rank() {
        assert!(Severity::Critical > Severity::High);
        assert_eq!(Severity::from_rank(4), Some(Severity::Critical));
        assert_eq!(Severity::from_rank(9), None);
        assert_eq!("critical".parse::<Severity>(), Ok(Severity::Critical));
        assert!("Purple".parse::<Severity>().is_err());
    }

    #[test]
    fn statuses_parse_from_code_or_name() {
        assert_eq!("requires_attention".parse(), Ok(TicketStatus::RequiresAttention));
        assert_eq!("Requires Attention".parse(), Ok(TicketStatus::RequiresAttention));
        assert!("pending".parse::<TicketStatus>().is_err());
    }
}
