//! The mails the portal sends: a plain-text and an HTML part from one view, formatted for the
//! reader (dates in their time zone). Only what the reader may see on the ticket's page goes in.

use askama::Template;

use super::format::Timestamp;

/// One notice about a ticket, as its reader sees it.
pub struct NoticeView {
    /// What happened: "Armor Support replied".
    pub headline: String,
    pub number: String,
    pub summary: String,
    pub severity: Option<&'static str>,
    pub status: &'static str,
    /// The reply, the reason or the resolution, and who wrote it.
    pub comment: Option<(String, String)>,
    /// The names of the files that came with it (read on the ticket's page; never attached).
    pub files: Vec<String>,
    pub when: Timestamp,
    /// The ticket's page ("View Request").
    pub link: String,
}

/// A mail of one notice.
#[derive(Template)]
#[template(path = "mail/notice.txt")]
pub struct NoticeText<'a> {
    pub notice: &'a NoticeView,
    pub footer: &'a MailFooter,
}

#[derive(Template)]
#[template(path = "mail/notice.html")]
pub struct NoticeHtml<'a> {
    pub notice: &'a NoticeView,
    pub footer: &'a MailFooter,
}

/// The day's notices in one mail.
#[derive(Template)]
#[template(path = "mail/digest.txt")]
pub struct DigestText<'a> {
    pub notices: &'a [NoticeView],
    pub footer: &'a MailFooter,
}

#[derive(Template)]
#[template(path = "mail/digest.html")]
pub struct DigestHtml<'a> {
    pub notices: &'a [NoticeView],
    pub footer: &'a MailFooter,
}

/// Why the reader gets the mail, and how to get fewer.
pub struct MailFooter {
    pub reason: &'static str,
    /// My profile's notification settings.
    pub settings_link: String,
    /// Turns off this kind of mail without signing in.
    pub unsubscribe_link: Option<String>,
}

/// A subject line: the ticket's number, severity and summary, then what happened. Nothing a
/// ticket's text holds can become another header: control characters are spaces here, and the
/// mail library encodes the rest.
pub fn subject(notice: &NoticeView) -> String {
    let severity = notice.severity.map(|s| format!("[{s}] ")).unwrap_or_default();
    let line = format!("[{}] {severity}{} — {}", notice.number, notice.summary, notice.headline);
    let clean: String = line.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    clean.chars().take(250).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(summary: &str) -> NoticeView {
        NoticeView {
            headline: "Armor Support replied".into(),
            number: "ATS-7".into(),
            summary: summary.into(),
            severity: Some("High"),
            status: "Open",
            comment: None,
            files: Vec::new(),
            when: crate::views::format::timestamp(chrono::Utc::now(), chrono_tz::UTC),
            link: "https://portal.example/support/tickets/ATS-7".into(),
        }
    }

    #[test]
    fn a_subject_names_the_ticket_and_cannot_break_the_header() {
        assert_eq!(subject(&notice("Port scan")), "[ATS-7] [High] Port scan — Armor Support replied");
        let injected = subject(&notice("Hi\r\nBcc: evil@example.com\n\nbody"));
        assert!(!injected.contains(['\r', '\n']), "{injected}");
    }
}
