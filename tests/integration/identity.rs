//! Account administration: users, roles and permissions, guards, profile.

use incident_portal::domain::permission::Permission;
use incident_portal::store::NewUser;

use crate::helpers::*;
use crate::on_both_backends;

const IVY: &str = "ivy.reader@northwind.example";

/// A user of Northwind whose only role holds Read Identity.
async fn reader(app: &TestApp) {
    let account = app.principal(TESS).await.account().unwrap().id;
    let hash = incident_portal::auth::password::hash_password(secrecy::SecretString::from(PASSWORD)).await.unwrap();
    let user = NewUser {
        account_id: Some(account),
        email: IVY.into(),
        first_name: "Ivy".into(),
        last_name: "Reader".into(),
        password_hash: Some(hash),
        support_admin: false,
        time_zone: "UTC".into(),
        enabled: true,
    };
    let id = app.store.create_user(&user, app.clock.now()).await.unwrap();
    let role =
        app.store.create_role(account, "Directory reader", &[Permission::ReadIdentity], app.clock.now()).await.unwrap();
    app.store.add_role_member(role, id).await.unwrap();
}

async fn identity_snapshot(app: &TestApp) -> Vec<i64> {
    let mut values = Vec::new();
    for sql in [
        "SELECT COUNT(*) FROM users",
        "SELECT COUNT(*) FROM users WHERE enabled = TRUE",
        "SELECT COUNT(*) FROM roles",
        "SELECT COUNT(*) FROM role_members",
        "SELECT COUNT(*) FROM role_permissions",
        "SELECT COUNT(*) FROM password_tokens",
    ] {
        values.push(app.count(sql).await);
    }
    values.extend(app.snapshot().await);
    values
}

async fn form(app: &TestApp, client: &reqwest::Client, path: &str, fields: &[(&str, String)]) -> reqwest::Response {
    let token = app.csrf_token(client, "/security/incidents").await;
    let mut all = vec![("csrf_token", token)];
    all.extend(fields.iter().cloned());
    client.post(app.url(path)).form(&all).send().await.unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    NoPermission,
    ReadIdentityOnly,
    WriteIdentity,
    OtherAccountAdmin,
    Support,
}

async fn every_identity_route_refuses_those_who_may_not_and_changes_nothing(app: TestApp) {
    reader(&app).await;
    let riley = app.user_id(RILEY).await;
    let account = app.principal(TESS).await.account().unwrap().id;
    let dashboard_role =
        app.count(&format!("SELECT id FROM roles WHERE account_id = {account} AND name = 'Dashboard viewer'")).await;
    for who in [Who::NoPermission, Who::ReadIdentityOnly, Who::OtherAccountAdmin, Who::Support, Who::WriteIdentity] {
        let email = match who {
            Who::NoPermission => TESS,
            Who::ReadIdentityOnly => IVY,
            Who::WriteIdentity => AVERY,
            Who::OtherAccountAdmin => CASEY,
            Who::Support => SAM,
        };
        let client = app.sign_in(email).await;
        let gets = [
            ("/account/users".to_string(), false),
            ("/account/users/new".to_string(), true),
            (format!("/account/users/{riley}"), false),
            ("/account/roles".to_string(), false),
            (format!("/account/roles/{dashboard_role}"), false),
            (format!("/account/roles/{dashboard_role}/delete"), true),
        ];
        for (path, needs_write) in gets {
            let specific = path.contains(&riley.to_string()) || path.contains(&dashboard_role.to_string());
            let expected = match who {
                Who::NoPermission | Who::Support => 403,
                Who::ReadIdentityOnly if needs_write => 403,
                Who::OtherAccountAdmin if specific => 404,
                _ => 200,
            };
            assert_eq!(app.get(&client, &path).await.status().as_u16(), expected, "{who:?} GET {path}");
        }
        let posts: Vec<(String, Vec<(&str, String)>)> = vec![
            (
                "/account/users".into(),
                vec![
                    ("first_name", "New".into()),
                    ("last_name", "Person".into()),
                    ("email", format!("new.{who:?}@northwind.example").to_lowercase()),
                    ("role", dashboard_role.to_string()),
                ],
            ),
            (format!("/account/users/{riley}/roles"), vec![("role", dashboard_role.to_string())]),
            (format!("/account/users/{riley}/password-link"), vec![]),
            (format!("/account/users/{riley}/disable"), vec![]),
            (format!("/account/users/{riley}/enable"), vec![]),
            ("/account/roles".into(), vec![("name", format!("Role by {who:?}")), ("permission", "read_ticket".into())]),
            (format!("/account/roles/{dashboard_role}/rename"), vec![("name", format!("Viewers {who:?}"))]),
            (
                format!("/account/roles/{dashboard_role}/permissions"),
                vec![("permission", "read_dashboard_statistics".into())],
            ),
            (format!("/account/roles/{dashboard_role}/members"), vec![("user_id", riley.to_string())]),
        ];
        for (path, fields) in posts {
            let before = identity_snapshot(&app).await;
            let response = form(&app, &client, &path, &fields).await;
            let status = response.status().as_u16();
            let specific = path.contains(&riley.to_string()) || path.contains(&dashboard_role.to_string());
            let expected = match who {
                Who::WriteIdentity => 303,
                Who::OtherAccountAdmin if specific => 404,
                // A new user given another account's role.
                Who::OtherAccountAdmin if path == "/account/users" => 400,
                Who::OtherAccountAdmin => 303,
                _ => 403,
            };
            assert_eq!(status, expected, "{who:?} POST {path}");
            if status >= 400 {
                assert_eq!(identity_snapshot(&app).await, before, "{who:?} POST {path} changed nothing");
            }
        }
    }
}

