//! Races: simultaneous API calls reusing one nonce, two administrators demoting each other at the
//! same moment, and bursts of guesses at a password or code. (Simultaneous close and comment:
//! `lifecycle`.)

use incident_portal::domain::permission::BuiltinRole;
use incident_portal::store::NewUser;

use crate::helpers::*;
use crate::on_both_backends;

const ROUNDS: usize = 20;

async fn of_simultaneous_calls_with_one_nonce_exactly_one_is_accepted(app: TestApp) {
    for round in 0..ROUNDS {
        let key = app.api_key_for(TESS).await;
        let target = "/api/v1/security-incidents/severity-count";
        let (header, _) = app.authorization(&key, "GET", target, b"");
        let calls = (0..6).map(|_| {
            let request = reqwest::Client::new().get(app.url(target)).header("authorization", header.clone());
            async move { request.send().await.unwrap().status().as_u16() }
        });
        let mut statuses = futures_util::future::join_all(calls).await;
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 401, 401, 401, 401, 401], "round {round}");
    }
}

async fn two_administrators_demoting_each_other_leave_one(app: TestApp) {
    let account = app.principal(AVERY).await.account().unwrap().id;
    let hash = incident_portal::auth::password::hash_password(secrecy::SecretString::from(PASSWORD)).await.unwrap();
    let alex = NewUser {
        account_id: Some(account),
        email: "alex.admin@northwind.example".into(),
        first_name: "Alex".into(),
        last_name: "Admin".into(),
        password_hash: Some(hash),
        support_admin: false,
        time_zone: "UTC".into(),
        enabled: true,
    };
    let alex_id = app.store.create_user(&alex, app.clock.now()).await.unwrap();
    let admin_role = app.store.builtin_role_id(account, BuiltinRole::Admin).await.unwrap();
    app.store.add_role_member(admin_role, alex_id).await.unwrap();
    let technical = app.store.builtin_role_id(account, BuiltinRole::Technical).await.unwrap().to_string();
    let avery_id = app.user_id(AVERY).await;
    let avery = app.sign_in(AVERY).await;
    let alex = app.sign_in("alex.admin@northwind.example").await;
    let admins = "SELECT COUNT(*) FROM role_members m JOIN roles r ON r.id = m.role_id \
                  WHERE r.builtin = 'admin' AND r.account_id = ";
    for round in 0..ROUNDS {
        for id in [avery_id, alex_id] {
            app.store.set_user_roles(account, id, &[admin_role]).await.unwrap();
        }
        let avery_token = app.csrf_token(&avery, "/account/users").await;
        let alex_token = app.csrf_token(&alex, "/account/users").await;
        let demote_alex = format!("/account/users/{alex_id}/roles");
        let demote_avery = format!("/account/users/{avery_id}/roles");
        let avery_form = [("csrf_token", avery_token.as_str()), ("role", technical.as_str())];
        let alex_form = [("csrf_token", alex_token.as_str()), ("role", technical.as_str())];
        let (first, second) = tokio::join!(
            app.post_form(&avery, &demote_alex, &avery_form),
            app.post_form(&alex, &demote_avery, &alex_form),
        );
        let mut statuses = [first.status().as_u16(), second.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses[0], 303, "round {round}: one demotion goes through");
        assert!([403, 409].contains(&statuses[1]), "round {round}: the other is refused, got {statuses:?}");
        assert_eq!(app.count(&format!("{admins}{account}")).await, 1, "round {round}: one administrator is left");
    }
}

/// A request runs all its statements, reads and writes, on one connection: with a pool of one,
/// simultaneous sign-ins, pages, signed API calls (a read, then spending the nonce) and comments
/// all finish, where a request that held its connection and asked the pool for a second would
/// wait out the acquire timeout and answer 503.
async fn a_pool_of_one_connection_serves_simultaneous_requests(backend: Backend) {
    let Some(app) = spawn_app_with_pool(backend, 1).await else { return };
    let key = app.api_key_for(TESS).await;
    let target = "/api/v1/security-incidents/severity-count";
    let fixture = app.fresh_incident().await;
    let pages = (0..3).map(|_| async {
        let client = app.sign_in(TESS).await;
        let page = app.get(&client, "/security/incidents").await.status().as_u16();
        let dashboard = app.get(&client, "/security/dashboard").await.status().as_u16();
        let token = app.csrf_token(&client, &format!("/security/incidents/{}", fixture.number)).await;
        let comments = format!("/support/tickets/{}/comments", fixture.number);
        let comment = app
            .post_form(&client, &comments, &[("csrf_token", &token), ("body", "Seen, thanks.")])
            .await
            .status()
            .as_u16();
        vec![page, dashboard, comment]
    });
    let calls = (0..4).map(|_| async { vec![app.api_get(&key, target).await.status().as_u16()] });
    let (pages, calls) = tokio::join!(futures_util::future::join_all(pages), futures_util::future::join_all(calls));
    let statuses: Vec<u16> = pages.into_iter().chain(calls).flatten().collect();
    assert!(statuses.iter().all(|s| [200, 303].contains(s)), "{statuses:?}");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM comments WHERE ticket_id = {} AND body = 'Seen, thanks.'",
            fixture.id
        ))
        .await,
        3
    );
}

