//! Text that users type, checked once: each function turns raw form input into the value the
//! portal stores, or a message for the form.

pub const MAX_SUMMARY_CHARS: usize = 200;
pub const MAX_TEXT_CHARS: usize = 20_000;
pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_EMAIL_CHARS: usize = 254;

fn has_control_chars(text: &str, allow_newlines: bool) -> bool {
    text.chars().any(|c| c.is_control() && !(allow_newlines && matches!(c, '\n' | '\r' | '\t')))
}

/// A ticket's summary: required, one line, at most 200 characters.
pub fn summary(raw: &str) -> Result<String, String> {
    let text = raw.trim();
    if text.is_empty() {
        return Err("Enter a summary.".into());
    }
    if text.chars().count() > MAX_SUMMARY_CHARS {
        return Err(format!("The summary is too long: at most {MAX_SUMMARY_CHARS} characters."));
    }
    if has_control_chars(text, false) {
        return Err("The summary must be a single line of text.".into());
    }
    Ok(text.to_string())
}

/// Multi-line text (descriptions, comments); `required` says whether it may be empty.
pub fn text(raw: &str, required: bool, what: &str) -> Result<String, String> {
    let text = raw.trim().replace("\r\n", "\n");
    if required && text.is_empty() {
        return Err(format!("Enter {what}."));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(format!("The text is too long: at most {MAX_TEXT_CHARS} characters."));
    }
    if has_control_chars(&text, true) {
        return Err("The text contains characters that cannot be shown.".into());
    }
    Ok(text)
}

/// A first or last name.
pub fn name(raw: &str, what: &str) -> Result<String, String> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(format!("Enter the {what}."));
    }
    if text.chars().count() > MAX_NAME_CHARS || has_control_chars(text, false) {
        return Err(format!("The {what} must be one line of at most {MAX_NAME_CHARS} characters."));
    }
    Ok(text.to_string())
}

/// An email address, lower-cased. Only the shape is checked; no mail is ever sent.
pub fn email(raw: &str) -> Result<String, String> {
    let text = raw.trim().to_lowercase();
    let valid = text.len() <= MAX_EMAIL_CHARS
        && !has_control_chars(&text, false)
        && !text.contains(char::is_whitespace)
        && text.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    if valid { Ok(text) } else { Err("Enter an email address such as name@example.com.".into()) }
}

/// A customer account's number: a positive whole number.
pub fn account_number(raw: &str) -> Result<i64, String> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| (1..=999_999_999_999).contains(n))
        .ok_or_else(|| "The account number must be a whole number from 1 to 999999999999.".into())
}

pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 256;

/// A new password and its confirmation.
pub fn new_password(password: &str, confirmation: &str) -> Result<String, String> {
    let length = password.chars().count();
    if length < MIN_PASSWORD_CHARS {
        return Err(format!("Choose a password of at least {} characters.", MIN_PASSWORD_CHARS));
    }
    if length > MAX_PASSWORD_CHARS {
        return Err(format!("The password may have at most {} characters.", MAX_PASSWORD_CHARS));
    }
    if password != confirmation {
        return Err("The two passwords differ.".into());
    }
    Ok(password.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_are_required_single_lines_of_limited_length() {
        assert_eq!(summary("  Port scan  "), Ok("Port scan".into()));
        assert!(summary("   ").is_err());
        assert!(summary(&"x".repeat(201)).is_err());
        assert!(summary(&"é".repeat(200)).is_ok(), "characters, not bytes");
        assert!(summary("two\nlines").is_err());
    }

    #[test]
    fn texts_keep_newlines_but_refuse_other_control_characters() {
        assert_eq!(text("a\r\nb", true, "a comment"), Ok("a\nb".into()));
        assert_eq!(text(" ", true, "a comment"), Err("Enter a comment.".into()));
        assert_eq!(text(" ", false, "a description"), Ok(String::new()));
        assert!(text("bell\u{7}", true, "a comment").is_err());
    }

    #[test]
    fn emails_are_lower_cased_and_shaped_like_addresses() {
        assert_eq!(email(" Ann@Example.COM "), Ok("ann@example.com".into()));
        for bad in ["", "ann", "ann@", "@example.com", "ann@example", "a b@example.com", "ann@.com", "a@b@c.com"] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn new_passwords_must_be_long_and_confirmed() {
        assert!(new_password("short", "short").is_err());
        assert!(new_password("a long enough password", "a long enough passw0rd").is_err());
        assert!(new_password("a long enough password", "a long enough password").is_ok());
    }
}