async fn granting_read_ticket_opens_the_incidents_screen_on_the_next_request(app: TestApp) {
    let dana = app.sign_in(DANA).await;
    let (status, html) = app.get_text(&dana, "/security/incidents").await;
    assert_eq!(status, 403);
    assert!(html.contains("<dt>Read Ticket</dt>"));
    let account = app.principal(DANA).await.account().unwrap().id;
    let role =
        app.count(&format!("SELECT id FROM roles WHERE account_id = {account} AND name = 'Dashboard viewer'")).await;
    let avery = app.sign_in(AVERY).await;
    let both = [("permission", "read_ticket".to_string()), ("permission", "read_dashboard_statistics".to_string())];
    assert_eq!(form(&app, &avery, &format!("/account/roles/{role}/permissions"), &both).await.status().as_u16(), 303);
    assert_eq!(app.get(&dana, "/security/incidents").await.status().as_u16(), 200, "granted at once");
    let only = [("permission", "read_dashboard_statistics".to_string())];
    form(&app, &avery, &format!("/account/roles/{role}/permissions"), &only).await;
    let (status, html) = app.get_text(&dana, "/security/incidents").await;
    assert_eq!(status, 403, "revoked at once");
    assert!(html.contains("<dt>Read Ticket</dt>"));
}

async fn every_user_keeps_a_role_and_the_account_an_administrator(app: TestApp) {
    let avery = app.sign_in(AVERY).await;
    let riley = app.user_id(RILEY).await;
    let avery_id = app.user_id(AVERY).await;
    let before = identity_snapshot(&app).await;
    let response = form(&app, &avery, &format!("/account/users/{riley}/roles"), &[]).await;
    assert_eq!(response.status().as_u16(), 409);
    assert!(response.text().await.unwrap().contains("Every user keeps at least one role"));
    let account = app.principal(AVERY).await.account().unwrap().id;
    let technical =
        app.count(&format!("SELECT id FROM roles WHERE account_id = {account} AND builtin = 'technical'")).await;
    let admin = app.count(&format!("SELECT id FROM roles WHERE account_id = {account} AND builtin = 'admin'")).await;
    let response =
        form(&app, &avery, &format!("/account/users/{avery_id}/roles"), &[("role", technical.to_string())]).await;
    assert_eq!(response.status().as_u16(), 409);
    assert!(response.text().await.unwrap().contains("at least one enabled user with the Admin role"));
    let response = form(&app, &avery, &format!("/account/roles/{admin}/members/{avery_id}/remove"), &[]).await;
    assert_eq!(response.status().as_u16(), 409);
    assert_eq!(
        form(&app, &avery, &format!("/account/users/{avery_id}/disable"), &[]).await.status().as_u16(),
        409,
        "not yourself"
    );
    assert_eq!(identity_snapshot(&app).await, before, "nothing changed");

    // With a second administrator, the first may go.
    let tess = app.user_id(TESS).await;
    assert_eq!(
        form(&app, &avery, &format!("/account/roles/{admin}/members"), &[("user_id", tess.to_string())])
            .await
            .status()
            .as_u16(),
        303
    );
    assert_eq!(form(&app, &avery, &format!("/account/users/{tess}/disable"), &[]).await.status().as_u16(), 303);
    // …but not when the other administrator is disabled.
    let response = form(&app, &avery, &format!("/account/roles/{admin}/members/{avery_id}/remove"), &[]).await;
    assert_eq!(response.status().as_u16(), 409, "a disabled administrator does not count");
    let builtin = form(&app, &avery, &format!("/account/roles/{admin}/rename"), &[("name", "Owners".into())]).await;
    assert_eq!(builtin.status().as_u16(), 409, "provider-defined roles keep their name");
}

