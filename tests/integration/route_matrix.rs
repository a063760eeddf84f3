//! The authorization matrix, built from the router: every registered route and method, called by
//! every kind of principal, with the exact outcome each must get. A route without a row fails the
//! test, so a new route cannot escape it. Refusals leave the database as it was; other accounts'
//! and invisible tickets answer byte for byte like a missing one; a canary in another account
//! never shows up in a customer's response.
//!
//! Cells run in a fixed order (routes as listed, principals left to right), so a change one
//! principal makes (closing the ticket, deleting the role) is what the next ones meet.

use incident_portal::domain::permission::Permission;
use incident_portal::http::routes;
use incident_portal::store::{NewTicket, NewUser};

use crate::helpers::*;
use crate::on_both_backends;

/// The principals, in the order of each row's letters.
const PRINCIPALS: [&str; 21] = [
    "anonymous",
    "opener",
    "recipient",
    "same-account non-recipient",
    "lacks Read Ticket",
    "lacks Write Ticket",
    "lacks Read Dashboard Statistics",
    "lacks Read Identity",
    "lacks Write Identity",
    "lacks API Keys Self Manage",
    "lacks API Keys All Read",
    "lacks API Keys All Delete",
    "lacks Manage Webhooks",
    "other account's administrator",
    "disabled user",
    "support agent",
    "support administrator",
    "API key",
    "API key of another account",
    "revoked API key",
    "FH-AUTH token",
];
const LACKING: [Permission; 9] = [
    Permission::ReadTicket,
    Permission::WriteTicket,
    Permission::ReadDashboardStatistics,
    Permission::ReadIdentity,
    Permission::WriteIdentity,
    Permission::ApiKeysSelfManage,
    Permission::ApiKeysAllRead,
    Permission::ApiKeysAllDelete,
    Permission::ManageWebhooks,
];
const FIRST_KEY: usize = 17;
/// Principals of Northwind, the account the canary's account must stay hidden from.
const NORTHWIND: [usize; 17] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 17, 19, 20, 0];
const CANARY: &str = "CANARY-contoso-5b1e9f";

