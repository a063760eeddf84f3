//! The audit log's filters: the query string of `/desk/audit` ↔ what the log is searched for,
//! as `listing` is for the ticket tables.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use super::input;
use super::listing::QueryError;

/// Entries per page.
pub const PAGE_SIZE: i64 = 50;
const MAX_PAGE: u32 = 100_000;
const MAX_ACTION_LEN: usize = 64;
const MAX_ACTOR_CHARS: usize = 254;

/// What the log is searched for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub account_number: Option<i64>,
    /// Part of the actor's email.
    pub actor: Option<String>,
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    /// The end of the last day asked for (exclusive).
    pub until: Option<DateTime<Utc>>,
}

/// The filters as typed (trimmed, empty ones left out), for the form and the pager's links.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AuditFields {
    pub account: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub from: Option<String>,
    pub until: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    pub filter: AuditFilter,
    pub fields: AuditFields,
    pub page: u32,
}

#[derive(Deserialize)]
struct RawAuditQuery {
    #[serde(flatten)]
    fields: AuditFields,
    page: Option<String>,
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

fn bad(message: &str) -> QueryError {
    QueryError(message.to_string())
}

impl AuditQuery {
    /// Reads the query string; dates are days of the reader's `zone`, from the start of `from` to
    /// the end of `until`.
    pub fn from_query_string(query_string: &str, zone: Tz) -> Result<AuditQuery, QueryError> {
        let raw: RawAuditQuery = serde_html_form::from_str(query_string)
            .map_err(|e| QueryError(format!("The address has a malformed query: {e}.")))?;
        let fields = AuditFields {
            account: non_empty(raw.fields.account),
            actor: non_empty(raw.fields.actor),
            action: non_empty(raw.fields.action),
            from: non_empty(raw.fields.from),
            until: non_empty(raw.fields.until),
        };
        if fields.action.as_ref().is_some_and(|a| a.len() > MAX_ACTION_LEN || a.chars().any(char::is_control)) {
            return Err(bad("Unknown action."));
        }
        if fields.actor.as_ref().is_some_and(|a| a.chars().count() > MAX_ACTOR_CHARS) {
            return Err(bad("The actor filter is too long."));
        }
        if fields.actor.as_ref().is_some_and(|a| a.chars().any(char::is_control)) {
            return Err(bad("The actor filter contains control characters."));
        }
        let day = |raw: &str| -> Result<DateTime<Utc>, QueryError> {
            let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| bad("Dates are written YYYY-MM-DD."))?;
            let start = zone
                .from_local_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
                .earliest()
                .ok_or_else(|| bad("That date does not exist in your time zone."))?;
            Ok(start.with_timezone(&Utc))
        };
        let filter = AuditFilter {
            account_number: fields.account.as_deref().map(input::account_number).transpose().map_err(QueryError)?,
            actor: fields.actor.clone(),
            action: fields.action.clone(),
            from: fields.from.as_deref().map(day).transpose()?,
            until: fields.until.as_deref().map(|d| day(d).map(|start| start + Duration::days(1))).transpose()?,
        };
        let page = match non_empty(raw.page) {
            Some(p) => p
                .parse()
                .ok()
                .filter(|n| (1..=MAX_PAGE).contains(n))
                .ok_or_else(|| bad("The page must be a whole number from 1."))?,
            None => 1,
        };
        Ok(AuditQuery { filter, fields, page })
    }

    /// Rows to skip for this page.
    pub fn offset(&self) -> i64 {
        i64::from(self.page - 1) * PAGE_SIZE
    }

    /// The query string of page `page` with the same filters.
    pub fn page_query(&self, page: u32) -> String {
        let fields = &self.fields;
        let mut pairs: Vec<(&str, String)> = [
            ("account", &fields.account),
            ("actor", &fields.actor),
            ("action", &fields.action),
            ("from", &fields.from),
            ("until", &fields.until),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.clone().map(|v| (key, v)))
        .collect();
        pairs.push(("page", page.to_string()));
        serde_html_form::to_string(&pairs).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<AuditQuery, QueryError> {
        AuditQuery::from_query_string(query, chrono_tz::America::New_York)
    }

    #[test]
    fn an_empty_query_is_the_first_page_of_everything() {
        let query = parse("").unwrap();
        assert_eq!(query.filter, AuditFilter::default());
        assert_eq!((query.page, query.offset()), (1, 0));
    }

    #[test]
    fn days_are_the_readers_days() {
        let query = parse("from=2026-03-01&until=2026-03-01").unwrap();
        assert_eq!(query.filter.from.unwrap().to_rfc3339(), "2026-03-01T05:00:00+00:00");
        assert_eq!(query.filter.until.unwrap().to_rfc3339(), "2026-03-02T05:00:00+00:00");
    }

    #[test]
    fn filters_round_trip_through_the_pager() {
        let query = parse("account=+1001+&actor=tess&action=sign_in&page=2&zzz=1").unwrap();
        assert_eq!(query.filter.account_number, Some(1001));
        assert_eq!(query.offset(), PAGE_SIZE);
        let next = parse(&query.page_query(3)).unwrap();
        assert_eq!((next.filter, next.page), (query.filter, 3));
    }

    #[test]
    fn bad_values_are_refused_with_a_message() {
        for bad in [
            "from=yesterday",
            "page=0",
            "page=x",
            "action=%00",
            "actor=a%1Bb",
            "account=abc",
            "severity=High&severity=Low&page=1&page=2",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse(&format!("actor={}", "a".repeat(255))).is_err());
    }
}
