//! The ticket lifecycle over HTTP: comments, closure, stale pages, double submits, concurrency,
//! internal notes, and the desk's accounts, staff and audit log.

use crate::helpers::*;
use crate::on_both_backends;

async fn post(app: &TestApp, client: &reqwest::Client, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let token = app.csrf_token(client, "/security/incidents").await;
    let mut form = vec![("csrf_token", token.as_str())];
    form.extend_from_slice(fields);
    app.post_form(client, path, &form).await
}

async fn comments_on(app: &TestApp, id: i64) -> i64 {
    app.count(&format!("SELECT COUNT(*) FROM comments WHERE ticket_id = {id}")).await
}

async fn an_internal_note_never_reaches_a_customer(app: TestApp) {
    let ticket = app.fresh_incident().await;
    let sam = app.sign_in(SAM).await;
    let canary = "CANARY-7f3a-internal-note";
    let response = post(
        &app,
        &sam,
        &format!("/support/tickets/{}/comments", ticket.number),
        &[("body", canary), ("internal", "on")],
    )
    .await;
    assert_eq!(response.status().as_u16(), 303);
    let (_, support_view) = app.get_text(&sam, &format!("/support/tickets/{}", ticket.number)).await;
    assert!(support_view.contains(canary), "support staff see the note");

    for email in [TESS, RILEY, BILLIE] {
        let client = app.sign_in(email).await;
        for path in [
            format!("/support/tickets/{}", ticket.number),
            format!("/security/incidents/{}", ticket.number),
            "/support/tickets".to_string(),
            "/support/tickets.csv".to_string(),
            "/security/incidents".to_string(),
            "/security/incidents.csv".to_string(),
            format!("/support/tickets?q={}", ticket.number),
        ] {
            let (_, body) = app.get_text(&client, &path).await;
            assert!(!body.contains(canary), "{email} {path}");
        }
    }
}

/// Every rendering of a ticket a customer can reach: its pages, the tables, the exports, the
/// dashboard and its panel, and the API.
async fn customer_renderings(app: &TestApp, email: &str, key: &Key, number: &str) -> Vec<(String, String)> {
    let client = app.sign_in(email).await;
    let mut seen = Vec::new();
    for path in [
        format!("/support/tickets/{number}"),
        format!("/security/incidents/{number}"),
        "/support/tickets".into(),
        "/support/tickets?sort=created&dir=desc".into(),
        "/support/tickets.csv".into(),
        "/security/incidents".into(),
        "/security/incidents.csv".into(),
        format!("/support/tickets?q={number}"),
        "/security/dashboard".into(),
        "/security/dashboard/panel".into(),
    ] {
        let (status, body) = app.get_text(&client, &path).await;
        assert_eq!(status, 200, "{email} {path}");
        seen.push((format!("{email} {path}"), without_tokens(&body)));
    }
    for path in ["/api/v1/security-incidents", "/api/v1/security-incidents/severity-count", "/api/v1/me"] {
        let response = app.api_get(key, path).await;
        assert_eq!(response.status().as_u16(), 200, "{email} {path}");
        seen.push((format!("{email} {path}"), response.text().await.unwrap()));
    }
    seen
}

/// Support's internal work leaves no trace a customer could see: not the last-updated date, not
/// an order, a count, the history, an export, the API or the dashboard's activity.
async fn an_internal_note_changes_nothing_a_customer_sees(app: TestApp) {
    let ticket = app.fresh_incident().await;
    let keys = [(TESS, app.api_key_for(TESS).await), (RILEY, app.api_key_for(RILEY).await)];
    let mut before = Vec::new();
    for (email, key) in &keys {
        before.extend(customer_renderings(&app, email, key, &ticket.number).await);
    }
    // Hours later, by the portal's clock, support adds a note for themselves.
    app.clock.advance(chrono::Duration::hours(3));
    let sam = app.sign_in(SAM).await;
    let path = format!("/support/tickets/{}/comments", ticket.number);
    let response =
        post(&app, &sam, &path, &[("body", "Checked the proxy logs; nothing yet."), ("internal", "on")]).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(comments_on(&app, ticket.id).await, 1);
    app.clock.advance(chrono::Duration::hours(-3));

    let mut after = Vec::new();
    for (email, key) in &keys {
        after.extend(customer_renderings(&app, email, key, &ticket.number).await);
    }
    for ((what, was), (_, is)) in before.iter().zip(&after) {
        assert!(was == is, "{what} changed after an internal note");
    }
    assert_eq!(before.len(), after.len());
}

