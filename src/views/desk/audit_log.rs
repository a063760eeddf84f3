use askama::Template;
use chrono_tz::Tz;

use crate::domain::audit_query::{AuditQuery, PAGE_SIZE};
use crate::paths;
use crate::store::AuditRecord;
use crate::views::format::{Timestamp, timestamp};
use crate::views::layout::Layout;
use crate::views::widgets::{Choice, Pager};

pub struct AuditRow {
    pub at: Timestamp,
    pub action: String,
    pub actor: String,
    pub account: String,
    pub target: String,
    pub detail: String,
    pub request_id: String,
    /// Enough of the id to recognise it; the whole one is in the tooltip.
    pub request_id_short: String,
    pub client_ip: String,
}

pub struct AuditFilters {
    pub account: String,
    pub actor: String,
    pub actions: Vec<Choice>,
    pub from: String,
    pub until: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "pages/desk_audit.html")]
pub struct AuditPage {
    pub layout: Layout,
    pub action: &'static str,
    pub filters: AuditFilters,
    pub rows: Vec<AuditRow>,
    pub total: i64,
    pub pager: Pager,
}

/// One entry as the reader sees it, in their time zone.
pub fn audit_row(record: AuditRecord, zone: Tz) -> AuditRow {
    AuditRow {
        at: timestamp(record.occurred_at, zone),
        action: record.action,
        actor: record.actor_email.unwrap_or_default(),
        account: match (record.account_name, record.account_number) {
            (Some(name), Some(number)) => format!("{name} ({number})"),
            _ => String::new(),
        },
        target: record.target.unwrap_or_default(),
        detail: record.detail.unwrap_or_default(),
        request_id_short: record.request_id.as_deref().unwrap_or_default().chars().take(8).collect(),
        request_id: record.request_id.unwrap_or_default(),
        client_ip: record.client_ip.unwrap_or_default(),
    }
}

/// The filter form as the query left it; `actions` are those the log holds.
pub fn audit_filters(query: &AuditQuery, actions: &[String]) -> AuditFilters {
    let chosen = query.fields.action.as_deref();
    let mut choices = vec![Choice { value: String::new(), label: "Every action".into(), selected: chosen.is_none() }];
    choices.extend(actions.iter().map(|a| Choice {
        value: a.clone(),
        label: a.replace('_', " "),
        selected: chosen == Some(a.as_str()),
    }));
    let field = |value: &Option<String>| value.clone().unwrap_or_default();
    AuditFilters {
        account: field(&query.fields.account),
        actor: field(&query.fields.actor),
        actions: choices,
        from: field(&query.fields.from),
        until: field(&query.fields.until),
        active: query.filter != Default::default(),
    }
}

/// Previous and next pages of `total` entries, with the same filters.
pub fn audit_pager(query: &AuditQuery, total: i64) -> Pager {
    let pages = u32::try_from(((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1)).unwrap_or(u32::MAX);
    let page = query.page;
    let link = |n: u32| paths::with_query(paths::DESK_AUDIT, &query.page_query(n));
    Pager {
        summary: format!("{total} entries"),
        page,
        pages,
        first: None,
        previous: (page > 1).then(|| link(page - 1)),
        next: (page < pages).then(|| link(page + 1)),
        last: None,
    }
}