/// Each letter is one principal's outcome: P 200, D 303 elsewhere (done), L 303 to sign in,
/// E 303 to the two-factor set-up, B 400, U 401, F 403, N 404, C 409, G 410, V 422, R 429.
/// Rows of the API (`/api/v1/…` and the original provider's paths at the root) list all twenty-one;
/// the others the seventeen signed-in or anonymous principals, and the three API keys and the
/// FH-AUTH token there count as anonymous callers. API writes by a session carry its CSRF token
/// in `X-CSRF-Token`, as the portal's own script would.
const MATRIX: &[(&str, &str, &str)] = &[
    //                                                    anon  same  lack×9     other dis staff
    ("GET", "/healthz", "PPPPPPPPPPPPPPPPP"),
    ("GET", "/readyz", "PPPPPPPPPPPPPPPPP"),
    ("GET", "/static/{name}", "PPPPPPPPPPPPPPPPP"),
    ("GET", "/", "LDDDDDDDDDDDDDLDD"),
    ("GET", "/login", "PDDDDDDDDDDDDDDDD"),
    ("POST", "/login", "VVVVVVVVVVVVVVVVV"),
    ("GET", "/login/verify", "LLLLLLLLLLLLLLLLL"),
    ("POST", "/login/verify", "LLLLLLLLLLLLLLLLL"),
    ("GET", "/password/set", "GGGGGGGGGGGGGGGGG"),
    ("GET", "/notifications/unsubscribe", "BBBBBBBBBBBBBBBBB"),
    ("POST", "/notifications/unsubscribe", "BBBBBBBBBBBBBBBBB"),
    ("POST", "/password/set", "GGGGGGGGGGGGGGGGG"),
    ("GET", "/api/v1/security-incidents", "UPPPFPFPPPPPPPUPPPPUP"),
    ("GET", "/api/v1/security-incidents/severity-count", "UPPPFPFPPPPPPPUPPPPUP"),
    ("GET", "/api/v1/me", "UPPPPPPPPPPPPPUPPPPUP"),
    // A ticket's files: the ticket's own visibility (Read Ticket, opener or recipient).
    ("GET", "/api/v1/tickets/{number}/attachments", "UPPNFPPPPPPPPNUPPPNUP"),
    ("GET", "/api/v1/attachments/{attachment_id}", "UPPNFPPPPPPPPNUPPPNUP"),
    ("GET", "/api/v1/openapi.json", "PPPPPPPPPPPPPPPPPPPPP"),
    ("GET", "/docs/api", "PPPPPPPPPPPPPPPPP"),
    ("GET", "/security-incidents", "UPPPFPFPPPPPPPUPPPPUP"),
    ("GET", "/security-incidents/severity-count", "UPPPFPFPPPPPPPUPPPPUP"),
    ("GET", "/me", "UPPPPPPPPPPPPPUPPPPUP"),
    ("GET", "/tickets/list", "UPPPFPPPPPPPPPUPPPPUP"),
    ("GET", "/tickets/{issueKeyId}/details", "UPPNFPPPPPPPPNUPPPNUP"),
    ("GET", "/tickets/{issueKeyId}/comments", "UPPNFPPPPPPPPNUPPPNUP"),
    ("POST", "/tickets/{issueKeyId}/comments", "UPPNFFPPPPPPPNUPPPNUP"),
    ("GET", "/tickets/{issueKeyId}/transition", "UPPNFPPPPPPPPNUPPPNUP"),
    ("POST", "/tickets/{issueKeyId}/transition", "UPPNFFPPPPPPPNUPPPNUP"),
    ("POST", "/auth/authorize", "UUUUUUUUUUUUUUUUUUUUU"),
    ("POST", "/auth/token", "UUUUUUUUUUUUUUUUUUUUU"),
    ("POST", "/auth/token/reissue", "UUUUUUUUUUUUUUUUUUUUU"),
    // A loopback peer without forwarding headers, as the test client is (metrics.rs tries the
    // others). After /docs/api: like it, it ends the disabled user's session.
    ("GET", "/metrics", "PPPPPPPPPPPPPPPPP"),
    ("GET", "/security/dashboard", "LPPPPPFPPPPPPPLPP"),
    ("GET", "/security/dashboard/panel", "LPPPPPFPPPPPPPLPP"),
    ("GET", "/security/incidents", "LPPPFPFPPPPPPPLPP"),
    ("GET", "/security/incidents.csv", "LPPPFPFPPPPPPPLPP"),
    ("GET", "/security/incidents/{number}", "LPPNFPFPPPPPPNLPP"),
    ("GET", "/support/tickets", "LPPPFPPPPPPPPPLDD"),
    ("POST", "/support/tickets", "LDDDDFDDDDDDDDLFF"),
    ("GET", "/support/tickets.csv", "LPPPFPPPPPPPPPLPP"),
    ("GET", "/support/tickets/new", "LPPPPFPPPPPPPPLDD"),
    ("GET", "/support/tickets/{number}", "LPPNFPPPPPPPPNLPP"),
    ("POST", "/support/tickets/{number}/comments", "LDDNFFDDDDDDDNLDD"),
    ("POST", "/support/tickets/{number}/recipients", "LDDNFFDDDDDDDNLDD"),
    ("GET", "/support/tickets/{number}/attachments/{attachment_id}", "LPPNFPPPPPPPPNLPP"),
    ("GET", "/support/tickets/{number}/attachments/{attachment_id}/preview", "LPPNFPPPPPPPPNLPP"),
    ("POST", "/support/tickets/{number}/notifications", "LDDNFDDDDDDDDNLFF"),
    ("GET", "/account/users", "LFFPPPPPPPPPPPLFF"),
    ("POST", "/account/users", "LFFDDDDDFDDDDBLFF"),
    ("GET", "/account/users/new", "LFFPPPPPFPPPPPLFF"),
    ("POST", "/account/two-factor", "LFFDDDDDFDDDDDLFF"),
    ("POST", "/account/api-access", "LFFDDDDDFDDDDDLFF"),
    ("GET", "/account/users/{user_id}", "LFFPPPPPPPPPPNLFF"),
    ("POST", "/account/users/{user_id}/roles", "LFFDDDDDFDDDDNLFF"),
    ("POST", "/account/users/{user_id}/disable", "LFFDDDDDFDDDDNLFF"),
    ("POST", "/account/users/{user_id}/enable", "LFFDDDDDFDDDDNLFF"),
    ("POST", "/account/users/{user_id}/password-link", "LFFDDDDDFDDDDNLFF"),
    ("POST", "/account/users/{user_id}/reset-two-factor", "LFFDDDDDFDDDDNLFF"),
    ("GET", "/account/roles", "LFFPPPPPPPPPPPLFF"),
    ("POST", "/account/roles", "LFFDDDDDFDDDDDLFF"),
    ("GET", "/account/roles/{role_id}", "LFFPPPPPPPPPPNLFF"),
    ("POST", "/account/roles/{role_id}/rename", "LFFDDDDDFDDDDNLFF"),
    ("POST", "/account/roles/{role_id}/permissions", "LFFDDDDDFDDDDNLFF"),
    ("POST", "/account/roles/{role_id}/members", "LFFDDDDDFDDDDNLFF"),
    ("POST", "/account/roles/{role_id}/members/{user_id}/remove", "LFFCCCCCFCCCCNLFF"),
    ("GET", "/account/roles/{role_id}/delete", "LFFPPPPPFPPPPNLFF"),
    ("POST", "/account/roles/{role_id}/delete", "LFFCCCCCFCCCCNLFF"),
    ("GET", "/account/profile", "LPPPPPPPPPPPPPLPP"),
    ("POST", "/account/profile", "LDDDDDDDDDDDDDLDD"),
    ("POST", "/account/profile/password", "LVVVVVVVVVVVVVLVV"),
    ("GET", "/account/profile/two-factor", "LPPPPPPPPPPPPPLPP"),
    ("POST", "/account/profile/two-factor", "LVVVVVVVVVVVVVLEE"),
    ("POST", "/account/profile/two-factor/recovery-codes", "LVVVVVVVVVVVVVLVV"),
    ("POST", "/account/profile/two-factor/disable", "LVVVVVVVVVVVVVLFF"),
    ("GET", "/account/profile/notifications", "LPPPPPPPPPPPPPLPP"),
    ("POST", "/account/profile/notifications", "LDDDDDDDDDDDDDLDD"),
    ("GET", "/account/api-keys", "LPPPPPPPPPPPPPLFF"),
    ("POST", "/account/api-keys", "LPPPPPPPPFPPPPLFF"),
    ("POST", "/account/api-keys/{key_id}/revoke", "LNNDDDDDDDNFDNLFF"),
    ("GET", "/account/webhooks", "LFFPPPPPPPPPFPLFF"),
    ("POST", "/account/webhooks", "LFFPPPPPPPPPFPLFF"),
    ("GET", "/account/webhooks/{endpoint_id}", "LFFPPPPPPPPPFNLFF"),
    ("POST", "/account/webhooks/{endpoint_id}", "LFFDDDDDDDDDFNLFF"),
    ("POST", "/account/webhooks/{endpoint_id}/rotate-secret", "LFFPPPPPPPPPFNLFF"),
    ("POST", "/account/webhooks/{endpoint_id}/disable", "LFFDDDDDDDDDFNLFF"),
    ("POST", "/account/webhooks/{endpoint_id}/enable", "LFFDDDDDDDDDFNLFF"),
    ("POST", "/account/webhooks/{endpoint_id}/deliveries/{delivery_id}/send-again", "LFFDDDDDDDDDFNLFF"),
    // After the rows above: the first to delete it leaves nothing for the others.
    ("POST", "/account/webhooks/{endpoint_id}/delete", "LFFDNNNNNNNNFNLFF"),
    ("GET", "/desk/queue", "LFFFFFFFFFFFFFLPP"),
    ("GET", "/desk/queue.csv", "LFFFFFFFFFFFFFLPP"),
    ("POST", "/desk/tickets", "LFFFFFFFFFFFFFLDD"),
    ("GET", "/desk/tickets/new", "LFFFFFFFFFFFFFLPP"),
    ("POST", "/desk/tickets/{number}/severity", "LFFFFFFFFFFFFFLDC"),
    ("POST", "/desk/tickets/{number}/status", "LFFFFFFFFFFFFFLDC"),
    ("POST", "/desk/tickets/{number}/close", "LFFFFFFFFFFFFFLDC"),
    ("POST", "/desk/tickets/{number}/decline-closure", "LFFFFFFFFFFFFFLCC"),
    ("POST", "/desk/tickets/{number}/reopen", "LFFFFFFFFFFFFFLDC"),
    ("POST", "/desk/tickets/{number}/recipients/{user_id}/remove", "LFFFFFFFFFFFFFLDN"),
    // After every row that downloads the file: the agent removes it.
    ("POST", "/desk/tickets/{number}/attachments/{attachment_id}/remove", "LFFFFFFFFFFFFFLDN"),
    ("GET", "/desk/accounts", "LFFFFFFFFFFFFFLFP"),
    ("POST", "/desk/accounts", "LFFFFFFFFFFFFFLFD"),
    ("GET", "/desk/accounts/new", "LFFFFFFFFFFFFFLFP"),
    ("GET", "/desk/staff", "LFFFFFFFFFFFFFLFP"),
    ("POST", "/desk/staff", "LFFFFFFFFFFFFFLFD"),
    ("POST", "/desk/staff/{user_id}/reset-two-factor", "LFFFFFFFFFFFFFLFD"),
    ("GET", "/desk/audit", "LFFFFFFFFFFFFFLPP"),
    ("GET", "/desk/notifications", "LFFFFFFFFFFFFFLFP"),
    ("GET", "/desk/notifications/{delivery_id}", "LFFFFFFFFFFFFFLFP"),
    // Last, since they end the sessions the rows above use.
    ("POST", "/logout", "LLLLLLLLLLLLLLLLL"),
    ("POST", "/account/profile/sign-out-everywhere", "LLLLLLLLLLLLLLLLL"),
];

