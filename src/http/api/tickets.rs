//! The original provider's support-ticket calls: the tickets a caller may see, one ticket's
//! details, its comments (read and add), and the moves it allows (list and make). Visibility,
//! permissions and internal notes are exactly the pages': the same rules, the same store calls,
//! and changes go through `change_ticket`, so they are recorded and notified like the pages'.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Required, Type};
use utoipa::{IntoParams, ToSchema};

use super::caller::ApiCaller;
use super::doc::{OriginalError, integer, text_matching};
use super::incidents::family;
use super::query::{ApiQuery, one_of, whole_number};
use crate::domain::cursor::{Cursor, CursorKey};
use crate::domain::input;
use crate::domain::lifecycle::{Change, TicketState, Transition};
use crate::domain::listing::{Labelled, ListKind, ListQuery, SortDir, SortKey};
use crate::domain::policy;
use crate::domain::ticket::{EventKind, TicketNumber, TicketStatus};
use crate::error::AppError;
use crate::http::ticket_forms::{change_error, record_ticket_events};
use crate::http::ticket_page::{TicketView, visible_ticket};
use crate::paths;
use crate::state::AppState;
use crate::store::{ChangeResult, CommentInput, CommentRecord, PersonRef, TicketRecord, TicketRow};

/// Dates as the API writes them: RFC 3339 in UTC, to the second.
pub fn date(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A person on a ticket. Armor Support's people are shown by name only, as on the pages.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    /// The user's email address; `armor-support` for the provider's staff.
    pub name: String,
    /// `null` for the provider's staff.
    pub email_address: Option<String>,
    pub display_name: String,
}

impl Person {
    fn customer(person: &PersonRef) -> Person {
        Person {
            name: person.email.clone(),
            email_address: Some(person.email.clone()),
            display_name: person.name.clone(),
        }
    }

    /// The support desk, which handles every ticket: the `assignee` of all of them.
    fn desk() -> Person {
        Person { name: "armor-support".into(), email_address: None, display_name: "Armor Support".into() }
    }

    fn author(comment: &CommentRecord) -> Person {
        if comment.author_is_support {
            Person {
                name: "armor-support".into(),
                email_address: None,
                display_name: format!("{} (Armor Support)", comment.author_name),
            }
        } else {
            Person {
                name: comment.author_email.clone(),
                email_address: Some(comment.author_email.clone()),
                display_name: comment.author_name.clone(),
            }
        }
    }
}

/// What kind of ticket it is: a security incident (labelled by support, with a severity) or
/// another support request.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RequestType {
    #[schema(pattern = "^(security-incident|support-request)$")]
    pub id: String,
    pub name: String,
    pub description: String,
}

const INCIDENT_TYPE: &str = "security-incident";
const SUPPORT_TYPE: &str = "support-request";

fn request_type(labelled: bool) -> RequestType {
    let (id, name, description) = if labelled {
        (INCIDENT_TYPE, "Security Incident", "A ticket Armor Support labelled as a security incident, with a severity.")
    } else {
        (SUPPORT_TYPE, "Support Request", "A support ticket that is not labelled as a security incident.")
    };
    RequestType { id: id.into(), name: name.into(), description: description.into() }
}

/// A status, by its id (`open`, `requires_attention`, `closed`) and name.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Status {
    #[schema(pattern = "^(open|requires_attention|closed)$")]
    pub id: String,
    #[schema(pattern = "^(Open|Requires Attention|Closed)$")]
    pub name: String,
}

