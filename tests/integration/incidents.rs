use std::collections::BTreeSet;

use incident_portal::domain::listing::{Cursor, CursorKey, ListKind, ListQuery};
use incident_portal::domain::policy::{self, TicketFacts, TicketScope, can_see_ticket};
use incident_portal::domain::principal::Principal;
use incident_portal::store::TicketRow;

use crate::helpers::*;
use crate::on_both_backends;

#[derive(sqlx::FromRow)]
struct TicketFactsRow {
    id: i64,
    account_id: i64,
    opener_id: i64,
    severity: Option<i16>,
    status: String,
}

/// The open incidents `principal` may see, decided by the domain rule over every ticket.
async fn expected_visible(app: &TestApp, principal: &Principal) -> BTreeSet<String> {
    let tickets_sql = "SELECT id, account_id, opener_id, severity, status FROM tickets";
    let recipients_sql = "SELECT ticket_id, user_id FROM ticket_recipients";
    let tickets: Vec<TicketFactsRow> = app.rows(tickets_sql).await;
    let recipients: Vec<(i64, i64)> = app.rows(recipients_sql).await;
    tickets
        .iter()
        .filter(|t| t.severity.is_some() && t.status != "closed")
        .filter(|t| {
            let recipient_ids: Vec<i64> =
                recipients.iter().filter(|(ticket, _)| *ticket == t.id).map(|(_, user)| *user).collect();
            can_see_ticket(
                principal,
                &TicketFacts { account_id: t.account_id, opener_id: t.opener_id, recipient_ids: &recipient_ids },
            )
        })
        .map(|t| format!("ATS-{}", t.id))
        .collect()
}

/// Every row of a table view, following its pages.
async fn all_rows(app: &TestApp, client: &reqwest::Client, path_and_query: &str) -> Vec<TableRow> {
    let mut rows = Vec::new();
    let separator = if path_and_query.contains('?') { '&' } else { '?' };
    for page in 1.. {
        let (status, html) = app.get_text(client, &format!("{path_and_query}{separator}size=25&page={page}")).await;
        assert_eq!(status, 200, "{path_and_query} page {page}");
        let page_rows = table_rows(&html);
        if page_rows.is_empty() {
            break;
        }
        rows.extend(page_rows);
    }
    rows
}

async fn each_customer_sees_exactly_the_incidents_visible_to_them(app: TestApp) {
    for email in [TESS, RILEY, AVERY, CASEY] {
        let client = app.sign_in(email).await;
        let shown: Vec<String> =
            all_rows(&app, &client, "/security/incidents").await.into_iter().map(|r| r.number).collect();
        let shown_set: BTreeSet<String> = shown.iter().cloned().collect();
        assert_eq!(shown.len(), shown_set.len(), "no incident is listed twice for {email}");
        let expected = expected_visible(&app, &app.principal(email).await).await;
        assert!(!expected.is_empty(), "the demo data gives {email} incidents to see");
        assert_eq!(shown_set, expected, "visible set of {email}");
    }
}

async fn support_staff_see_every_open_incident_in_the_queue(app: TestApp) {
    let client = app.sign_in(SAM).await;
    let shown: BTreeSet<String> = all_rows(&app, &client, "/desk/queue").await.into_iter().map(|r| r.number).collect();
    let expected = expected_visible(&app, &app.principal(SAM).await).await;
    assert_eq!(shown, expected);
    let accounts = app
        .count("SELECT COUNT(DISTINCT account_id) FROM tickets WHERE severity IS NOT NULL AND status <> 'closed'")
        .await;
    assert_eq!(accounts, 3, "the queue spans every account");
}

async fn other_accounts_invisible_and_missing_incidents_answer_the_same_404(app: TestApp) {
    let tess = app.principal(TESS).await;
    let tess_account = tess.account().unwrap().id;
    let other_account = app
        .count(&format!("SELECT MIN(id) FROM tickets WHERE account_id <> {tess_account} AND severity IS NOT NULL"))
        .await;
    let tess_id = tess.user_id;
    let invisible = app
        .count(&format!(
            "SELECT MIN(t.id) FROM tickets t WHERE t.account_id = {tess_account} AND t.severity IS NOT NULL AND t.opener_id <> {tess_id} \
             AND NOT EXISTS (SELECT 1 FROM ticket_recipients r WHERE r.ticket_id = t.id AND r.user_id = {tess_id})"
        ))
        .await;
    let client = app.sign_in(TESS).await;
    let mut bodies = Vec::new();
    for path in [
        format!("/security/incidents/ATS-{other_account}"),
        format!("/security/incidents/ATS-{invisible}"),
        "/security/incidents/ATS-999999".to_string(),
        "/security/incidents/not-a-number".to_string(),
    ] {
        let (status, body) = app.get_text(&client, &path).await;
        assert_eq!(status, 404, "{path}");
        // Each page masks its form token anew; everything else is the same.
        bodies.push(without_tokens(&body));
    }
    assert!(bodies.iter().all(|b| b == &bodies[0]), "every 404 is the same page");
    assert!(bodies[0].contains("Page not found"));
}

