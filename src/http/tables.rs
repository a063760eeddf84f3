//! The ticket tables and their CSV exports: Security > Security Incidents, Support > Tickets and
//! the support queue.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::context::PageContext;
use crate::domain::listing::ListQuery;
use crate::domain::policy::{self, TicketScope};
use crate::domain::principal::Principal;

use crate::error::AppError;
use crate::paths;
use crate::state::AppState;
use crate::views::page;
use crate::views::ticket_csv;
use crate::views::ticket_table::{Screen, TicketTablePage};

/// Who may open each table, and which tickets it lists for them.
fn scope_of(screen: Screen, principal: &Principal) -> Result<TicketScope, AppError> {
    match screen {
        Screen::SecurityIncidents => Ok(policy::incident_screen_scope(principal)?),
        Screen::MyTickets => Ok(policy::ticket_list_scope(principal)?),
        Screen::SupportQueue => {
            policy::require_support(principal)?;
            Ok(TicketScope::Everything)
        }
    }
}

fn parse_query(screen: Screen, req: &HttpRequest) -> Result<ListQuery, AppError> {
    ListQuery::from_query_string(screen.kind(), req.query_string()).map_err(|e| AppError::BadRequest(e.0))
}

async fn table(
    screen: Screen,
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let scope = scope_of(screen, principal)?;
    let query = parse_query(screen, &req)?;
    let reads = state.reads().await;
    let tickets = reads.list_tickets(&scope, &query).await?;
    let counts = match screen {
        Screen::SupportQueue => Some(reads.queue_counts().await?),
        _ => None,
    };
    let new_ticket = match screen {
        Screen::MyTickets if policy::may_write_tickets(principal).is_ok() => Some(paths::NEW_TICKET),
        Screen::SupportQueue => Some(paths::DESK_NEW_TICKET),
        _ => None,
    };
    let view = TicketTablePage::new(
        ctx.layout(screen.title()),
        screen,
        &query,
        tickets,
        principal.time_zone,
        counts,
        new_ticket,
    );
    page(&view)
}

async fn csv(
    screen: Screen,
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let scope = scope_of(screen, principal)?;
    let query = parse_query(screen, &req)?;
    let rows = state.reads().await.export_tickets(&scope, &query).await?;
    let body = ticket_csv::render(&rows, principal.time_zone, screen.shows_account()).map_err(AppError::Unexpected)?;
    let name = match screen {
        Screen::SecurityIncidents => "security-incidents",
        Screen::MyTickets => "support-tickets",
        Screen::SupportQueue => "ticket-queue",
    };
    let filename = format!("{name}-{}.csv", state.clock.now().format("%Y-%m-%d"));
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")))
        .body(body))
}

#[tracing::instrument(skip_all)]
pub async fn security_incidents(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    table(Screen::SecurityIncidents, ctx, req, state).await
}

#[tracing::instrument(skip_all)]
pub async fn security_incidents_csv(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    csv(Screen::SecurityIncidents, ctx, req, state).await
}

/// Support staff have no tickets of their own; their list of every ticket is the queue.
#[tracing::instrument(skip_all)]
pub async fn my_tickets(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    if ctx.principal()?.is_support() {
        return Ok(super::respond::see_other(paths::DESK_QUEUE_EVERY_TICKET));
    }
    table(Screen::MyTickets, ctx, req, state).await
}

#[tracing::instrument(skip_all)]
pub async fn my_tickets_csv(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    csv(Screen::MyTickets, ctx, req, state).await
}

#[tracing::instrument(skip_all)]
pub async fn support_queue(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    table(Screen::SupportQueue, ctx, req, state).await
}

#[tracing::instrument(skip_all)]
pub async fn support_queue_csv(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    csv(Screen::SupportQueue, ctx, req, state).await
}
