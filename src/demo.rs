//! The demo data set: three customer accounts, users covering every role situation the portal
//! must handle, two support staff, and a few hundred tickets with recipients, comments and
//! history. Deterministic: the same seed gives the same data (dates are relative to today).

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use secrecy::SecretString;

use crate::auth::api_key::SecretCipher;
use crate::auth::{password, totp};
use crate::domain::permission::{BuiltinRole, Permission};
use crate::domain::ticket::{EventKind, Severity, TicketStatus};
use crate::store::{NewComment, NewTicket, NewUser, Store};

pub const DEMO_PASSWORD: &str = "demo-password";
/// The demo support staff's two-factor key (base32), printed at start-up: published, so never
/// for a real deployment.
pub const DEMO_TOTP_SECRET: &str = "INCIDENTPORTALDEMOSECRETKEY23456";
const SEED: u64 = 20_261_130;

#[derive(Debug, Clone, Copy)]
pub enum DemoRole {
    Builtin(BuiltinRole),
    /// A custom role holding only Read Dashboard Statistics.
    DashboardOnly,
    SupportAgent,
    SupportAdmin,
}

pub struct DemoUser {
    pub email: &'static str,
    pub first_name: &'static str,
    pub last_name: &'static str,
    /// Index into [`ACCOUNTS`]; `None` for support staff.
    pub account: Option<usize>,
    pub role: DemoRole,
    pub time_zone: &'static str,
    pub enabled: bool,
    /// Opens tickets in the demo data.
    pub opens_tickets: bool,
    /// What signing in as this user shows.
    pub shows: &'static str,
}

pub struct DemoAccount {
    pub number: i64,
    pub name: &'static str,
    pub tickets: usize,
}

pub const ACCOUNTS: [DemoAccount; 3] = [
    DemoAccount { number: 100_234, name: "Northwind Health", tickets: 170 },
    DemoAccount { number: 100_577, name: "Contoso Retail", tickets: 80 },
    DemoAccount { number: 100_912, name: "Fabrikam Energy", tickets: 60 },
];

use BuiltinRole::{Admin, Billing, Technical};

/// The demo users' email addresses, by first name: [`USERS`] and the tests both use these.
pub const TESS: &str = "tess.tech@northwind.example";
pub const RILEY: &str = "riley.recipient@northwind.example";
pub const AVERY: &str = "avery.admin@northwind.example";
pub const BILLIE: &str = "billie.billing@northwind.example";
pub const DANA: &str = "dana.dashboard@northwind.example";
pub const DORA: &str = "dora.disabled@northwind.example";
pub const CASEY: &str = "casey.admin@contoso.example";
pub const CAMERON: &str = "cameron.tech@contoso.example";
pub const FRANKIE: &str = "frankie.admin@fabrikam.example";
pub const FERN: &str = "fern.tech@fabrikam.example";
pub const SAM: &str = "sam.agent@support.example";
pub const MORGAN: &str = "morgan.lead@support.example";

pub const USERS: [DemoUser; 12] = [
    DemoUser {
        email: TESS,
        first_name: "Tess",
        last_name: "Okafor",
        account: Some(0),
        role: DemoRole::Builtin(Technical),
        time_zone: "America/New_York",
        enabled: true,
        opens_tickets: true,
        shows: "Technical user: opens many tickets; sees open incidents of every severity (dates in New York time)",
    },
    DemoUser {
        email: RILEY,
        first_name: "Riley",
        last_name: "Chen",
        account: Some(0),
        role: DemoRole::Builtin(Technical),
        time_zone: "Asia/Tokyo",
        enabled: true,
        opens_tickets: false,
        shows: "Recipient but never opener: sees only the incidents they are listed on (dates in Tokyo time)",
    },
    DemoUser {
        email: AVERY,
        first_name: "Avery",
        last_name: "Quinn",
        account: Some(0),
        role: DemoRole::Builtin(Admin),
        time_zone: "Europe/London",
        enabled: true,
        opens_tickets: true,
        shows: "Account administrator: sees only their own and received incidents, like everyone",
    },
    DemoUser {
        email: BILLIE,
        first_name: "Billie",
        last_name: "Park",
        account: Some(0),
        role: DemoRole::Builtin(Billing),
        time_zone: "UTC",
        enabled: true,
        opens_tickets: false,
        shows: "Billing only: lacks Read Dashboard Statistics, so Security Incidents answers 403 naming it",
    },
    DemoUser {
        email: DANA,
        first_name: "Dana",
        last_name: "Brooks",
        account: Some(0),
        role: DemoRole::DashboardOnly,
        time_zone: "UTC",
        enabled: true,
        opens_tickets: false,
        shows: "Custom role with Read Dashboard Statistics only: lacks Read Ticket (403 naming it)",
    },
    DemoUser {
        email: DORA,
        first_name: "Dora",
        last_name: "Frost",
        account: Some(0),
        role: DemoRole::Builtin(Technical),
        time_zone: "UTC",
        enabled: false,
        opens_tickets: true,
        shows: "Disabled user: cannot sign in (same message as a wrong password)",
    },
    DemoUser {
        email: CASEY,
        first_name: "Casey",
        last_name: "Diaz",
        account: Some(1),
        role: DemoRole::Builtin(Admin),
        time_zone: "America/Chicago",
        enabled: true,
        opens_tickets: true,
        shows: "Administrator of another account: never sees Northwind's incidents",
    },
    DemoUser {
        email: CAMERON,
        first_name: "Cameron",
        last_name: "Reyes",
        account: Some(1),
        role: DemoRole::Builtin(Technical),
        time_zone: "America/Chicago",
        enabled: true,
        opens_tickets: true,
        shows: "Technical user of Contoso Retail",
    },
    DemoUser {
        email: FRANKIE,
        first_name: "Frankie",
        last_name: "Novak",
        account: Some(2),
        role: DemoRole::Builtin(Admin),
        time_zone: "Europe/Berlin",
        enabled: true,
        opens_tickets: true,
        shows: "Administrator of Fabrikam Energy",
    },
    DemoUser {
        email: FERN,
        first_name: "Fern",
        last_name: "Ito",
        account: Some(2),
        role: DemoRole::Builtin(Technical),
        time_zone: "Europe/Berlin",
        enabled: true,
        opens_tickets: true,
        shows: "Technical user of Fabrikam Energy",
    },
    DemoUser {
        email: SAM,
        first_name: "Sam",
        last_name: "Rivera",
        account: None,
        role: DemoRole::SupportAgent,
        time_zone: "UTC",
        enabled: true,
        opens_tickets: false,
        shows: "Support agent: the incident queue across every account",
    },
    DemoUser {
        email: MORGAN,
        first_name: "Morgan",
        last_name: "Lee",
        account: None,
        role: DemoRole::SupportAdmin,
        time_zone: "UTC",
        enabled: true,
        opens_tickets: false,
        shows: "Support administrator: the queue, plus accounts and staff",
    },
];

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

