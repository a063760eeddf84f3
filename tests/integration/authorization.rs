//! Every route of the ticket lifecycle against every kind of user: allowed requests succeed,
//! refused ones get 403 or the 404 of a missing ticket, and leave the database as it was.

use crate::helpers::*;
use crate::on_both_backends;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    Opener,
    Recipient,
    SameAccountNonRecipient,
    NoWriteTicket,
    OtherAccount,
    SupportAgent,
    SupportAdmin,
}

const EVERYONE: [Who; 8] = [
    Who::Anonymous,
    Who::Opener,
    Who::Recipient,
    Who::SameAccountNonRecipient,
    Who::NoWriteTicket,
    Who::OtherAccount,
    Who::SupportAgent,
    Who::SupportAdmin,
];

impl Who {
    fn email(self) -> Option<&'static str> {
        match self {
            Who::Anonymous => None,
            Who::Opener => Some(TESS),
            Who::Recipient => Some(RILEY),
            Who::SameAccountNonRecipient => Some(AVERY),
            Who::NoWriteTicket => Some(BILLIE),
            Who::OtherAccount => Some(CASEY),
            Who::SupportAgent => Some(SAM),
            Who::SupportAdmin => Some(MORGAN),
        }
    }

    fn is_support(self) -> bool {
        matches!(self, Who::SupportAgent | Who::SupportAdmin)
    }
}

/// What a request must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// 200 with a page.
    Page,
    /// 303 somewhere other than the sign-in page: the change was made.
    Done,
    /// 303 to the sign-in page.
    SignIn,
    Forbidden,
    NotFound,
}

impl Outcome {
    fn refused(self) -> bool {
        !matches!(self, Outcome::Page | Outcome::Done)
    }
}

async fn client_for(app: &TestApp, who: Who) -> reqwest::Client {
    match who.email() {
        Some(email) => app.sign_in(email).await,
        None => client(),
    }
}

/// Sends the request and checks its outcome; after a refusal, nothing has changed.
async fn check(app: &TestApp, who: Who, method: &str, path: &str, form: &[(&str, String)], expected: Outcome) {
    let client = client_for(app, who).await;
    // Anonymous users have a session too (the sign-in page's), so forms carry a real token. Every
    // signed-in user can load the incidents screen, if only as a 403 page with the sign-out form.
    let token_page = if who == Who::Anonymous { "/login" } else { "/security/incidents" };
    let token = app.csrf_token(&client, token_page).await;
    let before = app.snapshot().await;
    let response = if method == "GET" {
        app.get(&client, path).await
    } else {
        let mut fields: Vec<(&str, String)> = vec![("csrf_token", token)];
        fields.extend(form.iter().cloned());
        client.post(app.url(path)).form(&fields).send().await.unwrap()
    };
    let status = response.status().as_u16();
    let location = location(&response);
    let actual = match status {
        200 => Outcome::Page,
        303 if location.starts_with("/login") => Outcome::SignIn,
        303 => Outcome::Done,
        403 => Outcome::Forbidden,
        404 => Outcome::NotFound,
        other => panic!("{who:?} {method} {path}: unexpected status {other}"),
    };
    assert_eq!(actual, expected, "{who:?} {method} {path}");
    if expected.refused() {
        assert_eq!(app.snapshot().await, before, "{who:?} {method} {path} changed the database");
    }
}

async fn the_ticket_pages_follow_the_visibility_rule(app: TestApp) {
    let ticket = app.fresh_incident().await;
    for who in EVERYONE {
        let ticket_page = match who {
            Who::Anonymous => Outcome::SignIn,
            Who::SameAccountNonRecipient | Who::OtherAccount => Outcome::NotFound,
            _ => Outcome::Page,
        };
        check(&app, who, "GET", &format!("/support/tickets/{}", ticket.number), &[], ticket_page).await;
        let incident_page = match who {
            Who::NoWriteTicket => Outcome::Forbidden,
            _ => ticket_page,
        };
        check(&app, who, "GET", &format!("/security/incidents/{}", ticket.number), &[], incident_page).await;
    }
}