/// They end sessions (which is what they are for), so their rows come last.
const ENDS_SESSIONS: [&str; 2] = ["/logout", "/account/profile/sign-out-everywhere"];

pub(crate) struct Caller {
    pub(crate) client: reqwest::Client,
    pub(crate) key: Option<Key>,
    /// An FH-AUTH access token the caller sends instead of a session or a key.
    pub(crate) fh_auth: Option<String>,
    pub(crate) token: String,
}

/// What the paths' parameters stand for.
pub(crate) struct World {
    ticket: Fixture,
    /// A Northwind user the administrators act on.
    tina: i64,
    /// A custom role of Northwind with Tina in it.
    role: i64,
    /// One of Tina's API keys.
    tina_key: String,
    /// Billie, the recipient support removes.
    billie: i64,
    /// A staff member with two-factor sign-in, whom the support administrator resets.
    stan: i64,
    /// An image Tess attached to the ticket with a comment.
    attachment: String,
    /// A notification of the incident's label (recorded: mail is off), and a webhook endpoint of
    /// Northwind with a call made to it.
    notification: i64,
    endpoint: i64,
    delivery: i64,
}

async fn hash() -> String {
    incident_portal::auth::password::hash_password(secrecy::SecretString::from(PASSWORD)).await.unwrap()
}

