//! A large, realistic, deterministic data set for benchmarks: ~1,000 accounts, ~50,000 users and
//! a million tickets at full size, skewed on purpose (one account holds a fifth of the tickets,
//! and one heavy user of it receives half of those).

use chrono::{DateTime, Duration, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use secrecy::SecretString;

use crate::auth::password;
use crate::domain::permission::BuiltinRole;
use crate::domain::ticket::{EventKind, Severity, TicketStatus};
use crate::store::Store;
use crate::store::sql::{Rows, Value};

pub const BENCH_PASSWORD: &str = "bench-password";
/// The user who receives half of the largest account's tickets.
pub const HEAVY_USER: &str = "heavy@bench.example";
/// The first user of a middle-sized account.
pub const TYPICAL_USER: &str = "typical@bench.example";
pub const SUPPORT_USER: &str = "support@bench.example";

const FIRST_TICKET_ID: i64 = 100_001;
const SUPPORT_STAFF: i64 = 5;
const BATCH: usize = 10_000;
const HISTORY_DAYS: i64 = 730;

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub tickets: u64,
    pub seed: u64,
}

#[derive(Debug, Default)]
pub struct Summary {
    pub accounts: u64,
    pub users: u64,
    pub tickets: u64,
    pub recipients: u64,
    pub visibility_rows: u64,
    pub comments: u64,
    pub events: u64,
}

struct Account {
    id: i64,
    /// Cumulative share of tickets, for weighted picks.
    cumulative: f64,
    users: std::ops::Range<i64>,
}

fn severity(rng: &mut StdRng) -> Severity {
    match rng.random_range(0..100) {
        0..45 => Severity::Low,
        45..75 => Severity::Medium,
        75..92 => Severity::High,
        _ => Severity::Critical,
    }
}

fn status(rng: &mut StdRng) -> TicketStatus {
    match rng.random_range(0..100) {
        0..80 => TicketStatus::Closed,
        80..93 => TicketStatus::Open,
        _ => TicketStatus::RequiresAttention,
    }
}

const SUBJECTS: [&str; 8] = [
    "Suspicious outbound traffic from host",
    "Repeated failed SSH logins",
    "Malware signature detected",
    "Possible credential stuffing against the portal",
    "Port scan from external address",
    "Privilege escalation attempt",
    "Request: open firewall port",
    "Agent offline",
];

