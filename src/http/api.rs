//! The public JSON API v1, compatible with the original provider's: security incidents and their
//! severity counts, the caller, a ticket's attachments, and the OpenAPI document generated from
//! these handlers.
//!
//! Callers authenticate with an API key (`Authorization: ARMOR-PSK …`), or with a signed-in
//! browser session. Exactly the visibility and permission rules of the pages apply.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use super::middleware::{SessionUser, session_user};
use super::ticket_page::{TicketView, visible_attachment, visible_ticket};
use crate::auth::api_key::{CredentialError, Credentials};
use crate::auth::session::TypedSession;
use crate::domain::attachment;
use crate::domain::listing::{ListKind, ListQuery, RawListQuery};
use crate::domain::permission::Permission;
use crate::domain::policy;
use crate::domain::principal::Principal;
use crate::domain::ticket::{Severity, TicketNumber};
use crate::error::AppError;
use crate::paths;
use crate::settings::PublicUrl;
use crate::state::AppState;
use crate::store::{ApiCall, TicketRow};

pub const MAX_PAGE_SIZE: u32 = 100;
const ACCOUNT_CONTEXT_HEADER: &str = "x-account-context";

/// The authenticated caller of an API endpoint.
pub struct ApiCaller(pub Principal);

impl FromRequest for ApiCaller {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = Bytes::from_request(&req, payload);
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| AppError::Unexpected(anyhow::anyhow!("application state missing")))?;
            let principal = match req.headers().get(header::AUTHORIZATION) {
                Some(value) => {
                    let body =
                        body.await.map_err(|_| AppError::BadRequest("The request body could not be read.".into()))?;
                    let header = value.to_str().map_err(|_| unauthorized(CredentialError::Malformed))?;
                    authenticate_key(&state, &req, header, &body).await?
                }
                None => match session_user(&state, &TypedSession::from(&req), false).await? {
                    SessionUser::Active(principal) if principal.two_factor.must_enrol() => {
                        return Err(AppError::Forbidden("Set up two-factor sign-in in the portal first.".into()));
                    }
                    SessionUser::Active(principal) => principal,
                    _ => {
                        return Err(AppError::Unauthorized(
                            "Sign the request with an API key (Authorization: ARMOR-PSK …) or sign in.".into(),
                        ));
                    }
                },
            };
            check_account_context(&req, &principal)?;
            Ok(ApiCaller(principal))
        })
    }
}

fn unauthorized(error: CredentialError) -> AppError {
    AppError::Unauthorized(format!("Invalid credentials: {error}."))
}

/// Verifies an ARMOR-PSK signature, then spends the nonce (once per key, on every instance),
/// counts the call against the key's rate and reads the key's owner.
async fn authenticate_key(
    state: &AppState,
    req: &HttpRequest,
    header: &str,
    body: &[u8],
) -> Result<Principal, AppError> {
    let credentials = Credentials::parse(header).map_err(unauthorized)?;
    let now = state.clock.now();
    if !credentials.is_fresh(now.timestamp()) {
        return Err(unauthorized(CredentialError::Expired));
    }
    let key = match state.api_keys.get(&credentials.key_id) {
        Some(key) => key,
        None => match state.store.api_key_secret(&credentials.key_id).await? {
            Some(key) => state.api_keys.insert(key),
            None => {
                tracing::warn!(target: "security", key_id = %credentials.key_id, "API call with an unknown or revoked key refused");
                return Err(unauthorized(CredentialError::Invalid));
            }
        },
    };
    let secret =
        state.cipher.decrypt(&key.secret_ciphertext, &key.key_id).map_err(|e| AppError::Unexpected(e.into()))?;
    let target = req.uri().path_and_query().map_or_else(|| req.path(), |p| p.as_str());
    if !crate::auth::api_key::verify(&secret, &credentials, req.method().as_str(), target, body) {
        tracing::warn!(target: "security", key_id = %key.key_id, "API call with a wrong signature refused");
        return Err(unauthorized(CredentialError::Invalid));
    }
    match state.store.record_api_call(&key, &credentials.nonce, now, state.settings.api_rate_limit_per_minute).await? {
        ApiCall::Accepted(principal) => {
            tracing::info!(target: "security", key_id = %key.key_id, user_id = principal.user_id, path = req.path(), "API key used");
            Ok(principal)
        }
        ApiCall::Unusable => {
            state.api_keys.forget(&key.key_id);
            tracing::warn!(target: "security", key_id = %key.key_id, "API call with a revoked key or by a disabled user refused");
            Err(unauthorized(CredentialError::Invalid))
        }
        ApiCall::Replayed => {
            tracing::warn!(target: "security", key_id = %key.key_id, "API call replaying a nonce refused");
            Err(AppError::Unauthorized("Invalid credentials: this nonce was already used.".into()))
        }
        ApiCall::RateLimited { retry_after_seconds } => Err(AppError::TooManyRequests {
            message: format!(
                "Too many calls with this key; at most {} a minute.",
                state.settings.api_rate_limit_per_minute
            ),
            retry_after_seconds,
        }),
    }
}

