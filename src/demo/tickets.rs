//! The demo's tickets: a few hundred across the accounts, with recipients, comments, internal
//! notes and history, labelled and closed in realistic proportions.

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};

use super::{ACCOUNTS, DemoRole, DemoUser, SEED, Seeded, USERS};
use crate::domain::permission::BuiltinRole;
use crate::domain::ticket::{EventKind, Severity, TicketStatus};
use crate::store::{NewComment, NewTicket, Store};

const SUBJECTS: [&str; 16] = [
    "Suspicious outbound traffic from {host}",
    "Repeated failed SSH logins on {host}",
    "Malware signature detected on {host}",
    "Possible credential stuffing against {service}",
    "Unexpected administrator account created on {host}",
    "Web application firewall blocking SQL injection on {service}",
    "Ransomware indicators on file share {host}",
    "Expired TLS certificate on {service}",
    "Port scan from external address against {host}",
    "Privilege escalation attempt on {host}",
    "Data exfiltration alert for {service}",
    "Phishing email reported by staff",
    "Request: open firewall port for {service}",
    "Question about monthly vulnerability report",
    "Agent offline on {host}",
    "Request: add user to VPN access for {service}",
];
const HOSTS: [&str; 10] = [
    "web-01",
    "web-02",
    "db-primary",
    "fileserver-3",
    "jump-host",
    "mail-gw",
    "k8s-node-7",
    "payroll-app",
    "vpn-edge",
    "build-agent-2",
];
const SERVICES: [&str; 8] = [
    "the customer portal",
    "the payroll API",
    "the VPN gateway",
    "the public website",
    "Exchange Online",
    "the patient records API",
    "the SFTP endpoint",
    "the admin console",
];

const CUSTOMER_LINES: [&str; 5] = [
    "We noticed this in our own monitoring as well. Can you advise on next steps?",
    "We have isolated the host from the network as suggested.",
    "The affected credentials have been rotated on our side.",
    "We applied the patch you recommended last night.",
    "Please let us know if you need access to the logs.",
];
const SUPPORT_LINES: [&str; 5] = [
    "Armor Support has reviewed the alerts. Please isolate the affected host and confirm once done.",
    "We see no further malicious activity since the block rule was applied.",
    "Please rotate the credentials of the affected accounts and confirm here.",
    "The indicators match a known campaign; we have added detections for it.",
    "Could you confirm whether this activity was expected (e.g. a scheduled scan)?",
];
const INTERNAL_LINES: [&str; 3] = [
    "Internal: correlates with alert cluster 4471 in the SIEM; keep watching egress.",
    "Internal: customer contact prefers phone for Critical follow-ups.",
    "Internal: verified block rule in place on the edge firewall.",
];

fn fill(template: &str, rng: &mut StdRng) -> String {
    template
        .replace("{host}", HOSTS.choose(rng).copied().unwrap_or("web-01"))
        .replace("{service}", SERVICES.choose(rng).copied().unwrap_or("the portal"))
}

fn pick_severity(rng: &mut StdRng) -> Severity {
    match rng.random_range(0..100) {
        0..35 => Severity::Low,
        35..65 => Severity::Medium,
        65..87 => Severity::High,
        _ => Severity::Critical,
    }
}

fn pick_status(rng: &mut StdRng, incident: bool) -> TicketStatus {
    let closed_share = if incident { 35 } else { 50 };
    match rng.random_range(0..100) {
        n if n < closed_share => TicketStatus::Closed,
        n if n < closed_share + 25 => TicketStatus::RequiresAttention,
        _ => TicketStatus::Open,
    }
}

