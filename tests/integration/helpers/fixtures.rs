//! Data a test starts from or checks: a fresh incident, a ticket's version and status, what a
//! refused request must leave as it was, and the counters' agreement with the tickets.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::app::TestApp;
use super::sign_in::{BILLIE, RILEY, SAM, TESS};

/// A ticket opened for a test: by Tess, with Riley and Billie as recipients, labelled High, Open.
pub struct Fixture {
    pub id: i64,
    pub number: String,
}

impl TestApp {
    pub async fn fresh_incident(&self) -> Fixture {
        use incident_portal::domain::lifecycle::Change;
        use incident_portal::domain::ticket::{Severity, TicketStatus};
        use incident_portal::store::NewTicket;
        let tess = self.user_id(TESS).await;
        let account_id = self.principal(TESS).await.account().unwrap().id;
        let ticket = NewTicket {
            account_id,
            opener_id: tess,
            created_by: tess,
            summary: "Test fixture: suspicious logins".into(),
            description: "Fixture".into(),
            recipient_ids: vec![self.user_id(RILEY).await, self.user_id(BILLIE).await],
            status: TicketStatus::Open,
            severity: None,
            created_at: self.clock.now(),
            submission_key: None,
            notify_desk: false,
        };
        let id = self.store.insert_ticket(&ticket).await.unwrap();
        let sam = self.user_id(SAM).await;
        self.store
            .change_ticket(id, sam, None, None, &[Change::SetSeverity(Some(Severity::High))], self.clock.now())
            .await
            .unwrap();
        Fixture { id, number: format!("ATS-{id}") }
    }

    /// The first notification delivery, once the sender has made one (within seconds of a change).
    pub async fn first_delivery(&self) -> i64 {
        let started = std::time::Instant::now();
        while self.count("SELECT COUNT(*) FROM notification_deliveries").await == 0 {
            assert!(started.elapsed() < std::time::Duration::from_secs(20), "no notification was fanned out");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        self.count("SELECT MIN(id) FROM notification_deliveries").await
    }

    pub async fn ticket_version(&self, id: i64) -> i64 {
        self.count(&format!("SELECT version FROM tickets WHERE id = {id}")).await
    }

    pub async fn ticket_status(&self, id: i64) -> String {
        self.scalar(&format!("SELECT status FROM tickets WHERE id = {id}")).await
    }

    /// Everything a refused request must leave as it was (the audit log may grow: refusals are
    /// logged).
    pub async fn snapshot(&self) -> Vec<i64> {
        let mut values = Vec::new();
        for sql in [
            "SELECT COUNT(*) FROM tickets",
            "SELECT COUNT(*) FROM comments",
            "SELECT COUNT(*) FROM ticket_events",
            "SELECT COUNT(*) FROM ticket_recipients",
            "SELECT COUNT(*) FROM ticket_visibility",
            "SELECT COUNT(*) FROM accounts",
            "SELECT COUNT(*) FROM users",
            "SELECT COUNT(*) FROM password_tokens",
            "SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) FROM tickets",
            "SELECT COUNT(*) FROM tickets WHERE closure_requested_at IS NOT NULL",
            "SELECT COUNT(*) FROM tickets WHERE status = 'closed'",
            "SELECT COUNT(*) FROM attachments",
            "SELECT COUNT(*) FROM blobs",
        ] {
            values.push(self.count(sql).await);
        }
        values
    }

    /// The per-user counters equal what `ticket_visibility` says, after whatever the test did.
    pub async fn assert_counters_consistent(&self) {
        let counted =
            "SELECT user_id, CAST(severity AS BIGINT), status, n FROM incident_counts WHERE n <> 0 ORDER BY 1, 2, 3";
        let actual = "SELECT user_id, CAST(severity AS BIGINT), status, COUNT(*) FROM ticket_visibility \
                      WHERE severity IS NOT NULL AND status <> 'closed' GROUP BY user_id, severity, status ORDER BY 1, 2, 3";
        // Users without an activity zone have no rows to keep up to date (theirs are built on
        // their next dashboard).
        let rows = "SELECT v.user_id, u.activity_zone, v.created_at, v.closed_at FROM ticket_visibility v \
                    JOIN users u ON u.id = v.user_id WHERE v.severity IS NOT NULL AND u.activity_zone IS NOT NULL";
        let activity = "SELECT user_id, day, opened, closed FROM incident_activity WHERE opened <> 0 OR closed <> 0";
        type Times = Vec<(i64, String, DateTime<Utc>, Option<DateTime<Utc>>)>;
        type Counts = Vec<(i64, i64, String, i64)>;
        type Activity = Vec<(i64, i64, i64, i64)>;
        let (counted, actual): (Counts, Counts) = (self.rows(counted).await, self.rows(actual).await);
        let (rows, activity): (Times, Activity) = (self.rows(rows).await, self.rows(activity).await);
        assert_eq!(counted, actual, "incident_counts follow ticket_visibility");
        let mut expected = BTreeMap::<(i64, i64), (i64, i64)>::new();
        for (user, zone, created, closed) in rows {
            let zone: chrono_tz::Tz = zone.parse().unwrap();
            let day = |at: DateTime<Utc>| i64::from(at.with_timezone(&zone).date_naive().to_epoch_days());
            expected.entry((user, day(created))).or_default().0 += 1;
            if let Some(closed) = closed {
                expected.entry((user, day(closed))).or_default().1 += 1;
            }
        }
        let stored: BTreeMap<(i64, i64), (i64, i64)> =
            activity.into_iter().map(|(user, day, opened, closed)| ((user, day), (opened, closed))).collect();
        assert_eq!(stored, expected, "incident_activity follows ticket_visibility");
    }
}
