//! Account > Webhooks: the account's endpoints, the form that creates or changes one, the secret
//! shown once, and an endpoint's delivery log.

use askama::Template;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::format::{Timestamp, timestamp};
use super::layout::Layout;
use crate::domain::notify::NoticeKind;
use crate::domain::ticket::{Severity, TicketNumber};
use crate::domain::webhook::{Format, MAX_ENDPOINTS_PER_ACCOUNT, Subscription};
use crate::paths;
use crate::store::{DeliveryState, EndpointSettings, Settled, WebhookDelivery, WebhookEndpoint};

pub struct KindChoice {
    pub code: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

pub struct SeverityChoice {
    /// The form's value: a severity's name, or empty for every ticket.
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

pub struct FormatChoice {
    pub code: &'static str,
    pub label: &'static str,
    pub hint: &'static str,
    pub checked: bool,
}

/// The endpoint form as filled in so far, with what is wrong with it.
pub struct EndpointForm {
    pub url: String,
    pub kinds: Vec<KindChoice>,
    pub severities: Vec<SeverityChoice>,
    pub formats: Vec<FormatChoice>,
    pub errors: Vec<String>,
}

impl EndpointForm {
    /// A new endpoint's form: every event, every ticket, standard JSON.
    pub fn blank() -> EndpointForm {
        EndpointForm::draft(String::new(), &Subscription::KINDS, None, Format::Standard, Vec::new())
    }

    /// An endpoint's form as saved.
    pub fn of(settings: &EndpointSettings) -> EndpointForm {
        let kinds: Vec<NoticeKind> = settings.subscription.kinds.iter().copied().collect();
        EndpointForm::draft(
            settings.url.clone(),
            &kinds,
            settings.subscription.min_severity,
            settings.format,
            Vec::new(),
        )
    }

    pub fn draft(
        url: String,
        kinds: &[NoticeKind],
        min_severity: Option<Severity>,
        format: Format,
        errors: Vec<String>,
    ) -> EndpointForm {
        let every =
            SeverityChoice { value: "", label: "Every ticket, labelled or not", selected: min_severity.is_none() };
        EndpointForm {
            url,
            kinds: Subscription::KINDS
                .into_iter()
                .map(|k| KindChoice { code: k.code(), label: k.label(), checked: kinds.contains(&k) })
                .collect(),
            severities: std::iter::once(every)
                .chain(Severity::ALL.into_iter().map(|s| SeverityChoice {
                    value: s.name(),
                    label: threshold_label(s),
                    selected: min_severity == Some(s),
                }))
                .collect(),
            formats: Format::ALL
                .into_iter()
                .map(|f| FormatChoice { code: f.code(), label: f.label(), hint: format_hint(f), checked: f == format })
                .collect(),
            errors,
        }
    }
}

fn threshold_label(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "Critical incidents only",
        Severity::High => "High and Critical incidents",
        Severity::Medium => "Medium, High and Critical incidents",
        Severity::Low => "Incidents of any severity",
    }
}

fn format_hint(format: Format) -> &'static str {
    match format {
        Format::Standard => "For your own programs: a signed JSON event (type, timestamp, data).",
        Format::Slack => "A Slack (or Mattermost) incoming webhook posts {\"text\": …} as a message.",
        Format::Teams => "A Teams workflow that posts a webhook's Adaptive Card to a channel.",
    }
}

/// A secret just made: the only time it is shown.
pub struct NewSecret {
    pub secret: String,
    /// After a rotation, until when the previous secret still signs.
    pub previous_until: Option<Timestamp>,
    pub endpoint_href: String,
    pub verify_example: &'static str,
}

impl NewSecret {
    pub fn new(secret: String, endpoint_id: i64, previous_until: Option<Timestamp>) -> NewSecret {
        NewSecret { secret, previous_until, endpoint_href: paths::webhook(endpoint_id), verify_example: VERIFY_EXAMPLE }
    }
}

/// How a receiver checks a call, in Python's standard library.
const VERIFY_EXAMPLE: &str = r#"import base64, hashlib, hmac, time

def verify(secret, headers, body):  # body: the raw bytes received
    if abs(time.time() - int(headers["webhook-timestamp"])) > 300:
        return False  # too old or from the future: a replay
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f'{headers["webhook-id"]}.{headers["webhook-timestamp"]}.'.encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, s) for s in headers["webhook-signature"].split())"#;

pub struct EndpointRow {
    pub href: String,
    pub url: String,
    pub events: String,
    pub threshold: &'static str,
    pub format: &'static str,
    pub enabled: bool,
    pub created: Timestamp,
}

fn events_summary(subscription: &Subscription) -> String {
    match subscription.kinds.len() {
        n if n == Subscription::KINDS.len() => "Every event".to_string(),
        1 => "1 event".to_string(),
        n => format!("{n} events"),
    }
}

fn threshold(subscription: &Subscription) -> &'static str {
    subscription.min_severity.map_or("Every ticket", threshold_label)
}

pub fn endpoint_row(endpoint: &WebhookEndpoint, zone: Tz) -> EndpointRow {
    EndpointRow {
        href: paths::webhook(endpoint.id),
        url: endpoint.url.clone(),
        events: events_summary(&endpoint.subscription),
        threshold: threshold(&endpoint.subscription),
        format: endpoint.format.label(),
        enabled: endpoint.enabled,
        created: timestamp(endpoint.created_at, zone),
    }
}

