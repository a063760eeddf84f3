//! What users choose to hear of, proven with mails a real SMTP server receives: kinds turned off,
//! a severity threshold, a muted ticket, the daily digest and staff's own choices; and the pages
//! where they choose (My profile › Notifications, a ticket's toggle) and where support
//! administrators read what was sent (Desk › Notifications).

use chrono::{Duration, Timelike};
use incident_portal::domain::lifecycle::Change;
use incident_portal::domain::ticket::{Severity, TicketStatus};
use incident_portal::store::{CommentInput, NewTicket};

use crate::helpers::*;
use crate::notifications::{DESK, comment, quiet, recipients, with_mail, with_mail_on_both_backends};

const NOTIFICATIONS: &str = "/account/profile/notifications";
const EVERY_CUSTOMER_KIND: [&str; 7] =
    ["labelled", "severity_changed", "requires_attention", "support_comment", "closure_declined", "closed", "reopened"];

/// Saves My profile › Notifications as `client`'s user: the kinds ticked, a threshold (a severity's
/// slug or ""), "immediate" or "digest", and the digest's hour.
async fn choose(
    app: &TestApp,
    client: &reqwest::Client,
    kinds: &[&str],
    threshold: &str,
    delivery: &str,
    hour: &str,
) -> reqwest::Response {
    let token = app.csrf_token(client, NOTIFICATIONS).await;
    let mut form = vec![("csrf_token", token.as_str())];
    form.extend(kinds.iter().map(|k| ("kind", *k)));
    form.extend([("threshold", threshold), ("delivery", delivery), ("digest_hour", hour)]);
    app.post_form(client, NOTIFICATIONS, &form).await
}

async fn chosen(app: &TestApp, client: &reqwest::Client, kinds: &[&str], threshold: &str, delivery: &str, hour: &str) {
    let response = choose(app, client, kinds, threshold, delivery, hour).await;
    assert_eq!(response.status().as_u16(), 303, "the choice is saved");
    assert_eq!(location(&response), NOTIFICATIONS);
}

/// "Don't notify me" (`off`) or "Notify me" (`on`) on a ticket's page.
async fn toggle(app: &TestApp, client: &reqwest::Client, number: &str, notify: &str) -> reqwest::Response {
    let token = app.csrf_token(client, "/account/profile").await;
    let path = format!("/support/tickets/{number}/notifications");
    app.post_form(client, &path, &[("csrf_token", &token), ("notify", notify)]).await
}

async fn set_severity(app: &TestApp, ticket: &Fixture, severity: Severity) {
    let sam = app.user_id(SAM).await;
    let change = [Change::SetSeverity(Some(severity))];
    app.store.change_ticket(ticket.id, sam, None, None, &change, app.clock.now()).await.unwrap();
}

async fn close(app: &TestApp, ticket: &Fixture) {
    let sam = app.user_id(SAM).await;
    let resolution = CommentInput { body: "Resolved: verified clean.".into(), internal: false, submission_key: None };
    app.store.change_ticket(ticket.id, sam, None, Some(&resolution), &[Change::Close], app.clock.now()).await.unwrap();
}

/// The mails that came after the first `seen`, once no more arrive.
async fn after(sink: &SmtpSink, seen: usize, expected: usize) -> Vec<Received> {
    sink.wait_for(seen + expected).await;
    quiet().await;
    let mails = sink.received();
    assert_eq!(
        mails.len(),
        seen + expected,
        "{:#?}",
        mails[seen..].iter().map(|m| (&m.to, &m.subject)).collect::<Vec<_>>()
    );
    mails[seen..].to_vec()
}

