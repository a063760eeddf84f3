//! The audit log: sign-ins, refusals, forged requests and every ticket change.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::support_only;
use crate::domain::audit_query::{AuditQuery, PAGE_SIZE};
use crate::error::AppError;
use crate::http::context::PageContext;
use crate::paths;
use crate::state::AppState;
use crate::views::desk::audit_log::{AuditPage, audit_filters, audit_pager, audit_row};
use crate::views::render;

#[tracing::instrument(skip_all)]
pub async fn audit_log(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let principal = support_only(&ctx, &state, &req).await?;
    let zone = principal.time_zone;
    let query =
        AuditQuery::from_query_string(req.query_string(), zone).map_err(|error| AppError::BadRequest(error.0))?;
    let actions = state.store.audit_actions().await?;
    let (records, total) = state.store.list_audit(&query.filter, PAGE_SIZE, query.offset()).await?;
    let page = AuditPage {
        layout: ctx.layout("Audit log"),
        action: paths::DESK_AUDIT,
        filters: audit_filters(&query, &actions),
        rows: records.into_iter().map(|record| audit_row(record, zone)).collect(),
        total,
        pager: audit_pager(&query, total),
    };
    render(StatusCode::OK, &page)
}
