//! The statements every page and API call runs use the index meant for them: a regression shows
//! up here, in CI, without timing anything. (Their speed is the benchmark's business.)

use incident_portal::domain::activity::ActivityWindow;
use incident_portal::domain::listing::{Cursor, CursorKey, ListKind, ListQuery};
use incident_portal::domain::policy;
use incident_portal::store::Planned;

use crate::helpers::*;
use crate::on_both_backends;

/// A plan that reads a whole table, or sorts what an index could have delivered in order.
fn full_scan(plan: &str) -> bool {
    plan.lines().any(|line| line.trim_start().starts_with("SCAN ") || line.contains("Seq Scan"))
}

/// Does the plan name `index` (itself, not a longer name that starts the same)?
fn uses(plan: &str, index: &str) -> bool {
    plan.match_indices(index)
        .any(|(at, _)| !plan[at + index.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
}

fn sorts(plan: &str) -> bool {
    plan.contains("TEMP B-TREE FOR ORDER BY")
        || plan.lines().any(|l| {
            let node = l.trim_start().trim_start_matches("->").trim_start();
            node.starts_with("Sort  (") || node.starts_with("Incremental Sort")
        })
}

/// On SQLite the lists read their visibility rows from the index alone (no row of the table).
const OPEN_INCIDENTS: &str = "USING COVERING INDEX ticket_visibility_open_incidents";
const OPEN_BY_DATE: &str = "USING COVERING INDEX ticket_visibility_open_incidents_created";

async fn the_main_queries_use_their_indexes(app: TestApp) {
    let tess = app.principal(TESS).await;
    let scope = policy::incident_screen_scope(&tess).unwrap();
    let first = ListQuery::new(ListKind::SecurityIncidents);
    let page = app.store.list_tickets(&scope, &first).await.unwrap();
    let last = page.rows.last().expect("Tess has open incidents");
    let mut next = first.clone();
    next.cursor = Some(Cursor::After(CursorKey::of(
        next.sort,
        &last.summary,
        last.severity,
        last.status,
        last.created_at,
        last.id,
    )));
    let newest = ListQuery::from_query_string(
        ListKind::SecurityIncidents,
        "severity=Critical&severity=High&sort=created&dir=desc",
    )
    .unwrap();
    let mut newest_next = newest.clone();
    newest_next.cursor = next.cursor.clone();
    let window = ActivityWindow::ending(app.clock.now(), tess.time_zone);
    let key = app.api_key_for(TESS).await;
    let session = incident_portal::auth::session::new_token();

    // The index each must use: SQLite's name or wording, then PostgreSQL's.
    let ticket = app.fresh_incident().await;
    let cases: [(&str, Planned, [&str; 2], bool); 12] = [
        ("incidents, first page", Planned::List(&first), [OPEN_INCIDENTS, "ticket_visibility_open_incidents"], true),
        ("incidents, next page", Planned::List(&next), [OPEN_INCIDENTS, "ticket_visibility_open_incidents"], true),
        (
            "incidents, newest first",
            Planned::List(&newest),
            [OPEN_BY_DATE, "ticket_visibility_open_incidents_created"],
            true,
        ),
        (
            "incidents, newest first, next page",
            Planned::List(&newest_next),
            [OPEN_BY_DATE, "ticket_visibility_open_incidents_created"],
            true,
        ),
        (
            "incidents, total",
            Planned::Count(&first),
            ["incident_counts USING PRIMARY KEY", "incident_counts_pkey"],
            false,
        ),
        (
            "severity-count API",
            Planned::OpenCounts,
            ["incident_counts USING PRIMARY KEY", "incident_counts_pkey"],
            false,
        ),
        (
            "dashboard figures: counts",
            Planned::Figures(&window),
            ["incident_counts USING PRIMARY KEY", "incident_counts_pkey"],
            false,
        ),
        (
            "dashboard figures: activity",
            Planned::Figures(&window),
            ["a USING PRIMARY KEY (user_id=? AND day", "incident_activity_pkey"],
            false,
        ),
        ("the signed-in user", Planned::Principal(tess.user_id), ["u USING INTEGER PRIMARY KEY", "users_pkey"], false),
        ("an API key", Planned::ApiKey(&key.id), ["(key_id=?)", "api_keys_key_id_key"], false),
        ("a session", Planned::Session(&session), ["sqlite_autoindex_sessions_1", "sessions_pkey"], false),
        ("a ticket's attachments", Planned::Attachments(ticket.id), ["attachments_ticket", "attachments_ticket"], true),
    ];
    let backend = usize::from(app.store.backend_name() != "SQLite");
    for (name, planned, index, ordered) in cases {
        let plan = app.store.query_plan(&scope, planned).await.unwrap();
        let index = index[backend];
        assert!(uses(&plan, index), "{name}: not by {index}:\n{plan}");
        assert!(!full_scan(&plan), "{name}: reads a whole table:\n{plan}");
        if ordered {
            assert!(!sorts(&plan), "{name}: sorts instead of reading the index in order:\n{plan}");
        }
    }
}

on_both_backends!(the_main_queries_use_their_indexes);
