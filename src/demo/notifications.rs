//! What `serve --demo` adds to the demo data so that Desk › Notifications has something to show:
//! a few changes made "just now" through the same store call as the portal's forms, so each writes
//! its notices to the outbox and the portal sends them once it runs (with mail off, it records
//! them there). Two users have made choices: Morgan hears of customer replies and closure
//! requests; Riley takes a daily digest.

use super::{MORGAN, RILEY, Seeded, TESS, USERS};
use crate::domain::lifecycle::Change;
use crate::domain::notify::{NoticeKind, Preferences};
use crate::domain::ticket::{Severity, TicketStatus};
use crate::store::{CommentInput, NotificationSettings, Store, TicketRecord};

fn user_id(seeded: &Seeded, email: &str) -> Option<i64> {
    USERS.iter().position(|u| u.email == email).and_then(|i| seeded.user_ids.get(i).copied())
}

fn comment(body: &str) -> CommentInput {
    CommentInput { body: body.to_string(), internal: false, submission_key: None }
}

/// `tickets` are the first account's, oldest first.
pub(super) async fn recent_changes(store: &Store, seeded: &Seeded, tickets: &[i64]) -> anyhow::Result<()> {
    let (Some(tess), Some(riley), Some(morgan)) =
        (user_id(seeded, TESS), user_id(seeded, RILEY), user_id(seeded, MORGAN))
    else {
        return Ok(());
    };
    let agent = USERS.iter().zip(&seeded.user_ids).find(|(u, _)| u.account.is_none()).map(|(_, id)| *id);
    let Some(agent) = agent else { return Ok(()) };

    let desk_kinds = [NoticeKind::CustomerComment, NoticeKind::ClosureRequested];
    let morgan_chose = Preferences {
        muted_kinds: NoticeKind::ALL.into_iter().filter(|k| !desk_kinds.contains(k)).collect(),
        min_severity: None,
        digest: false,
    };
    store
        .save_notification_settings(morgan, &NotificationSettings { preferences: morgan_chose, digest_hour: 8 })
        .await?;
    let riley_chose = Preferences { digest: true, ..Preferences::default() };
    store.save_notification_settings(riley, &NotificationSettings { preferences: riley_chose, digest_hour: 8 }).await?;

    // Tess's open tickets, each used once.
    let mut open: Vec<TicketRecord> = Vec::new();
    for id in tickets {
        if let Some(ticket) = store.ticket(*id).await?
            && ticket.opener_id == tess
            && ticket.status == TicketStatus::Open
            && ticket.closure_requested_at.is_none()
        {
            open.push(ticket);
        }
    }
    let mut take = |wanted: &dyn Fn(&TicketRecord) -> bool| open.iter().position(wanted).map(|i| open.remove(i).id);
    let now = crate::clock::now();
    if let Some(id) = take(&|t| t.severity == Some(Severity::High)) {
        let reply = comment("We see the same beaconing from two more hosts in your network. Please isolate them too.");
        store.change_ticket(id, agent, None, Some(&reply), &[], now).await?;
    }
    if let Some(id) = take(&|t| matches!(t.severity, Some(Severity::Low | Severity::Medium))) {
        store.change_ticket(id, agent, None, None, &[Change::SetSeverity(Some(Severity::Critical))], now).await?;
    }
    if let Some(id) = take(&|t| t.severity.is_some()) {
        let question = comment("Could you confirm whether this activity was a scheduled scan?");
        let waiting = [Change::SetStatus(TicketStatus::RequiresAttention)];
        store.change_ticket(id, agent, None, Some(&question), &waiting, now).await?;
    }
    if let Some(id) = take(&|t| t.severity.is_some()) {
        let answer = comment("We have isolated the host and rotated the service account's password.");
        store.change_ticket(id, tess, None, Some(&answer), &[Change::CustomerComment], now).await?;
    }
    Ok(())
}
