//! Security incidents, their counts per severity, and the caller: served at `/api/v1/…` and at the
//! original provider's root paths by the same handlers.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::{IntoParams, ToSchema};

use super::caller::ApiCaller;
use super::doc::{ApiError, array_of, enumeration, integer, query_param, text_matching};
use super::query::{ApiQuery, family, one_of, whole_number};
use crate::domain::listing::{ListKind, ListQuery, MAX_PAGE, MAX_SEARCH_CHARS, RawListQuery};
use crate::domain::permission::Permission;
use crate::domain::policy;
use crate::domain::ticket::{Severity, TicketNumber, TicketStatus};
use crate::error::AppError;
use crate::paths;
use crate::settings::PublicUrl;
use crate::state::AppState;
use crate::store::TicketRow;

pub const MAX_PAGE_SIZE: u32 = 100;

/// One incident, in the original API's field names.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecurityIncident {
    /// `ATS-<n>`.
    #[schema(example = "ATS-100042", pattern = "^ATS-[0-9]+$")]
    pub ticket_number: String,
    pub ticket_summary: String,
    /// Low, Medium, High or Critical.
    #[schema(example = "Critical", pattern = "^(Low|Medium|High|Critical)$")]
    pub ticket_severity: String,
    /// P1 (Critical) to P4 (Low), derived from the severity.
    #[schema(example = "P1", pattern = "^P[1-4]$")]
    pub ticket_priority: String,
    /// Open or Requires Attention.
    #[schema(example = "Open", pattern = "^(Open|Requires Attention)$")]
    pub ticket_status: String,
    /// When the ticket was opened, RFC 3339 in UTC.
    #[schema(example = "2026-11-30T08:15:00Z", format = DateTime)]
    pub created_date: String,
    /// Always true for listed incidents (they are open and visible to the caller).
    pub enabled: bool,
    /// Whether the customer asked support to close it.
    pub closure_requested: bool,
    /// The incident's page in the portal.
    pub ticket_link: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecurityIncidentList {
    /// Incidents matching the query, across all pages.
    #[schema(minimum = 0)]
    pub total: i64,
    #[schema(minimum = 1, maximum = 100000)]
    pub page: u32,
    #[schema(minimum = 1, maximum = 100)]
    pub page_size: u32,
    pub items: Vec<SecurityIncident>,
}

/// Open incidents the caller may see, per severity.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeverityCount {
    #[schema(minimum = 0)]
    pub total_critical_status: i64,
    #[schema(minimum = 0)]
    pub total_high_status: i64,
    #[schema(minimum = 0)]
    pub total_medium_status: i64,
    #[schema(minimum = 0)]
    pub total_low_status: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeAccount {
    pub number: i64,
    pub name: String,
}

/// The caller in the original API's shape.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OriginalUser {
    /// `customer`, or `support` for the provider's staff.
    #[serde(rename = "type")]
    #[schema(pattern = "^(customer|support)$")]
    pub kind: String,
    /// The email address the user signs in with.
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub links: OriginalUserLinks,
    /// Passwords do not expire in the portal: always `null`.
    #[schema(value_type = Option<String>)]
    pub password_expiry: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OriginalUserLinks {
    pub user_id: i64,
}

/// An account the caller may act in; its `id` is what `X-Account-Context` takes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OriginalAccount {
    /// The account number.
    pub id: i64,
    pub name: String,
    #[schema(pattern = "^Active$")]
    pub status: String,
    #[schema(pattern = "^Customer$")]
    pub account_type: String,
}

/// The caller: the portal's own fields, and the original's `user` and `accounts` beside them, so
/// that clients of either read what they expect.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub time_zone: String,
    /// `null` for the provider's support staff.
    pub account: Option<MeAccount>,
    pub support_staff: bool,
    /// The names of the caller's permissions, as the portal shows them.
    pub permissions: Vec<String>,
    pub user: OriginalUser,
    /// The caller's account (none for support staff); clients take the first as their
    /// `X-Account-Context`.
    pub accounts: Vec<OriginalAccount>,
}

/// The list's query parameters (see [`list_query`] for what is enforced, and `doc` for how the
/// document states it).
pub struct IncidentListParams;

pub const INCIDENT_PARAMS: [&str; 7] = ["page", "pageSize", "severity", "status", "search", "sort", "dir"];
const SEVERITY_NAMES: [&str; 4] = ["Low", "Medium", "High", "Critical"];
const STATUS_CODES: [&str; 2] = ["open", "requires_attention"];
const SORT_CODES: [&str; 5] = ["number", "summary", "severity", "status", "created"];
const DIRECTIONS: [&str; 2] = ["asc", "desc"];

/// A value listing several of `names`, comma-separated: `High,Critical`.
fn comma_list_pattern(names: &[&str]) -> String {
    let one = format!("({})", names.join("|"));
    format!("^{one}(,{one})*$")
}

