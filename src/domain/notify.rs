//! Who is told what about a ticket, free of mail and SQL: the notices a change gives rise to,
//! and for each notice and person, whether and how they hear of it. What a notice may carry is
//! `policy`'s rule: its reader must be able to see the ticket, checked again when it is built.

use std::collections::BTreeSet;

use super::lifecycle::Event;
use super::ticket::{EventKind, Severity, TicketStatus};

mod choices;
pub use choices::{Audience, ChoiceInput, Choices, DEFAULT_DIGEST_HOUR};

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NoticeKind {
    /// Support labelled the ticket a security incident.
    Labelled,
    SeverityChanged,
    /// Support is waiting for the customer.
    RequiresAttention,
    /// A reply from support (not an internal note).
    SupportComment,
    /// Support declined a closure request, with the reason.
    ClosureDeclined,
    /// Closed, with the resolution.
    Closed,
    Reopened,
    /// For the support desk: a customer opened a ticket.
    TicketOpened,
    /// For the support desk: a customer replied.
    CustomerComment,
    /// For the support desk: a customer asked to close an incident.
    ClosureRequested,
}

impl NoticeKind {
    /// What customers on a ticket hear of, in the order My profile lists them.
    pub const FOR_CUSTOMERS: [NoticeKind; 7] = [
        NoticeKind::Labelled,
        NoticeKind::SeverityChanged,
        NoticeKind::RequiresAttention,
        NoticeKind::SupportComment,
        NoticeKind::ClosureDeclined,
        NoticeKind::Closed,
        NoticeKind::Reopened,
    ];
    /// What the support desk hears of.
    pub const FOR_SUPPORT: [NoticeKind; 4] =
        [NoticeKind::Labelled, NoticeKind::TicketOpened, NoticeKind::CustomerComment, NoticeKind::ClosureRequested];
    pub const ALL: [NoticeKind; 10] = [
        NoticeKind::Labelled,
        NoticeKind::SeverityChanged,
        NoticeKind::RequiresAttention,
        NoticeKind::SupportComment,
        NoticeKind::ClosureDeclined,
        NoticeKind::Closed,
        NoticeKind::Reopened,
        NoticeKind::TicketOpened,
        NoticeKind::CustomerComment,
        NoticeKind::ClosureRequested,
    ];

    pub fn code(self) -> &'static str {
        match self {
            NoticeKind::Labelled => "labelled",
            NoticeKind::SeverityChanged => "severity_changed",
            NoticeKind::RequiresAttention => "requires_attention",
            NoticeKind::SupportComment => "support_comment",
            NoticeKind::ClosureDeclined => "closure_declined",
            NoticeKind::Closed => "closed",
            NoticeKind::Reopened => "reopened",
            NoticeKind::TicketOpened => "ticket_opened",
            NoticeKind::CustomerComment => "customer_comment",
            NoticeKind::ClosureRequested => "closure_requested",
        }
    }

    pub fn from_code(code: &str) -> Option<NoticeKind> {
        NoticeKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// How My profile names the kind.
    pub fn label(self) -> &'static str {
        match self {
            NoticeKind::Labelled => "A ticket is labelled a security incident",
            NoticeKind::SeverityChanged => "An incident's severity changes",
            NoticeKind::RequiresAttention => "A ticket requires your attention",
            NoticeKind::SupportComment => "Armor Support replies",
            NoticeKind::ClosureDeclined => "A closure request is declined",
            NoticeKind::Closed => "A ticket is closed",
            NoticeKind::Reopened => "A ticket is reopened",
            NoticeKind::TicketOpened => "A customer opens a ticket",
            NoticeKind::CustomerComment => "A customer replies",
            NoticeKind::ClosureRequested => "A customer asks to close an incident",
        }
    }

    /// Whether the notice goes to the support desk, or to the customers on the ticket.
    pub fn for_support(self) -> bool {
        matches!(self, NoticeKind::TicketOpened | NoticeKind::CustomerComment | NoticeKind::ClosureRequested)
    }
}

