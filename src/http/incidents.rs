//! Security > Security Incidents: the table, its CSV export and each incident's page. The support
//! desk's queue is the same table over every account.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono_tz::Tz;

use super::context::PageContext;
use crate::domain::listing::IncidentQuery;
use crate::domain::policy::{self, TicketFacts, TicketScope};
use crate::domain::principal::Principal;
use crate::domain::ticket::TicketNumber;
use crate::error::AppError;
use crate::paths;
use crate::state::AppState;
use crate::store::IncidentRow;
use crate::views::format::{status_name, timestamp};
use crate::views::incident::IncidentPage;
use crate::views::incidents::{IncidentsPage, Screen};
use crate::views::page;

fn parse_query(req: &HttpRequest, principal: &Principal) -> Result<IncidentQuery, AppError> {
    let mut query = IncidentQuery::from_query_string(req.query_string()).map_err(|e| AppError::BadRequest(e.0))?;
    if !principal.is_support() {
        // Customers see one account; the account filter is the support queue's.
        query.account = None;
    }
    Ok(query)
}

/// The scope of each screen: the Security Incidents screen per the visibility rule, the queue
/// for support staff only.
fn scope_of(screen: Screen, principal: &Principal) -> Result<TicketScope, AppError> {
    match screen {
        Screen::SecurityIncidents => Ok(policy::incident_screen_scope(principal)?),
        Screen::SupportQueue => {
            policy::require_support(principal)?;
            Ok(TicketScope::Everything)
        }
    }
}

async fn incident_table(
    screen: Screen,
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let scope = scope_of(screen, principal)?;
    let query = parse_query(&req, principal)?;
    let incidents = state.store.list_incidents(&scope, &query).await?;
    let view = IncidentsPage::new(ctx.layout(screen.title()), screen, &query, incidents, principal.time_zone);
    page(&view)
}

async fn incident_csv(
    screen: Screen,
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let scope = scope_of(screen, principal)?;
    let query = parse_query(&req, principal)?;
    let rows = state.store.export_incidents(&scope, &query).await?;
    let body = incidents_csv(&rows, principal.time_zone, screen.shows_account()).map_err(AppError::Unexpected)?;
    let filename = format!("security-incidents-{}.csv", state.clock.now().format("%Y-%m-%d"));
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")))
        .body(body))
}

#[tracing::instrument(skip_all)]
pub async fn list_incidents(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    incident_table(Screen::SecurityIncidents, ctx, req, state).await
}

#[tracing::instrument(skip_all)]
pub async fn export_incidents(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    incident_csv(Screen::SecurityIncidents, ctx, req, state).await
}

#[tracing::instrument(skip_all)]
pub async fn support_queue(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    incident_table(Screen::SupportQueue, ctx, req, state).await
}

#[tracing::instrument(skip_all)]
pub async fn export_support_queue(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    incident_csv(Screen::SupportQueue, ctx, req, state).await
}

/// One incident. Another account's ticket, one the user may not see, a ticket that is not an
/// incident and a number that does not exist all answer the same 404.
#[tracing::instrument(skip_all, fields(number = %number))]
pub async fn incident_detail(
    ctx: PageContext,
    number: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    policy::incident_screen_scope(principal)?;
    let number = TicketNumber::parse(&number).ok_or(AppError::NotFound)?;
    let ticket = state.store.ticket(number.id()).await?.ok_or(AppError::NotFound)?;
    let recipients = state.store.ticket_recipients(ticket.id).await?;
    let recipient_ids: Vec<i64> = recipients.iter().map(|r| r.id).collect();
    let facts =
        TicketFacts { account_id: ticket.account_id, opener_id: ticket.opener_id, recipient_ids: &recipient_ids };
    if !policy::can_see_ticket(principal, &facts) || ticket.severity.is_none() {
        return Err(AppError::NotFound);
    }
    let comments = state.store.ticket_comments(ticket.id, policy::sees_internal_notes(principal)).await?;
    let back = if principal.is_support() { paths::DESK_INCIDENTS } else { paths::INCIDENTS };
    let title = format!("{number} · {}", ticket.summary);
    let view = IncidentPage::new(
        ctx.layout(title),
        ticket,
        recipients,
        comments,
        principal.time_zone,
        principal.is_support(),
        back,
    );
    page(&view)
}

/// Cells a spreadsheet would run as a formula are prefixed with `'` (OWASP CSV injection).
fn csv_cell(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_string() }
}

fn incidents_csv(rows: &[IncidentRow], zone: Tz, with_account: bool) -> anyhow::Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec![
        "Ticket Number",
        "Ticket Summary",
        "Ticket Severity",
        "Ticket Status",
        "Created Date",
        "Created Date (UTC)",
        "Closure Requested",
    ];
    if with_account {
        header.insert(1, "Account");
    }
    writer.write_record(&header)?;
    for row in rows {
        let created = timestamp(row.created_at, zone);
        let severity = crate::domain::ticket::Severity::from_rank(row.severity).map_or("", |s| s.name());
        let mut record = vec![
            TicketNumber::from_id(row.id).to_string(),
            csv_cell(&row.summary),
            severity.to_string(),
            status_name(&row.status),
            created.local,
            created.iso,
            if row.closure_requested_at.is_some() { "yes".into() } else { "no".into() },
        ];
        if with_account {
            record.insert(1, csv_cell(&format!("{} ({})", row.account_name, row.account_number)));
        }
        writer.write_record(&record)?;
    }
    Ok(writer.into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("Brute force"), "Brute force");
    }
}
