//! The Security Dashboard over HTTP: tiles and panel agree with the table, permissions, the
//! fragment the page refreshes from.

use crate::helpers::*;
use crate::on_both_backends;

fn tiles(html: &str) -> Vec<(String, i64)> {
    let document = scraper::Html::parse_document(html);
    let tile = scraper::Selector::parse(".tile").unwrap();
    let count = scraper::Selector::parse(".tile-count").unwrap();
    let label = scraper::Selector::parse(".tile-label").unwrap();
    document
        .select(&tile)
        .map(|t| {
            let n: i64 = t.select(&count).next().unwrap().text().collect::<String>().trim().parse().unwrap();
            (t.select(&label).next().unwrap().text().collect::<String>(), n)
        })
        .collect()
}

fn critical_numbers(html: &str) -> Vec<String> {
    let document = scraper::Html::parse_document(html);
    let selector = scraper::Selector::parse(".critical-list .critical-number").unwrap();
    document.select(&selector).map(|a| a.text().collect()).collect()
}

async fn tiles_and_panel_match_the_incident_table(app: TestApp) {
    let client = app.sign_in(TESS).await;
    let (status, html) = app.get_text(&client, "/security/dashboard").await;
    assert_eq!(status, 200);
    for (label, count) in tiles(&html) {
        let query = match label.as_str() {
            "Require Attention" => "status=requires_attention".to_string(),
            severity => format!("severity={severity}"),
        };
        let (_, table) = app.get_text(&client, &format!("/security/incidents?{query}&size=100")).await;
        assert_eq!(count as usize, table_rows(&table).len(), "{label}");
        assert!(
            html.contains(&format!("href=\"/security/incidents?{query}\"")),
            "the {label} tile links to its filter"
        );
    }
    let (_, critical) = app.get_text(&client, "/security/incidents?severity=Critical&sort=created&dir=desc").await;
    let expected: Vec<String> = table_rows(&critical).into_iter().take(10).map(|r| r.number).collect();
    assert!(!expected.is_empty());
    assert_eq!(critical_numbers(&html), expected);
    assert!(
        html.contains("<svg") && html.contains("<desc id=\"activity-chart-desc\">"),
        "charts with text alternatives"
    );
    assert!(html.contains("The numbers as a table"));
}

async fn the_dashboard_needs_read_dashboard_statistics_and_its_rows_read_ticket(app: TestApp) {
    let dana = app.sign_in(DANA).await;
    let (status, html) = app.get_text(&dana, "/security/dashboard").await;
    assert_eq!(status, 200);
    assert!(critical_numbers(&html).is_empty());
    assert!(html.contains("needs the Read Ticket permission"));
    assert!(!html.contains("href=\"/security/incidents?severity="), "no links into a table Dana cannot open");

    let billie = app.sign_in(BILLIE).await;
    let (status, html) = app.get_text(&billie, "/security/dashboard").await;
    assert_eq!(status, 403);
    assert!(html.contains("Read Dashboard Statistics"));
    assert_eq!(app.get(&billie, "/security/dashboard/panel").await.status().as_u16(), 403);

    let sam = app.sign_in(SAM).await;
    let (status, html) = app.get_text(&sam, "/security/dashboard").await;
    assert_eq!(status, 200);
    let critical = app.count("SELECT COUNT(*) FROM tickets WHERE severity = 4 AND status <> 'closed'").await;
    assert!(tiles(&html).contains(&("Critical".to_string(), critical)), "support staff count every account");
}

async fn the_panel_fragment_refreshes_without_counting_as_activity(app: TestApp) {
    let client = app.sign_in(TESS).await;
    let (status, fragment) = app.get_text(&client, "/security/dashboard/panel").await;
    assert_eq!(status, 200);
    assert!(fragment.trim_start().starts_with("<div class=\"dashboard-panel\""), "only the panel");
    assert!(!fragment.contains("<html"));
    // The charts come with the tiles, so that a refreshed page never shows two different counts.
    for (label, count) in tiles(&fragment).into_iter().filter(|(label, _)| label != "Require Attention") {
        assert!(fragment.contains(&format!("{label}: {count}")), "the severity chart counts {count} {label}");
    }
    assert!(fragment.contains("<desc id=\"activity-chart-desc\">"), "the activity chart refreshes too");
    app.clock.advance(chrono::Duration::minutes(20));
    let background =
        client.get(app.url("/security/dashboard/panel")).header("x-background-refresh", "1").send().await.unwrap();
    assert_eq!(background.status().as_u16(), 200);
    app.clock.advance(chrono::Duration::minutes(15));
    let response = app.get(&client, "/security/dashboard").await;
    assert_eq!(response.status().as_u16(), 303, "an open dashboard does not keep an idle session alive");
}