impl IntoParams for IncidentListParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let query = query_param;
        vec![
            query("page", "Page number, from 1.", integer(1, u64::from(MAX_PAGE))),
            query("pageSize", "Items per page (default 25).", integer(1, u64::from(MAX_PAGE_SIZE))),
            query(
                "severity",
                "Low, Medium, High or Critical; repeat the parameter or separate with commas for several.",
                array_of(text_matching(&comma_list_pattern(&SEVERITY_NAMES), None)),
            ),
            query(
                "status",
                "`open` or `requires_attention` (default both); repeat or separate with commas.",
                array_of(text_matching(&comma_list_pattern(&STATUS_CODES), None)),
            ),
            query(
                "search",
                "A ticket number, or words that must all appear in the summary: at most 200 characters and 8 words, no control characters.",
                text_matching(&search_pattern(), Some(MAX_SEARCH_CHARS)),
            ),
            query("sort", "The column to sort by (default severity).", enumeration(&SORT_CODES)),
            query("dir", "asc or desc (default: the column's natural direction).", enumeration(&DIRECTIONS)),
        ]
    }
}

/// Characters that separate words in a search: whitespace that is not a control character (those
/// are refused).
pub const WORD_SEPARATORS: &str = r"\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// Control characters, which no text of the API may hold (tab and line breaks aside, in comments).
pub const CONTROL_CHARACTERS: &str = r"\u0000-\u001f\u007f-\u009f";

/// At most eight words of no control characters (the length is `maxLength`).
fn search_pattern() -> String {
    let separator = format!("[{WORD_SEPARATORS}]");
    let word = format!("[^{CONTROL_CHARACTERS}{WORD_SEPARATORS}]");
    format!("^{separator}*({word}+{separator}+){{0,7}}({word}+{separator}*)?$")
}

/// Exactly what the document says: each value of a known parameter is checked as written (no
/// trimming, no other case), so the document's patterns and the server agree.
pub fn list_query(query: &ApiQuery) -> Result<ListQuery, AppError> {
    let page = whole_number(query.value("page")?, "page", 1, u64::from(MAX_PAGE))?;
    let page_size = whole_number(query.value("pageSize")?, "pageSize", 1, u64::from(MAX_PAGE_SIZE))?
        .map_or(crate::domain::listing::DEFAULT_PAGE_SIZE, |n| n as u32);
    let mut severity = Vec::new();
    for value in query.values("severity") {
        for token in value.split(',') {
            severity.push(one_of(Some(token), "severity", &SEVERITY_NAMES)?.unwrap_or_default().to_string());
        }
    }
    let mut status = Vec::new();
    for value in query.values("status") {
        for token in value.split(',') {
            status.push(one_of(Some(token), "status", &STATUS_CODES)?.unwrap_or_default().to_string());
        }
    }
    let search = query.value("search")?;
    if let Some(search) = search {
        if search.chars().count() > MAX_SEARCH_CHARS {
            return Err(AppError::BadRequest(format!("search is too long: at most {MAX_SEARCH_CHARS} characters.")));
        }
        if search.chars().any(char::is_control) {
            return Err(AppError::BadRequest("search contains control characters.".into()));
        }
    }
    let raw = RawListQuery {
        severity,
        status,
        q: search.map(str::to_string),
        sort: one_of(query.value("sort")?, "sort", &SORT_CODES)?.map(str::to_string),
        dir: one_of(query.value("dir")?, "dir", &DIRECTIONS)?.map(str::to_string),
        page: page.map(|p| p.to_string()),
        ..RawListQuery::default()
    };
    let mut query = ListQuery::parse(ListKind::SecurityIncidents, raw).map_err(|e| AppError::BadRequest(e.0))?;
    query.page_size = page_size;
    Ok(query)
}

fn priority(severity: Option<Severity>) -> &'static str {
    match severity {
        Some(Severity::Critical) => "P1",
        Some(Severity::High) => "P2",
        Some(Severity::Medium) => "P3",
        Some(Severity::Low) | None => "P4",
    }
}

fn incident(row: &TicketRow, public_url: &PublicUrl) -> SecurityIncident {
    let number = TicketNumber::from_id(row.id);
    let severity = row.severity;
    SecurityIncident {
        ticket_number: number.to_string(),
        ticket_summary: row.summary.clone(),
        ticket_severity: severity.map(|s| s.name().to_string()).unwrap_or_default(),
        ticket_priority: priority(severity).to_string(),
        ticket_status: row.status.name().to_string(),
        created_date: super::wire::date(row.created_at),
        enabled: row.status != TicketStatus::Closed,
        closure_requested: row.closure_requested_at.is_some(),
        ticket_link: public_url.link(&paths::incident(number)),
    }
}

