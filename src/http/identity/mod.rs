//! Account > Users and Account > Roles + Permissions: what an account administrator needs to give
//! people the permissions the portal asks for.

pub mod roles;
pub mod users;

use actix_web::HttpRequest;

use super::audit::{Actor, SecurityEvent};
use crate::domain::policy::IdentityAccess;
use crate::domain::principal::Principal;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::{AccountUser, IdentityError};

pub(super) async fn audit(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    action: &'static str,
    target: String,
    detail: String,
) -> Result<(), AppError> {
    SecurityEvent::new(action, Actor::from(principal)).target(target).detail(detail).record(state, req).await
}

pub(super) fn identity_error(error: IdentityError) -> AppError {
    match error {
        IdentityError::NotFound => AppError::NotFound,
        IdentityError::Rule(rule) => AppError::Conflict { message: rule.to_string(), reload: None },
        IdentityError::Store(store) => store.into(),
    }
}

pub(super) async fn account_user(
    state: &AppState,
    access: IdentityAccess,
    user_id: &str,
) -> Result<AccountUser, AppError> {
    let id: i64 = user_id.parse().map_err(|_| AppError::NotFound)?;
    state.store.account_users(access.account_id).await?.into_iter().find(|u| u.user.id == id).ok_or(AppError::NotFound)
}
