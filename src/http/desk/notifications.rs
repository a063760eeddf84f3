//! Support administrators' view of notifications: recent mails and webhook calls with their state,
//! the outbox's depth, and one mail to read (with mail off, the mails the portal would have sent).

use actix_web::{HttpRequest, HttpResponse, web};

use super::support_admin_only;
use crate::error::AppError;
use crate::http::context::PageContext;
use crate::notify::mail;
use crate::paths;
use crate::state::AppState;
use crate::views::desk::notifications::{MailView, NotificationMailPage, NotificationsPage, delivery_row, depth_view};
use crate::views::page;

/// How many of the newest deliveries the page lists.
const RECENT: i64 = 100;

#[tracing::instrument(skip_all)]
pub async fn notifications(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let principal = support_admin_only(&ctx, &state, &req).await?;
    let zone = principal.time_zone;
    let records = state.store.recent_deliveries(RECENT).await?;
    let depth = state.store.outbox_depth().await?;
    page(&NotificationsPage {
        layout: ctx.layout("Notifications"),
        rows: records.into_iter().map(|record| delivery_row(record, zone)).collect(),
        depth: depth_view(depth, state.clock.now(), zone),
        mail_on: state.settings.mail.is_on(),
        mail_status: state.settings.mail.to_string(),
    })
}

#[tracing::instrument(skip_all, fields(delivery_id = %delivery_id))]
pub async fn notification(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    delivery_id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let principal = support_admin_only(&ctx, &state, &req).await?;
    let detail = state.store.delivery(*delivery_id).await?.ok_or(AppError::NotFound)?;
    let built = mail::preview(&state.store, &state.public_url, &detail, state.clock.now()).await?;
    let (mail, unseen) = match built {
        Ok(mail) => (
            Some(MailView {
                to: mail.to.to_string(),
                subject: mail.subject,
                message_id: mail.message_id,
                in_reply_to: mail.thread,
                one_click: mail.unsubscribe.is_some(),
                text: mail.text,
            }),
            None,
        ),
        Err(unseen) => (None, Some(unseen.0)),
    };
    page(&NotificationMailPage {
        layout: ctx.layout("Notification"),
        back_href: paths::DESK_NOTIFICATIONS,
        row: delivery_row(detail.record, principal.time_zone),
        mail,
        unseen,
    })
}