/// `X-Account-Context`, when sent, must name the caller's own account.
fn check_account_context(req: &HttpRequest, principal: &Principal) -> Result<(), AppError> {
    let Some(value) = req.headers().get(ACCOUNT_CONTEXT_HEADER) else { return Ok(()) };
    let named = value.to_str().ok().and_then(|v| v.trim().parse::<i64>().ok());
    match (named, principal.account()) {
        (Some(number), Some(account)) if number == account.number => Ok(()),
        _ => {
            tracing::warn!(target: "security", user_id = principal.user_id, "API call with a foreign account context refused");
            Err(AppError::InvalidAccountContext)
        }
    }
}

/// One incident, in the original API's field names.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecurityIncident {
    /// `ATS-<n>`.
    #[schema(example = "ATS-100042")]
    pub ticket_number: String,
    pub ticket_summary: String,
    /// Low, Medium, High or Critical.
    #[schema(example = "Critical")]
    pub ticket_severity: String,
    /// P1 (Critical) to P4 (Low), derived from the severity.
    #[schema(example = "P1")]
    pub ticket_priority: String,
    /// Open or Requires Attention.
    #[schema(example = "Open")]
    pub ticket_status: String,
    /// When the ticket was opened, RFC 3339 in UTC.
    #[schema(example = "2026-11-30T08:15:00Z")]
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
    pub total: i64,
    pub page: u32,
    pub page_size: u32,
    pub items: Vec<SecurityIncident>,
}

/// Open incidents the caller may see, per severity.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeverityCount {
    pub total_critical_status: i64,
    pub total_high_status: i64,
    pub total_medium_status: i64,
    pub total_low_status: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeAccount {
    pub number: i64,
    pub name: String,
}

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
}

/// Every error: a stable code and a message for people.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiError {
    #[schema(example = "bad_request")]
    pub code: String,
    pub message: String,
}

/// The list's query parameters. Unknown parameters and bad values are refused with 400.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IncidentListParams {
    /// Page number, from 1.
    #[param(value_type = Option<u32>, minimum = 1)]
    page: Option<String>,
    /// Items per page, 1 to 100 (default 25).
    #[serde(rename = "pageSize")]
    #[param(rename = "pageSize", value_type = Option<u32>, minimum = 1, maximum = 100)]
    page_size: Option<String>,
    /// Low, Medium, High or Critical; repeat the parameter or separate with commas for several.
    #[serde(default)]
    severity: Vec<String>,
    /// `open` or `requires_attention` (default both).
    #[serde(default)]
    status: Vec<String>,
    /// A ticket number, or words that must all appear in the summary.
    search: Option<String>,
    /// number, summary, severity, status or created (default severity).
    sort: Option<String>,
    /// asc or desc (default: the column's natural direction).
    dir: Option<String>,
}

fn list_query(query_string: &str) -> Result<ListQuery, AppError> {
    let params: IncidentListParams = serde_html_form::from_str(query_string)
        .map_err(|e| AppError::BadRequest(format!("The query could not be read: {e}.")))?;
    let page_size = match params.page_size.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(size) => size.parse::<u32>().ok().filter(|n| (1..=MAX_PAGE_SIZE).contains(n)).ok_or_else(|| {
            AppError::BadRequest(format!("pageSize must be a whole number from 1 to {MAX_PAGE_SIZE}."))
        })?,
        None => crate::domain::listing::DEFAULT_PAGE_SIZE,
    };
    let raw = RawListQuery {
        severity: params.severity,
        status: params.status,
        q: params.search,
        sort: params.sort,
        dir: params.dir,
        page: params.page,
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
        created_date: row.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        enabled: true,
        closure_requested: row.closure_requested_at.is_some(),
        ticket_link: public_url.link(&paths::incident(number)),
    }
}