async fn a_customer_comment_hands_a_waiting_ticket_back_to_support(app: TestApp) {
    let ticket = app.fresh_incident().await;
    let sam = app.sign_in(SAM).await;
    let version = app.ticket_version(ticket.id).await.to_string();
    let response = post(
        &app,
        &sam,
        &format!("/desk/tickets/{}/status", ticket.number),
        &[("status", "requires_attention"), ("version", &version)],
    )
    .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(app.ticket_status(ticket.id).await, "requires_attention");
    let riley = app.sign_in(RILEY).await;
    let response =
        post(&app, &riley, &format!("/support/tickets/{}/comments", ticket.number), &[("body", "Done, see logs.")])
            .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(app.ticket_status(ticket.id).await, "open");
    let (_, html) = app.get_text(&riley, &format!("/support/tickets/{}", ticket.number)).await;
    assert!(html.contains("changed the status from Requires Attention to Open"));
}

async fn a_change_from_a_stale_page_is_refused_with_409(app: TestApp) {
    let ticket = app.fresh_incident().await;
    let stale_version = app.ticket_version(ticket.id).await.to_string();
    let morgan = app.sign_in(MORGAN).await;
    let response = post(
        &app,
        &morgan,
        &format!("/desk/tickets/{}/severity", ticket.number),
        &[("severity", "Low"), ("version", &stale_version)],
    )
    .await;
    assert_eq!(response.status().as_u16(), 303);
    let sam = app.sign_in(SAM).await;
    let response = post(
        &app,
        &sam,
        &format!("/desk/tickets/{}/severity", ticket.number),
        &[("severity", "Critical"), ("version", &stale_version)],
    )
    .await;
    assert_eq!(response.status().as_u16(), 409);
    let html = response.text().await.unwrap();
    assert!(html.contains("changed this ticket after you loaded the page"));
    assert!(html.contains(&format!("/support/tickets/{}", ticket.number)), "a link to reload it");
    let severity = app.count(&format!("SELECT CAST(severity AS BIGINT) FROM tickets WHERE id = {}", ticket.id)).await;
    assert_eq!(severity, 1, "Morgan's Low stands");
}

async fn a_double_submitted_form_stores_one_comment_and_opens_one_ticket(app: TestApp) {
    let ticket = app.fresh_incident().await;
    let riley = app.sign_in(RILEY).await;
    let token = app.csrf_token(&riley, &format!("/support/tickets/{}", ticket.number)).await;
    let key = incident_portal::auth::token::new_token();
    let before = comments_on(&app, ticket.id).await;
    let path = format!("/support/tickets/{}/comments", ticket.number);
    let form = [("csrf_token", token.as_str()), ("body", "Sent twice"), ("submission_key", key.as_str())];
    let (first, second) = tokio::join!(app.post_form(&riley, &path, &form), app.post_form(&riley, &path, &form));
    assert_eq!((first.status().as_u16(), second.status().as_u16()), (303, 303));
    let third = app.post_form(&riley, &path, &form).await;
    assert_eq!(third.status().as_u16(), 303);
    assert_eq!(comments_on(&app, ticket.id).await, before + 1);

    let tickets_before = app.count("SELECT COUNT(*) FROM tickets").await;
    let key = incident_portal::auth::token::new_token();
    let form = [("csrf_token", token.as_str()), ("summary", "Opened twice"), ("submission_key", key.as_str())];
    let first = app.post_form(&riley, "/support/tickets", &form).await;
    let second = app.post_form(&riley, "/support/tickets", &form).await;
    assert_eq!(location(&first), location(&second), "both land on the one ticket");
    assert_eq!(app.count("SELECT COUNT(*) FROM tickets").await, tickets_before + 1);
}

async fn a_close_and_a_comment_at_the_same_moment_are_both_kept(app: TestApp) {
    let sam = app.sign_in(SAM).await;
    let riley = app.sign_in(RILEY).await;
    for round in 0..15 {
        let ticket = app.fresh_incident().await;
        let before = comments_on(&app, ticket.id).await;
        let version = app.ticket_version(ticket.id).await.to_string();
        let sam_token = app.csrf_token(&sam, "/desk/queue").await;
        let riley_token = app.csrf_token(&riley, "/support/tickets").await;
        let close_path = format!("/desk/tickets/{}/close", ticket.number);
        let comment_path = format!("/support/tickets/{}/comments", ticket.number);
        let body = format!("Round {round}: one more detail");
        let close_form = [("csrf_token", sam_token.as_str()), ("version", &version), ("resolution", "Resolved")];
        let comment_form = [("csrf_token", riley_token.as_str()), ("body", &body)];
        let (closed, commented) = tokio::join!(
            app.post_form(&sam, &close_path, &close_form),
            app.post_form(&riley, &comment_path, &comment_form)
        );
        assert_eq!(closed.status().as_u16(), 303, "round {round}: close");
        assert_eq!(commented.status().as_u16(), 303, "round {round}: comment");
        assert_eq!(comments_on(&app, ticket.id).await, before + 2, "round {round}: both comments stored");
        assert_eq!(app.ticket_status(ticket.id).await, "closed", "round {round}");
    }
    app.assert_counters_consistent().await;
}

