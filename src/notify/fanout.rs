//! From an event of the outbox to its deliveries: the customers on the ticket who may read it and
//! want to hear of it, the staff who chose to, the support desk's address, and the webhook
//! endpoints of the ticket's account that ask for it.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::domain::notify::{self, Delivery, Notice, Reader};
use crate::domain::policy::{self, TicketFacts};
use crate::store::{Channel, NewDelivery, NotificationSettings, OutboxEvent, Store, StoreResult, Target};

/// The deliveries of `event`, decided now.
pub async fn deliveries(
    store: &Store,
    event: &OutboxEvent,
    desk: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<Vec<NewDelivery>> {
    let notice = Notice { kind: event.kind, severity: event.severity, with_comment: event.comment_id.is_some() };
    let mut deliveries = Vec::new();
    let Some(ticket) = store.ticket(event.ticket_id).await? else { return Ok(deliveries) };
    let readers = store.ticket_readers(ticket.id).await?;
    let recipient_ids: Vec<i64> = readers.iter().map(|r| r.user_id).filter(|id| *id != ticket.opener_id).collect();
    let facts =
        TicketFacts { account_id: ticket.account_id, opener_id: ticket.opener_id, recipient_ids: &recipient_ids };

    if !notice.kind.for_support() {
        let ids: Vec<i64> = readers.iter().map(|r| r.user_id).collect();
        let settings = store.notification_settings(&ids).await?;
        for reader in &readers {
            // Read Ticket and the account are checked as the ticket's page checks them.
            let principal = store.load_principal(reader.user_id).await?;
            let may_read = principal.as_ref().is_some_and(|p| !p.is_support() && policy::can_see_ticket(p, &facts));
            let chosen = settings.get(&reader.user_id);
            let preferences = chosen.map(|s| s.preferences.clone()).unwrap_or_default();
            let reader_facts = Reader { user_id: reader.user_id, may_read, muted_ticket: reader.muted };
            if let (Some(delivery), Some(principal)) =
                (notify::customer_delivery(notice, reader_facts, &preferences, event.actor_id), principal)
            {
                deliveries.push(to_user(reader.user_id, delivery, chosen, principal.time_zone, now));
            }
        }
    }
    if notice.kind.for_support()
        && let Some(desk) = desk
    {
        let target = Target::Address(desk.to_string());
        deliveries.push(NewDelivery { channel: Channel::Mail, target, digest: false, due_at: now });
    }
    for (staff_id, settings) in store.staff_listening().await? {
        if let Some(delivery) = notify::staff_delivery(notice, staff_id, &settings.preferences, event.actor_id) {
            let zone = store.load_principal(staff_id).await?.map_or(chrono_tz::UTC, |p| p.time_zone);
            deliveries.push(to_user(staff_id, delivery, Some(&settings), zone, now));
        }
    }
    deliveries.extend(super::webhooks::deliveries(store, &ticket, notice, now).await?);
    Ok(deliveries)
}

fn to_user(
    user_id: i64,
    delivery: Delivery,
    settings: Option<&NotificationSettings>,
    zone: Tz,
    now: DateTime<Utc>,
) -> NewDelivery {
    let (digest, due_at) = match delivery {
        Delivery::Immediate => (false, now),
        Delivery::Digest => (true, next_digest(now, zone, settings.map_or(8, |s| s.digest_hour))),
    };
    NewDelivery { channel: Channel::Mail, target: Target::User(user_id), digest, due_at }
}

/// The next time it is `hour` o'clock in `zone`, after `now`. A day whose hour does not exist
/// (a clock change) takes the first instant after it.
pub fn next_digest(now: DateTime<Utc>, zone: Tz, hour: u32) -> DateTime<Utc> {
    let local = now.with_timezone(&zone).date_naive();
    let at = NaiveTime::from_hms_opt(hour.min(23), 0, 0).unwrap_or(NaiveTime::MIN);
    (0..=2)
        .filter_map(|days| {
            let date = local + Duration::days(days);
            zone.from_local_datetime(&date.and_time(at))
                .earliest()
                .or_else(|| zone.from_local_datetime(&(date.and_time(at) + Duration::hours(1))).earliest())
        })
        .map(|t| t.with_timezone(&Utc))
        .find(|t| *t > now)
        .unwrap_or(now + Duration::days(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_goes_out_at_the_chosen_hour_of_the_readers_day() {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let tokyo = next_digest(now, chrono_tz::Asia::Tokyo, 8);
        assert_eq!(tokyo, Utc.with_ymd_and_hms(2026, 3, 1, 23, 0, 0).unwrap(), "08:00 on the 2nd in Tokyo");
        let new_york = next_digest(now, chrono_tz::America::New_York, 8);
        assert_eq!(
            new_york,
            Utc.with_ymd_and_hms(2026, 3, 1, 13, 0, 0).unwrap(),
            "08:00 on the 1st in New York, an hour away"
        );
        // 02:00 does not exist in New York on 8 March 2026.
        let spring = Utc.with_ymd_and_hms(2026, 3, 8, 5, 0, 0).unwrap();
        let skipped = next_digest(spring, chrono_tz::America::New_York, 2);
        assert!(skipped > spring && skipped < spring + Duration::days(2), "{skipped}");
    }
}