/// Get Security Incidents: the open incidents the caller may see.
#[utoipa::path(
    get,
    path = "/api/v1/security-incidents",
    tag = "Security incidents",
    params(IncidentListParams),
    responses(
        (status = 200, description = "One page of open incidents", body = SecurityIncidentList),
        (status = 400, description = "A bad or unknown parameter", body = ApiError),
        (status = 401, description = "Missing or invalid credentials", body = ApiError),
        (status = 403, description = "Missing Read Ticket or Read Dashboard Statistics, or an invalid account context", body = ApiError),
        (status = 429, description = "Too many calls with this key; see Retry-After", body = ApiError),
    ),
    security(("ARMOR-PSK" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn security_incidents(
    caller: ApiCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let scope = policy::incident_screen_scope(&caller.0)?;
    let query = list_query(req.query_string())?;
    let page = state.store.list_tickets(&scope, &query).await?;
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
    tag = "Security incidents",
    responses(
        (status = 200, description = "Counts per severity", body = SeverityCount),
        (status = 401, description = "Missing or invalid credentials", body = ApiError),
        (status = 403, description = "Missing Read Ticket or Read Dashboard Statistics, or an invalid account context", body = ApiError),
        (status = 429, description = "Too many calls with this key; see Retry-After", body = ApiError),
    ),
    security(("ARMOR-PSK" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn severity_count(
    caller: ApiCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    if !req.query_string().is_empty() {
        return Err(AppError::BadRequest("This endpoint takes no parameters.".into()));
    }
    let scope = policy::incident_screen_scope(&caller.0)?;
    let counts = state.store.open_incident_counts(&scope).await?.by_severity();
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
    tag = "Identity",
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "Missing or invalid credentials", body = ApiError),
        (status = 403, description = "An invalid account context", body = ApiError),
        (status = 429, description = "Too many calls with this key; see Retry-After", body = ApiError),
    ),
    security(("ARMOR-PSK" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn me(caller: ApiCaller) -> Result<HttpResponse, AppError> {
    let principal = caller.0;
    let permissions: Vec<String> = principal.permissions().iter().map(|p: Permission| p.name().to_string()).collect();
    Ok(HttpResponse::Ok().json(Me {
        user_id: principal.user_id,
        email: principal.email.clone(),
        name: principal.display_name.clone(),
        time_zone: principal.time_zone.name().to_string(),
        account: principal.account().map(|a| MeAccount { number: a.number, name: a.name.clone() }),
        support_staff: principal.is_support(),
        permissions,
    }))
}

/// One file of a ticket.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// Random and not guessable; names the file in `downloadLink`.
    #[schema(example = "q8Jw3lT2bXcA9dE0fG1hIk")]
    pub id: String,
    /// As uploaded, cleaned of path separators, control and invisible characters.
    pub file_name: String,
    /// Bytes.
    pub size: i64,
    /// The type the download carries: detected from the bytes where possible; HTML, SVG, XML and
    /// anything unknown are `application/octet-stream`.
    #[schema(example = "image/png")]
    pub content_type: String,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    pub uploaded_by: String,
    /// RFC 3339 in UTC.
    pub uploaded_at: String,
    /// Attached when the ticket was opened (`false`: with a comment).
    pub with_ticket: bool,
    /// On an internal note (only support staff see these).
    pub internal: bool,
    /// `none` (no scanner), `pending`, `clean`, `infected` or `unchecked` (the scanner was down).
    #[schema(example = "clean")]
    pub scan_status: String,
    /// Whether the caller may download it now (a pending file waits for its scan; an infected
    /// one never may).
    pub downloadable: bool,
    pub download_link: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentList {
    pub ticket_number: String,
    pub items: Vec<Attachment>,
}

/// List a ticket's attachments: the files the caller may see, in the order they were added.
#[utoipa::path(
    get,
    path = "/api/v1/tickets/{number}/attachments",
    tag = "Attachments",
    params(("number" = String, Path, description = "The ticket's number, `ATS-<n>`")),
    responses(
        (status = 200, description = "The ticket's files", body = AttachmentList),
        (status = 401, description = "Missing or invalid credentials", body = ApiError),
        (status = 403, description = "Missing Read Ticket, or an invalid account context", body = ApiError),
        (status = 404, description = "No such ticket, or one the caller may not see", body = ApiError),
        (status = 429, description = "Too many calls with this key; see Retry-After", body = ApiError),
    ),
    security(("ARMOR-PSK" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn ticket_attachments(
    caller: ApiCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
    number: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    if !req.query_string().is_empty() {
        return Err(AppError::BadRequest("This endpoint takes no parameters.".into()));
    }
    let principal = &caller.0;
    let (number, ticket, _) = visible_ticket(&state, principal, &number, TicketView::Ticket).await?;
    let files = state.store.ticket_attachments(ticket.id, policy::sees_internal_notes(principal)).await?;
    let items = files
        .into_iter()
        .filter(|f| policy::sees_attachment(principal, f.internal))
        .map(|f| Attachment {
            content_type: attachment::served_type(f.detected_type.as_deref(), f.declared_type.as_deref()).to_string(),
            downloadable: policy::may_download_attachment(principal, f.scan),
            download_link: state.public_url.link(&paths::api_attachment(&f.public_id)),
            id: f.public_id,
            file_name: f.name,
            size: f.size,
            sha256: f.sha256,
            uploaded_by: f.uploader_name,
            uploaded_at: f.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            with_ticket: f.comment_id.is_none(),
            internal: f.internal,
            scan_status: f.scan.code().to_string(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(AttachmentList { ticket_number: number.to_string(), items }))
}

/// Download an attachment: its bytes, as an attachment (`Content-Disposition`), never rendered.
#[utoipa::path(
    get,
    path = "/api/v1/attachments/{id}",
    tag = "Attachments",
    params(("id" = String, Path, description = "The file's id, from the list")),
    responses(
        (status = 200, description = "The file's bytes", content_type = "application/octet-stream"),
        (status = 401, description = "Missing or invalid credentials", body = ApiError),
        (status = 403, description = "Missing Read Ticket, or an invalid account context", body = ApiError),
        (status = 404, description = "No such file, or one the caller may not see", body = ApiError),
        (status = 409, description = "Held: waiting for its virus scan, or infected", body = ApiError),
        (status = 429, description = "Too many calls with this key; see Retry-After", body = ApiError),
    ),
    security(("ARMOR-PSK" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn attachment_download(
    caller: ApiCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    if !req.query_string().is_empty() {
        return Err(AppError::BadRequest("This endpoint takes no parameters.".into()));
    }
    let principal = &caller.0;
    let (_, file) = visible_attachment(&state, principal, None, &id).await?;
    if !policy::may_download_attachment(principal, file.scan) {
        return Err(super::attachments::held(&file, None));
    }
    Ok(super::respond::download(&req, &state.files, &file))
}

struct ArmorPsk;

impl Modify for ArmorPsk {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "ARMOR-PSK",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description("Authorization", SIGNING))),
        );
    }
}

pub const SIGNING: &str = "ARMOR-PSK {keyId}:{signature}:{nonce}:{timestamp}, where signature = \
base64(HMAC-SHA512(secret, keyId + METHOD + path + nonce + timestamp + body)). `path` is the request \
target as sent (with the query string, if any), `timestamp` is Unix time in seconds and must be \
within 5 minutes of the server's clock, `nonce` (letters, digits, - and _, up to 128) is accepted \
once per key, and `body` is empty for GET. Optional header X-Account-Context: your account number; \
any other number is refused with 403 \"invalid account context\". A signed-in browser session may \
call these endpoints too.";

#[derive(OpenApi)]
#[openapi(
    info(title = "Incident Portal API", version = "1", description = "Security incidents of a managed security service, compatible with the provider's v1 API."),
    paths(security_incidents, severity_count, me, ticket_attachments, attachment_download),
    components(schemas(
        SecurityIncident, SecurityIncidentList, SeverityCount, Me, MeAccount, Attachment, AttachmentList, ApiError
    )),
    modifiers(&ArmorPsk)
)]
pub struct ApiDoc;

/// The document, built and compressed once; clients revalidate it with its `ETag`.
static OPENAPI: std::sync::LazyLock<super::static_files::Fixed> = std::sync::LazyLock::new(|| {
    let json = serde_json::to_vec(&ApiDoc::openapi()).unwrap_or_default();
    super::static_files::Fixed::new("application/json", json)
});

pub async fn openapi_json(req: HttpRequest) -> HttpResponse {
    OPENAPI.respond(&req, "no-cache")
}

/// The readable API page, from the same OpenAPI document.
#[tracing::instrument(skip_all)]
pub async fn docs(ctx: super::context::PageContext) -> Result<HttpResponse, AppError> {
    let page = crate::views::api_docs::ApiDocsPage::new(
        ctx.layout("API"),
        &ApiDoc::openapi(),
        SIGNING,
        paths::API_OPENAPI,
        paths::API_KEYS,
    );
    crate::views::render(actix_web::http::StatusCode::OK, &page)
}
