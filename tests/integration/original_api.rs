//! The original provider's API at the root of the portal: a ticket-sync integration written for
//! the original, run unchanged; the shapes, paging and status codes its clients read; the
//! tolerance they rely on; and the same visibility, permissions and internal notes as the pages.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

/// A client as an integration written for the original would be: FH-AUTH, its account from
/// `/me` in `X-Account-Context`, the odd content type on every call, bodies without one.
struct OriginalClient<'a> {
    app: &'a TestApp,
    token: String,
    account: String,
    http: reqwest::Client,
}

impl<'a> OriginalClient<'a> {
    async fn sign_in(app: &'a TestApp, email: &str) -> OriginalClient<'a> {
        let http = reqwest::Client::new();
        // As some clients do: JSON, but no JSON content type.
        let body = json!({ "username": email, "password": PASSWORD }).to_string();
        let response = http.post(app.url("/auth/authorize")).body(body).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let authorized: Value = response.json().await.unwrap();
        assert_eq!((&authorized["redirect_uri"], &authorized["success"]), (&Value::Null, &json!(true)));
        let body = json!({ "code": authorized["code"], "grant_type": "authorization_code" }).to_string();
        let token: Value = http.post(app.url("/auth/token")).body(body).send().await.unwrap().json().await.unwrap();
        assert_eq!((&token["expires_in"], &token["token_type"]), (&json!(900), &json!("FH-AUTH")));
        let mut client = OriginalClient {
            app,
            token: token["access_token"].as_str().unwrap().to_string(),
            account: String::new(),
            http,
        };
        let me = client.get("/me").await;
        client.account = me["accounts"][0]["id"].to_string();
        client
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(method, self.app.url(path))
            .header("authorization", format!("FH-AUTH {}", self.token))
            .header("content-type", "application-json");
        if !self.account.is_empty() {
            request = request.header("x-account-context", &self.account);
        }
        request
    }

    async fn get(&self, path: &str) -> Value {
        let response = self.request(reqwest::Method::GET, path).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self.request(reqwest::Method::POST, path).body(body.to_string()).send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    }
}

async fn turn_on_fh_auth_in_the_portal(app: &TestApp) {
    let avery = app.sign_in(AVERY).await;
    let (_, page) = app.get_text(&avery, "/account/users").await;
    assert!(page.contains("Allow FH-AUTH") && page.contains("Warning:"), "the switch comes with its warning");
    let token = app.csrf_token(&avery, "/account/users").await;
    let response = app.post_form(&avery, "/account/api-access", &[("csrf_token", &token), ("fh_auth", "on")]).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'account_fh_auth_changed'").await, 1);
}

async fn a_ticket_sync_integration_runs_unchanged_against_the_portal(app: TestApp) {
    turn_on_fh_auth_in_the_portal(&app).await;
    let sync = OriginalClient::sign_in(&app, TESS).await;
    assert_eq!(sync.account, "100234");

    // Every ticket Tess may see, 50 at a time, following nextPageToken.
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &next {
            None => "/tickets/list?maxResults=50".to_string(),
            Some(token) => format!("/tickets/list?maxResults=50&nextPageToken={token}"),
        };
        let page = sync.get(&path).await;
        pages += 1;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 50 && page["maxResults"] == 50, "{path}");
        for item in items {
            for field in ["issueKeyId", "summary", "currentStatus", "requestType", "reporter", "assignee"] {
                assert!(!item[field].is_null(), "{field} in {item}");
            }
            seen.push(item["issueKeyId"].as_str().unwrap().to_string());
        }
        assert_eq!(page["total"].as_u64().unwrap() as usize, expected_visible(&app, TESS).await.len());
        match page["nextPageToken"].as_str() {
            Some(token) => next = Some(token.to_string()),
            None => break,
        }
    }
    let expected = expected_visible(&app, TESS).await;
    assert!(pages >= 2, "the demo gives Tess more than one page");
    assert_eq!(seen.len(), expected.len(), "no ticket twice");
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), expected, "exactly the tickets Tess may see");

    // Details and comments as the sync copies them; never an internal note.
    let with_note = app
        .count(&format!(
            "SELECT MIN(c.ticket_id) FROM comments c JOIN ticket_visibility v ON v.ticket_id = c.ticket_id \
             WHERE c.internal = TRUE AND v.user_id = {}",
            app.user_id(TESS).await
        ))
        .await;
    let details = sync.get(&format!("/tickets/ATS-{with_note}/details")).await;
    assert_eq!(details["issueKeyId"], format!("ATS-{with_note}"));
    assert_eq!(details["organizations"][0]["id"], 100234);
    for field in ["summary", "description", "reporter", "participants", "currentStatus", "requestType", "createdDate"] {
        assert!(!details[field].is_null(), "{field}");
    }
    let comments = sync.get(&format!("/tickets/ATS-{with_note}/comments?start=0&limit=100&sortOrder=DESC")).await;
    let visible =
        app.count(&format!("SELECT COUNT(*) FROM comments WHERE ticket_id = {with_note} AND internal = FALSE")).await;
    assert_eq!(comments["total"], visible);
    let values = comments["values"].as_array().unwrap();
    assert!(values.iter().all(|c| c["visibility"] == "public"), "internal notes never reach a customer");
    let internal: Vec<String> =
        app.strings(&format!("SELECT body FROM comments WHERE ticket_id = {with_note} AND internal = TRUE")).await;
    let text = comments.to_string();
    assert!(internal.iter().all(|note| !text.contains(note.as_str())));

    // A comment, then a closure request on an open incident.
    let incident = app.fresh_incident().await;
    let (status, added) = sync
        .post(
            &format!("/tickets/{}/comments", incident.number),
            json!({ "comment": "Synced from our service desk.", "isPublic": true, "issueKeyId": incident.number }),
        )
        .await;
    assert_eq!((status, added), (200, json!(true)));
    let offered = sync.get(&format!("/tickets/{}/transition", incident.number)).await;
    assert_eq!(offered, json!([{ "id": "request_closure", "name": "Request closure" }]));
    let (status, moved) = sync
        .post(
            &format!("/tickets/{}/transition", incident.number),
            json!({ "ticketNumber": incident.number, "transitionId": "request_closure", "comment": "Fixed on our side." }),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["closureRequested"], true);
    assert_eq!(moved["currentStatus"]["id"], "open");
    let offered = sync.get(&format!("/tickets/{}/transition", incident.number)).await;
    assert_eq!(offered[0]["id"], "withdraw_closure");

    // The portal shows it as the UI's own would, and the changes notify and are audited alike.
    let tess = app.sign_in(TESS).await;
    let (_, page) = app.get_text(&tess, &format!("/security/incidents/{}", incident.number)).await;
    assert!(page.contains("Synced from our service desk.") && page.contains("Fixed on our side."));
    assert!(page.contains("Closure requested"));
    assert!(
        app.count(&format!("SELECT COUNT(*) FROM notification_events WHERE ticket_id = {}", incident.id)).await >= 2
    );
    let audited = format!(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'ticket_closure_requested' AND target = '{}'",
        incident.number
    );
    assert_eq!(app.count(&audited).await, 1);
}