async fn a_kind_turned_off_or_below_the_threshold_sends_nothing_but_closure_and_critical_arrive(
    app: TestApp,
    sink: SmtpSink,
) {
    let ticket = app.fresh_incident().await;
    sink.wait_for(3).await;
    // Tess turns support replies off; Riley wants only Critical incidents.
    let tess = app.sign_in(TESS).await;
    let all_but_replies: Vec<&str> = EVERY_CUSTOMER_KIND.into_iter().filter(|k| *k != "support_comment").collect();
    chosen(&app, &tess, &all_but_replies, "", "immediate", "8").await;
    let riley = app.sign_in(RILEY).await;
    chosen(&app, &riley, &EVERY_CUSTOMER_KIND, "critical", "immediate", "8").await;

    let sam = app.sign_in(SAM).await;
    comment(&app, &sam, &ticket.number, &[("body", "A reply on a High incident")]).await;
    assert_eq!(recipients(&after(&sink, 3, 1).await), vec![BILLIE], "Tess turned replies off; High is below Riley's");

    // Raised to Critical: always sent, whatever they chose.
    set_severity(&app, &ticket, Severity::Critical).await;
    let critical = after(&sink, 4, 3).await;
    assert_eq!(recipients(&critical), vec![BILLIE, RILEY, TESS]);
    assert!(critical.iter().all(|m| m.header("List-Unsubscribe").is_none()), "nothing to unsubscribe from");

    comment(&app, &sam, &ticket.number, &[("body", "A reply on a Critical incident")]).await;
    assert_eq!(recipients(&after(&sink, 7, 2).await), vec![BILLIE, RILEY], "Critical meets Riley's threshold");

    close(&app, &ticket).await;
    let closed = after(&sink, 9, 3).await;
    assert_eq!(recipients(&closed), vec![BILLIE, RILEY, TESS], "a closure reaches everyone");
    assert!(closed.iter().all(|m| m.text.contains("Resolved: verified clean.")));
}

async fn a_muted_ticket_sends_nothing_but_closure_and_critical_until_it_is_unmuted(app: TestApp, sink: SmtpSink) {
    let ticket = app.fresh_incident().await;
    sink.wait_for(3).await;
    let riley = app.sign_in(RILEY).await;
    let (_, page) = app.get_text(&riley, &format!("/support/tickets/{}", ticket.number)).await;
    assert!(page.contains("Don't notify me") && page.contains("You get mail about this ticket."));
    let response = toggle(&app, &riley, &ticket.number, "off").await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(location(&response), format!("/support/tickets/{}", ticket.number));
    let (_, page) = app.get_text(&riley, &format!("/support/tickets/{}", ticket.number)).await;
    assert!(page.contains("Notify me") && page.contains("Mail about this ticket is off"), "{page}");
    assert!(page.contains(&format!("You get no more mail about {}", ticket.number)), "the flash says so");

    let sam = app.sign_in(SAM).await;
    comment(&app, &sam, &ticket.number, &[("body", "While Riley has it muted")]).await;
    assert_eq!(recipients(&after(&sink, 3, 2).await), vec![BILLIE, TESS]);
    set_severity(&app, &ticket, Severity::Critical).await;
    assert_eq!(recipients(&after(&sink, 5, 3).await), vec![BILLIE, RILEY, TESS], "Critical is always sent");

    // From the incident page, back to it.
    let token = app.csrf_token(&riley, "/account/profile").await;
    let incident = format!("/security/incidents/{}", ticket.number);
    let path = format!("/support/tickets/{}/notifications", ticket.number);
    let response =
        app.post_form(&riley, &path, &[("csrf_token", &token), ("notify", "on"), ("return_to", &incident)]).await;
    assert_eq!((response.status().as_u16(), location(&response)), (303, incident));
    assert_eq!(app.count("SELECT COUNT(*) FROM ticket_mutes").await, 0);
    comment(&app, &sam, &ticket.number, &[("body", "Riley hears of this again")]).await;
    assert_eq!(recipients(&after(&sink, 8, 3).await), vec![BILLIE, RILEY, TESS]);
}

