//! A mail's one-click unsubscribe link (RFC 8058): `GET` shows what it turns off, `POST` (a mail
//! client's one click, or the page's button) turns it off. No sign-in and no session token: the
//! signed link is the credential, and it works once.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::audit::{Actor, SecurityEvent};
use super::context::PageContext;
use crate::auth::token::token_hash;
use crate::auth::unsubscribe::{self, LinkError, Unsubscribe};
use crate::domain::notify::{Audience, NoticeKind};
use crate::error::AppError;
use crate::paths;
use crate::state::AppState;
use crate::views::render;
use crate::views::unsubscribe::UnsubscribePage;

#[derive(Deserialize)]
pub struct LinkQuery {
    token: Option<String>,
}

fn checked(state: &AppState, query: &LinkQuery) -> Result<Unsubscribe, AppError> {
    let token = query.token.as_deref().filter(|t| t.len() <= 512).unwrap_or_default();
    unsubscribe::check(&state.signer, token, state.clock.now()).map_err(|error| match error {
        LinkError::Invalid => {
            AppError::BadRequest("This unsubscribe link is not valid. Use the link of a mail as it came.".into())
        }
        LinkError::Expired => AppError::Gone(
            "This unsubscribe link has expired. Sign in and choose your notifications under My profile.".into(),
        ),
    })
}

fn page(ctx: &PageContext, req: &HttpRequest, kind: NoticeKind, done: bool) -> UnsubscribePage {
    UnsubscribePage {
        layout: ctx.layout("Notifications"),
        action: paths::with_query(paths::UNSUBSCRIBE, req.query_string()),
        kind: kind.label(),
        done,
        settings_href: paths::PROFILE_NOTIFICATIONS,
    }
}

#[tracing::instrument(skip_all)]
pub async fn unsubscribe_form(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LinkQuery>,
) -> Result<HttpResponse, AppError> {
    let link = checked(&state, &query)?;
    render(StatusCode::OK, &page(&ctx, &req, link.kind, false))
}

#[tracing::instrument(skip_all)]
pub async fn unsubscribe(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LinkQuery>,
) -> Result<HttpResponse, AppError> {
    let link = checked(&state, &query)?;
    let now = state.clock.now();
    let token = query.token.as_deref().unwrap_or_default();
    if !state.store.use_unsubscribe_link(&token_hash(token), now).await? {
        return Err(AppError::Gone("This unsubscribe link was already used. Your choice is saved.".into()));
    }
    let Some(principal) = state.store.load_principal(link.user_id).await? else {
        return Err(AppError::Gone("This unsubscribe link no longer applies.".into()));
    };
    let defaults = Audience::of(&principal).defaults();
    let mut settings = state.store.notification_settings_of(link.user_id, defaults).await?;
    settings.preferences.muted_kinds.insert(link.kind);
    state.store.save_notification_settings(link.user_id, &settings).await?;
    SecurityEvent::new("notifications_unsubscribed", Actor::from(&principal))
        .detail(link.kind.code())
        .record(&state, &req)
        .await?;
    render(StatusCode::OK, &page(&ctx, &req, link.kind, true))
}