async fn commenting_needs_write_ticket_and_a_visible_ticket(app: TestApp) {
    let ticket = app.fresh_incident().await;
    for who in EVERYONE {
        let expected = match who {
            Who::Anonymous => Outcome::SignIn,
            Who::SameAccountNonRecipient | Who::OtherAccount => Outcome::NotFound,
            Who::NoWriteTicket => Outcome::Forbidden,
            _ => Outcome::Done,
        };
        let form = [
            ("body", format!("A comment from {who:?}")),
            ("submission_key", incident_portal::auth::token::new_token()),
        ];
        check(&app, who, "POST", &format!("/support/tickets/{}/comments", ticket.number), &form, expected).await;
    }
    // Customers never write internal notes: the forged field is refused.
    let form = [("body", "sneaky".to_string()), ("internal", "on".to_string())];
    check(
        &app,
        Who::Opener,
        "POST",
        &format!("/support/tickets/{}/comments", ticket.number),
        &form,
        Outcome::Forbidden,
    )
    .await;
    assert!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'forged_action'").await >= 1);
}

async fn adding_recipients_needs_write_ticket_and_a_visible_ticket(app: TestApp) {
    let dana = app.user_id(DANA).await.to_string();
    for who in EVERYONE {
        let ticket = app.fresh_incident().await;
        let expected = match who {
            Who::Anonymous => Outcome::SignIn,
            Who::SameAccountNonRecipient | Who::OtherAccount => Outcome::NotFound,
            Who::NoWriteTicket => Outcome::Forbidden,
            _ => Outcome::Done,
        };
        check(
            &app,
            who,
            "POST",
            &format!("/support/tickets/{}/recipients", ticket.number),
            &[("user_id", dana.clone())],
            expected,
        )
        .await;
    }
    // A user of another account can never be named.
    let ticket = app.fresh_incident().await;
    let casey = app.user_id(CASEY).await.to_string();
    let client = app.sign_in(TESS).await;
    let token = app.csrf_token(&client, "/support/tickets").await;
    let response = app
        .post_form(
            &client,
            &format!("/support/tickets/{}/recipients", ticket.number),
            &[("csrf_token", &token), ("user_id", &casey)],
        )
        .await;
    assert_eq!(response.status().as_u16(), 400);
}

async fn only_support_staff_change_label_status_and_closure(app: TestApp) {
    let riley = app.user_id(RILEY).await;
    let routes: [(&str, Vec<(&str, String)>); 6] = [
        ("severity", vec![("severity", "Critical".into())]),
        ("status", vec![("status", "requires_attention".into())]),
        ("close", vec![("resolution", "Resolved.".into())]),
        ("decline-closure", vec![("reason", "Not yet.".into())]),
        ("reopen", vec![]),
        ("recipients/{riley}/remove", vec![]),
    ];
    for (action, fields) in routes {
        for who in EVERYONE {
            let ticket = app.fresh_incident().await;
            let tess = app.user_id(TESS).await;
            // Put the ticket where the action applies, as support would have.
            match action {
                "decline-closure" => {
                    app.store
                        .change_ticket(
                            ticket.id,
                            tess,
                            None,
                            None,
                            &[incident_portal::domain::lifecycle::Change::RequestClosure],
                            app.clock.now(),
                        )
                        .await
                        .unwrap();
                }
                "reopen" => {
                    app.execute(&format!(
                        "UPDATE tickets SET status = 'closed', closed_at = created_at WHERE id = {}",
                        ticket.id
                    ))
                    .await;
                }
                _ => {}
            }
            let mut form = fields.clone();
            form.push(("version", app.ticket_version(ticket.id).await.to_string()));
            let path = format!("/desk/tickets/{}/{}", ticket.number, action.replace("{riley}", &riley.to_string()));
            let expected = match who {
                Who::Anonymous => Outcome::SignIn,
                w if w.is_support() => Outcome::Done,
                _ => Outcome::Forbidden,
            };
            check(&app, who, "POST", &path, &form, expected).await;
        }
    }
    app.assert_counters_consistent().await;
}