/// One thing to tell people about a ticket, as the change that caused it leaves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notice {
    pub kind: NoticeKind,
    /// The ticket's severity after the change.
    pub severity: Option<Severity>,
    /// Whether the change's comment goes with it (a reply, the reason, the resolution).
    pub with_comment: bool,
}

impl Notice {
    /// Closure and a Critical label reach the customers on a ticket whatever they chose.
    pub fn always_sent(self) -> bool {
        match self.kind {
            NoticeKind::Closed => true,
            NoticeKind::Labelled | NoticeKind::SeverityChanged => self.severity == Some(Severity::Critical),
            _ => false,
        }
    }
}

/// The comment that came with a change, as far as notices care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentShape {
    None,
    /// A support reply or a customer comment, seen by customers.
    Public,
    /// An internal note: it never produces a notice, nor goes with one.
    Internal,
}

/// The notices a committed change gives rise to: from its history `events`, the comment it
/// stored, and whether support (or a customer) made it.
pub fn notices_of(
    events: &[Event],
    comment: CommentShape,
    by_support: bool,
    severity: Option<Severity>,
) -> Vec<Notice> {
    let public = comment == CommentShape::Public;
    let notice = |kind, with_comment| Notice { kind, severity, with_comment };
    let mut notices = Vec::new();
    let mut comment_told = false;
    for event in events {
        let kind = match event.kind {
            EventKind::Labelled => NoticeKind::Labelled,
            EventKind::SeverityChanged => NoticeKind::SeverityChanged,
            EventKind::StatusChanged if event.to.as_deref() == Some(TicketStatus::RequiresAttention.name()) => {
                NoticeKind::RequiresAttention
            }
            EventKind::ClosureDeclined => NoticeKind::ClosureDeclined,
            EventKind::Closed => NoticeKind::Closed,
            EventKind::Reopened => NoticeKind::Reopened,
            EventKind::ClosureRequested => NoticeKind::ClosureRequested,
            _ => continue,
        };
        // The reason, the resolution, or the customer's words go with the notice they explain.
        let carries = public
            && matches!(
                kind,
                NoticeKind::ClosureDeclined | NoticeKind::Closed | NoticeKind::Reopened | NoticeKind::ClosureRequested
            );
        comment_told |= carries;
        notices.push(notice(kind, carries));
    }
    if public && !comment_told {
        notices.push(notice(if by_support { NoticeKind::SupportComment } else { NoticeKind::CustomerComment }, true));
    }
    notices
}

/// What a user chose to hear of (My profile); the default is everything, at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    pub muted_kinds: BTreeSet<NoticeKind>,
    /// Only incidents of this severity and above (a ticket without one is below every threshold).
    pub min_severity: Option<Severity>,
    /// One mail a day listing the changes, instead of one mail each.
    pub digest: bool,
}

/// How a person hears of a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Immediate,
    /// In the next daily digest.
    Digest,
}

/// A customer on the ticket (its opener or a recipient) as the rule needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reader {
    pub user_id: i64,
    /// Holds Read Ticket (and is enabled): sees the ticket's page.
    pub may_read: bool,
    /// Chose "Don't notify me" on this ticket.
    pub muted_ticket: bool,
}

/// Whether and how a customer on the ticket hears of `notice`, which `actor_id` caused.
pub fn customer_delivery(
    notice: Notice,
    reader: Reader,
    preferences: &Preferences,
    actor_id: Option<i64>,
) -> Option<Delivery> {
    if notice.kind.for_support() || !reader.may_read || actor_id == Some(reader.user_id) {
        return None;
    }
    if notice.always_sent() {
        return Some(Delivery::Immediate);
    }
    let below = preferences.min_severity.is_some_and(|min| notice.severity.is_none_or(|s| s.rank() < min.rank()));
    if reader.muted_ticket || preferences.muted_kinds.contains(&notice.kind) || below {
        return None;
    }
    Some(if preferences.digest { Delivery::Digest } else { Delivery::Immediate })
}