/// The numbers of every ticket `email` may see, of any status.
async fn expected_visible(app: &TestApp, email: &str) -> BTreeSet<String> {
    let user = app.user_id(email).await;
    app.scalars::<i64>(&format!("SELECT ticket_id FROM ticket_visibility WHERE user_id = {user}"))
        .await
        .into_iter()
        .map(|id| format!("ATS-{id}"))
        .collect()
}

async fn ticket_lists_page_by_token_in_every_order_and_filter(app: TestApp) {
    let key = app.api_key_for(TESS).await;
    let incidents: BTreeSet<String> = {
        let user = app.user_id(TESS).await;
        app.scalars::<i64>(&format!(
            "SELECT ticket_id FROM ticket_visibility WHERE user_id = {user} AND severity IS NOT NULL"
        ))
        .await
        .into_iter()
        .map(|id| format!("ATS-{id}"))
        .collect()
    };
    for (query, expected) in [
        ("orderBy=key&orderByDirection=0", expected_visible(&app, TESS).await),
        ("orderBy=status&orderByDirection=1", expected_visible(&app, TESS).await),
        ("orderBy=summary", expected_visible(&app, TESS).await),
        ("requestType=security-incident", incidents.clone()),
    ] {
        let mut seen = Vec::new();
        let mut target = format!("/tickets/list?maxResults=37&{query}");
        let mut previous: Option<Value> = None;
        loop {
            let response = app.api_get(&key, &target).await;
            assert_eq!(response.status().as_u16(), 200, "{target}");
            let page: Value = response.json().await.unwrap();
            for item in page["items"].as_array().unwrap() {
                seen.push(item["issueKeyId"].as_str().unwrap().to_string());
                if let Some(previous) = &previous
                    && query.starts_with("orderBy=key&orderByDirection=0")
                {
                    let number = |v: &Value| v["issueKeyId"].as_str().unwrap()[4..].parse::<i64>().unwrap();
                    assert!(number(previous) < number(item), "ascending by number");
                }
                previous = Some(item.clone());
            }
            match page["nextPageToken"].as_str() {
                // The token carries the order and filter: the rest of the query may stay or go.
                Some(token) => target = format!("/tickets/list?maxResults=37&nextPageToken={token}"),
                None => break,
            }
        }
        assert_eq!(seen.len(), expected.len(), "{query}: every ticket once");
        assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), expected, "{query}");
    }
    // Beyond 100, pages are 100 and say so (Tess sees fewer than 100 tickets, Sam every one).
    let page: Value = app.api_get(&key, "/tickets/list?maxResults=5000").await.json().await.unwrap();
    let all = expected_visible(&app, TESS).await.len().min(100);
    assert_eq!((page["maxResults"].as_u64(), page["items"].as_array().unwrap().len()), (Some(100), all));
    let sam = app.sign_in(SAM).await;
    let page: Value = app.get(&sam, "/tickets/list?maxResults=101").await.json().await.unwrap();
    assert_eq!((page["maxResults"].as_u64(), page["items"].as_array().unwrap().len()), (Some(100), 100));
    assert!(page["nextPageToken"].is_string());
    // A token this API never gave is a 400, in the original's error shape.
    let response = app.api_get(&key, "/tickets/list?nextPageToken=not-a-token").await;
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!((body["error"].as_str(), body["status"].as_u64()), (Some("bad_request"), Some(400)));
    assert!(body["error_description"].as_str().unwrap().contains("nextPageToken"));
}