async fn a_visible_incident_shows_its_fields_recipients_and_comments_but_no_internal_notes(app: TestApp) {
    let riley = app.user_id(RILEY).await;
    // A visible incident of Riley's with an internal note on it.
    let id = app
        .count(&format!(
            "SELECT MIN(t.id) FROM tickets t JOIN ticket_recipients r ON r.ticket_id = t.id AND r.user_id = {riley} \
             WHERE t.severity IS NOT NULL AND EXISTS (SELECT 1 FROM comments c WHERE c.ticket_id = t.id AND c.internal = TRUE)"
        ))
        .await;
    app.execute(&format!(
        "UPDATE comments SET body = 'CANARY-INTERNAL-NOTE' WHERE ticket_id = {id} AND internal = TRUE"
    ))
    .await;
    let client = app.sign_in(RILEY).await;
    let (status, html) = app.get_text(&client, &format!("/security/incidents/ATS-{id}")).await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!("ATS-{id}")));
    assert!(html.contains("Riley Chen"), "recipients are listed");
    assert!(html.contains("comment-support"), "support comments are shown, told apart");
    assert!(!html.contains("CANARY-INTERNAL-NOTE"), "internal notes never reach a customer");
    assert!(!html.contains("Internal note"));

    let support = app.sign_in(SAM).await;
    let (status, html) = app.get_text(&support, &format!("/security/incidents/ATS-{id}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("CANARY-INTERNAL-NOTE"), "support staff see internal notes");
}

async fn each_missing_permission_gives_a_403_page_naming_it(app: TestApp) {
    for (email, missing, held) in
        [(BILLIE, "Read Dashboard Statistics", "Read Ticket"), (DANA, "Read Ticket", "Read Dashboard Statistics")]
    {
        let client = app.sign_in(email).await;
        for path in ["/security/incidents", "/security/incidents.csv", "/security/incidents/ATS-100001"] {
            let (status, html) = app.get_text(&client, path).await;
            assert_eq!(status, 403, "{email} {path}");
            let document = scraper::Html::parse_document(&html);
            let named: Vec<String> = document
                .select(&scraper::Selector::parse(".permission-list dt").unwrap())
                .map(|e| e.text().collect())
                .collect();
            assert_eq!(named, vec![missing.to_string()], "{email} is told exactly what is missing, not {held}");
            assert!(html.contains("Contact your account administrator"));
        }
    }
    assert!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'permission_denied'").await >= 6);
}

async fn customers_cannot_open_the_support_queue(app: TestApp) {
    let client = app.sign_in(AVERY).await;
    for path in ["/desk/queue", "/desk/queue.csv"] {
        let (status, html) = app.get_text(&client, path).await;
        assert_eq!(status, 403, "{path}");
        assert!(html.contains("support staff"));
    }
}

async fn a_user_without_open_incidents_is_told_why_the_table_is_empty(app: TestApp) {
    // Riley's incidents all close: Riley may see incidents, but there are none to show.
    let riley = app.user_id(RILEY).await;
    let sam = app.user_id(SAM).await;
    let sql = format!("SELECT ticket_id FROM ticket_visibility WHERE user_id = {riley} AND status <> 'closed'");
    let open: Vec<i64> = app.scalars(&sql).await;
    for id in open {
        let close = [incident_portal::domain::lifecycle::Change::Close];
        app.store.change_ticket(id, sam, None, None, &close, app.clock.now()).await.unwrap();
    }
    let client = app.sign_in(RILEY).await;
    let (status, html) = app.get_text(&client, "/security/incidents").await;
    assert_eq!(status, 200);
    assert!(html.contains("There are no security incidents to display"));
    assert!(html.contains("Armor Support reviews support tickets"));
}

async fn sort_filter_search_paging_and_csv_agree(app: TestApp) {
    let client = app.sign_in(SAM).await;
    let queries = [
        "/desk/queue?sort=created&dir=asc",
        "/desk/queue?severity=Critical&severity=High&sort=summary",
        "/desk/queue?status=requires_attention&sort=number&dir=desc",
        "/desk/queue?q=host&sort=status",
        "/desk/queue?severity=Low&sort=severity&dir=asc",
    ];
    for query in queries {
        let rows = all_rows(&app, &client, query).await;
        assert!(!rows.is_empty(), "{query} has rows in the demo data");
        let csv_path = query.replacen("/desk/queue", "/desk/queue.csv", 1);
        let response = app.get(&client, &csv_path).await;
        assert_eq!(response.status().as_u16(), 200);
        assert!(response.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
        let csv = response.text().await.unwrap();
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let numbers: Vec<String> = reader.records().map(|r| r.unwrap()[0].to_string()).collect();
        let table_numbers: Vec<String> = rows.iter().map(|r| r.number.clone()).collect();
        assert_eq!(numbers, table_numbers, "CSV and table agree for {query}");
    }

    // Filters hold on every row.
    let critical_high = all_rows(&app, &client, "/desk/queue?severity=Critical,High").await;
    assert!(critical_high.iter().all(|r| r.cells[3] == "Critical" || r.cells[3] == "High"));
    let attention = all_rows(&app, &client, "/desk/queue?status=requires_attention").await;
    assert!(attention.iter().all(|r| r.cells[4].starts_with("Requires Attention")));

    // Sorting by number descending is numeric order.
    let by_number = all_rows(&app, &client, "/desk/queue?sort=number&dir=desc").await;
    let ids: Vec<i64> = by_number.iter().map(|r| r.number[4..].parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]));

    // The default order is severity, Critical first, then newest.
    let default = all_rows(&app, &client, "/desk/queue").await;
    let rank = |s: &str| ["Low", "Medium", "High", "Critical"].iter().position(|x| *x == s).unwrap();
    assert!(default.windows(2).all(|w| rank(&w[0].cells[3]) >= rank(&w[1].cells[3])));

    // Filtered subsets add up to the whole.
    let total = default.len();
    let mut sum = 0;
    for severity in ["Critical", "High", "Medium", "Low"] {
        sum += all_rows(&app, &client, &format!("/desk/queue?severity={severity}")).await.len();
    }
    assert_eq!(sum, total);

    // Searching a number finds that incident; searching words finds summaries with all of them.
    let first = &default[0].number;
    let found = all_rows(&app, &client, &format!("/desk/queue?q={first}")).await;
    assert!(found.iter().any(|r| &r.number == first));
    let words = all_rows(&app, &client, "/desk/queue?q=failed%20SSH").await;
    assert!(
        words.iter().all(|r| r.cells[2].to_lowercase().contains("failed") && r.cells[2].to_lowercase().contains("ssh"))
    );

    // The page shows the total and the page size is honoured.
    let (_, html) = app.get_text(&client, "/desk/queue?size=50").await;
    assert!(table_rows(&html).len() <= 50);
    assert!(html.contains(&format!("of {total}")), "the total count is shown");
}

