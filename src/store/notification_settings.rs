//! What each user chose to hear of (My profile), the tickets they muted, and the one-click
//! unsubscribe links already spent: what the fan-out reads to decide who hears of a notice.

use super::statement;
use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::sql::{Sql, bind_values};
use super::{Store, StoreResult, execute, on_pool};
use crate::domain::notify::{DEFAULT_DIGEST_HOUR, NoticeKind, Preferences};
use crate::domain::ticket::Severity;

/// The people on a ticket as notifications need them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct TicketReader {
    pub user_id: i64,
    pub muted: bool,
}

/// A user's notification settings, with the hour of their day for the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationSettings {
    pub preferences: Preferences,
    pub digest_hour: u32,
}

#[derive(sqlx::FromRow)]
struct RawSettings {
    user_id: i64,
    muted_kinds: String,
    min_severity: Option<i16>,
    digest: bool,
    digest_hour: i16,
}

impl TryFrom<RawSettings> for (i64, NotificationSettings) {
    type Error = sqlx::Error;

    fn try_from(raw: RawSettings) -> Result<Self, Self::Error> {
        let muted_kinds = raw.muted_kinds.split(',').filter_map(NoticeKind::from_code).collect();
        let preferences =
            Preferences { muted_kinds, min_severity: super::decode_severity(raw.min_severity)?, digest: raw.digest };
        let digest_hour = u32::try_from(raw.digest_hour.clamp(0, 23)).unwrap_or(DEFAULT_DIGEST_HOUR);
        Ok((raw.user_id, NotificationSettings { preferences, digest_hour }))
    }
}

impl Store {
    /// The opener and recipients of a ticket, and whether each chose "Don't notify me" on it.
    pub async fn ticket_readers(&self, ticket_id: i64) -> StoreResult<Vec<TicketReader>> {
        let sql = "SELECT p.user_id, EXISTS (SELECT 1 FROM ticket_mutes m WHERE m.user_id = p.user_id AND m.ticket_id = $1) AS muted \
                   FROM (SELECT opener_id AS user_id FROM tickets WHERE id = $1 \
                         UNION SELECT user_id FROM ticket_recipients WHERE ticket_id = $1) p ORDER BY p.user_id";
        Ok(on_pool!(self, pool => statement::query_as(sql).bind(ticket_id).fetch_all(pool).await)?)
    }

    /// The notification settings of these users, for those who chose any.
    pub async fn notification_settings(&self, user_ids: &[i64]) -> StoreResult<HashMap<i64, NotificationSettings>> {
        if user_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut sql = Sql::new(
            "SELECT user_id, muted_kinds, min_severity, digest, digest_hour FROM notification_preferences WHERE user_id IN (",
        );
        sql.bind_list(user_ids.iter().copied()).push(")");
        let (text, values) = sql.into_parts();
        let rows: Vec<RawSettings> =
            on_pool!(self, pool => bind_values!(statement::query_as(text), values).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(<(i64, NotificationSettings)>::try_from).collect::<Result<_, _>>()?)
    }

    /// A user's notification settings, or `defaults` at the default hour if they never chose.
    pub async fn notification_settings_of(
        &self,
        user_id: i64,
        defaults: Preferences,
    ) -> StoreResult<NotificationSettings> {
        let chosen = self.notification_settings(&[user_id]).await?.remove(&user_id);
        Ok(chosen.unwrap_or(NotificationSettings { preferences: defaults, digest_hour: DEFAULT_DIGEST_HOUR }))
    }

    /// Enabled support staff who chose to hear of something, with what they chose.
    pub async fn staff_listening(&self) -> StoreResult<Vec<(i64, NotificationSettings)>> {
        let sql = "SELECT p.user_id, p.muted_kinds, p.min_severity, p.digest, p.digest_hour FROM notification_preferences p \
                   JOIN users u ON u.id = p.user_id WHERE u.is_support = TRUE AND u.enabled = TRUE ORDER BY p.user_id";
        let rows: Vec<RawSettings> = on_pool!(self, pool => statement::query_as(sql).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(<(i64, NotificationSettings)>::try_from).collect::<Result<_, _>>()?)
    }

    /// Saves what a user chose to hear of.
    pub async fn save_notification_settings(&self, user_id: i64, settings: &NotificationSettings) -> StoreResult<()> {
        let muted: Vec<&str> = settings.preferences.muted_kinds.iter().map(|k| k.code()).collect();
        let sql = "INSERT INTO notification_preferences (user_id, muted_kinds, min_severity, digest, digest_hour) \
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO UPDATE SET muted_kinds = excluded.muted_kinds, \
                   min_severity = excluded.min_severity, digest = excluded.digest, digest_hour = excluded.digest_hour";
        let hour = i16::try_from(settings.digest_hour.min(23)).unwrap_or(8);
        execute!(
            self,
            statement::query(sql)
                .bind(user_id)
                .bind(muted.join(","))
                .bind(settings.preferences.min_severity.map(Severity::rank))
                .bind(settings.preferences.digest)
                .bind(hour)
        )?;
        Ok(())
    }

    /// Spends a one-click unsubscribe link: `false` if it was used before.
    pub async fn use_unsubscribe_link(&self, link_hash: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        let sql = "INSERT INTO used_unsubscribe_links (link_hash, used_at) VALUES ($1, $2) ON CONFLICT (link_hash) DO NOTHING";
        Ok(execute!(self, statement::query(sql).bind(link_hash).bind(now))? == 1)
    }

    /// "Don't notify me" (or "Notify me" again) on a ticket.
    pub async fn set_ticket_muted(&self, user_id: i64, ticket_id: i64, muted: bool) -> StoreResult<()> {
        let sql = if muted {
            "INSERT INTO ticket_mutes (user_id, ticket_id) VALUES ($1, $2) ON CONFLICT (user_id, ticket_id) DO NOTHING"
        } else {
            "DELETE FROM ticket_mutes WHERE user_id = $1 AND ticket_id = $2"
        };
        execute!(self, statement::query(sql).bind(user_id).bind(ticket_id))?;
        Ok(())
    }

    pub async fn is_ticket_muted(&self, user_id: i64, ticket_id: i64) -> StoreResult<bool> {
        let sql = "SELECT EXISTS (SELECT 1 FROM ticket_mutes WHERE user_id = $1 AND ticket_id = $2)";
        Ok(on_pool!(self, pool => statement::query_scalar(sql).bind(user_id).bind(ticket_id).fetch_one(pool).await)?)
    }
}