async fn the_root_paths_tolerate_what_original_clients_send(app: TestApp) {
    let key = app.api_key_for(TESS).await;
    for target in [
        "/tickets/list?",
        "/tickets/list?maxResults=&orderBy=&nextPageToken=&requestType=",
        "/tickets/list?colour=red&maxResults=10",
        "/tickets/list?ATS-1",
        "/tickets/list?&&==&%zz&maxResults",
        "/security-incidents?page=&pageSize=&severity=&wibble=1",
        "/security-incidents/severity-count?a=b",
        "/me?x=1",
    ] {
        let response = app.api_get(&key, target).await;
        assert_eq!(response.status().as_u16(), 200, "{target}");
    }
    // The same endpoints under /api/v1 are strict, and say so the same way for each.
    for target in
        ["/api/v1/security-incidents/severity-count?a=b", "/api/v1/me?x=1", "/api/v1/security-incidents?page=1&page=2"]
    {
        let response = app.api_get(&key, target).await;
        assert_eq!(response.status().as_u16(), 400, "{target}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "bad_request", "{target}");
    }
    // An empty value means absent in both families.
    assert_eq!(app.api_get(&key, "/api/v1/security-incidents?page=&search=").await.status().as_u16(), 200);
    // Bad values of known parameters are refused on both.
    for target in [
        "/tickets/list?maxResults=0",
        "/tickets/list?orderBy=priority",
        "/tickets/list?orderByDirection=2",
        "/security-incidents?severity=Purple",
    ] {
        let response = app.api_get(&key, target).await;
        assert_eq!(response.status().as_u16(), 400, "{target}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], 400, "{target}");
    }
    // A body with the original's odd content type, or none.
    let incident = app.fresh_incident().await;
    let comment = json!({ "comment": "No content type" }).to_string();
    for content_type in [Some("application-json"), None, Some("text/plain")] {
        let target = format!("/tickets/{}/comments", incident.number);
        let (authorization, _) = app.authorization(&key, "POST", &target, comment.as_bytes());
        let mut request = reqwest::Client::new().post(app.url(&target)).header("authorization", authorization);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.body(comment.clone()).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{content_type:?}");
    }
}

async fn the_root_paths_answer_the_originals_shapes_and_errors(app: TestApp) {
    let key = app.api_key_for(TESS).await;
    let me: Value = app.api_get(&key, "/me").await.json().await.unwrap();
    assert_eq!(me["user"]["username"], TESS);
    assert_eq!(me["user"]["type"], "customer");
    assert_eq!(me["user"]["firstName"], "Tess");
    assert!(me["user"]["links"]["userId"].is_i64() && me["user"]["passwordExpiry"].is_null());
    assert_eq!(me["accounts"][0]["id"], 100234);
    assert_eq!(me["email"], TESS, "the portal's own fields stay beside them");

    let list: Value = app.api_get(&key, "/security-incidents").await.json().await.unwrap();
    assert!(list["total"].is_i64() && list["page"] == 1);
    let item = &list["items"][0];
    for field in
        ["ticketNumber", "ticketSummary", "ticketPriority", "ticketStatus", "createdDate", "enabled", "ticketLink"]
    {
        assert!(!item[field].is_null(), "{field}");
    }
    let counts: Value = app.api_get(&key, "/security-incidents/severity-count").await.json().await.unwrap();
    let v1: Value = app.api_get(&key, "/api/v1/security-incidents/severity-count").await.json().await.unwrap();
    assert_eq!(counts, v1, "the same handler");

    // Errors: the original's shape at the root, the portal's under /api/v1; pages stay pages.
    let unsigned = reqwest::get(app.url("/tickets/list")).await.unwrap();
    assert_eq!(unsigned.status().as_u16(), 401);
    assert!(unsigned.headers()["www-authenticate"].to_str().unwrap().contains("FH-AUTH"));
    let body: Value = unsigned.json().await.unwrap();
    assert_eq!((body["error"].as_str(), body["status"].as_u64()), (Some("unauthorized"), Some(401)));
    assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()));
    let missing: Value = app.api_get(&key, "/tickets/ATS-987654321/details").await.json().await.unwrap();
    assert_eq!(missing["error"], "not_found");
    let nowhere: Value = reqwest::get(app.url("/tickets/nothing/here")).await.unwrap().json().await.unwrap();
    assert_eq!(nowhere["status"], 404);
    let wrong_method = reqwest::Client::new().delete(app.url("/tickets/list")).send().await.unwrap();
    assert_eq!(wrong_method.status().as_u16(), 405);
    assert_eq!(wrong_method.headers()["allow"], "GET");
    let page = app.get(&app.sign_in(TESS).await, "/security/incidents/ATS-987654321").await;
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "pages stay HTML");
    let login_page = reqwest::get(app.url("/security/nothing")).await.unwrap();
    assert!(login_page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
}