pub async fn generate(store: &Store, options: Options) -> anyhow::Result<Summary> {
    anyhow::ensure!(!store.has_users().await?, "the database is not empty; generate into a new one");
    anyhow::ensure!(options.tickets >= 1_000, "generate at least 1000 tickets");
    let mut rng = StdRng::seed_from_u64(options.seed);
    let now = crate::clock::now();
    let mut summary = Summary::default();
    let recreate = store.drop_secondary_indexes().await?;
    let hash = password::hash_password(SecretString::from(BENCH_PASSWORD)).await?;

    // Accounts: the first holds 20% of the tickets; the others share the rest unevenly.
    let account_count = (options.tickets / 1_000).max(10) as i64;
    let user_count = ((options.tickets / 20) as i64).max(account_count * 3);
    let mut weights: Vec<f64> = (1..account_count).map(|rank| 1.0 / (rank as f64).powf(0.8)).collect();
    // Shuffle so that account numbers do not follow size.
    for i in (1..weights.len()).rev() {
        let j = rng.random_range(0..=i);
        weights.swap(i, j);
    }
    let rest: f64 = weights.iter().sum();
    let mut shares = vec![0.2];
    shares.extend(weights.iter().map(|w| 0.8 * w / rest));
    let mut accounts = Vec::new();
    let mut cumulative = 0.0;
    let mut next_user = 1i64;
    let spare_users = user_count - account_count * 3;
    for (i, share) in shares.iter().enumerate() {
        cumulative += share;
        let users = 3 + (share * spare_users as f64) as i64;
        accounts.push(Account { id: i as i64 + 1, cumulative, users: next_user..next_user + users });
        next_user += users;
    }
    // The middle-sized account's first user is the typical one.
    let mut by_size: Vec<usize> = (1..accounts.len()).collect();
    by_size.sort_by(|a, b| shares[*a].total_cmp(&shares[*b]));
    let typical_account = by_size[by_size.len() / 2];

    let mut rows: Rows = Vec::new();
    for account in &accounts {
        rows.push(vec![
            account.id.into(),
            (1_000_000 + account.id).into(),
            format!("Bench account {}", account.id).into(),
            now.into(),
        ]);
    }
    store.bulk_insert("accounts", &["id", "number", "name", "created_at"], std::mem::take(&mut rows)).await?;
    summary.accounts = accounts.len() as u64;

    // Users, their roles (Admin for each account's first user, else mostly Technical) and support.
    let mut roles: Rows = Vec::new();
    let mut members: Rows = Vec::new();
    for (index, account) in accounts.iter().enumerate() {
        let role_base = account.id * 3;
        for (offset, role) in BuiltinRole::ALL.iter().enumerate() {
            roles.push(vec![
                (role_base + offset as i64).into(),
                account.id.into(),
                role.name().into(),
                role.code().into(),
                now.into(),
            ]);
        }
        for user in account.users.clone() {
            let email = match (index, user == account.users.start) {
                (0, true) => HEAVY_USER.to_string(),
                (i, true) if i == typical_account => TYPICAL_USER.to_string(),
                _ => format!("user{user}@a{}.bench.example", account.id),
            };
            rows.push(vec![
                user.into(),
                Some(account.id).into(),
                email.into(),
                "Bench".into(),
                format!("User {user}").into(),
                Some(hash.clone()).into(),
                false.into(),
                false.into(),
                "UTC".into(),
                now.into(),
            ]);
            let role = if user == account.users.start {
                0
            } else if rng.random_bool(0.9) {
                1
            } else {
                2
            };
            members.push(vec![(role_base + role).into(), user.into()]);
            if rows.len() >= BATCH {
                insert_users(store, std::mem::take(&mut rows)).await?;
            }
        }
    }
    for staff in 0..SUPPORT_STAFF {
        let id = next_user + staff;
        let email = if staff == 0 { SUPPORT_USER.to_string() } else { format!("agent{staff}@support.bench.example") };
        rows.push(vec![
            id.into(),
            None::<i64>.into(),
            email.into(),
            "Support".into(),
            format!("Agent {staff}").into(),
            Some(hash.clone()).into(),
            true.into(),
            (staff == 0).into(),
            "UTC".into(),
            now.into(),
        ]);
    }
    insert_users(store, rows).await?;
    store.bulk_insert("roles", &["id", "account_id", "name", "builtin", "created_at"], roles).await?;
    store.bulk_insert("role_members", &["role_id", "user_id"], members).await?;
    summary.users = (next_user - 1 + SUPPORT_STAFF) as u64;
    let support: Vec<i64> = (next_user..next_user + SUPPORT_STAFF).collect();
    let heavy = accounts[0].users.start;

    let progress = ProgressBar::new(options.tickets);
    progress.set_style(
        ProgressStyle::with_template("{spinner} tickets {pos}/{len} [{bar:40}] {per_sec} {eta} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut id = FIRST_TICKET_ID;
    let mut left = options.tickets;
    while left > 0 {
        let batch = (left as usize).min(BATCH);
        let tables = ticket_batch(&mut rng, &accounts, heavy, &support, id, batch, now);
        summary.recipients += tables.recipients.len() as u64;
        summary.visibility_rows += tables.visibility.len() as u64;
        summary.comments += tables.comments.len() as u64;
        summary.events += tables.events.len() as u64;
        store.bulk_insert("tickets", &TICKET_COLUMNS, tables.tickets).await?;
        store
            .bulk_insert("ticket_recipients", &["ticket_id", "user_id", "added_by", "added_at"], tables.recipients)
            .await?;
        store
            .bulk_insert(
                "ticket_visibility",
                &["user_id", "ticket_id", "severity", "status", "created_at", "closed_at"],
                tables.visibility,
            )
            .await?;
        store
            .bulk_insert("comments", &["ticket_id", "author_id", "body", "internal", "created_at"], tables.comments)
            .await?;
        store
            .bulk_insert(
                "ticket_events",
                &["ticket_id", "actor_id", "kind", "from_value", "to_value", "created_at"],
                tables.events,
            )
            .await?;
        id += batch as i64;
        left -= batch as u64;
        progress.inc(batch as u64);
    }
    progress.finish_and_clear();
    summary.tickets = options.tickets;

    eprintln!("building indexes…");
    store.run_trusted(&recreate).await?;
    store.after_bulk_load().await?;
    store.rebuild_incident_counts().await?;
    store.reset_incident_activity().await?;
    store.analyze().await?;
    Ok(summary)
}

async fn insert_users(store: &Store, rows: Rows) -> anyhow::Result<()> {
    const COLUMNS: [&str; 10] = [
        "id",
        "account_id",
        "email",
        "first_name",
        "last_name",
        "password_hash",
        "is_support",
        "is_support_admin",
        "time_zone",
        "created_at",
    ];
    store.bulk_insert("users", &COLUMNS, rows).await?;
    Ok(())
}

const TICKET_COLUMNS: [&str; 13] = [
    "id",
    "account_id",
    "summary",
    "description",
    "opener_id",
    "status",
    "severity",
    "closure_requested_by",
    "closure_requested_at",
    "created_at",
    "updated_at",
    "closed_at",
    "version",
];

struct Tables {
    tickets: Rows,
    recipients: Rows,
    visibility: Rows,
    comments: Rows,
    events: Rows,
}

fn pick_account<'a>(rng: &mut StdRng, accounts: &'a [Account]) -> &'a Account {
    let x: f64 = rng.random();
    let index = accounts.partition_point(|a| a.cumulative < x).min(accounts.len() - 1);
    &accounts[index]
}

