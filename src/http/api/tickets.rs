//! The original provider's `/tickets/list`: the tickets a caller may see, a page at a time, the
//! next page named by an opaque token that carries the listing's order and filter.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::DateTime;
use serde::{Deserialize, Serialize};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::{IntoParams, ToSchema};

use super::caller::ApiCaller;
use super::doc::{OriginalError, enumeration, integer, query_param, text_matching};
use super::query::{ApiQuery, family, one_of, whole_number};
use super::wire::{
    DEFAULT_RESULTS, INCIDENT_TYPE, MAX_RESULTS, MAX_RESULTS_ACCEPTED, Person, RequestType, SUPPORT_TYPE, date,
    request_type,
};
use crate::domain::cursor::{Cursor, CursorKey};
use crate::domain::listing::{Labelled, ListKind, ListQuery, SortDir, SortKey};
use crate::domain::policy;
use crate::domain::ticket::TicketNumber;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::TicketRow;

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
const PAGE_TOKEN_PATTERN: &str = r"^[ksu][01][ais]\.[0-9]{1,16}\.[0-9]{1,18}\.([0-9a-f]{2}){0,512}$";

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
    let reads = state.reads().await;
    let mut page = reads.list_tickets(&scope, &list).await?;
    let more = page.rows.len() > size as usize;
    page.rows.truncate(size as usize);
    let next_page_token = page.rows.last().filter(|_| more).map(|row| {
        let key = CursorKey::of(list.sort, &row.summary, row.severity, row.status, row.created_at, row.id);
        PageToken { sort: list.sort, dir: list.dir, labelled: list.labelled, key }.encode()
    });
    let ids: Vec<i64> = page.rows.iter().map(|r| r.id).collect();
    let openers = reads.ticket_openers(&ids).await?;
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
}