async fn opening_tickets_needs_write_ticket_and_the_desk_is_for_support(app: TestApp) {
    for who in EVERYONE {
        let form_page = match who {
            Who::Anonymous => Outcome::SignIn,
            Who::NoWriteTicket => Outcome::Forbidden,
            w if w.is_support() => Outcome::Done,
            _ => Outcome::Page,
        };
        check(&app, who, "GET", "/support/tickets/new", &[], form_page).await;
        let open = match who {
            Who::Anonymous => Outcome::SignIn,
            Who::NoWriteTicket => Outcome::Forbidden,
            w if w.is_support() => Outcome::Forbidden,
            _ => Outcome::Done,
        };
        check(&app, who, "POST", "/support/tickets", &[("summary", format!("Opened by {who:?}"))], open).await;

        let desk_page = match who {
            Who::Anonymous => Outcome::SignIn,
            w if w.is_support() => Outcome::Page,
            _ => Outcome::Forbidden,
        };
        check(&app, who, "GET", "/desk/tickets/new", &[], desk_page).await;
        check(&app, who, "GET", "/desk/queue", &[], desk_page).await;
        check(&app, who, "GET", "/desk/audit", &[], desk_page).await;
        let tess = app.user_id(TESS).await.to_string();
        let on_behalf =
            [("account", "100234".to_string()), ("opener_id", tess), ("summary", format!("On behalf, by {who:?}"))];
        let desk_open = match who {
            Who::Anonymous => Outcome::SignIn,
            w if w.is_support() => Outcome::Done,
            _ => Outcome::Forbidden,
        };
        check(&app, who, "POST", "/desk/tickets", &on_behalf, desk_open).await;
    }
}

async fn accounts_and_staff_are_for_support_administrators(app: TestApp) {
    for (n, who) in EVERYONE.into_iter().enumerate() {
        let page = match who {
            Who::Anonymous => Outcome::SignIn,
            Who::SupportAdmin => Outcome::Page,
            _ => Outcome::Forbidden,
        };
        let change = if page == Outcome::Page { Outcome::Done } else { page };
        check(&app, who, "GET", "/desk/accounts", &[], page).await;
        check(&app, who, "GET", "/desk/accounts/new", &[], page).await;
        check(&app, who, "GET", "/desk/staff", &[], page).await;
        let account = [
            ("name", format!("Account {n}")),
            ("number", format!("90000{n}")),
            ("first_name", "Ada".to_string()),
            ("last_name", "Admin".to_string()),
            ("email", format!("ada{n}@new.example")),
        ];
        check(&app, who, "POST", "/desk/accounts", &account, change).await;
        let staff = [
            ("first_name", "Sol".to_string()),
            ("last_name", "Agent".to_string()),
            ("email", format!("sol{n}@support.example")),
        ];
        check(&app, who, "POST", "/desk/staff", &staff, change).await;
    }
}

async fn the_ticket_lists_need_read_ticket(app: TestApp) {
    for who in EVERYONE {
        let expected = match who {
            Who::Anonymous => Outcome::SignIn,
            w if w.is_support() => Outcome::Done,
            _ => Outcome::Page,
        };
        check(&app, who, "GET", "/support/tickets", &[], expected).await;
        check(
            &app,
            who,
            "GET",
            "/support/tickets.csv",
            &[],
            if expected == Outcome::Done { Outcome::Page } else { expected },
        )
        .await;
    }
    let client = app.sign_in(DANA).await;
    let (status, html) = app.get_text(&client, "/support/tickets").await;
    assert_eq!(status, 403);
    assert!(html.contains("Read Ticket"));
}

on_both_backends!(
    the_ticket_pages_follow_the_visibility_rule,
    commenting_needs_write_ticket_and_a_visible_ticket,
    adding_recipients_needs_write_ticket_and_a_visible_ticket,
    only_support_staff_change_label_status_and_closure,
    opening_tickets_needs_write_ticket_and_the_desk_is_for_support,
    accounts_and_staff_are_for_support_administrators,
    the_ticket_lists_need_read_ticket,
);
