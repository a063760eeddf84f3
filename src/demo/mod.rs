//! The demo data set: three customer accounts, users covering every role situation the portal
//! must handle, two support staff, and a few hundred tickets with recipients, comments and
//! history. Deterministic: the same seed gives the same data (dates are relative to today).

mod notifications;
mod tickets;

use secrecy::SecretString;

use crate::auth::api_key::SecretCipher;
use crate::auth::{password, totp};
use crate::domain::permission::{BuiltinRole, Permission};
use crate::store::{NewUser, Store};

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

/// Fills the database with the demo data set unless it already has users, and makes a few changes
/// "just now" whose notifications the portal sends (or, with mail off, records) once it runs.
pub async fn fill_if_empty(store: &Store, cipher: &SecretCipher) -> anyhow::Result<bool> {
    if store.has_users().await? {
        return Ok(false);
    }
    let (seeded, first_account_tickets) = seed_data(store, cipher).await?;
    notifications::recent_changes(store, &seeded, &first_account_tickets).await?;
    Ok(true)
}

/// The ids the people got, in the order of [`ACCOUNTS`] and [`USERS`].
struct Seeded {
    account_ids: Vec<i64>,
    user_ids: Vec<i64>,
}

/// `cipher` encrypts the staff's two-factor secret as the portal will decrypt it.
/// The tests' data: without the recent changes, so that no test starts with mail to send.
pub async fn seed(store: &Store, cipher: &SecretCipher) -> anyhow::Result<()> {
    seed_data(store, cipher).await.map(|_| ())
}

async fn seed_data(store: &Store, cipher: &SecretCipher) -> anyhow::Result<(Seeded, Vec<i64>)> {
    let seeded = seed_people(store, cipher).await?;
    // Everyone's activity rows exist from the start (empty), so the tickets below keep them up to
    // date as any later change does.
    store.rebuild_all_activity().await?;
    let first_account_tickets = tickets::seed_tickets(store, &seeded).await?;
    Ok((seeded, first_account_tickets))
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

/// What `serve --demo` prints: where to sign in and as whom.
pub fn sign_in_help(url: &str) -> String {
    let mut help = format!("\nDemo data is loaded. Sign in at {url}/login with password \"{DEMO_PASSWORD}\" as:\n");
    for user in USERS.iter() {
        help.push_str(&format!("  {:<36} {}\n", user.email, user.shows));
    }
    help.push_str(&format!(
        "Support staff then enter a two-factor code: add the key {DEMO_TOTP_SECRET} to an authenticator app,\n\
         or run `cargo run -- demo-code` (or `incident-portal demo-code`) for the current one.\n\
         A few changes were made as the demo data loaded: the mails they (and yours) give rise to are\n\
         listed for {MORGAN} under Notifications (recorded, not sent, unless SMTP_URL is set).\n"
    ));
    help
}
