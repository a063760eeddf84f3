//! Notification mails, received by a real SMTP server (aiosmtpd): who is told what, what a mail
//! may carry, threading and unsubscribing, and delivery through outages and several instances.

use std::collections::BTreeMap;
use std::time::Duration;

use incident_portal::domain::lifecycle::Change;
use incident_portal::domain::ticket::{Severity, TicketStatus};
use incident_portal::settings::{MailSettings, Settings};
use incident_portal::store::NewTicket;

use crate::helpers::*;

pub(crate) const DESK: &str = "desk@support.example";

pub(crate) fn with_mail(settings: &mut Settings, url: String) {
    settings.mail = MailSettings {
        smtp_url: Some(secrecy::SecretString::from(url)),
        from: Some("Incident Portal <portal@portal.example>".parse().unwrap()),
        desk: Some(DESK.parse().unwrap()),
    };
}

/// Runs each `async fn name(app: TestApp, sink: SmtpSink)` on both databases with mail on (the
/// calling module has `with_mail` in scope).
macro_rules! with_mail_on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    if crate::helpers::through_pgbouncer() {
                        return;
                    }
                    let Some(sink) = crate::helpers::SmtpSink::start().await else { return };
                    let url = sink.url();
                    let app = crate::helpers::spawn_app_configured(crate::helpers::Backend::Sqlite, move |s| {
                        super::with_mail(s, url)
                    })
                    .await
                    .expect("SQLite always works");
                    super::$name(app, sink).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(sink) = crate::helpers::SmtpSink::start().await else { return };
                    let url = sink.url();
                    let configured = crate::helpers::spawn_app_configured(crate::helpers::Backend::Postgres, move |s| {
                        super::with_mail(s, url)
                    });
                    if let Some(app) = configured.await {
                        super::$name(app, sink).await;
                    }
                }
            )*
        }
    };
}

pub(crate) use with_mail_on_both_backends;

pub(crate) async fn comment(app: &TestApp, client: &reqwest::Client, number: &str, fields: &[(&str, &str)]) {
    let token = app.csrf_token(client, "/account/profile").await;
    let mut form = vec![("csrf_token", token.as_str())];
    form.extend_from_slice(fields);
    let response = app.post_form(client, &format!("/support/tickets/{number}/comments"), &form).await;
    assert_eq!(response.status().as_u16(), 303, "the comment is stored");
}

pub(crate) fn recipients(mails: &[Received]) -> Vec<String> {
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    to
}

/// Mails arrive for a while after a change; a check that nothing more came waits this long.
pub(crate) async fn quiet() {
    tokio::time::sleep(Duration::from_millis(2500)).await;
}

async fn everyone_on_the_ticket_hears_of_support_but_not_of_their_own_nor_of_internal_notes(
    app: TestApp,
    sink: SmtpSink,
) {
    let ticket = app.fresh_incident().await;
    // Labelled High by support: the opener and both recipients (all hold Read Ticket).
    let labelled = sink.wait_for(3).await;
    assert_eq!(recipients(&labelled), vec![BILLIE, RILEY, TESS]);
    for mail in &labelled {
        assert!(mail.subject.starts_with(&format!("[{}] [High] Test fixture: suspicious logins", ticket.number)));
        assert!(mail.text.contains("labelled this a High security incident"), "{}", mail.text);
        assert!(mail.text.contains(&format!("/support/tickets/{}", ticket.number)), "a link to the ticket");
    }

    let sam = app.sign_in(SAM).await;
    let canary = "CANARY-internal-9f2c";
    comment(&app, &sam, &ticket.number, &[("body", canary), ("internal", "on")]).await;
    comment(&app, &sam, &ticket.number, &[("body", "Please rotate the VPN credentials.")]).await;
    let mails = sink.wait_for(6).await;
    quiet().await;
    let mails_after = sink.received();
    assert_eq!(mails_after.len(), 6, "one reply, three readers; nothing for the internal note");
    let replies = &mails_after[3..];
    assert_eq!(recipients(replies), vec![BILLIE, RILEY, TESS]);
    for mail in &mails {
        assert!(!mail.raw.contains(canary) && !mail.text.contains(canary), "an internal note leaked");
    }
    for mail in replies {
        assert!(mail.text.contains("Please rotate the VPN credentials."), "{}", mail.text);
        assert!(mail.html.contains("Please rotate the VPN credentials.") && mail.html.contains("View Request"));
        assert!(mail.subject.ends_with("Armor Support replied"), "{}", mail.subject);
        assert_eq!(mail.header("Auto-Submitted").as_deref(), Some("auto-generated"));
        assert_eq!(mail.header("List-Unsubscribe-Post").as_deref(), Some("List-Unsubscribe=One-Click"));
        assert!(mail.header("List-Unsubscribe").is_some_and(|l| l.contains("/notifications/unsubscribe?token=")));
        // Threaded under the ticket's first mail.
        assert_eq!(mail.in_reply_to.as_deref(), Some(labelled[0].message_id.as_str()));
        assert_eq!(mail.references.as_deref(), Some(labelled[0].message_id.as_str()));
    }

    // Tess replies: the desk is told; Tess is not told of her own reply, nor the others of it.
    let tess = app.sign_in(TESS).await;
    comment(&app, &tess, &ticket.number, &[("body", "Done, all rotated.")]).await;
    let mails = sink.wait_for(7).await;
    quiet().await;
    assert_eq!(sink.received().len(), 7);
    let desk = &mails[6];
    assert_eq!(desk.to, vec![DESK.to_string()]);
    assert!(
        desk.text.contains("Done, all rotated.") && desk.subject.contains("Tess Okafor replied"),
        "{}",
        desk.subject
    );
}