async fn a_digest_sends_nothing_at_once_then_one_mail_of_the_days_changes_still_visible(app: TestApp, sink: SmtpSink) {
    // Riley (Tokyo) takes a digest at an hour half a day away, so the day's entries share it.
    let hour = (app.clock.now().with_timezone(&chrono_tz::Asia::Tokyo).hour() + 12) % 24;
    let riley = app.sign_in(RILEY).await;
    chosen(&app, &riley, &EVERY_CUSTOMER_KIND, "", "digest", &hour.to_string()).await;

    let kept = app.fresh_incident().await;
    let sam = app.sign_in(SAM).await;
    comment(&app, &sam, &kept.number, &[("body", "For the digest: please rotate the keys")]).await;
    let removed = app.fresh_incident().await;
    comment(&app, &sam, &removed.number, &[("body", "CANARY-removed-before-the-digest")]).await;
    let immediate = after(&sink, 0, 8).await;
    assert_eq!(recipients(&immediate), vec![BILLIE, BILLIE, BILLIE, BILLIE, TESS, TESS, TESS, TESS]);

    let riley_id = app.user_id(RILEY).await;
    let waiting = format!(
        "SELECT COUNT(*) FROM notification_deliveries WHERE user_id = {riley_id} AND digest = TRUE AND state = 'pending'"
    );
    assert_eq!(app.count(&waiting).await, 4, "two labels and two replies wait for the digest");
    // Support takes Riley off the second ticket before the digest goes out.
    let sam_id = app.user_id(SAM).await;
    app.store.remove_recipient(removed.id, riley_id, "Riley Chen", sam_id, app.clock.now()).await.unwrap();

    app.clock.advance(Duration::hours(25));
    let digest = after(&sink, 8, 1).await;
    let mail = &digest[0];
    assert_eq!(mail.to, vec![RILEY.to_string()]);
    assert_eq!(mail.subject, "Your security incidents and tickets today: 2 changes");
    assert!(mail.text.contains(&kept.number) && mail.text.contains("please rotate the keys"), "{}", mail.text);
    assert!(mail.text.contains("labelled this a High security incident"), "{}", mail.text);
    for leaked in [removed.number.as_str(), "CANARY-removed-before-the-digest"] {
        assert!(!mail.raw.contains(leaked) && !mail.text.contains(leaked), "{leaked} is in the digest");
    }
    assert_eq!(app.count(&waiting).await, 0);
}

async fn staff_hear_only_of_what_they_chose_and_nothing_by_default(app: TestApp, sink: SmtpSink) {
    let sam = app.sign_in(SAM).await;
    let (status, page) = app.get_text(&sam, NOTIFICATIONS).await;
    assert_eq!(status, 200);
    assert!(page.contains(DESK) && page.contains("Nothing comes to your own inbox"), "the desk's address covers it");
    assert_eq!(page.matches(" checked").count(), 1, "staff start with no kind ticked, only \"right away\"");
    chosen(&app, &sam, &["customer_comment"], "", "immediate", "8").await;
    // Morgan chose new incidents of High and above.
    let morgan = app.sign_in(MORGAN).await;
    chosen(&app, &morgan, &["labelled"], "high", "immediate", "8").await;

    let ticket = app.fresh_incident().await;
    let label = after(&sink, 0, 4).await;
    assert_eq!(recipients(&label), vec![BILLIE, MORGAN, RILEY, TESS], "a High label reaches Morgan");
    let morgan_mail = label.iter().find(|m| m.is_to(MORGAN)).unwrap();
    assert!(morgan_mail.text.contains("You chose to hear of this"), "{}", morgan_mail.text);

    let tess = app.sign_in(TESS).await;
    comment(&app, &tess, &ticket.number, &[("body", "We rotated everything.")]).await;
    assert_eq!(recipients(&after(&sink, 4, 2).await), vec![DESK.to_string(), SAM.to_string()]);

    // A new incident labelled Low is below Morgan's threshold: only its opener hears of it.
    let tess_id = app.user_id(TESS).await;
    let low = NewTicket {
        account_id: app.principal(TESS).await.account().unwrap().id,
        opener_id: tess_id,
        created_by: tess_id,
        summary: "A Low incident".into(),
        description: String::new(),
        recipient_ids: Vec::new(),
        status: TicketStatus::Open,
        severity: None,
        created_at: app.clock.now(),
        submission_key: None,
        notify_desk: false,
    };
    let id = app.store.insert_ticket(&low).await.unwrap();
    set_severity(&app, &Fixture { id, number: format!("ATS-{id}") }, Severity::Low).await;
    assert_eq!(recipients(&after(&sink, 6, 1).await), vec![TESS]);
}

with_mail_on_both_backends!(
    a_kind_turned_off_or_below_the_threshold_sends_nothing_but_closure_and_critical_arrive,
    a_muted_ticket_sends_nothing_but_closure_and_critical_until_it_is_unmuted,
    a_digest_sends_nothing_at_once_then_one_mail_of_the_days_changes_still_visible,
    staff_hear_only_of_what_they_chose_and_nothing_by_default,
);