fn ticket_batch(
    rng: &mut StdRng,
    accounts: &[Account],
    heavy: i64,
    support: &[i64],
    first_id: i64,
    count: usize,
    now: DateTime<Utc>,
) -> Tables {
    let mut tables = Tables {
        tickets: Vec::new(),
        recipients: Vec::new(),
        visibility: Vec::new(),
        comments: Vec::new(),
        events: Vec::new(),
    };
    for n in 0..count {
        let id = first_id + n as i64;
        let account = pick_account(rng, accounts);
        let opener = rng.random_range(account.users.clone());
        let mut recipients: Vec<i64> = Vec::new();
        let wanted = rng.random_range(1..=3);
        for _ in 0..wanted * 2 {
            if recipients.len() >= wanted || account.users.end - account.users.start < 3 {
                break;
            }
            let user = rng.random_range(account.users.clone());
            if user != opener && !recipients.contains(&user) {
                recipients.push(user);
            }
        }
        if account.id == 1 && opener != heavy && !recipients.contains(&heavy) && rng.random_bool(0.5) {
            recipients.push(heavy);
        }
        let created = now - Duration::seconds(rng.random_range(3600..HISTORY_DAYS * 86_400));
        let severity = rng.random_bool(0.3).then(|| severity(rng));
        let status = status(rng);
        let closed_at = (status == TicketStatus::Closed)
            .then(|| (created + Duration::seconds(rng.random_range(3600..30 * 86_400))).min(now));
        let closure = (severity.is_some() && status != TicketStatus::Closed && rng.random_bool(0.05))
            .then(|| (opener, (created + Duration::hours(20)).min(now)));
        let agent = support[rng.random_range(0..support.len())];
        let updated = closed_at.unwrap_or(created + Duration::hours(1)).min(now);
        let subject = SUBJECTS[rng.random_range(0..SUBJECTS.len())];
        tables.tickets.push(vec![
            id.into(),
            account.id.into(),
            format!("{subject} {id}").into(),
            "Generated for benchmarks.".into(),
            opener.into(),
            status.code().into(),
            severity.map(|s| i64::from(s.rank())).into(),
            closure.map(|(user, _)| user).into(),
            closure.map(|(_, at)| at).into(),
            created.into(),
            updated.into(),
            closed_at.into(),
            1i64.into(),
        ]);
        for user in std::iter::once(opener).chain(recipients.iter().copied()) {
            tables.visibility.push(vec![
                user.into(),
                id.into(),
                severity.map(|s| i64::from(s.rank())).into(),
                status.code().into(),
                created.into(),
                closed_at.into(),
            ]);
        }
        for user in &recipients {
            tables.recipients.push(vec![id.into(), (*user).into(), opener.into(), created.into()]);
        }
        tables.comments.push(vec![
            id.into(),
            agent.into(),
            "Armor Support is looking into this.".into(),
            false.into(),
            (created + Duration::minutes(30)).min(now).into(),
        ]);
        if rng.random_bool(0.5) {
            tables.comments.push(vec![
                id.into(),
                opener.into(),
                "Thanks, more details attached.".into(),
                false.into(),
                (created + Duration::hours(2)).min(now).into(),
            ]);
        }
        let event = |kind: EventKind, actor: i64, to: Option<String>, at: DateTime<Utc>| -> Vec<Value> {
            vec![id.into(), actor.into(), kind.code().into(), None::<String>.into(), to.into(), at.into()]
        };
        tables.events.push(event(EventKind::Opened, opener, None, created));
        if let Some(severity) = severity {
            tables.events.push(event(
                EventKind::Labelled,
                agent,
                Some(severity.name().to_string()),
                (created + Duration::minutes(10)).min(now),
            ));
        }
        if let Some(at) = closed_at {
            tables.events.push(event(EventKind::Closed, agent, Some("Closed".to_string()), at));
        }
    }
    tables
}