/// Every row of `query` in `scope`, page by page through keyset cursors: forward from the first
/// page, or backward from the last.
async fn walk(app: &TestApp, scope: &TicketScope, query: &ListQuery, forward: bool) -> Vec<i64> {
    let key =
        |row: &TicketRow| CursorKey::of(query.sort, &row.summary, row.severity, row.status, row.created_at, row.id);
    let mut pages: Vec<Vec<i64>> = Vec::new();
    let mut page = query.at(1, if forward { None } else { Some(Cursor::Last) });
    for _ in 0..500 {
        let rows = app.store.list_tickets(scope, &page).await.unwrap().rows;
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else { break };
        let cursor = if forward { Cursor::After(key(last)) } else { Cursor::Before(key(first)) };
        pages.push(rows.iter().map(|r| r.id).collect());
        page = query.at(2, Some(cursor));
    }
    if !forward {
        pages.reverse();
    }
    pages.concat()
}

async fn keyset_pages_forward_and_back_give_the_export_order(app: TestApp) {
    let support = TicketScope::Everything;
    let tess = policy::incident_screen_scope(&app.principal(TESS).await).unwrap();
    let cases = [
        (&support, ListKind::SupportQueue, "sort=created&dir=desc&severity=Critical&severity=High"),
        (&support, ListKind::SupportQueue, "sort=created&dir=asc&severity=Critical&severity=Medium&severity=Low"),
        (&support, ListKind::SupportQueue, "sort=summary&severity=High&severity=Low"),
        (&support, ListKind::SupportQueue, "sort=severity"),
        (&tess, ListKind::SecurityIncidents, "sort=created&dir=desc&severity=Critical&severity=High&severity=Medium"),
        (&tess, ListKind::SecurityIncidents, "sort=status&severity=High&severity=Low"),
        (&tess, ListKind::SecurityIncidents, "sort=number&dir=asc"),
    ];
    for (scope, kind, text) in cases {
        let mut query = ListQuery::from_query_string(kind, text).unwrap();
        query.page_size = 3;
        let export: Vec<i64> = app.store.export_tickets(scope, &query).await.unwrap().iter().map(|r| r.id).collect();
        assert!(export.len() > 3, "{text}: the demo data fills several pages of 3");
        assert_eq!(walk(&app, scope, &query, true).await, export, "{text}: Next from the first page");
        assert_eq!(walk(&app, scope, &query, false).await, export, "{text}: Previous from the last page");
        let offset_pages: Vec<i64> = {
            let mut ids = Vec::new();
            for number in 1.. {
                let rows = app.store.list_tickets(scope, &query.at(number, None)).await.unwrap().rows;
                if rows.is_empty() {
                    break;
                }
                ids.extend(rows.iter().map(|r| r.id));
            }
            ids
        };
        assert_eq!(offset_pages, export, "{text}: numbered pages");
    }
}

