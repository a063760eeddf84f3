//! How a command that failed tells the person who ran it: one line, each cause once.

/// The error and its causes joined by ": ", leaving out a cause whose text the line already holds:
/// sqlx and its migrator print their source inside their own message, so the whole chain said the
/// same thing up to three times.
pub fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("while executing migrations: {0}")]
    struct Wrapping(#[source] std::io::Error);

    #[test]
    fn a_cause_already_in_its_wrappers_message_is_said_once() {
        let inner = std::io::Error::other("connection reset");
        let error = anyhow::Error::new(Wrapping(inner)).context("the database could not be migrated");
        assert_eq!(
            one_line(&error),
            "the database could not be migrated: while executing migrations: connection reset"
        );
    }

    #[test]
    fn distinct_causes_are_all_kept_in_order() {
        let error = anyhow::anyhow!("disk full").context("writing the key file").context("cannot start");
        assert_eq!(one_line(&error), "cannot start: writing the key file: disk full");
    }
}