/// Fills the database with the demo data set unless it already has users.
pub async fn fill_if_empty(store: &Store, cipher: &SecretCipher) -> anyhow::Result<bool> {
    if store.has_users().await? {
        return Ok(false);
    }
    seed(store, cipher).await?;
    Ok(true)
}

struct Seeded {
    account_ids: Vec<i64>,
    user_ids: Vec<i64>,
}

/// `cipher` encrypts the staff's two-factor secret as the portal will decrypt it.
pub async fn seed(store: &Store, cipher: &SecretCipher) -> anyhow::Result<()> {
    let seeded = seed_people(store, cipher).await?;
    // Everyone's activity rows exist from the start (empty), so the tickets below keep them up to
    // date as any later change does.
    store.rebuild_all_activity().await?;
    seed_tickets(store, &seeded).await
}

async fn seed_people(store: &Store, cipher: &SecretCipher) -> anyhow::Result<Seeded> {
    let now = crate::clock::now();
    let mut account_ids = Vec::new();
    for account in &ACCOUNTS {
        account_ids.push(store.create_account(account.number, account.name, now).await?);
    }
    // Every demo user shares the published demo password, so one hash serves them all.
    let hash = password::hash_password(SecretString::from(DEMO_PASSWORD)).await?;
    let mut user_ids = Vec::new();
    for user in &USERS {
        let account_id = user.account.map(|i| account_ids[i]);
        let id = store
            .create_user(
                &NewUser {
                    account_id,
                    email: user.email.to_string(),
                    first_name: user.first_name.to_string(),
                    last_name: user.last_name.to_string(),
                    password_hash: Some(hash.clone()),
                    support_admin: matches!(user.role, DemoRole::SupportAdmin),
                    time_zone: user.time_zone.to_string(),
                    enabled: user.enabled,
                },
                now,
            )
            .await?;
        match (user.role, account_id) {
            (DemoRole::Builtin(role), Some(account_id)) => {
                store.add_role_member(store.builtin_role_id(account_id, role).await?, id).await?;
            }
            (DemoRole::DashboardOnly, Some(account_id)) => {
                let role = store
                    .create_role(account_id, "Dashboard viewer", &[Permission::ReadDashboardStatistics], now)
                    .await?;
                store.add_role_member(role, id).await?;
            }
            (DemoRole::SupportAgent | DemoRole::SupportAdmin, None) => {
                // Staff must use two-factor sign-in; the demo's is set up with a published key.
                let secret = totp::from_base32(DEMO_TOTP_SECRET).expect("the demo key is base32");
                store.begin_two_factor(id, &totp::encrypt_secret(cipher, id, &secret)).await?;
                store.enable_two_factor(id, 0, &[], now).await?;
            }
            _ => {}
        }
        user_ids.push(id);
    }
    Ok(Seeded { account_ids, user_ids })
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

async fn seed_tickets(store: &Store, seeded: &Seeded) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(SEED);
    let now = crate::clock::now();
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
            .find(|(u, _)| !u.opens_tickets && matches!(u.role, DemoRole::Builtin(Technical)))
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
            };
            let id = store.insert_ticket(&ticket).await?;
            let agent = *support.choose(&mut rng).unwrap_or(&seeded.user_ids[0]);
            let history = History { store, id, opener, agent, created_at, now };
            history.write(&mut rng, severity, status).await?;
        }
    }
    Ok(())
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

/// What `serve --demo` prints: where to sign in and as whom.
pub fn sign_in_help(url: &str) -> String {
    let mut help = format!("\nDemo data is loaded. Sign in at {url}/login with password \"{DEMO_PASSWORD}\" as:\n");
    for user in USERS.iter() {
        help.push_str(&format!("  {:<36} {}\n", user.email, user.shows));
    }
    help.push_str(&format!(
        "Support staff then enter a two-factor code: add the key {DEMO_TOTP_SECRET} to an authenticator app,\n\
         or run `cargo run -- demo-code` (or `incident-portal demo-code`) for the current one.\n"
    ));
    help
}
