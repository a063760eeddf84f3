//! Setting a password through a one-time link (new users and staff; no email server is assumed).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;
use serde::Deserialize;

use super::audit::{Actor, SecurityEvent};
use super::context::PageContext;
use super::csrf::CsrfForm;
use super::respond::see_other;
use crate::auth::password;
use crate::auth::token::token_hash;
use crate::domain::input;
use crate::error::AppError;
use crate::paths;
use crate::state::AppState;
use crate::store::PasswordTokenOwner;
use crate::views::password::SetPasswordPage;
use crate::views::render;

const LINK_INVALID: &str = "This link has expired or was already used. Ask whoever sent it (your account administrator, or Armor Support) for a new one.";

async fn owner(state: &AppState, token: &str) -> Result<PasswordTokenOwner, AppError> {
    if token.is_empty() || token.len() > 128 {
        return Err(AppError::Gone(LINK_INVALID.into()));
    }
    state
        .store
        .password_token_owner(&token_hash(token), state.clock.now())
        .await?
        .ok_or_else(|| AppError::Gone(LINK_INVALID.into()))
}

fn page(ctx: &PageContext, token: String, owner: PasswordTokenOwner, error: Option<String>) -> SetPasswordPage {
    SetPasswordPage {
        layout: ctx.layout("Set your password"),
        action: paths::PASSWORD_SET,
        token,
        name: owner.name,
        email: owner.email,
        error,
    }
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

#[tracing::instrument(skip_all)]
pub async fn set_password_form(
    ctx: PageContext,
    state: web::Data<AppState>,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, AppError> {
    let token = query.into_inner().token.unwrap_or_default();
    let owner = owner(&state, &token).await?;
    render(StatusCode::OK, &page(&ctx, token, owner, None))
}

#[derive(Deserialize)]
pub struct SetPasswordForm {
    token: String,
    password: String,
    confirmation: String,
}

#[tracing::instrument(skip_all)]
pub async fn set_password(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<SetPasswordForm>,
) -> Result<HttpResponse, AppError> {
    let owner = owner(&state, &form.token).await?;
    let new_password = match input::new_password(&form.password, &form.confirmation) {
        Ok(password) => password,
        Err(message) => return render(StatusCode::UNPROCESSABLE_ENTITY, &page(&ctx, form.token, owner, Some(message))),
    };
    let hash = password::hash_password(SecretString::from(new_password)).await.map_err(AppError::Unexpected)?;
    if !state.store.set_password_with_token(owner.token_id, owner.user_id, &hash, state.clock.now()).await? {
        return Err(AppError::Gone(LINK_INVALID.into()));
    }
    let actor = Actor { user_id: Some(owner.user_id), email: Some(owner.email), account_id: None };
    SecurityEvent::new("password_set", actor).detail("through a one-time link").record(&state, &req).await?;
    Ok(see_other(paths::LOGIN_PASSWORD_SET))
}
