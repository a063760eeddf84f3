//! The desk's notifications page: recent mails and webhook calls with their state, the outbox's
//! depth, and one mail to read.

use askama::Template;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::domain::notify::NoticeKind;
use crate::domain::ticket::TicketNumber;
use crate::paths;
use crate::store::{Channel, DeliveryRecord, DeliveryState, OutboxDepth, Settled};
use crate::views::format::{Timestamp, timestamp};
use crate::views::layout::Layout;

pub struct DeliveryRow {
    pub created: Timestamp,
    pub channel: &'static str,
    pub recipient: String,
    pub ticket: String,
    pub ticket_href: String,
    pub kind: &'static str,
    pub state: &'static str,
    /// For the badge's colour; the text says it too.
    pub state_slug: &'static str,
    pub digest: bool,
    /// When a waiting delivery goes out (its digest's hour, or its next try).
    pub due: Option<Timestamp>,
    pub sent: Option<Timestamp>,
    pub attempts: i32,
    pub subject: Option<String>,
    /// Where to read the mail (mails only).
    pub href: Option<String>,
    pub last_error: Option<String>,
    pub response_code: Option<i32>,
}

/// How full the outbox is, in words.
pub struct DepthView {
    pub waiting: i64,
    pub oldest: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/desk_notifications.html")]
pub struct NotificationsPage {
    pub layout: Layout,
    pub rows: Vec<DeliveryRow>,
    pub depth: DepthView,
    pub mail_on: bool,
    /// Where mail goes, or that it is off.
    pub mail_status: String,
}

/// A mail as its reader gets it, built for the desk to read.
pub struct MailView {
    pub to: String,
    pub subject: String,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub one_click: bool,
    pub text: String,
}

#[derive(Template)]
#[template(path = "pages/desk_notification.html")]
pub struct NotificationMailPage {
    pub layout: Layout,
    pub back_href: &'static str,
    pub row: DeliveryRow,
    pub mail: Option<MailView>,
    /// Why there is no mail to show.
    pub unseen: Option<&'static str>,
}

/// A short name for the table.
fn kind_name(kind: NoticeKind) -> &'static str {
    match kind {
        NoticeKind::Labelled => "Labelled",
        NoticeKind::SeverityChanged => "Severity changed",
        NoticeKind::RequiresAttention => "Requires attention",
        NoticeKind::SupportComment => "Support reply",
        NoticeKind::ClosureDeclined => "Closure declined",
        NoticeKind::Closed => "Closed",
        NoticeKind::Reopened => "Reopened",
        NoticeKind::TicketOpened => "Ticket opened",
        NoticeKind::CustomerComment => "Customer reply",
        NoticeKind::ClosureRequested => "Closure requested",
    }
}

fn state_name(state: DeliveryState, digest: bool) -> (&'static str, &'static str) {
    match state {
        DeliveryState::Pending if digest => ("Waiting for the digest", "pending"),
        DeliveryState::Pending => ("Waiting", "pending"),
        DeliveryState::Settled(Settled::Sent) => ("Sent", "sent"),
        DeliveryState::Settled(Settled::Failed) => ("Failed", "failed"),
        DeliveryState::Settled(Settled::Dropped) => ("Dropped", "dropped"),
        DeliveryState::Settled(Settled::Recorded) => ("Recorded, not sent", "recorded"),
    }
}

/// A delivery as the list shows it, in the reader's time zone.
pub fn delivery_row(record: DeliveryRecord, zone: Tz) -> DeliveryRow {
    let number = TicketNumber::from_id(record.ticket_id);
    let (state, state_slug) = state_name(record.state, record.digest);
    DeliveryRow {
        created: timestamp(record.created_at, zone),
        channel: match record.channel {
            Channel::Mail => "Mail",
            Channel::Webhook => "Webhook",
        },
        recipient: record.recipient.unwrap_or_default(),
        ticket: number.to_string(),
        ticket_href: paths::ticket(number),
        kind: kind_name(record.kind),
        state,
        state_slug,
        digest: record.digest,
        due: (record.state == DeliveryState::Pending).then(|| timestamp(record.due_at, zone)),
        sent: record.sent_at.map(|at| timestamp(at, zone)),
        attempts: record.attempts,
        subject: record.subject,
        href: (record.channel == Channel::Mail).then(|| paths::desk_notification(record.id)),
        last_error: record.last_error,
        response_code: record.response_code,
    }
}

pub fn depth_view(depth: OutboxDepth, now: DateTime<Utc>, zone: Tz) -> DepthView {
    let oldest = depth.oldest_due.map(|due| {
        let minutes = (now - due).num_minutes();
        if due > now {
            format!("the next is due at {}", timestamp(due, zone).local)
        } else if minutes < 1 {
            "the oldest is due now".to_string()
        } else {
            format!("the oldest has been due for {minutes} minute{}", if minutes == 1 { "" } else { "s" })
        }
    });
    DepthView { waiting: depth.waiting, oldest }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn the_depth_says_how_long_the_oldest_has_waited() {
        let now = Utc::now();
        let view =
            |due: Option<DateTime<Utc>>| depth_view(OutboxDepth { waiting: 3, oldest_due: due }, now, chrono_tz::UTC);
        assert_eq!(view(None).oldest, None);
        assert_eq!(
            view(Some(now - Duration::minutes(5))).oldest.as_deref(),
            Some("the oldest has been due for 5 minutes")
        );
        assert!(view(Some(now + Duration::hours(3))).oldest.unwrap().starts_with("the next is due at "));
    }
}