async fn the_page_shows_the_defaults_saves_a_choice_and_audits_it(app: TestApp) {
    let tess = app.sign_in(TESS).await;
    let (_, profile) = app.get_text(&tess, "/account/profile").await;
    assert!(profile.contains(&format!("href=\"{NOTIFICATIONS}\"")), "My profile links to it");
    assert!(profile.contains("Mail right away about every kind of change."), "{profile}");
    let (status, page) = app.get_text(&tess, NOTIFICATIONS).await;
    assert_eq!(status, 200);
    assert!(page.contains("Closures and Critical incidents are always sent"));
    assert!(page.contains("America/New_York"), "the digest's hour is in her zone");
    assert_eq!(page.matches(" checked").count(), 8, "every kind and \"right away\"");

    chosen(&app, &tess, &["support_comment", "closed"], "high", "digest", "6").await;
    let (_, page) = app.get_text(&tess, NOTIFICATIONS).await;
    assert!(page.contains("Your notification settings are saved."));
    assert!(page.contains("value=\"high\" selected") && page.contains("value=\"6\" selected"), "{page}");
    assert!(page.contains("value=\"digest\" checked") && page.contains("value=\"support_comment\" checked"));
    assert!(!page.contains("value=\"reopened\" checked"));
    let (_, profile) = app.get_text(&tess, "/account/profile").await;
    assert!(
        profile.contains(
            "Mail in a daily digest at 06:00 (America/New_York) about 2 of 7 kinds of change, on incidents of High and above."
        ),
        "{profile}"
    );
    let tess_id = app.user_id(TESS).await;
    let (muted, severity, digest, hour): (String, Option<i16>, bool, i16) = app
        .rows(&format!(
            "SELECT muted_kinds, min_severity, digest, digest_hour FROM notification_preferences WHERE user_id = {tess_id}"
        ))
        .await
        .remove(0);
    assert_eq!(muted, "labelled,severity_changed,requires_attention,closure_declined,reopened");
    assert_eq!((severity, digest, hour), (Some(Severity::High.rank()), true, 6));
    let audited = app
        .count("SELECT COUNT(*) FROM audit_log WHERE action = 'notification_settings_changed' AND detail LIKE 'digest at 06:00; High and above;%'")
        .await;
    assert_eq!(audited, 1);
}

async fn bad_choices_answer_with_a_message_and_save_nothing(app: TestApp) {
    let tess = app.sign_in(TESS).await;
    for (kinds, threshold, delivery, hour, message) in [
        (&["support_comment"][..], "", "digest", "24", "from 0 to 23"),
        (&["support_comment"][..], "", "digest", "eight", "from 0 to 23"),
        (&["support_comment"][..], "extreme", "immediate", "8", "Choose a severity"),
        (&["customer_comment"][..], "", "immediate", "8", "Choose the kinds"),
        (&["support_comment"][..], "", "", "8", "a daily digest"),
    ] {
        let response = choose(&app, &tess, kinds, threshold, delivery, hour).await;
        assert_eq!(response.status().as_u16(), 422, "{threshold:?} {delivery:?} {hour:?}");
        let page = response.text().await.unwrap();
        assert!(page.contains(message), "{message}: {page}");
    }
    let token = app.csrf_token(&tess, NOTIFICATIONS).await;
    let garbled = app.post_form(&tess, NOTIFICATIONS, &[("csrf_token", &token), ("digest_hour", "\u{0}")]).await;
    assert_eq!(garbled.status().as_u16(), 422);
    assert_eq!(app.count("SELECT COUNT(*) FROM notification_preferences").await, 0, "nothing saved");

    let ticket = app.fresh_incident().await;
    assert_eq!(toggle(&app, &tess, &ticket.number, "maybe").await.status().as_u16(), 400);
    assert_eq!(app.count("SELECT COUNT(*) FROM ticket_mutes").await, 0);
}

async fn only_the_customers_on_a_ticket_may_mute_it(app: TestApp) {
    let ticket = app.fresh_incident().await;
    for who in [AVERY, CASEY] {
        let client = app.sign_in(who).await;
        assert_eq!(toggle(&app, &client, &ticket.number, "off").await.status().as_u16(), 404, "{who}");
        let (_, page) = app.get_text(&client, "/support/tickets").await;
        assert!(!page.contains("Don't notify me"));
    }
    let tess = app.sign_in(TESS).await;
    assert_eq!(toggle(&app, &tess, "ATS-987654321", "off").await.status().as_u16(), 404, "a missing ticket");
    let sam = app.sign_in(SAM).await;
    assert_eq!(toggle(&app, &sam, &ticket.number, "off").await.status().as_u16(), 403, "staff are on no ticket");
    let (_, page) = app.get_text(&sam, &format!("/support/tickets/{}", ticket.number)).await;
    assert!(!page.contains("Don't notify me"), "staff get no toggle");
    assert_eq!(app.count("SELECT COUNT(*) FROM ticket_mutes").await, 0);
    assert_eq!(toggle(&app, &tess, &ticket.number, "off").await.status().as_u16(), 303, "the opener may");
    assert_eq!(app.count("SELECT COUNT(*) FROM ticket_mutes").await, 1);
}