async fn forms_with_errors_come_back_with_messages_and_what_was_typed(app: TestApp) {
    let ticket = app.fresh_incident().await;
    let riley = app.sign_in(RILEY).await;
    let response = post(
        &app,
        &riley,
        &format!("/support/tickets/{}/comments", ticket.number),
        &[("body", "   "), ("request_closure", "on")],
    )
    .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("Enter a comment."));
    assert!(html.contains("checked"), "the closure box stays ticked");

    let long = "x".repeat(201);
    let response = post(&app, &riley, "/support/tickets", &[("summary", &long), ("description", "kept text")]).await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("at most 200 characters"));
    assert!(html.contains("kept text") && html.contains(&long));

    let sam = app.sign_in(SAM).await;
    let version = app.ticket_version(ticket.id).await.to_string();
    let response = post(
        &app,
        &sam,
        &format!("/desk/tickets/{}/close", ticket.number),
        &[("resolution", ""), ("version", &version)],
    )
    .await;
    assert_eq!(response.status().as_u16(), 422);
    assert!(response.text().await.unwrap().contains("Enter a resolution comment"));
    assert_eq!(app.ticket_status(ticket.id).await, "open");
}

async fn closure_is_requested_declined_and_closed(app: TestApp) {
    let ticket = app.fresh_incident().await;
    let riley = app.sign_in(RILEY).await;
    let path = format!("/support/tickets/{}/comments", ticket.number);
    post(&app, &riley, &path, &[("body", "Done, please close."), ("request_closure", "on")]).await;
    let sam = app.sign_in(SAM).await;
    let (_, queue) = app.get_text(&sam, "/desk/queue?closure=requested&size=100").await;
    assert!(table_rows(&queue).iter().any(|r| r.number == ticket.number));
    let (_, table) = app.get_text(&riley, &format!("/security/incidents?q={}", ticket.number)).await;
    assert!(table.contains("Closure requested"), "the badge shows in the customer's table");

    let version = app.ticket_version(ticket.id).await.to_string();
    post(
        &app,
        &sam,
        &format!("/desk/tickets/{}/decline-closure", ticket.number),
        &[("reason", "Rotate keys first."), ("version", &version)],
    )
    .await;
    let (_, page) = app.get_text(&riley, &format!("/security/incidents/{}", ticket.number)).await;
    assert!(page.contains("Rotate keys first.") && page.contains("declined the closure request"));

    let version = app.ticket_version(ticket.id).await.to_string();
    let response = post(
        &app,
        &sam,
        &format!("/desk/tickets/{}/close", ticket.number),
        &[("resolution", "Verified."), ("version", &version)],
    )
    .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(app.get(&riley, &format!("/security/incidents?q={}", ticket.number)).await.status().as_u16(), 200);
    let (_, table) = app.get_text(&riley, &format!("/security/incidents?q={}", ticket.number)).await;
    assert!(table_rows(&table).is_empty(), "a closed incident leaves the screen");
    let (_, tickets) = app.get_text(&riley, &format!("/support/tickets?q={}", ticket.number)).await;
    assert!(table_rows(&tickets)[0].cells[3].starts_with("Closed"));
    let audit = app.count("SELECT COUNT(*) FROM audit_log WHERE action IN ('ticket_closure_requested', 'ticket_closure_declined', 'ticket_closed')").await;
    assert_eq!(audit, 3);

    // A customer cannot ask again once it is closed, and support reopens.
    let response = post(&app, &riley, &path, &[("body", "Again?"), ("request_closure", "on")]).await;
    assert_eq!(response.status().as_u16(), 409);
    let version = app.ticket_version(ticket.id).await.to_string();
    post(&app, &sam, &format!("/desk/tickets/{}/reopen", ticket.number), &[("version", &version)]).await;
    assert_eq!(app.ticket_status(ticket.id).await, "open");
    app.assert_counters_consistent().await;
}

