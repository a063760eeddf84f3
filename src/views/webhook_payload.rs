//! The bodies of webhook calls: one notice about a ticket, in the format its endpoint chose. Only
//! what the account's users may see on the ticket's page goes in (never an internal note); the
//! notice arrives already checked (see `notify::webhooks`).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::json;

use crate::domain::notify::NoticeKind;
use crate::domain::ticket::{Severity, TicketStatus};
use crate::domain::webhook::Format;

/// One notice about a ticket, as an endpoint of its account receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookNotice {
    pub kind: NoticeKind,
    /// When the change happened.
    pub occurred_at: DateTime<Utc>,
    pub account_number: i64,
    pub account_name: String,
    pub number: String,
    pub summary: String,
    pub severity: Option<Severity>,
    pub status: TicketStatus,
    /// The reply, the reason or the resolution that came with the change.
    pub comment: Option<WebhookComment>,
    /// The ticket's page on the portal.
    pub link: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookComment {
    /// "Armor Support", or the customer user who wrote it.
    pub author: String,
    pub body: String,
}

impl WebhookNotice {
    /// What happened, in a sentence.
    pub fn headline(&self) -> String {
        let severity = self.severity.map_or("unrated", Severity::name);
        match self.kind {
            NoticeKind::Labelled => format!("Armor Support labelled {} a {severity} security incident", self.number),
            NoticeKind::SeverityChanged => format!("The severity of {} is now {severity}", self.number),
            NoticeKind::RequiresAttention => format!("Armor Support is waiting for an answer on {}", self.number),
            NoticeKind::SupportComment => format!("Armor Support replied on {}", self.number),
            NoticeKind::ClosureDeclined => format!("Armor Support declined to close {} yet", self.number),
            NoticeKind::Closed => format!("Armor Support closed {}", self.number),
            NoticeKind::Reopened => format!("{} is open again", self.number),
            NoticeKind::TicketOpened => format!("{} was opened", self.number),
            NoticeKind::CustomerComment => format!("A customer replied on {}", self.number),
            NoticeKind::ClosureRequested => format!("A customer asked to close {}", self.number),
        }
    }

    /// `[ATS-12] [High] Port scan`: the ticket at a glance.
    fn title(&self) -> String {
        let severity = self.severity.map(|s| format!("[{}] ", s.name())).unwrap_or_default();
        format!("[{}] {severity}{}", self.number, self.summary)
    }
}

#[derive(Serialize)]
struct StandardEvent<'a> {
    /// `ticket.<kind>`, such as `ticket.labelled`.
    #[serde(rename = "type")]
    kind: String,
    timestamp: String,
    data: EventData<'a>,
}

#[derive(Serialize)]
struct EventData<'a> {
    kind: &'static str,
    headline: String,
    ticket: TicketData<'a>,
    account: AccountData<'a>,
    comment: Option<&'a WebhookComment>,
}

#[derive(Serialize)]
struct TicketData<'a> {
    number: &'a str,
    summary: &'a str,
    severity: Option<&'static str>,
    status: &'static str,
    link: &'a str,
}

#[derive(Serialize)]
struct AccountData<'a> {
    number: i64,
    name: &'a str,
}

/// The body of a call, as JSON.
pub fn body(notice: &WebhookNotice, format: Format) -> Vec<u8> {
    let value = match format {
        Format::Standard => serde_json::to_value(StandardEvent {
            kind: format!("ticket.{}", notice.kind.code()),
            timestamp: notice.occurred_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            data: EventData {
                kind: notice.kind.code(),
                headline: notice.headline(),
                ticket: TicketData {
                    number: &notice.number,
                    summary: &notice.summary,
                    severity: notice.severity.map(Severity::name),
                    status: notice.status.name(),
                    link: &notice.link,
                },
                account: AccountData { number: notice.account_number, name: &notice.account_name },
                comment: notice.comment.as_ref(),
            },
        }),
        Format::Slack => Ok(json!({ "text": slack_text(notice) })),
        Format::Teams => Ok(teams_message(notice)),
    };
    // A value of strings and numbers always serializes.
    value.and_then(|v| serde_json::to_vec(&v)).unwrap_or_default()
}

/// Slack reads `&`, `<` and `>` as markup (links, mentions such as `<!channel>`), so text from a
/// ticket has them escaped, as Slack's documentation asks.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn slack_text(notice: &WebhookNotice) -> String {
    let mut text = format!("*{}*\n{}", slack_escape(&notice.title()), slack_escape(&notice.headline()));
    if let Some(comment) = &notice.comment {
        text.push_str(&format!("\n_{}:_", slack_escape(&comment.author)));
        for line in comment.body.lines() {
            text.push_str(&format!("\n>{}", slack_escape(line)));
        }
    }
    text.push_str(&format!(
        "\nStatus: {}\n<{}|Open {} in the portal>",
        notice.status.name(),
        notice.link,
        notice.number
    ));
    text
}