async fn a_disabled_users_session_and_api_key_stop_at_once(app: TestApp) {
    let riley_client = app.sign_in(RILEY).await;
    let key = app.api_key_for(RILEY).await;
    assert_eq!(app.api_get(&key, "/api/v1/me").await.status().as_u16(), 200);
    let avery = app.sign_in(AVERY).await;
    let riley = app.user_id(RILEY).await;
    assert_eq!(form(&app, &avery, &format!("/account/users/{riley}/disable"), &[]).await.status().as_u16(), 303);
    let response = app.get(&riley_client, "/security/incidents").await;
    assert_eq!(response.status().as_u16(), 303);
    assert!(location(&response).starts_with("/login"));
    assert_eq!(app.api_get(&key, "/api/v1/me").await.status().as_u16(), 401);
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM sessions WHERE user_id = {riley}")).await, 0);
    assert_eq!(app.try_sign_in(&client(), RILEY, PASSWORD).await.status().as_u16(), 422);
    assert_eq!(form(&app, &avery, &format!("/account/users/{riley}/enable"), &[]).await.status().as_u16(), 303);
    assert_eq!(app.try_sign_in(&client(), RILEY, PASSWORD).await.status().as_u16(), 303);
}

async fn dates_follow_the_time_zone_chosen_in_the_profile(app: TestApp) {
    let tess = app.user_id(TESS).await;
    let ticket = app.count(&format!("SELECT MIN(ticket_id) FROM ticket_visibility WHERE user_id = {tess}")).await;
    app.execute(&format!("UPDATE tickets SET created_at = '2026-01-01T23:30:00+00:00' WHERE id = {ticket}")).await;
    let client = app.sign_in(TESS).await;
    for (zone, shown) in [("Asia/Tokyo", "2026-01-02 08:30 JST"), ("America/New_York", "2026-01-01 18:30 EST")] {
        let response = form(
            &app,
            &client,
            "/account/profile",
            &[("first_name", "Tess".into()), ("last_name", "Okafor".into()), ("time_zone", zone.into())],
        )
        .await;
        assert_eq!(response.status().as_u16(), 303);
        let (_, html) = app.get_text(&client, &format!("/support/tickets/ATS-{ticket}")).await;
        assert!(html.contains(shown), "{zone}: {shown}");
    }
    let response = form(
        &app,
        &client,
        "/account/profile",
        &[("first_name", "Tess".into()), ("last_name", "Okafor".into()), ("time_zone", "Mars/Olympus".into())],
    )
    .await;
    assert_eq!(response.status().as_u16(), 422);
}

async fn changing_the_password_ends_the_other_sessions(app: TestApp) {
    let here = app.sign_in(TESS).await;
    let elsewhere = app.sign_in(TESS).await;
    let wrong = [
        ("current", "not it".to_string()),
        ("password", "a brand new password".into()),
        ("confirmation", "a brand new password".into()),
    ];
    assert_eq!(form(&app, &here, "/account/profile/password", &wrong).await.status().as_u16(), 422);
    let right = [
        ("current", PASSWORD.to_string()),
        ("password", "a brand new password".into()),
        ("confirmation", "a brand new password".into()),
    ];
    assert_eq!(form(&app, &here, "/account/profile/password", &right).await.status().as_u16(), 303);
    assert_eq!(app.get(&here, "/security/incidents").await.status().as_u16(), 200, "this session continues");
    assert_eq!(app.get(&elsewhere, "/security/incidents").await.status().as_u16(), 303, "the other one ended");
    assert_eq!(app.try_sign_in(&client(), TESS, "a brand new password").await.status().as_u16(), 303);
    assert_eq!(app.try_sign_in(&client(), TESS, PASSWORD).await.status().as_u16(), 422);

    let third = app.sign_in_with(TESS, "a brand new password").await;
    assert_eq!(form(&app, &third, "/account/profile/sign-out-everywhere", &[]).await.status().as_u16(), 303);
    assert_eq!(app.get(&here, "/security/incidents").await.status().as_u16(), 303, "signed out everywhere");
    assert_eq!(app.get(&third, "/security/incidents").await.status().as_u16(), 303);
}

