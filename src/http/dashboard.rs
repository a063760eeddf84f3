//! Security > Security Dashboard: severity tiles, the Critical Incidents panel and the charts. The
//! panel (all of these) is also served alone, for the page's script to refresh and for dashboard
//! widgets, so that tiles and charts never disagree.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use super::context::PageContext;
use crate::domain::activity::ActivityWindow;
use crate::domain::listing::{ListKind, ListQuery, SortDir, SortKey};
use crate::domain::policy::{self, DashboardAccess};
use crate::domain::principal::Principal;
use crate::domain::ticket::{Severity, TicketStatus};
use crate::error::AppError;
use crate::paths;
use crate::state::AppState;
use crate::views::charts::{activity_chart, severity_chart};
use crate::views::dashboard::{DashboardPage, Panel, PanelFragment, Tile, critical_row};
use crate::views::render;

/// Rows the Critical Incidents panel lists before linking to the whole table.
const PANEL_ROWS: u32 = 10;

/// Where the tiles lead: the customer's incident table, or the support queue.
fn table_link(principal: &Principal, access: &DashboardAccess, query: &str) -> Option<String> {
    match (principal.is_support(), access.rows) {
        (true, _) => Some(paths::with_query(paths::DESK_QUEUE, query)),
        (false, true) => Some(paths::with_query(paths::INCIDENTS, query)),
        // Without Read Ticket the table would only answer 403.
        (false, false) => None,
    }
}

async fn panel(state: &AppState, principal: &Principal, access: &DashboardAccess) -> Result<Panel, AppError> {
    let now = state.clock.now();
    let window = ActivityWindow::ending(now, principal.time_zone);
    let reads = state.reads().await;
    let figures = reads.dashboard_figures(&access.scope, &window).await?;
    let open = &figures.open;
    let counts = open.by_severity();
    let attention = open.with_status(TicketStatus::RequiresAttention);
    let critical_total = counts.iter().find(|(s, _)| *s == Severity::Critical).map_or(0, |(_, n)| *n);
    let tiles = counts
        .iter()
        .map(|(severity, count)| Tile {
            label: severity.name().to_string(),
            count: *count,
            href: table_link(principal, access, &format!("severity={}", severity.name())),
            slug: severity.slug(),
        })
        .collect();
    let attention = Tile {
        label: "Require Attention".into(),
        count: attention,
        href: table_link(principal, access, "status=requires_attention"),
        slug: "attention",
    };
    let mut rows = Vec::new();
    // The counts already say whether there is a Critical incident to list.
    if access.rows && critical_total > 0 {
        let query = ListQuery {
            severities: vec![Severity::Critical],
            sort: SortKey::Created,
            dir: SortDir::Desc,
            page_size: PANEL_ROWS,
            ..ListQuery::new(ListKind::SecurityIncidents)
        };
        let found = reads.ticket_rows(&access.scope, &query).await?;
        rows = found.into_iter().map(|row| critical_row(row, principal, now)).collect();
    }
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    let panel = Panel {
        tiles,
        attention,
        critical_total,
        critical_href: (access.rows && critical_total > i64::from(PANEL_ROWS))
            .then(|| table_link(principal, access, "severity=Critical"))
            .flatten(),
        critical_rows: rows,
        rows_note: (!access.rows).then_some(
            "Listing incidents needs the Read Ticket permission as well; your account administrator can grant it.",
        ),
        summary: format!("{critical_total} open Critical incidents; {total} open incidents in all."),
        severity_chart: severity_chart(&counts),
        activity_chart: activity_chart(&window.days, &figures.activity),
    };
    Ok(panel)
}

#[tracing::instrument(skip_all)]
pub async fn dashboard(ctx: PageContext, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::dashboard_access(principal)?;
    let page = DashboardPage {
        layout: ctx.layout("Security Dashboard"),
        panel: panel(&state, principal, &access).await?,
        refresh_url: paths::DASHBOARD_PANEL,
        refresh_seconds: state.settings.dashboard_refresh_seconds,
    };
    render(StatusCode::OK, &page)
}

/// The panel alone: what the page's script swaps in every so often.
#[tracing::instrument(skip_all)]
pub async fn dashboard_panel(ctx: PageContext, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::dashboard_access(principal)?;
    render(StatusCode::OK, &PanelFragment { panel: panel(&state, principal, &access).await? })
}
