//! My profile › Notifications: what a user hears of, and how; and the one line My profile shows
//! of it.

use askama::Template;
use chrono_tz::Tz;

use super::layout::Layout;
use super::widgets::Choice;
use crate::domain::notify::{Audience, NoticeKind, Preferences};
use crate::domain::ticket::Severity;

/// One kind of notification, as a box to tick.
pub struct KindChoice {
    pub code: &'static str,
    pub label: &'static str,
    pub checked: bool,
    /// Sent whatever the reader chooses: ticked, and cannot be cleared.
    pub always: bool,
    pub note: Option<&'static str>,
}

/// The form as it stands: the saved settings, or what was sent, back with its messages.
#[derive(Debug, Clone, Default)]
pub struct NotificationDraft {
    /// The codes of the kinds ticked.
    pub kinds: Vec<String>,
    /// A severity's slug, or empty for every ticket.
    pub threshold: String,
    pub digest: bool,
    pub digest_hour: String,
    pub errors: Vec<String>,
}

impl NotificationDraft {
    pub fn from_settings(audience: Audience, preferences: &Preferences, digest_hour: u32) -> NotificationDraft {
        NotificationDraft {
            kinds: audience
                .kinds()
                .iter()
                .filter(|k| audience.hears(preferences, **k))
                .map(|k| k.code().to_string())
                .collect(),
            threshold: preferences.min_severity.map(|s| s.slug().to_string()).unwrap_or_default(),
            digest: preferences.digest,
            digest_hour: digest_hour.to_string(),
            errors: Vec::new(),
        }
    }
}

#[derive(Template)]
#[template(path = "pages/notifications.html")]
pub struct NotificationsPage {
    pub layout: Layout,
    pub action: &'static str,
    pub profile_href: &'static str,
    pub staff: bool,
    /// For staff: the support desk's address (DESK_EMAIL), told of the desk's notices anyway.
    pub desk_address: Option<String>,
    pub kinds: Vec<KindChoice>,
    pub thresholds: Vec<Choice>,
    pub digest: bool,
    pub hours: Vec<Choice>,
    pub time_zone: &'static str,
    pub errors: Vec<String>,
}

/// How the page names a kind: staff's "Labelled" is about new incidents.
fn kind_choice(audience: Audience, kind: NoticeKind, checked: bool) -> KindChoice {
    let always = audience.always_hears(kind);
    let (label, note) = match (audience, kind) {
        (Audience::Support, NoticeKind::Labelled) => {
            ("New incidents: a ticket is labelled a security incident", Some("at or above the severity below"))
        }
        (Audience::Customer, NoticeKind::Labelled) => (kind.label(), Some("always when Critical")),
        (Audience::Customer, NoticeKind::SeverityChanged) => (kind.label(), Some("always when it becomes Critical")),
        (_, kind) if always => (kind.label(), Some("always sent")),
        (_, kind) => (kind.label(), None),
    };
    KindChoice { code: kind.code(), label, checked: checked || always, always, note }
}

/// "All tickets", "Low and above" … "Only Critical".
pub fn threshold_label(threshold: Option<Severity>) -> &'static str {
    match threshold {
        None => "All tickets, incidents or not",
        Some(Severity::Low) => "Low and above",
        Some(Severity::Medium) => "Medium and above",
        Some(Severity::High) => "High and above",
        Some(Severity::Critical) => "Only Critical",
    }
}

pub fn notifications_page(
    layout: Layout,
    audience: Audience,
    draft: NotificationDraft,
    zone: Tz,
    desk_address: Option<String>,
) -> NotificationsPage {
    let kinds = audience
        .kinds()
        .iter()
        .map(|k| kind_choice(audience, *k, draft.kinds.iter().any(|code| code == k.code())))
        .collect();
    let mut thresholds = vec![Choice {
        value: String::new(),
        label: threshold_label(None).into(),
        selected: draft.threshold.is_empty(),
    }];
    thresholds.extend(Severity::ALL.into_iter().rev().map(|s| Choice {
        value: s.slug().into(),
        label: threshold_label(Some(s)).into(),
        selected: draft.threshold == s.slug(),
    }));
    let hours = (0..24)
        .map(|hour: u32| Choice {
            value: hour.to_string(),
            label: format!("{hour:02}:00"),
            selected: draft.digest_hour == hour.to_string(),
        })
        .collect();
    NotificationsPage {
        layout,
        action: crate::paths::PROFILE_NOTIFICATIONS,
        profile_href: crate::paths::PROFILE,
        staff: audience == Audience::Support,
        desk_address,
        kinds,
        thresholds,
        digest: draft.digest,
        hours,
        time_zone: zone.name(),
        errors: draft.errors,
    }
}

/// One sentence for My profile: what comes, how, and about what.
pub fn notifications_summary(audience: Audience, preferences: &Preferences, digest_hour: u32, zone: Tz) -> String {
    let kinds = audience.kinds();
    let on = kinds.iter().filter(|k| audience.hears(preferences, **k)).count();
    if on == 0 {
        return "No mail comes to you; the support desk's address covers the desk.".into();
    }
    let what = if on == kinds.len() {
        "every kind of change".to_string()
    } else if audience == Audience::Customer && on == 1 {
        "closures and Critical incidents only".to_string()
    } else {
        format!("{on} of {} kinds of change", kinds.len())
    };
    let how = if preferences.digest {
        format!("in a daily digest at {digest_hour:02}:00 ({})", zone.name())
    } else {
        "right away".to_string()
    };
    let threshold = match preferences.min_severity {
        None => String::new(),
        Some(Severity::Critical) => ", on Critical incidents only".into(),
        Some(severity) => format!(", on incidents of {severity} and above"),
    };
    format!("Mail {how} about {what}{threshold}.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_says_what_comes_and_how() {
        let zone = chrono_tz::Asia::Tokyo;
        let everything = Preferences::default();
        assert_eq!(
            notifications_summary(Audience::Customer, &everything, 8, zone),
            "Mail right away about every kind of change."
        );
        let picky = Preferences {
            muted_kinds: [NoticeKind::SupportComment, NoticeKind::Reopened].into_iter().collect(),
            min_severity: Some(Severity::High),
            digest: true,
        };
        assert_eq!(
            notifications_summary(Audience::Customer, &picky, 7, zone),
            "Mail in a daily digest at 07:00 (Asia/Tokyo) about 5 of 7 kinds of change, on incidents of High and above."
        );
        let nothing = crate::domain::notify::staff_default();
        assert!(notifications_summary(Audience::Support, &nothing, 8, zone).starts_with("No mail"));
    }

    #[test]
    fn the_form_shows_what_is_saved_and_closure_ticked_for_good() {
        let picky = Preferences {
            muted_kinds: [NoticeKind::Closed, NoticeKind::Reopened].into_iter().collect(),
            min_severity: Some(Severity::Critical),
            digest: false,
        };
        let draft = NotificationDraft::from_settings(Audience::Customer, &picky, 6);
        assert!(draft.kinds.contains(&"closed".to_string()) && !draft.kinds.contains(&"reopened".to_string()));
        assert_eq!((draft.threshold.as_str(), draft.digest_hour.as_str()), ("critical", "6"));
        let closed = kind_choice(Audience::Customer, NoticeKind::Closed, false);
        assert!(closed.checked && closed.always);
        assert!(!kind_choice(Audience::Support, NoticeKind::Closed, false).always);
    }
}