async fn times(app: &TestApp, sql: &str) -> Vec<chrono::DateTime<chrono::Utc>> {
    app.scalars(sql).await
}

/// The chart's table of (day, opened, closed) rows.
fn activity_table(html: &str) -> Vec<(String, i64, i64)> {
    let document = scraper::Html::parse_document(html);
    let row = scraper::Selector::parse("details table tbody tr").unwrap();
    let cell = scraper::Selector::parse("td").unwrap();
    document
        .select(&row)
        .map(|r| {
            let cells: Vec<String> = r.select(&cell).map(|c| c.text().collect()).collect();
            (cells[0].clone(), cells[1].parse().unwrap(), cells[2].parse().unwrap())
        })
        .collect()
}

/// The dashboard's chart of `email` shows, for each of its 30 days, the incidents in `scope`
/// opened and closed on that day of `zone`.
async fn assert_chart_matches(app: &TestApp, client: &reqwest::Client, email: &str, scope: &str, zone: chrono_tz::Tz) {
    let (_, html) = app.get_text(client, "/security/dashboard").await;
    let table = activity_table(&html);
    assert_eq!(table.len(), 30);
    let per_day = |times: &[chrono::DateTime<chrono::Utc>], day: &str| {
        times.iter().filter(|t| t.with_timezone(&zone).format("%Y-%m-%d").to_string() == day).count() as i64
    };
    let created = times(app, &format!("SELECT created_at {scope}")).await;
    let closed = times(app, &format!("SELECT closed_at {scope} AND closed_at IS NOT NULL")).await;
    let mut any = false;
    for (day, opened, closed_count) in &table {
        assert_eq!(*opened, per_day(&created, day), "{email} in {zone}: opened on {day}");
        assert_eq!(*closed_count, per_day(&closed, day), "{email} in {zone}: closed on {day}");
        any |= *opened > 0 || *closed_count > 0;
    }
    assert!(any, "{email}: the demo data has activity since {}", table[0].0);
}

async fn the_activity_chart_counts_incidents_opened_and_closed_per_day(app: TestApp) {
    app.execute("UPDATE users SET time_zone = 'UTC' WHERE email = 'tess.tech@northwind.example'").await;
    let tess = app.user_id(TESS).await;
    let visible = format!("FROM ticket_visibility WHERE user_id = {tess} AND severity IS NOT NULL");
    for (email, scope) in [(TESS, visible.as_str()), (SAM, "FROM tickets WHERE severity IS NOT NULL")] {
        let client = app.sign_in(email).await;
        assert_chart_matches(&app, &client, email, scope, chrono_tz::UTC).await;
    }

    // A customer's days are their own: after a change of zone (half an hour off UTC here) the
    // chart is rebuilt in it, and later changes land on the right local day.
    let client = app.sign_in(TESS).await;
    app.execute("UPDATE users SET time_zone = 'Asia/Kolkata' WHERE email = 'tess.tech@northwind.example'").await;
    assert_chart_matches(&app, &client, TESS, &visible, chrono_tz::Asia::Kolkata).await;
    let fixture = app.fresh_incident().await;
    let sam = app.user_id(SAM).await;
    app.store
        .change_ticket(
            fixture.id,
            sam,
            None,
            None,
            &[incident_portal::domain::lifecycle::Change::Close],
            app.clock.now(),
        )
        .await
        .unwrap();
    assert_chart_matches(&app, &client, TESS, &visible, chrono_tz::Asia::Kolkata).await;
    app.assert_counters_consistent().await;
}

on_both_backends!(
    the_activity_chart_counts_incidents_opened_and_closed_per_day,
    tiles_and_panel_match_the_incident_table,
    the_dashboard_needs_read_dashboard_statistics_and_its_rows_read_ticket,
    the_panel_fragment_refreshes_without_counting_as_activity,
);