async fn new_user(app: &TestApp, email: &str, permissions: &[Permission], hash: &str) -> i64 {
    let account = app.principal(TESS).await.account().unwrap().id;
    let user = NewUser {
        account_id: Some(account),
        email: email.into(),
        first_name: "Matrix".into(),
        last_name: email.split('@').next().unwrap().into(),
        password_hash: Some(hash.into()),
        support_admin: false,
        time_zone: "UTC".into(),
        enabled: true,
    };
    let id = app.store.create_user(&user, app.clock.now()).await.unwrap();
    let role = app.store.create_role(account, &format!("Role of {email}"), permissions, app.clock.now()).await.unwrap();
    app.store.add_role_member(role, id).await.unwrap();
    id
}

fn lacking_email(index: usize) -> String {
    format!("lacks-{}@northwind.example", LACKING[index].code().replace('_', "-"))
}

/// Sets up the principals and the world they act on.
pub(crate) async fn setup(app: &TestApp) -> (Vec<Caller>, World) {
    let hash = hash().await;
    let mut lacking_ids = Vec::new();
    for (i, missing) in LACKING.iter().enumerate() {
        let permissions: Vec<Permission> = Permission::ALL.into_iter().filter(|p| p != missing).collect();
        lacking_ids.push(new_user(app, &lacking_email(i), &permissions, &hash).await);
    }
    let disabled = new_user(app, "dis.abled@northwind.example", &Permission::ALL, &hash).await;
    let tina = new_user(app, "tina.target@northwind.example", &[Permission::ReadTicket], &hash).await;
    let account = app.principal(TESS).await.account().unwrap().id;
    let role = app.store.create_role(account, "Target role", &[Permission::ReadTicket], app.clock.now()).await.unwrap();
    app.store.add_role_member(role, tina).await.unwrap();
    let tina_key = app.api_key_for("tina.target@northwind.example").await.id;
    let endpoint = webhook_endpoint(app, account).await;

    // The incident: opened by Tess, received by Riley, Billie, every "lacks" user and the one
    // to be disabled (so each meets the permission rule, not the visibility rule).
    let ticket = app.fresh_incident().await;
    let sam = app.user_id(SAM).await;
    for id in lacking_ids.iter().chain([&disabled]) {
        app.store.add_recipient(ticket.id, *id, "Matrix user", sam, app.clock.now()).await.unwrap();
    }
    // The canary: a Contoso incident no Northwind response may ever contain.
    let casey = app.principal(CASEY).await;
    let canary = NewTicket {
        account_id: casey.account().unwrap().id,
        opener_id: casey.user_id,
        created_by: casey.user_id,
        summary: format!("{CANARY} summary"),
        description: format!("{CANARY} description"),
        recipient_ids: vec![],
        status: incident_portal::domain::ticket::TicketStatus::Open,
        severity: None,
        created_at: app.clock.now(),
        submission_key: None,
        notify_desk: false,
    };
    let canary_id = app.store.insert_ticket(&canary).await.unwrap();
    app.store
        .change_ticket(
            canary_id,
            sam,
            None,
            None,
            &[incident_portal::domain::lifecycle::Change::SetSeverity(Some(
                incident_portal::domain::ticket::Severity::Critical,
            ))],
            app.clock.now(),
        )
        .await
        .unwrap();

    let staff = NewUser {
        account_id: None,
        email: "stan.staff@support.example".into(),
        first_name: "Stan".into(),
        last_name: "Staff".into(),
        password_hash: Some(hash.clone()),
        support_admin: false,
        time_zone: "UTC".into(),
        enabled: true,
    };
    let stan = app.store.create_user(&staff, app.clock.now()).await.unwrap();
    let secret = incident_portal::auth::totp::new_secret();
    let sealed = incident_portal::auth::totp::encrypt_secret(&cipher(), stan, &secret);
    app.store.begin_two_factor(stan, &sealed).await.unwrap();
    app.store.enable_two_factor(stan, 0, &[], app.clock.now()).await.unwrap();

    let mut emails: Vec<Option<String>> = vec![None, Some(TESS.into()), Some(RILEY.into()), Some(AVERY.into())];
    emails.extend((0..LACKING.len()).map(|i| Some(lacking_email(i))));
    emails.extend([
        Some(CASEY.into()),
        Some("dis.abled@northwind.example".into()),
        Some(SAM.into()),
        Some(MORGAN.into()),
    ]);
    let mut callers = Vec::new();
    for email in emails {
        callers.push(caller(app, email, None).await);
    }
    // The disabled user's session was made before the account administrator disabled them.
    app.execute(&format!("UPDATE users SET enabled = FALSE WHERE id = {disabled}")).await;
    let revoked = app.api_key_for(TESS).await;
    app.execute(&format!("UPDATE api_keys SET revoked_at = created_at WHERE key_id = '{}'", revoked.id)).await;
    for key in [app.api_key_for(TESS).await, app.api_key_for(CASEY).await, revoked] {
        callers.push(caller(app, None, Some(key)).await);
    }
    app.allow_fh_auth(TESS).await;
    let mut fh_auth = caller(app, None, None).await;
    fh_auth.fh_auth = Some(app.fh_auth_token(TESS).await);
    callers.push(fh_auth);
    let notification = app.first_delivery().await;
    let tess = app.sign_in(TESS).await;
    let screenshot = file("screenshot.png", "image/png", crate::attachments::png(64, 48));
    let response = app.comment_with_files(&tess, &ticket.number, &[("body", "A screenshot")], &[screenshot]).await;
    assert_eq!(response.status().as_u16(), 303, "the matrix's file is attached");
    let attachment = app.stored_files(ticket.id).await.remove(0).public_id;
    let delivery = webhook_delivery(app, endpoint).await;
    let world = World {
        ticket,
        tina,
        role,
        tina_key,
        billie: app.user_id(BILLIE).await,
        stan,
        notification,
        endpoint,
        delivery,
        attachment,
    };
    (callers, world)
}

