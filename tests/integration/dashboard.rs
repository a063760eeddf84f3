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
    app.clock.advance(chrono::Duration::minutes(20));
    let background =
        client.get(app.url("/security/dashboard/panel")).header("x-background-refresh", "1").send().await.unwrap();
    assert_eq!(background.status().as_u16(), 200);
    app.clock.advance(chrono::Duration::minutes(15));
    let response = app.get(&client, "/security/dashboard").await;
    assert_eq!(response.status().as_u16(), 303, "an open dashboard does not keep an idle session alive");
}

on_both_backends!(
    tiles_and_panel_match_the_incident_table,
    the_dashboard_needs_read_dashboard_statistics_and_its_rows_read_ticket,
    the_panel_fragment_refreshes_without_counting_as_activity,
);
