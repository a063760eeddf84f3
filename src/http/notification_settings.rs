//! What a user hears of: My profile › Notifications, and "Don't notify me" on a ticket's page.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::audit::{Actor, SecurityEvent};
use super::context::PageContext;
use super::csrf::CsrfForm;
use super::respond::see_other;
use super::ticket_page::{TicketView, visible_ticket};
use crate::auth::session::FlashLevel;
use crate::domain::notify::{Audience, ChoiceInput, Choices};
use crate::domain::policy;
use crate::error::AppError;
use crate::paths;
use crate::state::AppState;
use crate::store::NotificationSettings;
use crate::views::notifications::{NotificationDraft, notifications_page, threshold_label};
use crate::views::render;

fn page(ctx: &PageContext, state: &AppState, draft: NotificationDraft) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let status = if draft.errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let audience = Audience::of(principal);
    let desk_address = state.settings.mail.desk.as_ref().map(|desk| desk.email.to_string());
    let page = notifications_page(ctx.layout("Notifications"), audience, draft, principal.time_zone, desk_address);
    render(status, &page)
}

#[tracing::instrument(skip_all)]
pub async fn notification_settings(ctx: PageContext, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let audience = Audience::of(principal);
    let settings = state.store.notification_settings_of(principal.user_id, audience.defaults()).await?;
    let draft = NotificationDraft::from_settings(audience, &settings.preferences, settings.digest_hour);
    page(&ctx, &state, draft)
}

#[derive(Deserialize)]
pub struct NotificationForm {
    #[serde(default)]
    kind: Vec<String>,
    #[serde(default)]
    threshold: String,
    #[serde(default)]
    delivery: String,
    #[serde(default)]
    digest_hour: String,
}

#[tracing::instrument(skip_all)]
pub async fn save_notification_settings(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<NotificationForm>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let audience = Audience::of(principal);
    let input = ChoiceInput {
        kinds: &form.kind,
        threshold: &form.threshold,
        delivery: &form.delivery,
        digest_hour: &form.digest_hour,
    };
    let choices = match Choices::parse(audience, &input) {
        Ok(choices) => choices,
        Err(errors) => {
            let draft = NotificationDraft {
                kinds: form.kind,
                threshold: form.threshold,
                digest: form.delivery == "digest",
                digest_hour: form.digest_hour,
                errors,
            };
            return page(&ctx, &state, draft);
        }
    };
    let settings = NotificationSettings { preferences: choices.preferences, digest_hour: choices.digest_hour };
    state.store.save_notification_settings(principal.user_id, &settings).await?;
    let off: Vec<&str> = settings.preferences.muted_kinds.iter().map(|k| k.code()).collect();
    let how = if settings.preferences.digest {
        format!("digest at {:02}:00", settings.digest_hour)
    } else {
        "immediate".into()
    };
    SecurityEvent::new("notification_settings_changed", Actor::from(principal))
        .detail(format!(
            "{how}; {}; off: {}",
            threshold_label(settings.preferences.min_severity),
            if off.is_empty() { "none".to_string() } else { off.join(",") }
        ))
        .record(&state, &req)
        .await?;
    ctx.session().flash(FlashLevel::Success, "Your notification settings are saved.");
    Ok(see_other(paths::PROFILE_NOTIFICATIONS))
}

#[derive(Deserialize)]
pub struct TicketNotificationsForm {
    /// `off` for "Don't notify me", `on` for "Notify me".
    notify: String,
    return_to: Option<String>,
}

/// "Don't notify me" / "Notify me" on a ticket the customer is on (and may see, as its page
/// checks: another's ticket answers 404 like a missing one).
#[tracing::instrument(skip_all, fields(number = %number))]
pub async fn set_ticket_notifications(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    number: web::Path<String>,
    CsrfForm(form): CsrfForm<TicketNotificationsForm>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    policy::may_mute_tickets(principal)?;
    let (number, ticket, _) = visible_ticket(&state, principal, &number, TicketView::Ticket).await?;
    let muted = match form.notify.as_str() {
        "off" => true,
        "on" => false,
        _ => return Err(AppError::BadRequest("Choose “Don't notify me” or “Notify me”.".into())),
    };
    state.store.set_ticket_muted(principal.user_id, ticket.id, muted).await?;
    SecurityEvent::new("notification_settings_changed", Actor::from(principal))
        .target(number.to_string())
        .detail(if muted { "ticket muted" } else { "ticket unmuted" })
        .record(&state, &req)
        .await?;
    let message = if muted {
        format!("You get no more mail about {number}, except its closure or a Critical label.")
    } else {
        format!("You get mail about {number} again.")
    };
    ctx.session().flash(FlashLevel::Success, message);
    Ok(see_other(&TicketView::returning_to(form.return_to.as_deref(), number).path(number)))
}