impl From<TicketStatus> for Status {
    fn from(status: TicketStatus) -> Self {
        Status { id: status.code().into(), name: status.name().into() }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketItem {
    /// `ATS-<n>`.
    #[schema(example = "ATS-100042", pattern = "^ATS-[0-9]+$")]
    pub issue_key_id: String,
    pub summary: String,
    /// Open, Requires Attention or Closed.
    #[schema(pattern = "^(Open|Requires Attention|Closed)$")]
    pub current_status: String,
    pub request_type: RequestType,
    /// Who opened it (support may open a ticket on a customer's behalf).
    pub reporter: Option<Person>,
    /// Armor Support, which handles every ticket.
    pub assignee: Option<Person>,
    #[schema(format = DateTime)]
    pub created_date: String,
    /// Low, Medium, High or Critical for a security incident.
    #[schema(pattern = "^(Low|Medium|High|Critical)$")]
    pub severity: Option<String>,
    pub closure_requested: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketList {
    /// Send it back as `nextPageToken` for the next page; `null` on the last page.
    #[schema(pattern = "^[ksu][01][ais]\\.[0-9]{1,16}\\.[0-9]{1,18}\\.([0-9a-f]{2}){0,512}$")]
    pub next_page_token: Option<String>,
    /// The page size used: `maxResults`, at most 100.
    #[schema(minimum = 1, maximum = 100)]
    pub max_results: u32,
    /// Tickets matching the query, across all pages.
    #[schema(minimum = 0)]
    pub total: i64,
    pub items: Vec<TicketItem>,
}

/// The query of `/tickets/list`.
pub struct TicketListParams;

pub const TICKET_LIST_PARAMS: [&str; 5] = ["requestType", "maxResults", "orderBy", "orderByDirection", "nextPageToken"];
const ORDER_BY: [&str; 3] = ["key", "status", "summary"];
const DIRECTIONS: [&str; 2] = ["0", "1"];
const REQUEST_TYPES: [&str; 2] = [INCIDENT_TYPE, SUPPORT_TYPE];
/// `maxResults` above this gives pages of [`MAX_RESULTS`].
const MAX_RESULTS_ACCEPTED: u64 = 1_000_000;
const MAX_RESULTS: u32 = 100;
const DEFAULT_RESULTS: u32 = 50;
const PAGE_TOKEN_PATTERN: &str = r"^[ksu][01][ais]\.[0-9]{1,16}\.[0-9]{1,18}\.([0-9a-f]{2}){0,512}$";

fn query_param(name: &str, description: &str, schema: utoipa::openapi::Schema) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn enumeration(values: &[&str]) -> utoipa::openapi::Schema {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(values.iter().copied())).into()
}

impl IntoParams for TicketListParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            query_param(
                "requestType",
                "Only security incidents, or only other support requests (default both).",
                enumeration(&REQUEST_TYPES),
            ),
            query_param(
                "maxResults",
                "Page size (default 50); values above 100 give pages of 100, as the response's maxResults says.",
                integer(1, MAX_RESULTS_ACCEPTED),
            ),
            query_param(
                "orderBy",
                "The ticket number (key, the default), the status or the summary.",
                enumeration(&ORDER_BY),
            ),
            query_param("orderByDirection", "0 ascending, 1 descending (the default).", enumeration(&DIRECTIONS)),
            query_param(
                "nextPageToken",
                "From the previous page, for the next one. It continues the listing it came from: with it, orderBy, orderByDirection and requestType are those of the first page.",
                text_matching(PAGE_TOKEN_PATTERN, None),
            ),
        ]
    }
}

/// Where a listing continues: its order and filter, and the last row's position. Every string
/// the document's pattern allows decodes (a summary's bytes that are not UTF-8 are replaced), so
/// a token is never refused for its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PageToken {
    sort: SortKey,
    dir: SortDir,
    labelled: Labelled,
    key: CursorKey,
}

impl PageToken {
    fn encode(&self) -> String {
        let sort = match self.sort {
            SortKey::Status => 's',
            SortKey::Summary => 'u',
            _ => 'k',
        };
        let dir = if self.dir == SortDir::Asc { '0' } else { '1' };
        let labelled = match self.labelled {
            Labelled::Yes => 'i',
            Labelled::No => 's',
            Labelled::Any => 'a',
        };
        let hex: String = self.key.primary.bytes().take(512).map(|b| format!("{b:02x}")).collect();
        format!("{sort}{dir}{labelled}.{}.{}.{hex}", self.key.created_at.timestamp_micros(), self.key.id)
    }

    fn decode(token: &str) -> Option<PageToken> {
        let mut parts = token.split('.');
        let head = parts.next()?.as_bytes();
        let (micros, id, hex) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || head.len() != 3 {
            return None;
        }
        let digits = |s: &str, max: usize| !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(micros, 16) || !digits(id, 18) || hex.len() % 2 != 0 || hex.len() > 1024 {
            return None;
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| hex.get(i..i + 2).filter(|h| h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))))
            .map(|h| h.and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect::<Option<Vec<u8>>>()?;
        let sort = match head[0] {
            b'k' => SortKey::Number,
            b's' => SortKey::Status,
            b'u' => SortKey::Summary,
            _ => return None,
        };
        let dir = match head[1] {
            b'0' => SortDir::Asc,
            b'1' => SortDir::Desc,
            _ => return None,
        };
        let labelled = match head[2] {
            b'a' => Labelled::Any,
            b'i' => Labelled::Yes,
            b's' => Labelled::No,
            _ => return None,
        };
        let key = CursorKey {
            primary: String::from_utf8_lossy(&bytes).into_owned(),
            created_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: id.parse().ok()?,
        };
        Some(PageToken { sort, dir, labelled, key })
    }
}

