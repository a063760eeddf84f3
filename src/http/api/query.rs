//! The query strings of API calls, read as each family of paths reads them. Both take an empty
//! value as absent (clients build queries from optional settings). `/api/v1/…` refuses a parameter
//! it does not know and one given twice, as its document says; the original provider's paths
//! ignore unknown parameters and pieces that are not `key=value` (its clients send such queries)
//! and take a repeated parameter's first value. Bad values of known parameters are 400 in both.

use actix_web::HttpRequest;

use crate::error::AppError;
use crate::paths::{self, ApiFamily};

/// The family of the path a request came in on (the handlers serve both).
pub fn family(req: &HttpRequest) -> ApiFamily {
    paths::api_family(req.path()).unwrap_or(ApiFamily::V1)
}

pub struct ApiQuery {
    family: ApiFamily,
    pairs: Vec<(String, String)>,
}

impl ApiQuery {
    /// The query of a call to a path of `family` that reads the parameters `known`. Bytes that are
    /// not UTF-8 or not a valid escape are read as the replacement character, as browsers do.
    pub fn parse(family: ApiFamily, query: &str, known: &[&str]) -> Result<ApiQuery, AppError> {
        let mut pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        match family {
            ApiFamily::V1 => {
                if let Some((unknown, _)) = pairs.iter().find(|(k, _)| !known.contains(&k.as_str())) {
                    return Err(AppError::BadRequest(if known.is_empty() {
                        "This endpoint takes no parameters.".to_string()
                    } else {
                        format!("Unknown parameter \"{}\": use {}.", shorten(unknown), known.join(", "))
                    }));
                }
            }
            ApiFamily::Original => pairs.retain(|(k, _)| known.contains(&k.as_str())),
        }
        Ok(ApiQuery { family, pairs })
    }

    /// The value of a single-valued parameter, `None` when absent or empty.
    pub fn value(&self, name: &str) -> Result<Option<&str>, AppError> {
        let mut values = self.pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let first = values.next();
        if self.family == ApiFamily::V1 && values.next().is_some() {
            return Err(AppError::BadRequest(format!("Give {name} once.")));
        }
        Ok(first.filter(|v| !v.is_empty()))
    }

    /// Every non-empty value of a parameter that may be repeated.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.pairs.iter().filter(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str()).collect()
    }
}

/// A whole number written in digits only, within `min..=max`.
pub fn whole_number(value: Option<&str>, name: &str, min: u64, max: u64) -> Result<Option<u64>, AppError> {
    let Some(value) = value else { return Ok(None) };
    value
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| value.parse::<u64>().ok())
        .flatten()
        .filter(|n| (min..=max).contains(n))
        .map(Some)
        .ok_or_else(|| AppError::BadRequest(format!("{name} must be a whole number from {min} to {max}.")))
}

/// One of `allowed`, exactly as written there.
pub fn one_of<'a>(value: Option<&str>, name: &str, allowed: &[&'a str]) -> Result<Option<&'a str>, AppError> {
    let Some(value) = value else { return Ok(None) };
    allowed.iter().find(|a| **a == value).copied().map(Some).ok_or_else(|| {
        AppError::BadRequest(format!("Unknown {name} \"{}\": use {}.", shorten(value), allowed.join(", ")))
    })
}

/// Echo at most a little of a bad value back, so that a huge parameter does not make a huge error.
pub fn shorten(value: &str) -> String {
    const MAX: usize = 40;
    if value.chars().count() <= MAX {
        value.to_string()
    } else {
        format!("{}…", value.chars().take(MAX).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(family: ApiFamily, query: &str) -> Result<ApiQuery, AppError> {
        ApiQuery::parse(family, query, &["page", "severity"])
    }

    #[test]
    fn v1_refuses_unknown_and_repeated_parameters() {
        assert!(parse(ApiFamily::V1, "colour=red").is_err());
        assert!(parse(ApiFamily::V1, "page=1&page=2").unwrap().value("page").is_err());
        assert!(ApiQuery::parse(ApiFamily::V1, "x=1", &[]).is_err(), "no parameters at all");
        assert_eq!(parse(ApiFamily::V1, "severity=High&severity=Low").unwrap().values("severity"), ["High", "Low"]);
    }

    #[test]
    fn the_original_paths_ignore_what_they_do_not_read() {
        for query in ["colour=red", "garbage", "&&==&", "%zz=%", "page", "=1", "page=&severity="] {
            let parsed = parse(ApiFamily::Original, query).unwrap();
            assert_eq!(parsed.value("page").unwrap(), None, "{query}");
            assert!(parsed.values("severity").is_empty(), "{query}");
        }
        assert_eq!(parse(ApiFamily::Original, "page=2&page=3").unwrap().value("page").unwrap(), Some("2"));
    }

    #[test]
    fn empty_values_are_absent_in_both_families() {
        for family in [ApiFamily::V1, ApiFamily::Original] {
            assert_eq!(parse(family, "page=").unwrap().value("page").unwrap(), None);
        }
    }

    #[test]
    fn numbers_are_digits_within_their_range() {
        assert_eq!(whole_number(Some("007"), "page", 1, 10).unwrap(), Some(7));
        for bad in ["0", "11", "+1", " 1", "1.0", "-1", "1e1", "99999999999999999999999"] {
            assert!(whole_number(Some(bad), "page", 1, 10).is_err(), "{bad}");
        }
    }
}