async fn an_administrator_adds_a_user_who_sets_a_password_and_signs_in(app: TestApp) {
    let avery = app.sign_in(AVERY).await;
    let account = app.principal(AVERY).await.account().unwrap().id;
    let technical =
        app.count(&format!("SELECT id FROM roles WHERE account_id = {account} AND builtin = 'technical'")).await;
    let none =
        [("first_name", "Noah".to_string()), ("last_name", "Roles".into()), ("email", "noah@northwind.example".into())];
    assert_eq!(form(&app, &avery, "/account/users", &none).await.status().as_u16(), 422, "a role is required");
    let fields = [
        ("first_name", "Nina".to_string()),
        ("last_name", "Novak".into()),
        ("email", "nina@northwind.example".into()),
        ("role", technical.to_string()),
    ];
    assert_eq!(form(&app, &avery, "/account/users", &fields).await.status().as_u16(), 303);
    let (_, page) = app.get_text(&avery, "/account/users").await;
    assert_eq!(form(&app, &avery, "/account/users", &fields).await.status().as_u16(), 422, "the email is taken");
    let start = page.find("/password/set?token=").expect("the link is shown");
    let token: String =
        page[start + 20..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    let visitor = client();
    let (_, html) = app.get_text(&visitor, &format!("/password/set?token={token}")).await;
    let csrf = csrf_token(&html);
    let set = [
        ("csrf_token", csrf.as_str()),
        ("token", token.as_str()),
        ("password", "nina's new password"),
        ("confirmation", "nina's new password"),
    ];
    assert_eq!(app.post_form(&visitor, "/password/set", &set).await.status().as_u16(), 303);
    let nina = app.sign_in_with("nina@northwind.example", "nina's new password").await;
    let (status, html) = app.get_text(&nina, "/security/incidents").await;
    assert_eq!(status, 200);
    assert!(html.contains("There are no security incidents to display"));
}

/// The `?token=` of the last set-password link on a page.
fn link_token(page: &str) -> String {
    let start = page.rfind("/password/set?token=").expect("the link is shown") + 20;
    page[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

/// The text of a form's error message.
fn form_error(html: &str) -> String {
    let document = scraper::Html::parse_document(html);
    let selector = scraper::Selector::parse(".form-error").unwrap();
    document.select(&selector).map(|e| e.text().collect::<String>()).collect::<Vec<_>>().join(" ")
}

/// Adding a user whose address another account or the provider's staff already use is refused
/// the same way for both, without saying why; only this account's own users are named as such.
async fn an_administrator_cannot_learn_whose_an_email_address_is(app: TestApp) {
    let avery = app.sign_in(AVERY).await;
    let account = app.principal(AVERY).await.account().unwrap().id;
    let technical =
        app.count(&format!("SELECT id FROM roles WHERE account_id = {account} AND builtin = 'technical'")).await;
    let mut refusals = Vec::new();
    for email in [CASEY, SAM, MORGAN, "Casey.Admin@Contoso.example"] {
        let fields = [
            ("first_name", "Probe".to_string()),
            ("last_name", "Probe".into()),
            ("email", email.into()),
            ("role", technical.to_string()),
        ];
        let response = form(&app, &avery, "/account/users", &fields).await;
        assert_eq!(response.status().as_u16(), 422, "{email}");
        let message = form_error(&response.text().await.unwrap());
        for telling in ["exist", "another", "staff", "Contoso", "already", "in use", "taken"] {
            assert!(!message.to_lowercase().contains(&telling.to_lowercase()), "{email}: {message}");
        }
        refusals.push(message);
    }
    assert!(refusals.iter().all(|m| *m == refusals[0]), "{refusals:?}");
    let refused = "SELECT COUNT(*) FROM audit_log WHERE action = 'user_create_refused'";
    assert_eq!(app.count(refused).await, 4, "support can see what was tried");
    // This account's own user is named as such; a fresh address is simply added.
    let own = [
        ("first_name", "Tess".to_string()),
        ("last_name", "Again".into()),
        ("email", TESS.into()),
        ("role", technical.to_string()),
    ];
    let response = form(&app, &avery, "/account/users", &own).await;
    assert_eq!(response.status().as_u16(), 422);
    assert!(form_error(&response.text().await.unwrap()).contains("A user of your account already has"));
    let fresh = [
        ("first_name", "Fresh".to_string()),
        ("last_name", "Person".into()),
        ("email", "fresh.person@northwind.example".into()),
        ("role", technical.to_string()),
    ];
    assert_eq!(form(&app, &avery, "/account/users", &fresh).await.status().as_u16(), 303);
}

/// A set-password link goes to the administrator only for a user who has never signed in; once
/// someone has, their password is theirs, and links made before that stop working.
async fn a_set_password_link_is_only_for_users_who_never_signed_in(app: TestApp) {
    let avery = app.sign_in(AVERY).await;
    let account = app.principal(AVERY).await.account().unwrap().id;
    let technical =
        app.count(&format!("SELECT id FROM roles WHERE account_id = {account} AND builtin = 'technical'")).await;

    // Tess has signed in: no link is offered, and a forged request for one is refused.
    let _tess = app.sign_in(TESS).await;
    let tess_id = app.user_id(TESS).await;
    let (_, page) = app.get_text(&avery, &format!("/account/users/{tess_id}")).await;
    assert!(!page.contains("password-link"), "no button for a user who has signed in");
    assert!(page.contains("their password is theirs alone"));
    let tokens = "SELECT COUNT(*) FROM password_tokens";
    let before = app.count(tokens).await;
    let response = form(&app, &avery, &format!("/account/users/{tess_id}/password-link"), &[]).await;
    assert_eq!(response.status().as_u16(), 409);
    assert!(form_error(&response.text().await.unwrap()).contains("only they can change their password"));
    assert_eq!(app.count(tokens).await, before, "no link was made");
    let refused = "SELECT COUNT(*) FROM audit_log WHERE action = 'password_link_refused'";
    assert_eq!(app.count(refused).await, 1);

    // A new user: the first link and a second one; the user sets a password with the second.
    let fields = [
        ("first_name", "Nina".to_string()),
        ("last_name", "Novak".into()),
        ("email", "nina@northwind.example".into()),
        ("role", technical.to_string()),
    ];
    assert_eq!(form(&app, &avery, "/account/users", &fields).await.status().as_u16(), 303);
    let (_, page) = app.get_text(&avery, "/account/users").await;
    let first = link_token(&page);
    let nina_id = app.user_id("nina@northwind.example").await;
    let response = form(&app, &avery, &format!("/account/users/{nina_id}/password-link"), &[]).await;
    assert_eq!(response.status().as_u16(), 303);
    let (_, page) = app.get_text(&avery, &format!("/account/users/{nina_id}")).await;
    let second = link_token(&page);
    let visitor = client();
    let (_, html) = app.get_text(&visitor, &format!("/password/set?token={second}")).await;
    let set = [
        ("csrf_token", csrf_token(&html)),
        ("token", second.clone()),
        ("password", "nina's own password".into()),
        ("confirmation", "nina's own password".into()),
    ];
    assert_eq!(visitor.post(app.url("/password/set")).form(&set).send().await.unwrap().status().as_u16(), 303);
    let (status, _) = app.get_text(&client(), &format!("/password/set?token={first}")).await;
    assert_eq!(status, 410, "the other link died when the password was set");

    // A user who has a password but never signed in: a link is offered, and dies at sign-in.
    let response = form(&app, &avery, &format!("/account/users/{nina_id}/password-link"), &[]).await;
    assert_eq!(response.status().as_u16(), 303);
    let (_, page) = app.get_text(&avery, &format!("/account/users/{nina_id}")).await;
    let kept = link_token(&page);
    let _nina = app.sign_in_with("nina@northwind.example", "nina's own password").await;
    let (status, _) = app.get_text(&client(), &format!("/password/set?token={kept}")).await;
    assert_eq!(status, 410, "a link kept from before the user's first sign-in no longer works");
    let response = form(&app, &avery, &format!("/account/users/{nina_id}/password-link"), &[]).await;
    assert_eq!(response.status().as_u16(), 409, "and no new one is made");
}

on_both_backends!(
    an_administrator_cannot_learn_whose_an_email_address_is,
    a_set_password_link_is_only_for_users_who_never_signed_in,
    every_identity_route_refuses_those_who_may_not_and_changes_nothing,
    granting_read_ticket_opens_the_incidents_screen_on_the_next_request,
    every_user_keeps_a_role_and_the_account_an_administrator,
    a_disabled_users_session_and_api_key_stop_at_once,
    dates_follow_the_time_zone_chosen_in_the_profile,
    changing_the_password_ends_the_other_sessions,
    an_administrator_adds_a_user_who_sets_a_password_and_signs_in,
);