/// A message with an Adaptive Card, as a Microsoft Teams workflow ("Post to a channel when a
/// webhook request is received") expects.
fn teams_message(notice: &WebhookNotice) -> serde_json::Value {
    let mut body = vec![
        json!({ "type": "TextBlock", "text": notice.title(), "weight": "Bolder", "size": "Medium", "wrap": true }),
        json!({ "type": "TextBlock", "text": notice.headline(), "wrap": true }),
        json!({ "type": "FactSet", "facts": [
            { "title": "Severity", "value": notice.severity.map_or("None", Severity::name) },
            { "title": "Status", "value": notice.status.name() },
            { "title": "Account", "value": notice.account_name },
        ] }),
    ];
    if let Some(comment) = &notice.comment {
        body.push(
            json!({ "type": "TextBlock", "text": format!("{}:", comment.author), "weight": "Bolder", "wrap": true }),
        );
        body.push(json!({ "type": "TextBlock", "text": comment.body, "wrap": true }));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
                "actions": [{ "type": "Action.OpenUrl", "title": format!("Open {}", notice.number), "url": notice.link }],
            },
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn notice() -> WebhookNotice {
        WebhookNotice {
            kind: NoticeKind::SupportComment,
            occurred_at: Utc.with_ymd_and_hms(2026, 3, 1, 12, 30, 0).unwrap(),
            account_number: 100234,
            account_name: "Northwind Traders".into(),
            number: "ATS-12".into(),
            summary: "Port scan <from> A&B".into(),
            severity: Some(Severity::High),
            status: TicketStatus::Open,
            comment: Some(WebhookComment { author: "Armor Support".into(), body: "Blocked.\n<!channel> ok".into() }),
            link: "https://portal.example/support/tickets/ATS-12".into(),
        }
    }

    #[test]
    fn the_standard_event_names_its_type_time_ticket_account_and_comment() {
        let event: serde_json::Value = serde_json::from_slice(&body(&notice(), Format::Standard)).unwrap();
        assert_eq!(event["type"], "ticket.support_comment");
        assert_eq!(event["timestamp"], "2026-03-01T12:30:00Z");
        assert_eq!(event["data"]["kind"], "support_comment");
        assert_eq!(event["data"]["headline"], "Armor Support replied on ATS-12");
        assert_eq!(event["data"]["ticket"]["number"], "ATS-12");
        assert_eq!(event["data"]["ticket"]["severity"], "High");
        assert_eq!(event["data"]["ticket"]["status"], "Open");
        assert_eq!(event["data"]["ticket"]["link"], "https://portal.example/support/tickets/ATS-12");
        assert_eq!(event["data"]["account"]["number"], 100234);
        assert_eq!(event["data"]["comment"]["body"], "Blocked.\n<!channel> ok");
        let unrated = WebhookNotice { severity: None, comment: None, ..notice() };
        let event: serde_json::Value = serde_json::from_slice(&body(&unrated, Format::Standard)).unwrap();
        assert!(event["data"]["ticket"]["severity"].is_null() && event["data"]["comment"].is_null());
    }

    #[test]
    fn a_slack_message_is_text_with_the_tickets_markup_escaped() {
        let message: serde_json::Value = serde_json::from_slice(&body(&notice(), Format::Slack)).unwrap();
        let text = message["text"].as_str().unwrap();
        assert!(text.starts_with("*[ATS-12] [High] Port scan &lt;from&gt; A&amp;B*"), "{text}");
        assert!(text.contains("\n>&lt;!channel&gt; ok"), "a mention in a comment stays text: {text}");
        assert!(text.ends_with("<https://portal.example/support/tickets/ATS-12|Open ATS-12 in the portal>"), "{text}");
        assert_eq!(message.as_object().unwrap().len(), 1, "only text");
    }

    #[test]
    fn a_teams_message_carries_an_adaptive_card_with_a_link() {
        let message: serde_json::Value = serde_json::from_slice(&body(&notice(), Format::Teams)).unwrap();
        assert_eq!(message["type"], "message");
        let card = &message["attachments"][0];
        assert_eq!(card["contentType"], "application/vnd.microsoft.card.adaptive");
        assert_eq!(card["content"]["type"], "AdaptiveCard");
        assert_eq!(card["content"]["body"][0]["text"], "[ATS-12] [High] Port scan <from> A&B");
        assert_eq!(card["content"]["actions"][0]["url"], "https://portal.example/support/tickets/ATS-12");
    }
}