async fn a_new_account_administrator_sets_a_password_through_a_one_time_link(app: TestApp) {
    let morgan = app.sign_in(MORGAN).await;
    let form = [
        ("name", "Initech"),
        ("number", "100777"),
        ("first_name", "Peter"),
        ("last_name", "Gibbons"),
        ("email", "peter@initech.example"),
    ];
    let response = post(&app, &morgan, "/desk/accounts", &form).await;
    assert_eq!(response.status().as_u16(), 303);
    let (_, page) = app.get_text(&morgan, "/desk/accounts").await;
    let start = page.find("/password/set?token=").expect("the link is shown once");
    let token = &page[start + "/password/set?token=".len()..];
    let token: String = token.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    let (_, again) = app.get_text(&morgan, "/desk/accounts").await;
    assert!(!again.contains(&token), "and never again");
    assert!(app.count("SELECT COUNT(*) FROM password_tokens WHERE token_hash LIKE '%'").await >= 1);

    let visitor = client();
    let link = format!("/password/set?token={token}");
    let (status, html) = app.get_text(&visitor, &link).await;
    assert_eq!(status, 200);
    assert!(html.contains("peter@initech.example"));
    let csrf = csrf_token(&html);
    let short =
        [("csrf_token", csrf.as_str()), ("token", token.as_str()), ("password", "short"), ("confirmation", "short")];
    assert_eq!(app.post_form(&visitor, "/password/set", &short).await.status().as_u16(), 422);
    let good = [
        ("csrf_token", csrf.as_str()),
        ("token", token.as_str()),
        ("password", "initech-rules-2026"),
        ("confirmation", "initech-rules-2026"),
    ];
    let response = app.post_form(&visitor, "/password/set", &good).await;
    assert_eq!(location(&response), "/login?password_set=1");
    assert_eq!(app.try_sign_in(&client(), "peter@initech.example", "initech-rules-2026").await.status().as_u16(), 303);
    assert_eq!(app.get(&visitor, &link).await.status().as_u16(), 410, "the link works once");
    assert_eq!(app.post_form(&visitor, "/password/set", &good).await.status().as_u16(), 410);
    let (status, _) = app.get_text(&visitor, "/password/set?token=forged").await;
    assert_eq!(status, 410);
}

async fn the_audit_log_filters_by_account_actor_action_and_date(app: TestApp) {
    app.sign_in(TESS).await;
    app.sign_in(CASEY).await;
    let sam = app.sign_in(SAM).await;
    let (status, html) = app.get_text(&sam, "/desk/audit?action=sign_in").await;
    assert_eq!(status, 200);
    assert!(html.contains(TESS) && html.contains(CASEY));
    let (_, html) = app.get_text(&sam, "/desk/audit?action=sign_in&actor=contoso").await;
    assert!(html.contains(CASEY) && !html.contains(TESS));
    let today = app.clock.now().format("%Y-%m-%d").to_string();
    let (_, html) = app.get_text(&sam, &format!("/desk/audit?from={today}&until={today}&action=sign_in")).await;
    assert!(html.contains(TESS));
    let (_, html) = app.get_text(&sam, "/desk/audit?until=2000-01-01").await;
    assert!(html.contains("No entries"));
    for bad in ["from=yesterday", "account=abc", "page=0"] {
        assert_eq!(app.get(&sam, &format!("/desk/audit?{bad}")).await.status().as_u16(), 400, "{bad}");
    }
}

async fn the_queue_counts_and_filters_unlabelled_tickets(app: TestApp) {
    let sam = app.sign_in(SAM).await;
    let (_, html) = app.get_text(&sam, "/desk/queue").await;
    let unlabelled = app.count("SELECT COUNT(*) FROM tickets WHERE severity IS NULL AND status <> 'closed'").await;
    assert!(html.contains(&format!(
        "<span class=\"count-number\">{unlabelled}</span> <span class=\"count-label\">Not labelled</span>"
    )));
    let (_, html) = app.get_text(&sam, "/desk/queue?labelled=no&size=100").await;
    let rows = table_rows(&html);
    assert!(!rows.is_empty() && rows.iter().all(|r| r.cells[3].contains("—")));
}

on_both_backends!(
    an_internal_note_never_reaches_a_customer,
    an_internal_note_changes_nothing_a_customer_sees,
    a_customer_comment_hands_a_waiting_ticket_back_to_support,
    a_change_from_a_stale_page_is_refused_with_409,
    a_double_submitted_form_stores_one_comment_and_opens_one_ticket,
    a_close_and_a_comment_at_the_same_moment_are_both_kept,
    forms_with_errors_come_back_with_messages_and_what_was_typed,
    closure_is_requested_declined_and_closed,
    a_new_account_administrator_sets_a_password_through_a_one_time_link,
    the_audit_log_filters_by_account_actor_action_and_date,
    the_queue_counts_and_filters_unlabelled_tickets,
);