/// Where the matrix's webhook endpoints point: loopback's discard port, where nothing listens
/// (the matrix allows loopback; elsewhere the call is refused before any connection).
const WEBHOOK_URL: &str = "http://127.0.0.1:9/matrix";

/// Lets webhooks call loopback over plain HTTP, where the matrix's endpoints point.
fn adjust(settings: &mut incident_portal::settings::Settings) {
    settings.webhooks = incident_portal::domain::webhook::OutboundPolicy { allow_http: true, allow_private: true };
}

async fn webhook_endpoint(app: &TestApp, account: i64) -> i64 {
    use incident_portal::domain::webhook::{Format, Subscription};
    let settings = incident_portal::store::EndpointSettings {
        url: WEBHOOK_URL.into(),
        subscription: Subscription { kinds: Subscription::KINDS.into_iter().collect(), min_severity: None },
        format: Format::Standard,
    };
    let secret = incident_portal::auth::webhook_secret::generate();
    let seal = |id| incident_portal::auth::webhook_secret::seal(&cipher(), id, &secret);
    app.store.create_webhook_endpoint(account, &settings, seal, app.clock.now()).await.unwrap().unwrap()
}

/// The call the fresh incident's label made to `endpoint`, once the sender has fanned it out.
async fn webhook_delivery(app: &TestApp, endpoint: i64) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM notification_deliveries WHERE endpoint_id = {endpoint}");
    let started = std::time::Instant::now();
    while app.count(&sql).await == 0 {
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "the label's call is fanned out");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    app.count(&format!("SELECT MIN(id) FROM notification_deliveries WHERE endpoint_id = {endpoint}")).await
}

pub(crate) async fn caller(app: &TestApp, email: Option<String>, key: Option<Key>) -> Caller {
    let (client, page) = match &email {
        Some(email) => (app.sign_in(email).await, "/account/profile"),
        None => (client(), "/login"),
    };
    let token = app.csrf_token(&client, page).await;
    Caller { client, key, fh_auth: None, token }
}

pub(crate) fn path_for(pattern: &str, world: &World) -> String {
    let user = if pattern.starts_with("/desk/staff") {
        world.stan
    } else if pattern.starts_with("/desk/tickets") {
        world.billie
    } else {
        world.tina
    };
    pattern
        .replace("{name}", "app.css")
        .replace("{number}", &world.ticket.number)
        .replace("{issueKeyId}", &world.ticket.number)
        .replace("{user_id}", &user.to_string())
        .replace("{role_id}", &world.role.to_string())
        .replace("{key_id}", &world.tina_key)
        .replace("{attachment_id}", &world.attachment)
        .replace("{endpoint_id}", &world.endpoint.to_string())
        .replace(
            "{delivery_id}",
            &if pattern.starts_with("/desk/") { world.notification } else { world.delivery }.to_string(),
        )
}