/// The list's query as the document states it; `page_size` is one more than the page, to learn
/// whether another page follows.
fn ticket_list_query(query: &ApiQuery) -> Result<(ListQuery, u32), AppError> {
    let size = whole_number(query.value("maxResults")?, "maxResults", 1, MAX_RESULTS_ACCEPTED)?
        .map_or(DEFAULT_RESULTS, |n| n.min(u64::from(MAX_RESULTS)) as u32);
    let mut list = ListQuery::new(ListKind::MyTickets);
    let token = match query.value("nextPageToken")? {
        Some(raw) => Some(PageToken::decode(raw).ok_or_else(|| {
            AppError::BadRequest("nextPageToken is not one this API gave; start again without it.".into())
        })?),
        None => None,
    };
    // Checked even when a token decides, so that a bad value is always a 400.
    let sort = match one_of(query.value("orderBy")?, "orderBy", &ORDER_BY)? {
        Some("status") => SortKey::Status,
        Some("summary") => SortKey::Summary,
        _ => SortKey::Number,
    };
    let dir = match one_of(query.value("orderByDirection")?, "orderByDirection", &DIRECTIONS)? {
        Some("0") => SortDir::Asc,
        _ => SortDir::Desc,
    };
    let labelled = match one_of(query.value("requestType")?, "requestType", &REQUEST_TYPES)? {
        Some(INCIDENT_TYPE) => Labelled::Yes,
        Some(_) => Labelled::No,
        None => Labelled::Any,
    };
    match token {
        Some(token) => {
            list.sort = token.sort;
            list.dir = token.dir;
            list.labelled = token.labelled;
            list.cursor = Some(Cursor::After(token.key));
        }
        None => {
            list.sort = sort;
            list.dir = dir;
            list.labelled = labelled;
        }
    }
    list.page_size = size + 1;
    Ok((list, size))
}

/// A ticket number in a path, as the document's pattern allows it; anything else names no ticket.
fn ticket_number(raw: &str) -> Result<TicketNumber, AppError> {
    let digits = match raw.get(..4) {
        Some(prefix) if prefix.eq_ignore_ascii_case(TicketNumber::PREFIX) => &raw[4..],
        _ => raw,
    };
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AppError::NotFound);
    }
    TicketNumber::parse(raw).ok_or(AppError::NotFound)
}