async fn with_mail_off_the_desk_page_lists_the_recorded_mails_and_opens_one(app: TestApp) {
    let ticket = app.fresh_incident().await;
    let sam = app.sign_in(SAM).await;
    let canary = "CANARY-internal-note-7d1a";
    comment(&app, &sam, &ticket.number, &[("body", canary), ("internal", "on")]).await;
    comment(&app, &sam, &ticket.number, &[("body", "Please rotate the VPN credentials.")]).await;
    let recorded = "SELECT COUNT(*) FROM notification_deliveries WHERE state = 'recorded'";
    let started = std::time::Instant::now();
    while app.count(recorded).await < 6 {
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "the mails are recorded");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    for (who, status) in [(TESS, 403), (AVERY, 403), (SAM, 403)] {
        let client = if who == SAM { sam.clone() } else { app.sign_in(who).await };
        assert_eq!(app.get(&client, "/desk/notifications").await.status().as_u16(), status, "{who}");
        let one = format!("/desk/notifications/{}", app.first_delivery().await);
        assert_eq!(app.get(&client, &one).await.status().as_u16(), status, "{who}");
    }
    let morgan = app.sign_in(MORGAN).await;
    let (status, page) = app.get_text(&morgan, "/desk/notifications").await;
    assert_eq!(status, 200);
    assert!(page.contains("Mail is off") && page.contains("Recorded, not sent"), "{page}");
    assert!(page.contains("Armor Support replied") && page.contains(RILEY) && page.contains(&ticket.number));
    assert!(page.contains("id=\"outbox-waiting\">0<"), "nothing waits: {page}");
    assert!(!page.contains(canary));

    let riley = app.user_id(RILEY).await;
    let reply = app
        .count(&format!(
            "SELECT MAX(d.id) FROM notification_deliveries d JOIN notification_events e ON e.id = d.event_id \
             WHERE d.user_id = {riley} AND e.kind = 'support_comment'"
        ))
        .await;
    assert!(page.contains(&format!("href=\"/desk/notifications/{reply}\"")));
    let (status, mail) = app.get_text(&morgan, &format!("/desk/notifications/{reply}")).await;
    assert_eq!(status, 200);
    assert!(mail.contains("Please rotate the VPN credentials.") && mail.contains("View Request"), "{mail}");
    assert!(mail.contains("riley.recipient@northwind.example") && mail.contains("In-Reply-To"));
    assert!(!mail.contains(canary), "never an internal note");
    assert!(!mail.contains("/notifications/unsubscribe?token="), "the reader's link is not shown");
    assert!(mail.contains("one-click link, not shown here"));
    assert_eq!(app.get(&morgan, "/desk/notifications/987654321").await.status().as_u16(), 404);
    assert_eq!(app.get(&morgan, "/desk/notifications/nope").await.status().as_u16(), 404);

    // A reader taken off the ticket: their mail is not shown any more.
    let billie = app.user_id(BILLIE).await;
    let sam_id = app.user_id(SAM).await;
    app.store.remove_recipient(ticket.id, billie, "Billie Park", sam_id, app.clock.now()).await.unwrap();
    let billies = app.count(&format!("SELECT MAX(id) FROM notification_deliveries WHERE user_id = {billie}")).await;
    let (status, page) = app.get_text(&morgan, &format!("/desk/notifications/{billies}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("No mail to show") && page.contains("can no longer see the ticket"), "{page}");
    assert!(!page.contains("Please rotate the VPN credentials."));
}

mod mail_off {
    crate::on_both_backends!(
        the_page_shows_the_defaults_saves_a_choice_and_audits_it,
        bad_choices_answer_with_a_message_and_save_nothing,
        only_the_customers_on_a_ticket_may_mute_it,
        with_mail_off_the_desk_page_lists_the_recorded_mails_and_opens_one,
    );
    use super::{
        bad_choices_answer_with_a_message_and_save_nothing, only_the_customers_on_a_ticket_may_mute_it,
        the_page_shows_the_defaults_saves_a_choice_and_audits_it,
        with_mail_off_the_desk_page_lists_the_recorded_mails_and_opens_one,
    };
}