/// A body the route accepts from a principal who may use it; unique per principal where the
/// route creates something.
pub(crate) async fn form_for(
    app: &TestApp,
    method: &str,
    pattern: &str,
    world: &World,
    who: usize,
) -> Vec<(String, String)> {
    if method != "POST" {
        return Vec::new();
    }
    let unique = format!("m{who}-{}", pattern.len());
    let version = app.ticket_version(world.ticket.id).await.to_string();
    let account_number = 990_000 + who as i64 * 100 + pattern.len() as i64;
    let fields: Vec<(&str, String)> = match pattern {
        "/login" => vec![("email", format!("nobody-{unique}@example.com")), ("password", "not the password".into())],
        "/login/verify" => vec![("code", "000000".into())],
        "/password/set" => vec![
            ("token", "not-a-token".into()),
            ("password", "a long enough password".into()),
            ("confirmation", "a long enough password".into()),
        ],
        "/support/tickets" => vec![
            ("summary", format!("Matrix ticket {unique}")),
            ("description", "From the matrix".into()),
            ("submission_key", format!("matrix-{unique}")),
        ],
        "/support/tickets/{number}/comments" => {
            vec![("body", format!("Matrix comment {unique}")), ("submission_key", format!("matrix-{unique}"))]
        }
        "/support/tickets/{number}/recipients" => vec![("user_id", app.user_id(DANA).await.to_string())],
        "/support/tickets/{number}/notifications" => vec![("notify", "off".into())],
        // "Labelled" is a kind customers and staff both choose among.
        "/account/profile/notifications" => vec![
            ("kind", "labelled".into()),
            ("threshold", "high".into()),
            ("delivery", "digest".into()),
            ("digest_hour", "7".into()),
        ],
        "/account/users" => vec![
            ("first_name", "New".into()),
            ("last_name", "User".into()),
            ("email", format!("{unique}@northwind.example")),
            ("role", world.role.to_string()),
        ],
        "/account/two-factor" => vec![],
        "/account/api-access" => vec![("fh_auth", "on".into())],
        "/account/users/{user_id}/roles" => vec![("role", world.role.to_string())],
        "/account/roles" => vec![("name", format!("Matrix role {unique}")), ("permission", "read_ticket".into())],
        "/account/roles/{role_id}/rename" => vec![("name", format!("Renamed {unique}"))],
        "/account/roles/{role_id}/permissions" => vec![("permission", "read_ticket".into())],
        "/account/roles/{role_id}/members" => vec![("user_id", world.tina.to_string())],
        "/account/profile" => {
            vec![("first_name", "Same".into()), ("last_name", "Name".into()), ("time_zone", "UTC".into())]
        }
        "/account/profile/password" => vec![
            ("current", "not the password".into()),
            ("password", "another long password".into()),
            ("confirmation", "another long password".into()),
        ],
        "/account/profile/two-factor"
        | "/account/profile/two-factor/recovery-codes"
        | "/account/profile/two-factor/disable" => vec![("code", "000000".into())],
        "/account/api-keys" => vec![("name", format!("Matrix key {unique}"))],
        "/account/webhooks" | "/account/webhooks/{endpoint_id}" => vec![
            ("url", WEBHOOK_URL.into()),
            ("kind", "labelled".into()),
            ("kind", "closed".into()),
            ("min_severity", "High".into()),
            ("format", "slack".into()),
        ],
        "/desk/tickets" => vec![
            ("account", "100234".into()),
            ("opener_id", app.user_id(TESS).await.to_string()),
            ("summary", format!("Desk ticket {unique}")),
            ("description", "From the matrix".into()),
            ("severity", "Low".into()),
            ("submission_key", format!("matrix-{unique}")),
        ],
        "/desk/tickets/{number}/severity" => vec![("version", version), ("severity", "Critical".into())],
        "/desk/tickets/{number}/status" => vec![("version", version), ("status", "requires_attention".into())],
        "/desk/tickets/{number}/close" => vec![("version", version), ("resolution", "Verified and fixed.".into())],
        "/desk/tickets/{number}/decline-closure" => vec![("version", version), ("reason", "Not yet.".into())],
        "/desk/tickets/{number}/reopen" => vec![("version", version), ("comment", "It is back.".into())],
        "/desk/accounts" => vec![
            ("name", format!("Matrix Co {unique}")),
            ("number", account_number.to_string()),
            ("first_name", "Ada".into()),
            ("last_name", "Admin".into()),
            ("email", format!("ada-{unique}@matrix.example")),
        ],
        "/desk/staff" => vec![
            ("first_name", "New".into()),
            ("last_name", "Staff".into()),
            ("email", format!("{unique}@support.example")),
        ],
        _ => vec![],
    };
    fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn outcome(status: u16, location: &str) -> char {
    match status {
        200 => 'P',
        303 if location.starts_with("/login") => 'L',
        303 if location.starts_with("/account/profile/two-factor") => 'E',
        303 => 'D',
        400 => 'B',
        401 => 'U',
        403 => 'F',
        404 => 'N',
        409 => 'C',
        410 => 'G',
        422 => 'V',
        429 => 'R',
        _ => '?',
    }
}

/// The JSON body of an API write, for the principal `who`; `None` for every other route.
pub(crate) fn json_for(pattern: &str, who: usize) -> Option<serde_json::Value> {
    let body = match pattern {
        "/tickets/{issueKeyId}/comments" => serde_json::json!({ "comment": format!("Matrix comment by {who}") }),
        "/tickets/{issueKeyId}/transition" => match who {
            15 => serde_json::json!({ "transitionId": "requires_attention" }),
            16 => serde_json::json!({ "transitionId": "open", "comment": "Back to work." }),
            _ => serde_json::json!({ "transitionId": "request_closure", "comment": format!("Please close ({who}).") }),
        },
        "/auth/authorize" => {
            serde_json::json!({ "username": format!("nobody-{who}@example.com"), "password": "not the password" })
        }
        "/auth/token" => serde_json::json!({ "code": "not-a-code", "grant_type": "authorization_code" }),
        "/auth/token/reissue" => serde_json::json!({ "token": "not-a-token" }),
        _ => return None,
    };
    Some(body)
}

/// Everything a refused request must leave as it was (refusals may add audit entries, sign-in
/// attempts and sessions).
async fn digest(app: &TestApp) -> Vec<i64> {
    let mut values = app.snapshot().await;
    for sql in [
        "SELECT COUNT(*) FROM users WHERE enabled = TRUE",
        "SELECT COUNT(*) FROM users WHERE totp_enabled_at IS NOT NULL",
        "SELECT COUNT(*) FROM roles",
        "SELECT COUNT(*) FROM role_members",
        "SELECT COUNT(*) FROM role_permissions",
        "SELECT COUNT(*) FROM api_keys",
        "SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NOT NULL",
        "SELECT COUNT(*) FROM accounts WHERE mfa_required = TRUE",
        "SELECT COUNT(*) FROM accounts WHERE fh_auth_enabled = TRUE",
        "SELECT COUNT(*) FROM accounts WHERE require_query_signing = TRUE",
        "SELECT COUNT(*) FROM recovery_codes",
        "SELECT COUNT(*) FROM ticket_mutes",
        "SELECT COUNT(*) FROM notification_preferences",
        "SELECT COUNT(*) FROM webhook_endpoints",
        "SELECT COUNT(*) FROM webhook_endpoints WHERE enabled = TRUE",
        "SELECT COUNT(DISTINCT secret_ciphertext) FROM webhook_endpoints",
        "SELECT COUNT(*) FROM webhook_endpoints WHERE format = 'slack'",
    ] {
        values.push(app.count(sql).await);
    }
    values
}

async fn send(
    app: &TestApp,
    caller: &Caller,
    method: &str,
    pattern: &str,
    path: &str,
    form: &[(String, String)],
    who: usize,
) -> reqwest::Response {
    let mut fields = vec![("csrf_token".to_string(), caller.token.clone())];
    fields.extend(form.iter().cloned());
    let (body, content_type) = match json_for(pattern, who) {
        Some(json) => (json.to_string(), "application/json"),
        None => (serde_html_form::to_string(&fields).unwrap(), "application/x-www-form-urlencoded"),
    };
    let mut request = match method {
        "GET" => caller.client.get(app.url(path)),
        _ => caller.client.post(app.url(path)).header("content-type", content_type).body(body.clone()),
    };
    if method != "GET" && incident_portal::paths::api_family(path).is_some() {
        request = request.header("x-csrf-token", &caller.token);
    }
    if let Some(key) = &caller.key {
        let signed_body = if method == "GET" { &b""[..] } else { body.as_bytes() };
        request = request.header("authorization", app.authorization(key, method, path, signed_body).0);
    }
    if let Some(token) = &caller.fh_auth {
        request = request.header("authorization", format!("FH-AUTH {token}"));
    }
    request.send().await.expect("the request completes")
}

async fn every_route_answers_every_principal_exactly(app: TestApp) {
    let table = routes::table();
    for route in &table {
        assert!(
            MATRIX.iter().any(|(m, p, _)| *m == route.method.as_str() && *p == route.path),
            "{} {} has no row in the authorization matrix",
            route.method,
            route.path
        );
    }
    assert_eq!(MATRIX.len(), table.len(), "the matrix lists a route the router does not have");

    let (callers, world) = setup(&app).await;
    let mut mismatches = Vec::new();
    let mut cells = 0;
    for (method, pattern, row) in MATRIX {
        let mut expected: Vec<char> = row.chars().collect();
        if incident_portal::paths::api_family(pattern).is_none() {
            assert_eq!(expected.len(), FIRST_KEY, "{method} {pattern}: one letter per principal");
            expected.extend([expected[0]; 4]);
        }
        assert_eq!(expected.len(), PRINCIPALS.len(), "{method} {pattern}: one letter per principal");
        let path = path_for(pattern, &world);
        for (who, caller) in callers.iter().enumerate() {
            let form = form_for(&app, method, pattern, &world, who).await;
            let before = digest(&app).await;
            let response = send(&app, caller, method, pattern, &path, &form, who).await;
            let status = response.status().as_u16();
            let actual = outcome(status, &location(&response));
            let body = response.text().await.unwrap_or_default();
            cells += 1;
            if actual != expected[who] {
                mismatches.push(format!(
                    "{method} {pattern} as {}: expected {}, got {actual} ({status})",
                    PRINCIPALS[who], expected[who]
                ));
            }
            if !"PDE".contains(actual) && !ENDS_SESSIONS.contains(pattern) {
                assert_eq!(digest(&app).await, before, "{method} {pattern} as {} changed data", PRINCIPALS[who]);
            }
            if NORTHWIND.contains(&who) {
                assert!(!body.contains(CANARY), "{method} {pattern} as {} shows Contoso's canary", PRINCIPALS[who]);
            }
        }
    }
    assert!(mismatches.is_empty(), "{} of {cells} cells differ:\n{}", mismatches.len(), mismatches.join("\n"));
    assert_eq!(cells, MATRIX.len() * PRINCIPALS.len());
}

/// A ticket of another account, or one of this account the user does not receive, answers
/// exactly like a ticket that does not exist.
async fn invisible_tickets_answer_like_missing_ones(app: TestApp) {
    let ticket = app.fresh_incident().await;
    let missing = "ATS-987654321";
    for who in [AVERY, CASEY] {
        let client = app.sign_in(who).await;
        for base in ["/support/tickets/", "/security/incidents/"] {
            let (status, invisible) = app.get_text(&client, &format!("{base}{}", ticket.number)).await;
            let (missing_status, absent) = app.get_text(&client, &format!("{base}{missing}")).await;
            assert_eq!((status, missing_status), (404, 404), "{who} {base}");
            // Each page masks its form token anew; everything else is the same.
            let (invisible, absent) = (without_tokens(&invisible), without_tokens(&absent));
            assert_eq!(invisible.replace(&ticket.number, missing), absent, "{who} {base}: the bodies differ");
        }
    }
}

/// How a request is forged: what it is called, the token it carries, and a header it adds.
type Forgery<'a> = (&'a str, Option<&'a str>, Option<(&'a str, &'a str)>);

/// Every state-changing route refuses a forged request: no token, another session's token, a
/// foreign or `null` Origin, `Sec-Fetch-Site: cross-site`. The caller is one the route would
/// otherwise obey, and nothing changes.
async fn every_state_changing_route_refuses_forged_requests(app: TestApp) {
    let (_, world) = setup(&app).await;
    let avery = caller(&app, Some(AVERY.into()), None).await;
    let morgan = caller(&app, Some(MORGAN.into()), None).await;
    let anonymous = caller(&app, None, None).await;
    let other_token = caller(&app, Some(TESS.into()), None).await.token;
    let mut refused = 0;
    for route in routes::table().into_iter().filter(|r| r.method == actix_web::http::Method::POST) {
        // Signing out is refused only to a session there is something to sign out of; the API's
        // ticket writes are forged against a signed-in session, the cookie being what is abused.
        let api_write = route.path.starts_with("/tickets/");
        let fh_auth = route.path.starts_with("/auth/");
        let who = if route.path.starts_with("/desk/") {
            &morgan
        } else if route.gate == routes::Gate::Public && route.path != incident_portal::paths::LOGOUT && !api_write {
            &anonymous
        } else {
            &avery
        };
        let path = path_for(route.path, &world);
        let form = form_for(&app, "POST", route.path, &world, 3).await;
        let attempts: [Forgery; 5] = [
            ("no token", None, None),
            ("another session's token", Some(&other_token), None),
            ("a foreign Origin", Some(&who.token), Some(("origin", "https://evil.example"))),
            ("a null Origin", Some(&who.token), Some(("origin", "null"))),
            ("Sec-Fetch-Site: cross-site", Some(&who.token), Some(("sec-fetch-site", "cross-site"))),
        ];
        for (what, token, header) in attempts {
            let mut fields: Vec<(String, String)> =
                token.map(|t| ("csrf_token".into(), t.into())).into_iter().collect();
            fields.extend(form.iter().cloned());
            let before = digest(&app).await;
            let mut request = who
                .client
                .post(app.url(&path))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(serde_html_form::to_string(&fields).unwrap());
            if let Some((name, value)) = header {
                request = request.header(name, value);
            }
            let response = request.send().await.unwrap();
            // A mail's one-click unsubscribe link is its own credential (a signed token in the
            // address, not a session's): without one it is a bad request; from another site, 403.
            // FH-AUTH takes its credentials from a JSON body, never from a cookie: there is nothing
            // to forge, and a form is not its body (400); from another site it is refused too.
            let own_credential = route.path == incident_portal::paths::UNSUBSCRIBE || fh_auth;
            let expected = if own_credential && header.is_none() { 400 } else { 403 };
            assert_eq!(response.status().as_u16(), expected, "POST {} with {what}", route.path);
            assert_eq!(digest(&app).await, before, "POST {} with {what} changed data", route.path);
            refused += 1;
        }
    }
    assert!(refused >= 5 * 35, "only {refused} forged requests were tried");
}

on_both_backends!(
    configured by adjust;
    every_route_answers_every_principal_exactly,
    invisible_tickets_answer_like_missing_ones,
    every_state_changing_route_refuses_forged_requests,
);
