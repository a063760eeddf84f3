//! The table state ↔ query string, tested directly.

use super::*;
use chrono::SubsecRound;
use chrono::Utc;

fn parse(qs: &str) -> Result<ListQuery, QueryError> {
    ListQuery::from_query_string(ListKind::SecurityIncidents, qs)
}

fn parse_queue(qs: &str) -> Result<ListQuery, QueryError> {
    ListQuery::from_query_string(ListKind::SupportQueue, qs)
}

#[test]
fn an_empty_query_is_the_default_view() {
    let defaults = ListQuery::new(ListKind::SecurityIncidents);
    assert_eq!(parse("").unwrap(), defaults);
    assert_eq!(defaults.to_query_string(), "");
    assert_eq!((defaults.sort, defaults.dir), (SortKey::Severity, SortDir::Desc));
    let tickets = ListQuery::new(ListKind::MyTickets);
    assert_eq!((tickets.sort, tickets.dir), (SortKey::Created, SortDir::Desc));
}

#[test]
fn my_tickets_may_be_filtered_to_closed_ones() {
    let q = ListQuery::from_query_string(ListKind::MyTickets, "status=closed").unwrap();
    assert_eq!(q.statuses, vec![TicketStatus::Closed]);
    assert_eq!(q.effective_labelled(), Labelled::Any);
    assert_eq!(ListQuery::from_query_string(ListKind::MyTickets, "").unwrap().effective_statuses(), &TicketStatus::ALL);
}

#[test]
fn the_support_queue_filters_by_label_and_closure_request() {
    let q = parse_queue("labelled=no&closure=requested&account=100234").unwrap();
    assert_eq!((q.labelled, q.closure_requested, q.account), (Labelled::No, true, Some(100234)));
    assert_eq!(parse_queue(&q.to_query_string()).unwrap(), q);
    assert!(parse_queue("labelled=maybe").is_err());
    assert!(parse_queue("account=x").is_err());
    assert!(parse_queue("closure=perhaps").is_err());
    // Customers' tables ignore the support queue's filters.
    let q = parse("labelled=no&account=5&closure=requested").unwrap();
    assert_eq!((q.labelled, q.account, q.closure_requested), (Labelled::Yes, None, false));
}

#[test]
fn severities_accept_repeated_keys_and_commas() {
    let q = parse("severity=low&severity=Critical,High&severity=").unwrap();
    assert_eq!(q.severities, vec![Severity::Critical, Severity::High, Severity::Low]);
}

#[test]
fn both_statuses_mean_no_status_filter() {
    assert!(parse("status=open&status=requires_attention").unwrap().statuses.is_empty());
    assert_eq!(parse("status=Requires%20Attention").unwrap().statuses, vec![TicketStatus::RequiresAttention]);
}

#[test]
fn closed_is_not_a_status_of_this_screen() {
    assert!(parse("status=closed").is_err());
}

#[test]
fn bad_values_are_refused_with_a_message() {
    for qs in ["page=-3", "page=0", "page=abc", "size=7", "sort=bogus", "dir=up", "severity=Purple", "q=%01"] {
        let err = parse(qs).unwrap_err();
        assert!(!err.0.is_empty(), "{qs}");
    }
    let huge = format!("q={}", "a".repeat(10_000));
    assert!(parse(&huge).unwrap_err().0.contains("too long"));
}

#[test]
fn echoed_bad_values_are_truncated() {
    let err = parse(&format!("sort={}", "x".repeat(5_000))).unwrap_err();
    assert!(err.0.len() < 200);
}

#[test]
fn a_search_for_a_number_also_matches_tickets_by_number() {
    let q = parse("q=ATS-105").unwrap();
    let search = q.search.unwrap();
    assert_eq!(search.number, Some(TicketNumber::from_id(105)));
    let q = parse("q=%20Brute%20%20force%20").unwrap();
    let search = q.search.unwrap();
    assert_eq!(search.words, vec!["brute", "force"]);
    assert_eq!(search.number, None);
}

#[test]
fn the_query_string_round_trips() {
    let q = parse("severity=High&status=open&q=tls&sort=created&dir=asc&size=50&page=3").unwrap();
    assert_eq!(parse(&q.to_query_string()).unwrap(), q);
}

#[test]
fn cursors_round_trip_through_the_query_string() {
    let key = CursorKey::of(
        SortKey::Summary,
        "Port Scan ~ 100%",
        Some(Severity::High),
        TicketStatus::Open,
        Utc::now(),
        100_042,
    );
    let q = ListQuery::new(ListKind::SecurityIncidents).at(7, Some(Cursor::After(key.clone())));
    let parsed = parse(&q.to_query_string()).unwrap();
    assert_eq!(parsed.cursor, Some(Cursor::After(CursorKey { created_at: key.created_at.trunc_subsecs(6), ..key })));
    assert_eq!(parsed.page, 7);
    assert!(parse("after=garbage").is_err());
    assert!(parse("after=YQ~1~2&before=YQ~1~2").is_err());
    assert!(parse("last=2").is_err());
    assert_eq!(parse("last=1").unwrap().cursor, Some(Cursor::Last));
}

#[test]
fn clicking_a_column_flips_it_or_starts_it_in_its_natural_direction() {
    let q = ListQuery::new(ListKind::SecurityIncidents).at(4, None);
    let by_severity = q.sorted_by(SortKey::Severity);
    assert_eq!((by_severity.sort, by_severity.dir, by_severity.page), (SortKey::Severity, SortDir::Asc, 1));
    let by_summary = q.sorted_by(SortKey::Summary);
    assert_eq!((by_summary.sort, by_summary.dir), (SortKey::Summary, SortDir::Asc));
}