/// List Tickets: the tickets the caller may see, 50 (up to 100) at a time.
#[utoipa::path(
    get,
    path = "/tickets/list",
    operation_id = "list_tickets",
    tag = "Support tickets",
    params(TicketListParams),
    responses(
        (status = 200, description = "One page of tickets", body = TicketList),
        (status = 400, description = "A bad value", body = OriginalError),
        (status = 401, description = "Missing or invalid credentials", body = OriginalError),
        (status = 403, description = "Missing Read Ticket, or an invalid account context", body = OriginalError),
        (status = 429, description = "Too many calls with this key; see Retry-After", body = OriginalError),
    ),
    security(("ARMOR-PSK" = []), ("FH-AUTH" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_tickets(
    caller: ApiCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let query = ApiQuery::parse(family(&req), req.query_string(), &TICKET_LIST_PARAMS)?;
    let scope = policy::ticket_list_scope(&caller.principal)?;
    let (list, size) = ticket_list_query(&query)?;
    let mut page = state.store.list_tickets(&scope, &list).await?;
    let more = page.rows.len() > size as usize;
    page.rows.truncate(size as usize);
    let next_page_token = page.rows.last().filter(|_| more).map(|row| {
        let key = CursorKey::of(list.sort, &row.summary, row.severity, row.status, row.created_at, row.id);
        PageToken { sort: list.sort, dir: list.dir, labelled: list.labelled, key }.encode()
    });
    let ids: Vec<i64> = page.rows.iter().map(|r| r.id).collect();
    let openers = state.store.ticket_openers(&ids).await?;
    let items = page
        .rows
        .iter()
        .map(|row| {
            let opener = openers.iter().find(|(id, _)| *id == row.id).map(|(_, p)| Person::customer(p));
            ticket_item(row, opener)
        })
        .collect();
    Ok(HttpResponse::Ok().json(TicketList { next_page_token, max_results: size, total: page.total, items }))
}

fn ticket_item(row: &TicketRow, reporter: Option<Person>) -> TicketItem {
    TicketItem {
        issue_key_id: TicketNumber::from_id(row.id).to_string(),
        summary: row.summary.clone(),
        current_status: row.status.name().into(),
        request_type: request_type(row.severity.is_some()),
        reporter,
        assignee: Some(Person::desk()),
        created_date: date(row.created_at),
        severity: row.severity.map(|s| s.name().into()),
        closure_requested: row.closure_requested_at.is_some(),
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Organization {
    /// The account number.
    pub id: i64,
    pub name: String,
}

/// A change of status in the ticket's history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusChange {
    #[schema(pattern = "^(open|requires_attention|closed)$")]
    pub from_status_id: String,
    #[schema(pattern = "^(Open|Requires Attention|Closed)$")]
    pub from_status_string: String,
    #[schema(pattern = "^(open|requires_attention|closed)$")]
    pub to_status_id: String,
    #[schema(pattern = "^(Open|Requires Attention|Closed)$")]
    pub to_status_string: String,
    #[schema(format = DateTime)]
    pub status_date: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketDetails {
    #[schema(pattern = "^ATS-[0-9]+$")]
    pub issue_key_id: String,
    pub summary: String,
    pub description: String,
    pub assignee: Option<Person>,
    pub reporter: Person,
    /// The ticket's recipients, who see it besides its reporter.
    pub participants: Vec<Person>,
    /// The customer account the ticket belongs to.
    pub organizations: Vec<Organization>,
    pub current_status: Status,
    pub request_type: RequestType,
    #[schema(format = DateTime)]
    pub created_date: String,
    #[schema(format = DateTime)]
    pub updated_date: String,
    /// Every change of status, oldest first.
    pub transitions: Vec<StatusChange>,
    #[schema(pattern = "^(Low|Medium|High|Critical)$")]
    pub severity: Option<String>,
    pub closure_requested: bool,
}

/// The path parameter of a ticket.
pub struct TicketPath;

const TICKET_NUMBER_PATTERN: &str = "^([Aa][Tt][Ss]-)?[0-9]{1,18}$";

impl IntoParams for TicketPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name("issueKeyId")
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some("The ticket number, `ATS-1234` (or just `1234`). A ticket the caller may not see answers 404, as a missing one does."))
                .schema(Some(text_matching(TICKET_NUMBER_PATTERN, None)))
                .build(),
        ]
    }
}

fn status_change(kind: EventKind, from: Option<&str>, to: Option<&str>, at: DateTime<Utc>) -> Option<StatusChange> {
    let (from, to) = match kind {
        EventKind::StatusChanged | EventKind::Closed => (from?.parse::<TicketStatus>().ok()?, to?.parse().ok()?),
        EventKind::Reopened => (TicketStatus::Closed, TicketStatus::Open),
        _ => return None,
    };
    Some(StatusChange {
        from_status_id: from.code().into(),
        from_status_string: from.name().into(),
        to_status_id: to.code().into(),
        to_status_string: to.name().into(),
        status_date: date(at),
    })
}

/// A ticket the caller may see (the ticket page's rule), by the number in the path.
async fn ticket_for(
    state: &AppState,
    caller: &ApiCaller,
    number: &str,
) -> Result<(TicketNumber, TicketRecord, Vec<PersonRef>), AppError> {
    // The permission first (403 whatever the number), as the pages do.
    policy::ticket_list_scope(&caller.principal)?;
    let number = ticket_number(number)?;
    visible_ticket(state, &caller.principal, &number.to_string(), TicketView::Ticket).await
}