async fn a_summary_cannot_inject_headers_and_other_accounts_see_nothing(app: TestApp, sink: SmtpSink) {
    let tess = app.user_id(TESS).await;
    let account_id = app.principal(TESS).await.account().unwrap().id;
    let ticket = NewTicket {
        account_id,
        opener_id: tess,
        created_by: tess,
        summary: "Evil\r\nBcc: attacker@evil.example\r\n\r\nInjected body".into(),
        description: String::new(),
        recipient_ids: Vec::new(),
        status: TicketStatus::Open,
        severity: None,
        created_at: app.clock.now(),
        submission_key: None,
        notify_desk: false,
    };
    let id = app.store.insert_ticket(&ticket).await.unwrap();
    let sam = app.user_id(SAM).await;
    app.store
        .change_ticket(id, sam, None, None, &[Change::SetSeverity(Some(Severity::Critical))], app.clock.now())
        .await
        .unwrap();
    let mails = sink.wait_for(1).await;
    quiet().await;
    let mails = if mails.len() == sink.received().len() { mails } else { sink.received() };
    assert_eq!(recipients(&mails), vec![TESS], "only the opener is on the ticket");
    let mail = &mails[0];
    let raw = mail.raw.replace("\r\n", "\n");
    let headers = raw.split("\n\n").next().unwrap_or_default().to_lowercase();
    assert!(!headers.lines().any(|l| l.starts_with("bcc:")), "{headers}");
    assert!(!mail.subject.contains(['\r', '\n']), "{:?}", mail.subject);
    // A Critical label is always sent, and offers no unsubscribing.
    assert!(mail.header("List-Unsubscribe").is_none());
    for other in [CASEY, "cameron.tech@contoso.example", RILEY] {
        assert!(!mails.iter().any(|m| m.is_to(other)), "{other} was told");
    }
}

async fn the_unsubscribe_link_works_once_without_signing_in_and_refuses_forgeries(app: TestApp, sink: SmtpSink) {
    let ticket = app.fresh_incident().await;
    sink.wait_for(3).await;
    let sam = app.sign_in(SAM).await;
    comment(&app, &sam, &ticket.number, &[("body", "First reply")]).await;
    let mails = sink.wait_for(6).await;
    let to_riley = mails[3..].iter().find(|m| m.is_to(RILEY)).expect("Riley's copy");
    let link = to_riley.header("List-Unsubscribe").unwrap();
    let link = link.trim_matches(['<', '>']).to_string();
    let path = link
        .split_once("127.0.0.1")
        .map(|(_, rest)| rest.split_once('/').map(|(_, p)| format!("/{p}")).unwrap())
        .unwrap();

    // A link checker's GET changes nothing; the page says what the button turns off.
    let visitor = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = visitor.get(app.url(&path)).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("Armor Support replies"));
    let forged = path.replacen("token=", "token=1", 1);
    let one_click = |p: &str| {
        visitor
            .post(app.url(p))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
    };
    assert_eq!(one_click(&forged).await.unwrap().status().as_u16(), 400, "a forged link");
    assert_eq!(one_click(&path).await.unwrap().status().as_u16(), 200, "one click, no sign-in");
    assert_eq!(one_click(&path).await.unwrap().status().as_u16(), 410, "it works once");
    let riley = app.user_id(RILEY).await;
    let muted: String =
        app.scalar(&format!("SELECT muted_kinds FROM notification_preferences WHERE user_id = {riley}")).await;
    assert_eq!(muted, "support_comment");

    // Riley no longer hears of replies; the others still do, and every closure reaches all.
    comment(&app, &sam, &ticket.number, &[("body", "Second reply")]).await;
    let mails = sink.wait_for(8).await;
    quiet().await;
    assert_eq!(recipients(&sink.received()[6..]), vec![BILLIE, TESS]);
    assert_eq!(mails.len(), 8);

    // An expired link is refused.
    let to_tess = mails[6..].iter().find(|m| m.is_to(TESS)).unwrap();
    let expired = to_tess.header("List-Unsubscribe").unwrap();
    let expired =
        expired.trim_matches(['<', '>']).split_once("127.0.0.1").unwrap().1.split_once('/').unwrap().1.to_string();
    app.clock.advance(chrono::Duration::days(61));
    assert_eq!(one_click(&format!("/{expired}")).await.unwrap().status().as_u16(), 410, "an expired link");
}