/// The demo tickets; returns the ids of the first account's, in the order they were opened.
pub(super) async fn seed_tickets(store: &Store, seeded: &Seeded) -> anyhow::Result<Vec<i64>> {
    let mut rng = StdRng::seed_from_u64(SEED);
    let now = crate::clock::now();
    let mut first_account = Vec::new();
    let support: Vec<i64> =
        USERS.iter().zip(&seeded.user_ids).filter(|(u, _)| u.account.is_none()).map(|(_, id)| *id).collect();

    for (account_index, account) in ACCOUNTS.iter().enumerate() {
        let members: Vec<(&DemoUser, i64)> = USERS
            .iter()
            .zip(seeded.user_ids.iter().copied())
            .filter(|(u, _)| u.account == Some(account_index))
            .collect();
        let openers: Vec<i64> = members.iter().filter(|(u, _)| u.opens_tickets).map(|(_, id)| *id).collect();
        let readers: Vec<i64> = members
            .iter()
            .filter(|(u, _)| matches!(u.role, DemoRole::Builtin(_)) && u.enabled)
            .map(|(_, id)| *id)
            .collect();
        // The recipient-only user of the first account is on about a third of its tickets.
        let recipient_only = members
            .iter()
            .find(|(u, _)| !u.opens_tickets && matches!(u.role, DemoRole::Builtin(BuiltinRole::Technical)))
            .map(|(_, id)| *id);

        for n in 0..account.tickets {
            // The first tickets of each account cover every severity and both open statuses.
            let (severity, status) = if n < 8 {
                (Some(Severity::ALL[n % 4]), if n < 4 { TicketStatus::Open } else { TicketStatus::RequiresAttention })
            } else {
                let incident = rng.random_bool(0.35);
                let severity = incident.then(|| pick_severity(&mut rng));
                (severity, pick_status(&mut rng, incident))
            };
            let opener = *openers.choose(&mut rng).unwrap_or(&seeded.user_ids[0]);
            let mut recipients: Vec<i64> = Vec::new();
            if let Some(riley) = recipient_only
                && (n < 8 || rng.random_bool(0.33))
            {
                recipients.push(riley);
            }
            if rng.random_bool(0.4)
                && let Some(other) =
                    readers.choose(&mut rng).copied().filter(|id| *id != opener && !recipients.contains(id))
            {
                recipients.push(other);
            }
            let created_at = now - Duration::minutes(rng.random_range(60..120 * 24 * 60));
            let subject = fill(SUBJECTS[rng.random_range(0..SUBJECTS.len())], &mut rng);
            let ticket = NewTicket {
                account_id: seeded.account_ids[account_index],
                opener_id: opener,
                created_by: opener,
                summary: subject.clone(),
                description: format!(
                    "{subject}.\n\nReported by our team; first seen around {}. Please investigate and advise.",
                    created_at.format("%Y-%m-%d %H:%M UTC")
                ),
                recipient_ids: recipients,
                status: TicketStatus::Open,
                severity,
                created_at,
                submission_key: None,
                notify_desk: false,
            };
            let id = store.insert_ticket(&ticket).await?;
            if account_index == 0 {
                first_account.push(id);
            }
            let agent = *support.choose(&mut rng).unwrap_or(&seeded.user_ids[0]);
            let history = History { store, id, opener, agent, created_at, now };
            history.write(&mut rng, severity, status).await?;
        }
    }
    Ok(first_account)
}

/// Gives one demo ticket a believable history ending in `status`.
struct History<'a> {
    store: &'a Store,
    id: i64,
    opener: i64,
    agent: i64,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
}

impl History<'_> {
    async fn write(&self, rng: &mut StdRng, severity: Option<Severity>, status: TicketStatus) -> anyhow::Result<()> {
        let span = (self.now - self.created_at).num_minutes().max(10);
        let mut at = self.created_at;
        let mut step = |rng: &mut StdRng| {
            at += Duration::minutes(rng.random_range(1..=(span / 6).max(1)));
            at.min(self.now - Duration::minutes(1))
        };
        if let Some(severity) = severity {
            let when = step(rng);
            self.store
                .insert_event(self.id, self.agent, EventKind::Labelled, (None, Some(severity.name())), when)
                .await?;
            if rng.random_bool(0.3) {
                let note = INTERNAL_LINES.choose(rng).copied().unwrap_or_default();
                self.comment(self.agent, note, true, step(rng)).await?;
            }
        }
        let support_line = SUPPORT_LINES.choose(rng).copied().unwrap_or_default();
        self.comment(self.agent, support_line, false, step(rng)).await?;
        if rng.random_bool(0.6) {
            let customer_line = CUSTOMER_LINES.choose(rng).copied().unwrap_or_default();
            self.comment(self.opener, customer_line, false, step(rng)).await?;
        }
        let mut closure_requested = None;
        if status != TicketStatus::Open {
            let when = step(rng);
            self.store
                .insert_event(self.id, self.agent, EventKind::StatusChanged, (Some("Open"), Some(status.name())), when)
                .await?;
        }
        if severity.is_some() && status != TicketStatus::Closed && rng.random_bool(0.15) {
            let when = step(rng);
            self.comment(
                self.opener,
                "We have completed the remediation steps. Please close this incident.",
                false,
                when,
            )
            .await?;
            self.store.insert_event(self.id, self.opener, EventKind::ClosureRequested, (None, None), when).await?;
            closure_requested = Some((self.opener, when));
        }
        if status == TicketStatus::Closed {
            self.comment(self.agent, "Verified with the customer; resolving this ticket.", false, step(rng)).await?;
        }
        self.store.set_ticket_state(self.id, status, closure_requested, step(rng)).await?;
        Ok(())
    }

    async fn comment(&self, author: i64, body: &str, internal: bool, at: DateTime<Utc>) -> anyhow::Result<()> {
        let comment = NewComment {
            ticket_id: self.id,
            author_id: author,
            body: body.to_string(),
            internal,
            submission_key: None,
            created_at: at,
        };
        self.store.insert_comment(&comment).await?;
        Ok(())
    }
}