async fn tickets_through_the_api_follow_the_pages_rules(app: TestApp) {
    let incident = app.fresh_incident().await;
    let details = |key: &Key| {
        let target = format!("/tickets/{}/details", incident.number);
        let key = key.clone();
        let app = &app;
        async move { app.api_get(&key, &target).await.status().as_u16() }
    };
    // Opener and recipients see it; a colleague (even the administrator) and another account do not.
    for (email, status) in [(TESS, 200), (RILEY, 200), (AVERY, 404), (CASEY, 404), (DANA, 403)] {
        assert_eq!(details(&app.api_key_for(email).await).await, status, "{email}");
    }
    let missing = app.api_get(&app.api_key_for(AVERY).await, "/tickets/ATS-987654321/details").await;
    let invisible = app.api_get(&app.api_key_for(AVERY).await, &format!("/tickets/{}/details", incident.number)).await;
    let bodies = (missing.text().await.unwrap(), invisible.text().await.unwrap());
    assert_eq!(bodies.0, bodies.1, "an invisible ticket answers like a missing one");

    // Billing reads but does not write; a customer's internal note is refused, not published.
    let billie = app.api_key_for(BILLIE).await;
    let target = format!("/tickets/{}/comments", incident.number);
    let before = app.snapshot().await;
    let body = json!({ "comment": "from billing" }).to_string();
    assert_eq!(
        app.api_call(&billie, Signing::Documented, "POST", &target, body.as_bytes()).await.status().as_u16(),
        403
    );
    let tess = app.api_key_for(TESS).await;
    let note = json!({ "comment": "just for support", "isPublic": false }).to_string();
    let refused = app.api_call(&tess, Signing::Documented, "POST", &target, note.as_bytes()).await;
    assert_eq!(refused.status().as_u16(), 403);
    let body: Value = refused.json().await.unwrap();
    assert!(body["error_description"].as_str().unwrap().contains("isPublic"));
    assert_eq!(app.snapshot().await, before, "nothing stored");

    // A support agent's session writes an internal note (with the session's CSRF token), which
    // customers never read.
    let sam = app.sign_in(SAM).await;
    let token = app.csrf_token(&sam, "/desk/queue").await;
    let post = |csrf: Option<&str>| {
        let mut request = sam
            .post(app.url(&target))
            .body(json!({ "comment": "internal: checked the logs", "isPublic": false }).to_string());
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf.to_string());
        }
        request.send()
    };
    assert_eq!(post(None).await.unwrap().status().as_u16(), 403, "a session's write needs its CSRF token");
    assert_eq!(post(Some(&token)).await.unwrap().status().as_u16(), 200);
    let staff_view: Value = app.get(&sam, &format!("{target}?limit=100")).await.json().await.unwrap();
    assert!(staff_view["values"].as_array().unwrap().iter().any(|c| c["visibility"] == "internal"));
    let customer_view: Value = app.api_get(&tess, &target).await.json().await.unwrap();
    assert!(!customer_view.to_string().contains("checked the logs"));

    // A customer's comment hands a ticket that Requires Attention back to support.
    let sam_id = app.user_id(SAM).await;
    app.store
        .change_ticket(
            incident.id,
            sam_id,
            None,
            None,
            &[incident_portal::domain::lifecycle::Change::SetStatus(
                incident_portal::domain::ticket::TicketStatus::RequiresAttention,
            )],
            app.clock.now(),
        )
        .await
        .unwrap();
    let reply = json!({ "comment": "Here are the logs." }).to_string();
    assert_eq!(app.api_call(&tess, Signing::Original, "POST", &target, reply.as_bytes()).await.status().as_u16(), 200);
    assert_eq!(app.ticket_status(incident.id).await, "open");
}