async fn while_the_relay_is_down_changes_succeed_and_each_mail_arrives_once_after(app: TestApp, mut sink: SmtpSink) {
    let ticket = app.fresh_incident().await;
    sink.wait_for(3).await;
    sink.stop();
    let sam = app.sign_in(SAM).await;
    let started = std::time::Instant::now();
    comment(&app, &sam, &ticket.number, &[("body", "Sent while the relay is down")]).await;
    assert!(started.elapsed() < Duration::from_secs(2), "the change does not wait for mail");
    // The sender tries, fails, and schedules a retry.
    let retried = "SELECT COUNT(*) FROM notification_deliveries WHERE state = 'pending' AND attempts >= 1 AND last_error IS NOT NULL";
    let waited = std::time::Instant::now();
    while app.count(retried).await < 3 {
        assert!(waited.elapsed() < Duration::from_secs(20), "the failed attempts were recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sink.resume().await;
    app.clock.advance(chrono::Duration::minutes(2));
    let mails = sink.wait_for(6).await;
    quiet().await;
    assert_eq!(sink.received().len(), 6, "each mail once");
    assert_eq!(recipients(&mails[3..]), vec![BILLIE, RILEY, TESS]);
    assert_eq!(app.count("SELECT COUNT(*) FROM notification_deliveries WHERE state = 'sent'").await, 6);
}

async fn two_instances_sending_from_one_outbox_send_each_mail_once(app: TestApp, sink: SmtpSink) {
    let url = sink.url();
    let _other = app.another_instance_configured(move |s| with_mail(s, url)).await;
    let ticket = app.fresh_incident().await;
    let sam = app.sign_in(SAM).await;
    for n in 0..10 {
        comment(&app, &sam, &ticket.number, &[("body", &format!("Reply number {n}"))]).await;
    }
    sink.wait_for(33).await;
    quiet().await;
    let mails = sink.received();
    assert_eq!(mails.len(), 33, "3 for the label and 3 for each of 10 replies, none twice");
    let mut copies: BTreeMap<(String, String), usize> = BTreeMap::new();
    for mail in &mails {
        *copies.entry((mail.message_id.clone(), mail.to.join(","))).or_default() += 1;
    }
    assert!(copies.values().all(|n| *n == 1), "{copies:?}");
}

async fn with_mail_off_notifications_are_recorded_not_lost(app: TestApp) {
    let ticket = app.fresh_incident().await;
    let sam = app.sign_in(SAM).await;
    comment(&app, &sam, &ticket.number, &[("body", "Recorded, not sent")]).await;
    let recorded = "SELECT COUNT(*) FROM notification_deliveries WHERE state = 'recorded'";
    let waited = std::time::Instant::now();
    while app.count(recorded).await < 6 {
        assert!(waited.elapsed() < Duration::from_secs(20), "recorded: {}", app.count(recorded).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let subjects: Vec<String> =
        app.strings("SELECT subject FROM notification_deliveries WHERE state = 'recorded' ORDER BY id").await;
    assert!(subjects.iter().any(|s| s.ends_with("Armor Support replied")), "{subjects:?}");
}

/// Settled notifications are forgotten after a while; pending ones never are.
async fn old_settled_notifications_are_purged_but_pending_ones_kept(app: TestApp) {
    let ticket = app.fresh_incident().await;
    let settled = "SELECT COUNT(*) FROM notification_deliveries WHERE state = 'recorded'";
    let waited = std::time::Instant::now();
    while app.count(settled).await < 3 {
        assert!(waited.elapsed() < Duration::from_secs(20), "the label's notices were recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let event = app.count("SELECT MIN(id) FROM notification_events").await;
    app.execute(&format!(
        "INSERT INTO notification_deliveries (event_id, channel, user_id, state, due_at, created_at) \
         SELECT {event}, 'mail', opener_id, 'pending', '2999-01-01T00:00:00Z', created_at FROM tickets WHERE id = {}",
        ticket.id
    ))
    .await;
    let later = app.clock.now() + chrono::Duration::days(31);
    app.store.purge_notifications(later).await.unwrap();
    assert_eq!(app.count(settled).await, 0, "settled deliveries are gone");
    assert_eq!(app.count("SELECT COUNT(*) FROM notification_deliveries WHERE state = 'pending'").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM notification_events").await, 1, "the pending one's event stays");
}

with_mail_on_both_backends!(
    everyone_on_the_ticket_hears_of_support_but_not_of_their_own_nor_of_internal_notes,
    a_summary_cannot_inject_headers_and_other_accounts_see_nothing,
    the_unsubscribe_link_works_once_without_signing_in_and_refuses_forgeries,
    while_the_relay_is_down_changes_succeed_and_each_mail_arrives_once_after,
    two_instances_sending_from_one_outbox_send_each_mail_once,
);

mod mail_off {
    crate::on_both_backends!(
        with_mail_off_notifications_are_recorded_not_lost,
        old_settled_notifications_are_purged_but_pending_ones_kept
    );
    use super::{
        old_settled_notifications_are_purged_but_pending_ones_kept, with_mail_off_notifications_are_recorded_not_lost,
    };
}