/// Get Security Incidents: the open incidents the caller may see.
#[utoipa::path(
    get,
    path = "/api/v1/security-incidents",
    operation_id = "security_incidents",
    tag = "Security incidents",
    params(IncidentListParams),
    responses(
        (status = 200, description = "One page of open incidents", body = SecurityIncidentList),
        (status = 400, description = "A bad value, a parameter given twice, or (here) an unknown parameter", body = ApiError),
        (status = 401, description = "Missing or invalid credentials", body = ApiError),
        (status = 403, description = "Missing Read Ticket or Read Dashboard Statistics, or an invalid account context", body = ApiError),
        (status = 429, description = "Too many calls with this key; see Retry-After", body = ApiError),
    ),
    security(("ARMOR-PSK" = []), ("FH-AUTH" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn security_incidents(
    caller: ApiCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let query = ApiQuery::parse(family(&req), req.query_string(), &INCIDENT_PARAMS)?;
    let scope = policy::incident_screen_scope(&caller.principal)?;
    let query = list_query(&query)?;
    let page = state.reads().await.list_tickets(&scope, &query).await?;
    Ok(HttpResponse::Ok().json(SecurityIncidentList {
        total: page.total,
        page: query.page,
        page_size: query.page_size,
        items: page.rows.iter().map(|row| incident(row, &state.public_url)).collect(),
    }))
}

/// Get Security Incidents Severity Count: open incidents the caller may see, per severity.
#[utoipa::path(
    get,
    path = "/api/v1/security-incidents/severity-count",
    operation_id = "severity_count",
    tag = "Security incidents",
    responses(
        (status = 200, description = "Counts per severity", body = SeverityCount),
        (status = 400, description = "A query parameter: this endpoint takes none", body = ApiError),
        (status = 401, description = "Missing or invalid credentials", body = ApiError),
        (status = 403, description = "Missing Read Ticket or Read Dashboard Statistics, or an invalid account context", body = ApiError),
        (status = 429, description = "Too many calls with this key; see Retry-After", body = ApiError),
    ),
    security(("ARMOR-PSK" = []), ("FH-AUTH" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn severity_count(
    caller: ApiCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    ApiQuery::parse(family(&req), req.query_string(), &[])?;
    let scope = policy::incident_screen_scope(&caller.principal)?;
    let counts = state.reads().await.open_incident_counts(&scope).await?.by_severity();
    let of = |severity: Severity| counts.iter().find(|(s, _)| *s == severity).map_or(0, |(_, n)| *n);
    Ok(HttpResponse::Ok().json(SeverityCount {
        total_critical_status: of(Severity::Critical),
        total_high_status: of(Severity::High),
        total_medium_status: of(Severity::Medium),
        total_low_status: of(Severity::Low),
    }))
}

/// The caller: who they are, their account and permissions.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    operation_id = "me",
    tag = "Identity",
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 400, description = "A query parameter: this endpoint takes none", body = ApiError),
        (status = 401, description = "Missing or invalid credentials", body = ApiError),
        (status = 403, description = "An invalid account context", body = ApiError),
        (status = 429, description = "Too many calls with this key; see Retry-After", body = ApiError),
    ),
    security(("ARMOR-PSK" = []), ("FH-AUTH" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn me(caller: ApiCaller, req: HttpRequest) -> Result<HttpResponse, AppError> {
    ApiQuery::parse(family(&req), req.query_string(), &[])?;
    let principal = caller.principal;
    let permissions: Vec<String> = principal.permissions().iter().map(|p: Permission| p.name().to_string()).collect();
    let account = principal.account();
    Ok(HttpResponse::Ok().json(Me {
        user_id: principal.user_id,
        email: principal.email.clone(),
        name: principal.display_name.clone(),
        time_zone: principal.time_zone.name().to_string(),
        account: account.map(|a| MeAccount { number: a.number, name: a.name.clone() }),
        support_staff: principal.is_support(),
        permissions,
        user: OriginalUser {
            kind: if principal.is_support() { "support" } else { "customer" }.to_string(),
            username: principal.email.clone(),
            first_name: principal.first_name.clone(),
            last_name: principal.last_name.clone(),
            links: OriginalUserLinks { user_id: principal.user_id },
            password_expiry: None,
        },
        accounts: account
            .map(|a| OriginalAccount {
                id: a.number,
                name: a.name.clone(),
                status: "Active".into(),
                account_type: "Customer".into(),
            })
            .into_iter()
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(text: &str) -> Result<ListQuery, AppError> {
        list_query(&ApiQuery::parse(ApiFamily::V1, text, &INCIDENT_PARAMS)?)
    }

    use crate::domain::listing::SortKey;
    use crate::paths::ApiFamily;

    #[test]
    fn values_are_taken_exactly_as_the_document_writes_them() {
        assert!(query("severity=High,Critical&status=open&sort=created&dir=asc&page=2&pageSize=100").is_ok());
        for bad in [
            "severity=high",
            "severity= High",
            "severity=High,",
            "status=Open",
            "status=closed",
            "sort=Number",
            "dir=ASC",
            "page=0",
            "page=100001",
            "pageSize=101",
            "search=%01",
        ] {
            assert!(query(bad).is_err(), "{bad}");
        }
        assert_eq!(query("sort=summary").unwrap().sort, SortKey::Summary);
    }

    #[test]
    fn the_search_pattern_matches_what_the_server_accepts() {
        // The pattern is for the document; this checks its word count against the rule by hand.
        let nine = "a b c d e f g h i";
        assert!(query(&format!("search={}", nine.replace(' ', "+"))).is_err());
        assert!(query("search=a+b+c+d+e+f+g+h").is_ok());
        assert!(search_pattern().contains("{0,7}"));
    }
}