async fn bad_query_strings_get_a_400_page_never_a_500(app: TestApp) {
    let client = app.sign_in(TESS).await;
    let long_search = format!("q={}", "x".repeat(10 * 1024));
    let bad = [
        "page=-3",
        "page=0",
        "page=99999999999",
        "size=1000",
        "sort=bogus",
        "dir=sideways",
        "severity=Purple",
        "status=closed",
        "q=%00",
        "q=a&q=b",
        long_search.as_str(),
    ];
    for query in bad {
        let (status, html) = app.get_text(&client, &format!("/security/incidents?{query}")).await;
        assert_eq!(status, 400, "{}", &query[..query.len().min(40)]);
        assert!(html.contains("Bad request"), "a page with a message");
        let (status, _) = app.get_text(&client, &format!("/security/incidents.csv?{query}")).await;
        assert_eq!(status, 400);
    }
    // Bytes that are not UTF-8 are read leniently: a search that finds nothing.
    let (status, _) = app.get_text(&client, "/security/incidents?q=%FF%FE").await;
    assert_eq!(status, 200);
    // A page past the end is an empty page, not an error.
    let (status, html) = app.get_text(&client, "/security/incidents?page=500").await;
    assert_eq!(status, 200);
    assert!(html.contains("past the last one"));
}

async fn dates_show_in_the_users_time_zone_with_utc_on_hover(app: TestApp) {
    let riley = app.user_id(RILEY).await;
    app.execute(&format!(
        "UPDATE tickets SET created_at = '2026-01-01T23:30:00+00:00' WHERE id = (SELECT MIN(ticket_id) FROM ticket_visibility WHERE user_id = {riley} AND severity IS NOT NULL AND status <> 'closed')"
    ))
    .await;
    app.execute(&format!(
        "UPDATE ticket_visibility SET created_at = '2026-01-01T23:30:00+00:00' WHERE ticket_id = (SELECT MIN(ticket_id) FROM ticket_visibility WHERE user_id = {riley} AND severity IS NOT NULL AND status <> 'closed')"
    ))
    .await;
    let client = app.sign_in(RILEY).await;
    let (_, html) = app.get_text(&client, "/security/incidents?sort=created&dir=asc").await;
    assert!(
        html.contains(
            r#"<time datetime="2026-01-01T23:30:00Z" title="2026-01-01 23:30:00 UTC">2026-01-02 08:30 JST</time>"#
        ),
        "Tokyo time"
    );
}

on_both_backends!(
    each_customer_sees_exactly_the_incidents_visible_to_them,
    support_staff_see_every_open_incident_in_the_queue,
    other_accounts_invisible_and_missing_incidents_answer_the_same_404,
    a_visible_incident_shows_its_fields_recipients_and_comments_but_no_internal_notes,
    each_missing_permission_gives_a_403_page_naming_it,
    customers_cannot_open_the_support_queue,
    a_user_without_open_incidents_is_told_why_the_table_is_empty,
    sort_filter_search_paging_and_csv_agree,
    keyset_pages_forward_and_back_give_the_export_order,
    bad_query_strings_get_a_400_page_never_a_500,
    dates_show_in_the_users_time_zone_with_utc_on_hover,
);