/// Get Ticket Details.
#[utoipa::path(
    get,
    path = "/tickets/{issueKeyId}/details",
    operation_id = "ticket_details",
    tag = "Support tickets",
    params(TicketPath),
    responses(
        (status = 200, description = "The ticket", body = TicketDetails),
        (status = 401, description = "Missing or invalid credentials", body = OriginalError),
        (status = 403, description = "Missing Read Ticket, or an invalid account context", body = OriginalError),
        (status = 404, description = "No such ticket, or one the caller may not see", body = OriginalError),
        (status = 429, description = "Too many calls with this key; see Retry-After", body = OriginalError),
    ),
    security(("ARMOR-PSK" = []), ("FH-AUTH" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn ticket_details(
    caller: ApiCaller,
    number: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let (number, ticket, recipients) = ticket_for(&state, &caller, &number).await?;
    let events = state.store.ticket_events(ticket.id).await?;
    let transitions = events
        .iter()
        .filter_map(|e| {
            let kind = EventKind::from_code(&e.kind)?;
            status_change(kind, e.from_value.as_deref(), e.to_value.as_deref(), e.created_at)
        })
        .collect();
    let opener = state.store.ticket_openers(&[ticket.id]).await?;
    let reporter = opener.first().map_or_else(
        || Person { name: String::new(), email_address: None, display_name: ticket.opener_name.clone() },
        |(_, p)| Person::customer(p),
    );
    Ok(HttpResponse::Ok().json(TicketDetails {
        issue_key_id: number.to_string(),
        summary: ticket.summary.clone(),
        description: ticket.description.clone(),
        assignee: Some(Person::desk()),
        reporter,
        participants: recipients.iter().map(Person::customer).collect(),
        organizations: vec![Organization { id: ticket.account_number, name: ticket.account_name.clone() }],
        current_status: ticket.status.into(),
        request_type: request_type(ticket.severity.is_some()),
        created_date: date(ticket.created_at),
        updated_date: date(ticket.updated_at),
        transitions,
        severity: ticket.severity.map(|s| s.name().into()),
        closure_requested: ticket.closure_requested_at.is_some(),
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    pub id: i64,
    pub creator: Person,
    pub comment: String,
    #[schema(format = DateTime)]
    pub created_date: String,
    /// `public`; `internal` for support's internal notes, which only support staff ever see.
    #[schema(pattern = "^(public|internal)$")]
    pub visibility: String,
    pub public: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommentList {
    #[schema(minimum = 0)]
    pub start: u32,
    /// The page size used: `limit`, at most 100.
    #[schema(minimum = 1, maximum = 100)]
    pub limit: u32,
    /// Comments on this page.
    #[schema(minimum = 0, maximum = 100)]
    pub size: u32,
    /// Comments the caller may read, across all pages.
    #[schema(minimum = 0)]
    pub total: u32,
    pub is_last_page: bool,
    pub values: Vec<Comment>,
}

/// The query of a ticket's comments.
pub struct CommentListParams;

pub const COMMENT_PARAMS: [&str; 4] = ["start", "limit", "sortField", "sortOrder"];
const SORT_FIELDS: [&str; 2] = ["created", "createdDate"];
const SORT_ORDERS: [&str; 4] = ["ASC", "DESC", "asc", "desc"];
const MAX_START: u64 = 1_000_000;

impl IntoParams for CommentListParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut params = TicketPath::into_params(|| None);
        params.extend([
            query_param("start", "How many comments to skip (default 0).", integer(0, MAX_START)),
            query_param(
                "limit",
                "Comments per page (default 50); values above 100 give pages of 100, as the response's limit says.",
                integer(1, MAX_RESULTS_ACCEPTED),
            ),
            query_param("sortField", "Comments are sorted by their time.", enumeration(&SORT_FIELDS)),
            query_param(
                "sortOrder",
                "Oldest first (ASC, the default) or newest first (DESC).",
                enumeration(&SORT_ORDERS),
            ),
        ]);
        params
    }
}

/// Get Ticket Comments: the thread, without internal notes for customers.
#[utoipa::path(
    get,
    path = "/tickets/{issueKeyId}/comments",
    operation_id = "ticket_comments",
    tag = "Support tickets",
    params(CommentListParams),
    responses(
        (status = 200, description = "One page of the ticket's comments", body = CommentList),
        (status = 400, description = "A bad value", body = OriginalError),
        (status = 401, description = "Missing or invalid credentials", body = OriginalError),
        (status = 403, description = "Missing Read Ticket, or an invalid account context", body = OriginalError),
        (status = 404, description = "No such ticket, or one the caller may not see", body = OriginalError),
        (status = 429, description = "Too many calls with this key; see Retry-After", body = OriginalError),
    ),
    security(("ARMOR-PSK" = []), ("FH-AUTH" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn ticket_comments(
    caller: ApiCaller,
    req: HttpRequest,
    number: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let query = ApiQuery::parse(family(&req), req.query_string(), &COMMENT_PARAMS)?;
    let start = whole_number(query.value("start")?, "start", 0, MAX_START)?.unwrap_or(0) as usize;
    let limit = whole_number(query.value("limit")?, "limit", 1, MAX_RESULTS_ACCEPTED)?
        .map_or(DEFAULT_RESULTS, |n| n.min(u64::from(MAX_RESULTS)) as u32);
    one_of(query.value("sortField")?, "sortField", &SORT_FIELDS)?;
    let newest_first = matches!(one_of(query.value("sortOrder")?, "sortOrder", &SORT_ORDERS)?, Some("DESC" | "desc"));
    let (_, ticket, _) = ticket_for(&state, &caller, &number).await?;
    let mut comments = state.store.ticket_comments(ticket.id, policy::sees_internal_notes(&caller.principal)).await?;
    if newest_first {
        comments.reverse();
    }
    let total = comments.len();
    let values: Vec<Comment> = comments
        .iter()
        .skip(start)
        .take(limit as usize)
        .map(|c| Comment {
            id: c.id,
            creator: Person::author(c),
            comment: c.body.clone(),
            created_date: date(c.created_at),
            visibility: if c.internal { "internal" } else { "public" }.into(),
            public: !c.internal,
        })
        .collect();
    Ok(HttpResponse::Ok().json(CommentList {
        start: start.min(u32::MAX as usize) as u32,
        limit,
        size: values.len() as u32,
        total: total as u32,
        is_last_page: start.saturating_add(values.len()) >= total,
        values,
    }))
}

/// A new comment, as the original's clients send it (other fields, such as `issueKeyId`, are
/// ignored: the path names the ticket).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewComment {
    comment: String,
    /// `false` asks for an internal note, which only support staff may write.
    is_public: Option<bool>,
}

/// Reads a JSON object whatever the content type says (the original's clients send
/// `application-json`, or nothing).
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    let refused = |error: String| {
        AppError::BadRequest(format!(
            "The body must be a JSON object as documented: {}.",
            super::query::shorten(&error)
        ))
    };
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| refused(e.to_string()))?;
    if !value.is_object() {
        return Err(refused("it is not an object".into()));
    }
    serde_json::from_value(value).map_err(|e| refused(e.to_string()))
}

/// The text of a comment: at most 20,000 characters as sent, then the portal's rule for text.
fn comment_text(raw: &str, required: bool) -> Result<String, AppError> {
    if raw.chars().count() > input::MAX_TEXT_CHARS {
        return Err(AppError::BadRequest(format!(
            "The comment is too long: at most {} characters.",
            input::MAX_TEXT_CHARS
        )));
    }
    input::text(raw, required, "a comment").map_err(AppError::BadRequest)
}

/// Add Ticket Comment. A customer's comment on a ticket that Requires Attention hands it back to
/// support, as on the ticket's page.
#[utoipa::path(
    post,
    path = "/tickets/{issueKeyId}/comments",
    operation_id = "add_ticket_comment",
    tag = "Support tickets",
    params(TicketPath),
    request_body(content = NewCommentSchema, description = "The comment. The content type is not checked: the body is read as JSON."),
    responses(
        (status = 200, description = "The comment is added", body = bool, content_type = "application/json"),
        (status = 400, description = "A body that is not the documented JSON, or an empty, too long or unprintable comment", body = OriginalError),
        (status = 401, description = "Missing or invalid credentials", body = OriginalError),
        (status = 403, description = "Missing Write Ticket, an internal note from a customer, a session without X-CSRF-Token, or an invalid account context", body = OriginalError),
        (status = 404, description = "No such ticket, or one the caller may not see", body = OriginalError),
        (status = 413, description = "A body of more than 256 KiB", body = OriginalError),
        (status = 429, description = "Too many calls with this key; see Retry-After", body = OriginalError),
    ),
    security(("ARMOR-PSK" = []), ("FH-AUTH" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn add_ticket_comment(
    caller: ApiCaller,
    req: HttpRequest,
    number: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let form: NewComment = json_body(&caller.body)?;
    let principal = &caller.principal;
    policy::may_write_tickets(principal)?;
    let (number, ticket, _) = ticket_for(&state, &caller, &number).await?;
    let internal = form.is_public == Some(false);
    if internal && !policy::sees_internal_notes(principal) {
        // Refused rather than stored for everyone on the ticket to read: the writer meant it for
        // fewer eyes than a public comment has.
        return Err(AppError::Forbidden(
            "Internal notes are for Armor Support; a customer's comment is always public (isPublic: true).".into(),
        ));
    }
    let body = comment_text(&form.comment, true)?;
    let changes = if principal.is_support() { vec![] } else { vec![Change::CustomerComment] };
    let comment = CommentInput { body, internal, submission_key: None };
    let reload = paths::ticket(number);
    let result = state
        .store
        .change_ticket(ticket.id, principal.user_id, None, Some(&comment), &changes, state.clock.now())
        .await
        .map_err(|e| change_error(e, reload))?;
    if let ChangeResult::Applied(outcome) = result {
        record_ticket_events(&state, &req, principal, number, Some(ticket.account_id), &outcome.events).await?;
    }
    Ok(HttpResponse::Ok().json(true))
}

/// The body of a new comment, as the document states it (see `doc`).
pub struct NewCommentSchema;

/// A move the caller may make on the ticket.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransitionView {
    #[schema(pattern = "^(request_closure|withdraw_closure|open|requires_attention|closed|decline_closure)$")]
    pub id: String,
    pub name: String,
}

/// Get Ticket Transitions: the moves the caller may make now (a customer: request closure or
/// withdraw the request; support: the status changes).
#[utoipa::path(
    get,
    path = "/tickets/{issueKeyId}/transition",
    operation_id = "ticket_transitions",
    tag = "Support tickets",
    params(TicketPath),
    responses(
        (status = 200, description = "The moves available to the caller", body = Vec<TransitionView>),
        (status = 401, description = "Missing or invalid credentials", body = OriginalError),
        (status = 403, description = "Missing Read Ticket, or an invalid account context", body = OriginalError),
        (status = 404, description = "No such ticket, or one the caller may not see", body = OriginalError),
        (status = 429, description = "Too many calls with this key; see Retry-After", body = OriginalError),
    ),
    security(("ARMOR-PSK" = []), ("FH-AUTH" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn ticket_transitions(
    caller: ApiCaller,
    number: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let (_, ticket, _) = ticket_for(&state, &caller, &number).await?;
    let offered: Vec<TransitionView> = policy::transitions_offered(&caller.principal, ticket_state(&ticket))
        .into_iter()
        .map(|t| TransitionView { id: t.id().into(), name: t.name().into() })
        .collect();
    Ok(HttpResponse::Ok().json(offered))
}

fn ticket_state(ticket: &TicketRecord) -> TicketState {
    TicketState {
        status: ticket.status,
        severity: ticket.severity,
        closure_requested: ticket.closure_requested_at.is_some(),
    }
}

/// A move, as clients send it (`ticketNumber` and other fields are ignored: the path decides).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransitionRequest {
    transition_id: String,
    comment: Option<String>,
}

/// The ticket after a move.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransitionResult {
    #[schema(pattern = "^ATS-[0-9]+$")]
    pub issue_key_id: String,
    pub current_status: Status,
    pub closure_requested: bool,
}

/// Transition Ticket: make one of the moves `GET …/transition` offers, with a comment (required
/// to request closure, to close and to decline).
#[utoipa::path(
    post,
    path = "/tickets/{issueKeyId}/transition",
    operation_id = "transition_ticket",
    tag = "Support tickets",
    params(TicketPath),
    request_body(content = TransitionRequestSchema, description = "The move. The content type is not checked: the body is read as JSON."),
    responses(
        (status = 200, description = "The move is made", body = TransitionResult),
        (status = 400, description = "A body that is not the documented JSON, an unknown transition, or a missing, too long or unprintable comment", body = OriginalError),
        (status = 401, description = "Missing or invalid credentials", body = OriginalError),
        (status = 403, description = "A move that is not the caller's (support's or a customer's), missing Write Ticket, a session without X-CSRF-Token, or an invalid account context", body = OriginalError),
        (status = 404, description = "No such ticket, or one the caller may not see", body = OriginalError),
        (status = 409, description = "The ticket as it is does not allow the move (closed, not an incident, nothing requested)", body = OriginalError),
        (status = 413, description = "A body of more than 256 KiB", body = OriginalError),
        (status = 429, description = "Too many calls with this key; see Retry-After", body = OriginalError),
    ),
    security(("ARMOR-PSK" = []), ("FH-AUTH" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn transition_ticket(
    caller: ApiCaller,
    req: HttpRequest,
    number: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let request: TransitionRequest = json_body(&caller.body)?;
    let transition = Transition::from_id(&request.transition_id).ok_or_else(|| {
        let ids: Vec<&str> = Transition::ALL.iter().map(|t| t.id()).collect();
        AppError::BadRequest(format!(
            "Unknown transitionId \"{}\": use {}.",
            super::query::shorten(&request.transition_id),
            ids.join(", ")
        ))
    })?;
    let principal = &caller.principal;
    let comment = comment_text(request.comment.as_deref().unwrap_or_default(), transition.needs_comment())?;
    policy::may_transition(principal, transition)?;
    let (number, ticket, _) = ticket_for(&state, &caller, &number).await?;
    let state_now = ticket_state(&ticket);
    let mut changes = Vec::new();
    if !principal.is_support() && !comment.is_empty() {
        changes.push(Change::CustomerComment);
    }
    changes.push(transition.change(state_now));
    let comment =
        (!comment.is_empty()).then_some(CommentInput { body: comment, internal: false, submission_key: None });
    let reload = paths::ticket(number);
    let result = state
        .store
        .change_ticket(ticket.id, principal.user_id, None, comment.as_ref(), &changes, state.clock.now())
        .await
        .map_err(|e| change_error(e, reload))?;
    let after = match result {
        ChangeResult::Applied(outcome) => {
            record_ticket_events(&state, &req, principal, number, Some(ticket.account_id), &outcome.events).await?;
            outcome.state
        }
        ChangeResult::Duplicate => state_now,
    };
    Ok(HttpResponse::Ok().json(TransitionResult {
        issue_key_id: number.to_string(),
        current_status: after.status.into(),
        closure_requested: after.closure_requested,
    }))
}

/// The body of a move, as the document states it (see `doc`): a comment is required to request
/// closure, to close and to decline.
pub struct TransitionRequestSchema;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_any_token_of_the_pattern_decodes() {
        let token = PageToken {
            sort: SortKey::Summary,
            dir: SortDir::Asc,
            labelled: Labelled::Yes,
            key: CursorKey {
                primary: "port scan é".into(),
                created_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
                id: 42,
            },
        };
        assert_eq!(PageToken::decode(&token.encode()), Some(token));
        // Bytes that are not UTF-8, the largest numbers the pattern allows.
        assert!(PageToken::decode("k1a.9999999999999999.999999999999999999.ff00").is_some());
        assert!(PageToken::decode("s0s.0.0.").is_some());
        for bad in
            ["", "k1a.1.1", "x1a.1.1.", "k2a.1.1.", "k1a.1.1.f", "k1a.1.1.zz", "k1a..1.", "k1a.1.1.00.00", "k1a.-1.1."]
        {
            assert_eq!(PageToken::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn comments_are_counted_as_sent_then_held_to_the_text_rule() {
        assert!(comment_text("  \n\t ", true).is_err());
        assert!(comment_text("\u{feff}", true).is_ok(), "not whitespace to Rust, nor to the pattern");
        assert!(comment_text("a\u{7}", true).is_err());
        assert!(comment_text(&"é".repeat(20_000), true).is_ok());
        assert!(comment_text(&format!(" {}", "é".repeat(20_000)), true).is_err(), "counted as sent");
    }

    #[test]
    fn ticket_numbers_in_paths_are_exact() {
        assert_eq!(ticket_number("ATS-12").unwrap(), TicketNumber::from_id(12));
        assert_eq!(ticket_number("ats-12").unwrap(), TicketNumber::from_id(12));
        assert_eq!(ticket_number("12").unwrap(), TicketNumber::from_id(12));
        for bad in [" 12", "ATS-", "ATS-12 ", "ATS--1", "+12", "ATS-0"] {
            assert!(ticket_number(bad).is_err(), "{bad}");
        }
    }
}