#[derive(Template)]
#[template(path = "pages/webhooks.html")]
pub struct WebhooksPage {
    pub layout: Layout,
    pub endpoints: Vec<EndpointRow>,
    /// The form, unless the account has as many endpoints as it may.
    pub create_action: Option<&'static str>,
    pub form: EndpointForm,
    pub new_secret: Option<NewSecret>,
    pub limit: usize,
}

impl WebhooksPage {
    pub fn new(
        layout: Layout,
        endpoints: Vec<EndpointRow>,
        form: EndpointForm,
        new_secret: Option<NewSecret>,
    ) -> WebhooksPage {
        let create_action = (endpoints.len() < MAX_ENDPOINTS_PER_ACCOUNT).then_some(paths::WEBHOOKS);
        WebhooksPage { layout, endpoints, create_action, form, new_secret, limit: MAX_ENDPOINTS_PER_ACCOUNT }
    }
}

pub struct DeliveryRow {
    pub id: i64,
    pub ticket: String,
    pub event: &'static str,
    pub state: &'static str,
    /// `delivered`, `waiting`, `failed` or `dropped`: the row's look (the state's words say it too).
    pub state_class: &'static str,
    pub code: Option<i32>,
    pub attempts: i32,
    pub created: Timestamp,
    pub attempted: Option<Timestamp>,
    pub next_try: Option<Timestamp>,
    pub error: Option<String>,
    pub excerpt: Option<String>,
    pub send_again_action: Option<String>,
}

/// A call as the delivery log shows it; `may_send_again` offers "Send again" for a finished one.
pub fn delivery_row(endpoint_id: i64, delivery: WebhookDelivery, may_send_again: bool, zone: Tz) -> DeliveryRow {
    // A failed attempt leaves its error; a call under way for the first time has none yet.
    let retrying = delivery.state == DeliveryState::Pending && delivery.last_error.is_some();
    let (state, state_class) = match delivery.state {
        DeliveryState::Settled(Settled::Sent) => ("Delivered", "delivered"),
        DeliveryState::Pending if retrying => ("Retrying", "waiting"),
        DeliveryState::Pending => ("Waiting", "waiting"),
        DeliveryState::Settled(Settled::Failed) => ("Failed", "failed"),
        DeliveryState::Settled(Settled::Dropped | Settled::Recorded) => ("Not sent", "dropped"),
    };
    let pending = delivery.state == DeliveryState::Pending;
    let at = |moment: DateTime<Utc>| timestamp(moment, zone);
    DeliveryRow {
        id: delivery.id,
        ticket: TicketNumber::from_id(delivery.ticket_id).to_string(),
        event: delivery.kind.label(),
        state,
        state_class,
        code: delivery.response_code,
        attempts: delivery.attempts,
        created: at(delivery.created_at),
        attempted: delivery.attempted_at.map(at),
        next_try: retrying.then(|| at(delivery.due_at)),
        error: delivery.last_error.filter(|_| delivery.state != DeliveryState::Settled(Settled::Sent)),
        excerpt: delivery.response_excerpt,
        send_again_action: (may_send_again && !pending).then(|| paths::webhook_send_again(endpoint_id, delivery.id)),
    }
}

#[derive(Template)]
#[template(path = "pages/webhook.html")]
pub struct WebhookPage {
    pub layout: Layout,
    pub url: String,
    pub enabled: bool,
    pub format: &'static str,
    pub events: Vec<&'static str>,
    pub threshold: &'static str,
    pub created: Timestamp,
    pub secret_rotated: Option<Timestamp>,
    /// Until when the secret before the last rotation still signs.
    pub previous_until: Option<Timestamp>,
    pub form: EndpointForm,
    pub update_action: String,
    pub rotate_action: String,
    pub toggle_action: String,
    pub delete_action: String,
    pub new_secret: Option<NewSecret>,
    pub deliveries: Vec<DeliveryRow>,
}

impl WebhookPage {
    pub fn new(
        layout: Layout,
        endpoint: &WebhookEndpoint,
        form: EndpointForm,
        new_secret: Option<NewSecret>,
        deliveries: Vec<DeliveryRow>,
        now: DateTime<Utc>,
        zone: Tz,
    ) -> WebhookPage {
        let toggle = if endpoint.enabled { paths::WEBHOOK_DISABLE } else { paths::WEBHOOK_ENABLE };
        WebhookPage {
            layout,
            url: endpoint.url.clone(),
            enabled: endpoint.enabled,
            format: endpoint.format.label(),
            events: endpoint.subscription.kinds.iter().map(|k| k.label()).collect(),
            threshold: threshold(&endpoint.subscription),
            created: timestamp(endpoint.created_at, zone),
            secret_rotated: endpoint.secret_rotated_at.map(|at| timestamp(at, zone)),
            previous_until: endpoint
                .previous_secret_at(now)
                .and(endpoint.previous_secret_until)
                .map(|until| timestamp(until, zone)),
            form,
            update_action: paths::webhook(endpoint.id),
            rotate_action: paths::of_webhook(paths::WEBHOOK_ROTATE, endpoint.id),
            toggle_action: paths::of_webhook(toggle, endpoint.id),
            delete_action: paths::of_webhook(paths::WEBHOOK_DELETE, endpoint.id),
            new_secret,
            deliveries,
        }
    }
}
