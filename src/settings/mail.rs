//! Where notification mails go and whom they come from.

use std::str::FromStr;

use lettre::message::Mailbox;
use secrecy::{ExposeSecret, SecretString};

use super::{SettingError, bad};

#[derive(Debug, Clone, Default)]
pub struct MailSettings {
    /// Unset: notifications are recorded, not mailed.
    pub smtp_url: Option<SecretString>,
    /// Unset: `Incident Portal <incident-portal@` + the public URL's host + `>`.
    pub from: Option<Mailbox>,
    pub desk: Option<Mailbox>,
}

impl MailSettings {
    pub fn is_on(&self) -> bool {
        self.smtp_url.is_some()
    }
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

fn mailbox(value: Option<&str>, id: &str) -> Result<Option<Mailbox>, SettingError> {
    non_empty(value)
        .map(|text| {
            Mailbox::from_str(text)
                .map_err(|_| bad(id, format!("\"{text}\" is not an address such as Name <name@example.com>")))
        })
        .transpose()
}

/// The URL is not echoed in messages: it may hold the relay's password.
pub fn mail_settings(
    smtp_url: Option<&str>,
    from: Option<&str>,
    desk: Option<&str>,
) -> Result<MailSettings, SettingError> {
    let smtp_url = match non_empty(smtp_url) {
        None => None,
        Some(url) => {
            let parsed = url::Url::parse(url).map_err(|_| bad("smtp_url", "is not a URL such as smtp://relay:25"))?;
            if !matches!(parsed.scheme(), "smtp" | "smtps") || parsed.host_str().is_none_or(str::is_empty) {
                return Err(bad("smtp_url", "use smtp://host:port, smtp://host?tls=required or smtps://host"));
            }
            Some(SecretString::from(url.to_string()))
        }
    };
    Ok(MailSettings { smtp_url, from: mailbox(from, "mail_from")?, desk: mailbox(desk, "desk_email")? })
}

impl std::fmt::Display for MailSettings {
    /// For the start-up line: where mail goes, without credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.smtp_url {
            None => write!(f, "mail is off (SMTP_URL unset): notifications are recorded, not sent"),
            Some(url) => match url::Url::parse(url.expose_secret()) {
                Ok(url) => write!(f, "mail goes to {}://{}", url.scheme(), url.host_str().unwrap_or("?")),
                Err(_) => write!(f, "mail is on"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relays_and_addresses_are_checked_and_secrets_not_echoed() {
        let on = mail_settings(Some("smtp://user:pw@relay:2525?tls=required"), Some("Portal <p@example.com>"), None)
            .unwrap();
        assert!(on.is_on());
        assert_eq!(on.to_string(), "mail goes to smtp://relay");
        assert!(!mail_settings(None, None, None).unwrap().is_on());
        let error = mail_settings(Some("http://user:hunter2@relay"), None, None).unwrap_err().to_string();
        assert!(error.starts_with("SMTP_URL (--smtp-url)") && !error.contains("hunter2"), "{error}");
        let error = mail_settings(None, Some("not an address"), None).unwrap_err().to_string();
        assert!(error.starts_with("MAIL_FROM"), "{error}");
        assert!(mail_settings(None, None, Some("desk@support.example")).unwrap().desk.is_some());
    }
}