async fn transitions_offer_each_side_its_own_moves(app: TestApp) {
    let incident = app.fresh_incident().await;
    let target = format!("/tickets/{}/transition", incident.number);
    let tess = app.api_key_for(TESS).await;
    let post = |body: Value| {
        let body = body.to_string();
        let tess = tess.clone();
        let (app, target) = (&app, target.clone());
        async move { app.api_call(&tess, Signing::Documented, "POST", &target, body.as_bytes()).await.status().as_u16() }
    };
    assert_eq!(post(json!({ "transitionId": "request_closure" })).await, 400, "a closure request needs a comment");
    assert_eq!(post(json!({ "transitionId": "closed", "comment": "done" })).await, 403, "closing is support's");
    assert_eq!(post(json!({ "transitionId": "withdraw_closure" })).await, 409, "nothing to withdraw yet");
    assert_eq!(post(json!({ "transitionId": "reopen" })).await, 400, "not a transition");
    assert_eq!(post(json!(["request_closure"])).await, 400, "not an object");
    assert_eq!(post(json!({ "transitionId": "request_closure", "comment": "Please close." })).await, 200);
    assert_eq!(post(json!({ "transitionId": "withdraw_closure" })).await, 200);
    let history =
        app.strings(&format!("SELECT kind FROM ticket_events WHERE ticket_id = {} ORDER BY id", incident.id)).await;
    assert_eq!(history[history.len() - 2..], ["closure_requested", "closure_withdrawn"]);
    let tess_page = app.sign_in(TESS).await;
    let (_, page) = app.get_text(&tess_page, &format!("/support/tickets/{}", incident.number)).await;
    assert!(page.contains("withdrew the closure request"));

    // Support: the status moves, closing with a resolution.
    let sam = app.sign_in(SAM).await;
    let offered: Value = app.get(&sam, &target).await.json().await.unwrap();
    let ids: Vec<&str> = offered.as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["requires_attention", "closed"]);
    let token = app.csrf_token(&sam, "/desk/queue").await;
    let close = sam
        .post(app.url(&target))
        .header("x-csrf-token", token)
        .body(json!({ "transitionId": "closed", "comment": "Verified and closed." }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(close.status().as_u16(), 200);
    let closed: Value = close.json().await.unwrap();
    assert_eq!(closed["currentStatus"], json!({ "id": "closed", "name": "Closed" }));
    let details: Value =
        app.api_get(&tess, &format!("/tickets/{}/details", incident.number)).await.json().await.unwrap();
    let last = details["transitions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["fromStatusId"].as_str(), last["toStatusId"].as_str()), (Some("open"), Some("closed")));
    let offered: Value = app.api_get(&tess, &target).await.json().await.unwrap();
    assert_eq!(offered, json!([]), "nothing left for a customer on a closed ticket");
}

on_both_backends!(
    a_ticket_sync_integration_runs_unchanged_against_the_portal,
    ticket_lists_page_by_token_in_every_order_and_filter,
    the_root_paths_tolerate_what_original_clients_send,
    the_root_paths_answer_the_originals_shapes_and_errors,
    tickets_through_the_api_follow_the_pages_rules,
    transitions_offer_each_side_its_own_moves,
);
