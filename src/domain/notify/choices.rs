//! My profile's notification form: whom it is for, what it offers them, and what they chose.

use std::collections::BTreeSet;

use super::{Notice, NoticeKind, Preferences, staff_default};
use crate::domain::principal::Principal;
use crate::domain::ticket::Severity;

/// Whom a notification settings page is for: customers hear of their tickets' events, support
/// staff of the desk's (and of new incidents), each with their own default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Customer,
    Support,
}

impl Audience {
    pub fn of(principal: &Principal) -> Audience {
        if principal.is_support() { Audience::Support } else { Audience::Customer }
    }

    /// The kinds this audience chooses among, in the order the page lists them.
    pub fn kinds(self) -> &'static [NoticeKind] {
        match self {
            Audience::Customer => &NoticeKind::FOR_CUSTOMERS,
            Audience::Support => &NoticeKind::FOR_SUPPORT,
        }
    }

    /// What someone who never chose hears of: a customer everything at once, staff nothing.
    pub fn defaults(self) -> Preferences {
        match self {
            Audience::Customer => Preferences::default(),
            Audience::Support => staff_default(),
        }
    }

    /// A kind this audience hears of whatever they choose (a customer always hears of closure).
    pub fn always_hears(self, kind: NoticeKind) -> bool {
        self == Audience::Customer && Notice { kind, severity: None, with_comment: false }.always_sent()
    }

    /// Whether `preferences` let this audience hear of `kind` at all (thresholds aside).
    pub fn hears(self, preferences: &Preferences, kind: NoticeKind) -> bool {
        self.always_hears(kind) || !preferences.muted_kinds.contains(&kind)
    }
}

/// The hour of the day a digest goes out when none was chosen.
pub const DEFAULT_DIGEST_HOUR: u32 = 8;

/// My profile's notification form, as sent.
#[derive(Debug, Clone, Copy)]
pub struct ChoiceInput<'a> {
    /// The codes of the kinds ticked.
    pub kinds: &'a [String],
    /// A severity's slug (`high`), or empty for every ticket.
    pub threshold: &'a str,
    /// `immediate` or `digest`.
    pub delivery: &'a str,
    pub digest_hour: &'a str,
}

/// What a user chose to hear of, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choices {
    pub preferences: Preferences,
    /// The hour of the user's own day (0–23) the digest goes out.
    pub digest_hour: u32,
}

impl Choices {
    /// Checks the form of `audience`: only its kinds, a known severity, an hour from 0 to 23. The
    /// kinds not ticked are turned off; those always sent cannot be.
    pub fn parse(audience: Audience, input: &ChoiceInput<'_>) -> Result<Choices, Vec<String>> {
        let mut errors = Vec::new();
        let mut chosen = BTreeSet::new();
        for code in input.kinds {
            match NoticeKind::from_code(code.trim()).filter(|k| audience.kinds().contains(k)) {
                Some(kind) => {
                    chosen.insert(kind);
                }
                None => errors.push("Choose the kinds of notification from the list.".to_string()),
            }
        }
        let threshold = input.threshold.trim();
        let min_severity = if threshold.is_empty() {
            None
        } else {
            let found = Severity::ALL.into_iter().find(|s| s.slug().eq_ignore_ascii_case(threshold));
            if found.is_none() {
                errors.push("Choose a severity from the list.".into());
            }
            found
        };
        let digest = match input.delivery.trim() {
            "immediate" => false,
            "digest" => true,
            _ => {
                errors.push("Choose between a mail for each change and a daily digest.".into());
                false
            }
        };
        let digest_hour = match input.digest_hour.trim().parse::<u32>() {
            Ok(hour) if hour <= 23 => hour,
            _ => {
                errors.push("Choose the digest's hour from 0 to 23.".into());
                DEFAULT_DIGEST_HOUR
            }
        };
        errors.dedup();
        if !errors.is_empty() {
            return Err(errors);
        }
        let muted_kinds =
            audience.kinds().iter().copied().filter(|k| !chosen.contains(k) && !audience.always_hears(*k)).collect();
        Ok(Choices { preferences: Preferences { muted_kinds, min_severity, digest }, digest_hour })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(kinds: &'a [String], threshold: &'a str, delivery: &'a str, hour: &'a str) -> ChoiceInput<'a> {
        ChoiceInput { kinds, threshold, delivery, digest_hour: hour }
    }

    #[test]
    fn the_form_turns_off_what_is_not_ticked_but_never_what_is_always_sent() {
        let ticked = vec!["support_comment".to_string(), "labelled".to_string()];
        let choices = Choices::parse(Audience::Customer, &input(&ticked, "high", "digest", "7")).unwrap();
        assert_eq!(choices.digest_hour, 7);
        assert_eq!(choices.preferences.min_severity, Some(Severity::High));
        assert!(choices.preferences.digest);
        let off: Vec<NoticeKind> = choices.preferences.muted_kinds.iter().copied().collect();
        assert_eq!(
            off,
            vec![
                NoticeKind::SeverityChanged,
                NoticeKind::RequiresAttention,
                NoticeKind::ClosureDeclined,
                NoticeKind::Reopened
            ],
            "closure cannot be turned off"
        );
        let everything: Vec<String> = NoticeKind::FOR_CUSTOMERS.iter().map(|k| k.code().to_string()).collect();
        let all = Choices::parse(Audience::Customer, &input(&everything, "", "immediate", "8")).unwrap();
        assert_eq!(all.preferences, Preferences::default(), "everything ticked is the default");
        assert_eq!(
            Choices::parse(Audience::Support, &input(&[], "", "immediate", "8")).unwrap().preferences.muted_kinds,
            NoticeKind::FOR_SUPPORT.into_iter().collect(),
            "staff who tick nothing hear of nothing"
        );
    }

    #[test]
    fn the_form_refuses_what_the_page_never_offers() {
        let desk_kind = vec!["customer_comment".to_string()];
        assert!(Choices::parse(Audience::Customer, &input(&desk_kind, "", "immediate", "8")).is_err());
        let customer_kind = vec!["support_comment".to_string()];
        assert!(Choices::parse(Audience::Support, &input(&customer_kind, "", "immediate", "8")).is_err());
        for (threshold, delivery, hour) in [
            ("extreme", "immediate", "8"),
            ("", "weekly", "8"),
            ("", "digest", "24"),
            ("", "digest", "-1"),
            ("", "digest", ""),
        ] {
            let errors = Choices::parse(Audience::Customer, &input(&[], threshold, delivery, hour)).unwrap_err();
            assert_eq!(errors.len(), 1, "{threshold:?} {delivery:?} {hour:?}: {errors:?}");
        }
        let bogus = vec!["nope".to_string(), "worse".to_string()];
        let errors = Choices::parse(Audience::Customer, &input(&bogus, "x", "x", "x")).unwrap_err();
        assert_eq!(errors.len(), 4, "one message per problem: {errors:?}");
    }

    #[test]
    fn staff_and_customers_start_from_their_own_defaults() {
        assert!(NoticeKind::FOR_CUSTOMERS.iter().all(|k| Audience::Customer.hears(&Audience::Customer.defaults(), *k)));
        assert!(!NoticeKind::FOR_SUPPORT.iter().any(|k| Audience::Support.hears(&Audience::Support.defaults(), *k)));
        let nothing = Preferences { muted_kinds: NoticeKind::ALL.into_iter().collect(), ..Preferences::default() };
        assert!(Audience::Customer.hears(&nothing, NoticeKind::Closed), "closure always reaches customers");
    }
}