#[tokio::test]
async fn a_pool_of_one_connection_serves_simultaneous_requests_on_sqlite() {
    a_pool_of_one_connection_serves_simultaneous_requests(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_pool_of_one_connection_serves_simultaneous_requests_on_postgres() {
    a_pool_of_one_connection_serves_simultaneous_requests(Backend::Postgres).await;
}

const BURST: usize = 50;

/// How many of `statuses` were checked (422) and refused by the throttle (429); nothing else.
fn checked_and_refused(statuses: &[u16]) -> (usize, usize) {
    let checked = statuses.iter().filter(|s| **s == 422).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + refused, statuses.len(), "{statuses:?}");
    (checked, refused)
}

/// Fifty simultaneous wrong passwords for one email, split over two instances of the portal:
/// only five are checked, the rest are refused before any hashing.
async fn a_burst_of_wrong_passwords_gets_five_checks_across_instances(app: TestApp) {
    let other = app.another_instance().await;
    let mut forms = Vec::new();
    for i in 0..BURST {
        let base = if i % 2 == 0 { app.address.clone() } else { other.clone() };
        let client = client();
        let html = client.get(format!("{base}/login")).send().await.unwrap().text().await.unwrap();
        forms.push((base, client, csrf_token(&html)));
    }
    let posts = forms.iter().map(|(base, client, token)| async move {
        let form = [("csrf_token", token.as_str()), ("email", TESS), ("password", "wrong-password")];
        client.post(format!("{base}/login")).form(&form).send().await.unwrap().status().as_u16()
    });
    let statuses = futures_util::future::join_all(posts).await;
    assert_eq!(checked_and_refused(&statuses), (5, BURST - 5));
    assert_eq!(app.count("SELECT COUNT(*) FROM sign_in_attempts WHERE succeeded = FALSE").await, 5);
    let response = app.try_sign_in(&client(), TESS, PASSWORD).await;
    assert_eq!(response.status().as_u16(), 429, "the right password waits out the window too");
}

/// The code step after a right password holds the same way.
async fn a_burst_of_wrong_codes_gets_five_checks(app: TestApp) {
    let client = client();
    let response = app.try_sign_in(&client, SAM, PASSWORD).await;
    assert_eq!(location(&response), "/login/verify");
    let token = app.csrf_token(&client, "/login/verify").await;
    let posts = (0..BURST).map(|_| {
        let form = [("csrf_token", token.as_str()), ("code", "000000")];
        let request = client.post(app.url("/login/verify")).form(&form);
        async move { request.send().await.unwrap().status().as_u16() }
    });
    let statuses = futures_util::future::join_all(posts).await;
    assert_eq!(checked_and_refused(&statuses), (5, BURST - 5));
    let secret = incident_portal::auth::totp::from_base32(incident_portal::demo::DEMO_TOTP_SECRET).unwrap();
    assert_eq!(app.give_code(&client, &secret).await.status().as_u16(), 429, "the right code waits too");
}

/// A signed-in session cannot guess the password behind it faster either.
async fn a_burst_of_wrong_current_passwords_on_my_profile_gets_five_checks(app: TestApp) {
    let client = app.sign_in(RILEY).await;
    let token = app.csrf_token(&client, "/account/profile").await;
    let posts = (0..BURST).map(|_| {
        let form = [
            ("csrf_token", token.as_str()),
            ("current", "wrong-password"),
            ("password", "a new password that is long"),
            ("confirmation", "a new password that is long"),
        ];
        let request = client.post(app.url("/account/profile/password")).form(&form);
        async move { request.send().await.unwrap().status().as_u16() }
    });
    let statuses = futures_util::future::join_all(posts).await;
    assert_eq!(checked_and_refused(&statuses), (5, BURST - 5));
    let sql = "SELECT COUNT(*) FROM audit_log WHERE action = 'password_change_throttled'";
    assert_eq!(app.count(sql).await, (BURST - 5) as i64);
}

on_both_backends!(
    of_simultaneous_calls_with_one_nonce_exactly_one_is_accepted,
    two_administrators_demoting_each_other_leave_one,
    a_burst_of_wrong_passwords_gets_five_checks_across_instances,
    a_burst_of_wrong_codes_gets_five_checks,
    a_burst_of_wrong_current_passwords_on_my_profile_gets_five_checks,
);
