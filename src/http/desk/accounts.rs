//! Customer accounts, each created with its first administrator (support administrators only).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::support_admin_only;
use crate::auth::session::FlashLevel;
use crate::domain::input;
use crate::error::AppError;
use crate::http::audit::{Actor, SecurityEvent};
use crate::http::context::PageContext;
use crate::http::csrf::CsrfForm;
use crate::http::password_links;
use crate::http::respond::see_other;
use crate::paths;
use crate::state::AppState;
use crate::store::NewUser;
use crate::views::desk::accounts::{AccountDraft, AccountsPage, NewAccountPage, account_row};
use crate::views::render;

#[tracing::instrument(skip_all)]
pub async fn accounts(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let principal = support_admin_only(&ctx, &state, &req).await?;
    let zone = principal.time_zone;
    let accounts = state.store.list_accounts().await?.into_iter().map(|a| account_row(a, zone)).collect();
    render(
        StatusCode::OK,
        &AccountsPage { layout: ctx.layout("Accounts"), accounts, new_account_href: paths::DESK_NEW_ACCOUNT },
    )
}

#[tracing::instrument(skip_all)]
pub async fn new_account_form(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    support_admin_only(&ctx, &state, &req).await?;
    let page = NewAccountPage {
        layout: ctx.layout("Create an account"),
        action: paths::DESK_ACCOUNTS,
        draft: AccountDraft::default(),
    };
    render(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct NewAccountForm {
    name: String,
    number: String,
    first_name: String,
    last_name: String,
    email: String,
}

#[tracing::instrument(skip_all)]
pub async fn create_account(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<NewAccountForm>,
) -> Result<HttpResponse, AppError> {
    let principal = support_admin_only(&ctx, &state, &req).await?;
    let mut draft = AccountDraft {
        name: form.name,
        number: form.number,
        first_name: form.first_name,
        last_name: form.last_name,
        email: form.email,
        errors: Vec::new(),
    };
    let name = input::name(&draft.name, "account name").map_err(|e| draft.errors.push(e)).ok();
    let number = input::account_number(&draft.number).map_err(|e| draft.errors.push(e)).ok();
    let first = input::name(&draft.first_name, "first name").map_err(|e| draft.errors.push(e)).ok();
    let last = input::name(&draft.last_name, "last name").map_err(|e| draft.errors.push(e)).ok();
    let email = input::email(&draft.email).map_err(|e| draft.errors.push(e)).ok();
    let invalid = |draft: AccountDraft| {
        let page = NewAccountPage { layout: ctx.layout("Create an account"), action: paths::DESK_ACCOUNTS, draft };
        render(StatusCode::UNPROCESSABLE_ENTITY, &page)
    };
    let (Some(name), Some(number), Some(first_name), Some(last_name), Some(email)) = (name, number, first, last, email)
    else {
        return invalid(draft);
    };
    let admin = NewUser {
        account_id: None,
        email: email.clone(),
        first_name,
        last_name,
        password_hash: None,
        support_admin: false,
        time_zone: "UTC".into(),
        enabled: true,
    };
    let (link, token) = password_links::new_link(&state, principal.user_id);
    let (account_id, _) =
        match state.store.create_account_with_admin(number, &name, &admin, &token, state.clock.now()).await {
            Ok(ids) => ids,
            Err(crate::store::StoreError::Duplicate(_)) => {
                draft.errors.push("That account number or email address is already in use.".into());
                return invalid(draft);
            }
            Err(error) => return Err(error.into()),
        };
    let mut actor = Actor::from(principal);
    actor.account_id = Some(account_id);
    SecurityEvent::new("account_created", actor)
        .target(format!("{name} ({number})"))
        .detail(format!("first administrator {email}"))
        .record(&state, &req)
        .await?;
    ctx.session().flash(
        FlashLevel::Success,
        format!("Account {name} ({number}) is created. {}", password_links::hand_over(&email, &link)),
    );
    Ok(see_other(paths::DESK_ACCOUNTS))
}