/// Whether a support staff member who chose `preferences` (kinds they hear of are those not muted,
/// among [`NoticeKind::FOR_SUPPORT`]; nothing by default) hears of `notice`.
pub fn staff_delivery(
    notice: Notice,
    staff_id: i64,
    preferences: &Preferences,
    actor_id: Option<i64>,
) -> Option<Delivery> {
    let wanted = match notice.kind {
        // "New incidents of a severity and above": a colleague's label.
        NoticeKind::Labelled => !preferences.muted_kinds.contains(&NoticeKind::Labelled),
        kind if kind.for_support() => !preferences.muted_kinds.contains(&kind),
        _ => false,
    };
    let below = preferences.min_severity.is_some_and(|min| notice.severity.is_none_or(|s| s.rank() < min.rank()));
    if !wanted || below || actor_id == Some(staff_id) {
        return None;
    }
    Some(if preferences.digest { Delivery::Digest } else { Delivery::Immediate })
}

/// Staff hear of nothing until they choose: the desk's address covers the desk.
pub fn staff_default() -> Preferences {
    Preferences { muted_kinds: NoticeKind::ALL.into_iter().collect(), min_severity: None, digest: false }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind, to: Option<&str>) -> Event {
        Event { kind, from: None, to: to.map(str::to_string) }
    }

    fn kinds(notices: &[Notice]) -> Vec<(NoticeKind, bool)> {
        notices.iter().map(|n| (n.kind, n.with_comment)).collect()
    }

    const HIGH: Option<Severity> = Some(Severity::High);

    #[test]
    fn each_change_gives_its_notices_and_the_comment_goes_with_what_it_explains() {
        let closed = notices_of(&[event(EventKind::Closed, None)], CommentShape::Public, true, HIGH);
        assert_eq!(kinds(&closed), vec![(NoticeKind::Closed, true)]);
        let reply = notices_of(&[], CommentShape::Public, true, None);
        assert_eq!(kinds(&reply), vec![(NoticeKind::SupportComment, true)]);
        let customer = notices_of(&[event(EventKind::StatusChanged, Some("Open"))], CommentShape::Public, false, HIGH);
        assert_eq!(kinds(&customer), vec![(NoticeKind::CustomerComment, true)]);
        let request = notices_of(&[event(EventKind::ClosureRequested, None)], CommentShape::Public, false, HIGH);
        assert_eq!(kinds(&request), vec![(NoticeKind::ClosureRequested, true)]);
        let waiting =
            notices_of(&[event(EventKind::StatusChanged, Some("Requires Attention"))], CommentShape::None, true, HIGH);
        assert_eq!(kinds(&waiting), vec![(NoticeKind::RequiresAttention, false)]);
        let labelled = notices_of(&[event(EventKind::Labelled, Some("High"))], CommentShape::None, true, HIGH);
        assert_eq!(kinds(&labelled), vec![(NoticeKind::Labelled, false)]);
        for quiet in [EventKind::Unlabelled, EventKind::RecipientAdded, EventKind::RecipientRemoved] {
            assert!(notices_of(&[event(quiet, None)], CommentShape::None, true, None).is_empty(), "{quiet:?}");
        }
    }

    #[test]
    fn an_internal_note_gives_no_notice_and_goes_with_none() {
        assert!(notices_of(&[], CommentShape::Internal, true, HIGH).is_empty());
        let waiting = notices_of(
            &[event(EventKind::StatusChanged, Some("Requires Attention"))],
            CommentShape::Internal,
            true,
            HIGH,
        );
        assert_eq!(kinds(&waiting), vec![(NoticeKind::RequiresAttention, false)]);
    }

    const READER: Reader = Reader { user_id: 7, may_read: true, muted_ticket: false };

    fn notice(kind: NoticeKind, severity: Option<Severity>) -> Notice {
        Notice { kind, severity, with_comment: false }
    }

    #[test]
    fn customers_on_the_ticket_hear_of_its_events_but_not_of_their_own() {
        let everything = Preferences::default();
        let reply = notice(NoticeKind::SupportComment, None);
        assert_eq!(customer_delivery(reply, READER, &everything, Some(1)), Some(Delivery::Immediate));
        assert_eq!(customer_delivery(reply, READER, &everything, Some(7)), None, "their own action");
        let unable = Reader { may_read: false, ..READER };
        assert_eq!(customer_delivery(reply, unable, &everything, Some(1)), None, "without Read Ticket");
        let desk = notice(NoticeKind::CustomerComment, HIGH);
        assert_eq!(customer_delivery(desk, READER, &everything, Some(1)), None, "the desk's notices");
    }

    #[test]
    fn preferences_mute_threshold_and_digest_but_closure_and_critical_always_arrive() {
        let picky = Preferences {
            muted_kinds: [NoticeKind::SupportComment].into_iter().collect(),
            min_severity: Some(Severity::High),
            digest: true,
        };
        let reply = notice(NoticeKind::SupportComment, Some(Severity::Critical));
        assert_eq!(customer_delivery(reply, READER, &picky, None), None, "a kind turned off");
        let low = notice(NoticeKind::RequiresAttention, Some(Severity::Low));
        assert_eq!(customer_delivery(low, READER, &picky, None), None, "below the threshold");
        let unlabelled = notice(NoticeKind::RequiresAttention, None);
        assert_eq!(customer_delivery(unlabelled, READER, &picky, None), None, "no severity is below any");
        let high = notice(NoticeKind::RequiresAttention, Some(Severity::High));
        assert_eq!(customer_delivery(high, READER, &picky, None), Some(Delivery::Digest));
        let muted = Reader { muted_ticket: true, ..READER };
        assert_eq!(customer_delivery(high, muted, &Preferences::default(), None), None, "a muted ticket");
        let closed = notice(NoticeKind::Closed, Some(Severity::Low));
        let critical = notice(NoticeKind::Labelled, Some(Severity::Critical));
        let everything_off = Preferences { muted_kinds: NoticeKind::ALL.into_iter().collect(), ..picky };
        for always in [closed, critical] {
            assert_eq!(
                customer_delivery(always, muted, &everything_off, None),
                Some(Delivery::Immediate),
                "{always:?}"
            );
        }
    }

    #[test]
    fn staff_hear_only_what_they_chose_and_never_of_their_own_action() {
        let opened = notice(NoticeKind::TicketOpened, None);
        assert_eq!(staff_delivery(opened, 3, &staff_default(), Some(9)), None, "nothing by default");
        let replies = Preferences {
            muted_kinds: NoticeKind::ALL.into_iter().filter(|k| *k != NoticeKind::CustomerComment).collect(),
            ..Preferences::default()
        };
        let reply = notice(NoticeKind::CustomerComment, HIGH);
        assert_eq!(staff_delivery(reply, 3, &replies, Some(9)), Some(Delivery::Immediate));
        assert_eq!(staff_delivery(opened, 3, &replies, Some(9)), None);
        let incidents = Preferences {
            muted_kinds: NoticeKind::ALL.into_iter().filter(|k| *k != NoticeKind::Labelled).collect(),
            min_severity: Some(Severity::High),
            digest: false,
        };
        let critical = notice(NoticeKind::Labelled, Some(Severity::Critical));
        assert_eq!(staff_delivery(critical, 3, &incidents, Some(9)), Some(Delivery::Immediate));
        assert_eq!(staff_delivery(critical, 3, &incidents, Some(3)), None, "their own label");
        assert_eq!(staff_delivery(notice(NoticeKind::Labelled, Some(Severity::Low)), 3, &incidents, Some(9)), None);
        assert_eq!(staff_delivery(notice(NoticeKind::Closed, HIGH), 3, &incidents, Some(9)), None);
    }

    #[test]
    fn codes_round_trip() {
        for kind in NoticeKind::ALL {
            assert_eq!(NoticeKind::from_code(kind.code()), Some(kind));
        }
    }
}
