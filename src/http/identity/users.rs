//! Account > Users: adding users, their roles, disabling them, set-password links for those who
//! never signed in, resetting two-factor sign-in, and requiring it for the whole account.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{account_user, audit, identity_error};
use crate::auth::session::FlashLevel;
use crate::domain::identity::IdentityRule;
use crate::domain::input;
use crate::domain::policy::{self, IdentityAccess};
use crate::error::AppError;
use crate::http::context::PageContext;
use crate::http::csrf::{CsrfForm, NoFields};
use crate::http::password_links;
use crate::http::respond::see_other;
use crate::paths;
use crate::state::AppState;
use crate::store::{IdentityError, NewUser};
use crate::views::format::timestamp;
use crate::views::identity::{
    NewUserPage, QuotaView, RoleCheck, UserDraft, UserPage, UsersPage, display_name, user_list_row,
};
use crate::views::render;
use crate::views::widgets::Choice;

/// The refusal of an address this account cannot have, which says nothing of why.
fn parse_ids(raw: &[String], what: &str) -> Result<Vec<i64>, AppError> {
    let mut ids = raw
        .iter()
        .map(|v| v.trim().parse::<i64>().map_err(|_| AppError::BadRequest(format!("Choose {what} from the list."))))
        .collect::<Result<Vec<_>, _>>()?;
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

const UNUSABLE_EMAIL: &str = "That email address cannot be added. Check it, or contact Armor Support if it should be.";

#[tracing::instrument(skip_all)]
pub async fn users(ctx: PageContext, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::identity_access(principal)?;
    let roles = state.store.account_roles(access.account_id).await?;
    let users = state
        .store
        .account_users(access.account_id)
        .await?
        .into_iter()
        .map(|u| user_list_row(u, &roles, principal.time_zone))
        .collect();
    let page = UsersPage {
        layout: ctx.layout("Users"),
        users,
        new_user_href: access.write.then_some(paths::NEW_USER),
        requires_two_factor: principal.two_factor.required,
        two_factor_action: access.write.then_some(paths::ACCOUNT_TWO_FACTOR),
        fh_auth_enabled: principal.account().is_some_and(|a| a.fh_auth_enabled),
        query_signing_required: principal.account().is_some_and(|a| a.query_signing_required),
        api_access_action: access.write.then_some(paths::ACCOUNT_API_ACCESS),
        attachment_quota: match policy::sees_attachment_quota(principal) {
            true => {
                let used = state.store.attachment_usage(access.account_id).await?;
                Some(QuotaView::new(
                    u64::try_from(used).unwrap_or(0),
                    state.settings.attachments.limits.account_quota_bytes,
                ))
            }
            false => None,
        },
    };
    render(StatusCode::OK, &page)
}

async fn new_user_page(
    ctx: &PageContext,
    state: &AppState,
    access: IdentityAccess,
    draft: UserDraft,
) -> Result<NewUserPage, AppError> {
    let roles = state
        .store
        .account_roles(access.account_id)
        .await?
        .into_iter()
        .map(|r| Choice { value: r.id.to_string(), selected: draft.role_ids.contains(&r.id), label: r.name })
        .collect();
    Ok(NewUserPage { layout: ctx.layout("Add a user"), action: paths::USERS, roles, draft })
}

#[tracing::instrument(skip_all)]
pub async fn new_user_form(ctx: PageContext, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let access = policy::may_change_identity(ctx.principal()?)?;
    render(StatusCode::OK, &new_user_page(&ctx, &state, access, UserDraft::default()).await?)
}

#[derive(Deserialize)]
pub struct NewUserForm {
    first_name: String,
    last_name: String,
    email: String,
    #[serde(default)]
    role: Vec<String>,
}

#[tracing::instrument(skip_all)]
pub async fn create_user(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<NewUserForm>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::may_change_identity(principal)?;
    let mut draft = UserDraft {
        first_name: form.first_name,
        last_name: form.last_name,
        email: form.email,
        role_ids: parse_ids(&form.role, "roles")?,
        errors: Vec::new(),
    };
    let first = input::name(&draft.first_name, "first name").map_err(|e| draft.errors.push(e)).ok();
    let last = input::name(&draft.last_name, "last name").map_err(|e| draft.errors.push(e)).ok();
    let email = input::email(&draft.email).map_err(|e| draft.errors.push(e)).ok();
    if draft.role_ids.is_empty() {
        draft.errors.push("Choose at least one role: every user keeps at least one.".into());
    }
    let (Some(first_name), Some(last_name), Some(email)) = (first, last, email) else {
        return render(StatusCode::UNPROCESSABLE_ENTITY, &new_user_page(&ctx, &state, access, draft).await?);
    };
    if !draft.errors.is_empty() {
        return render(StatusCode::UNPROCESSABLE_ENTITY, &new_user_page(&ctx, &state, access, draft).await?);
    }
    let user = NewUser {
        account_id: Some(access.account_id),
        email: email.clone(),
        first_name,
        last_name,
        password_hash: None,
        support_admin: false,
        time_zone: principal.time_zone.name().to_string(),
        enabled: true,
    };
    let (link, token) = password_links::new_link(&state, principal.user_id);
    match state.store.create_account_user(access.account_id, &user, &draft.role_ids, &token, state.clock.now()).await {
        Ok(_) => {}
        Err(IdentityError::Rule(IdentityRule::DuplicateName)) => {
            // Whose address it is stays unsaid unless it is this account's: another customer's
            // users and the provider's staff are none of an administrator's business.
            let ours = state.store.account_users(access.account_id).await?.iter().any(|u| u.user.email == email);
            let message = if ours {
                "A user of your account already has that email address.".to_string()
            } else {
                audit(&state, &req, principal, "user_create_refused", email.clone(), "address in use elsewhere".into())
                    .await?;
                UNUSABLE_EMAIL.to_string()
            };
            draft.errors.push(message);
            return render(StatusCode::UNPROCESSABLE_ENTITY, &new_user_page(&ctx, &state, access, draft).await?);
        }
        Err(IdentityError::NotFound) => return Err(AppError::BadRequest("Choose roles of this account.".into())),
        Err(error) => return Err(identity_error(error)),
    }
    audit(&state, &req, principal, "user_created", email.clone(), format!("roles {:?}", draft.role_ids)).await?;
    ctx.session().flash(FlashLevel::Success, format!("{email} is added. {}", password_links::hand_over(&email, &link)));
    Ok(see_other(paths::USERS))
}

async fn user_page(
    ctx: &PageContext,
    state: &AppState,
    user_id: &str,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::identity_access(principal)?;
    let user = account_user(state, access, user_id).await?;
    let roles = state
        .store
        .account_roles(access.account_id)
        .await?
        .into_iter()
        .map(|r| RoleCheck {
            id: r.id,
            checked: user.role_ids.contains(&r.id),
            builtin: r.builtin.is_some(),
            name: r.name,
        })
        .collect();
    let id = user.user.id;
    let page = UserPage {
        layout: ctx.layout(display_name(&user)),
        name: display_name(&user),
        email: user.user.email.clone(),
        enabled: user.user.enabled,
        api_keys: user.user.api_keys,
        two_factor: user.user.two_factor,
        last_sign_in: user.user.last_sign_in_at.map(|at| timestamp(at, principal.time_zone)),
        roles,
        write: access.write,
        roles_action: paths::of_user(paths::USER_ROLES, id),
        toggle_action: paths::of_user(if user.user.enabled { paths::USER_DISABLE } else { paths::USER_ENABLE }, id),
        link_action: user.user.last_sign_in_at.is_none().then(|| paths::of_user(paths::USER_PASSWORD_LINK, id)),
        reset_two_factor_action: paths::of_user(paths::USER_RESET_TWO_FACTOR, id),
        is_self: id == principal.user_id,
        error: error.clone(),
    };
    render(if error.is_some() { StatusCode::CONFLICT } else { StatusCode::OK }, &page)
}

#[tracing::instrument(skip_all)]
pub async fn user(
    ctx: PageContext,
    state: web::Data<AppState>,
    user_id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    user_page(&ctx, &state, &user_id, None).await
}

/// After a change to a user: back to their page, or the page again with the rule that refused it.
async fn after_user_change(
    ctx: &PageContext,
    state: &AppState,
    user_id: &str,
    result: Result<(), IdentityError>,
    done: String,
) -> Result<HttpResponse, AppError> {
    match result {
        Ok(()) => {
            ctx.session().flash(FlashLevel::Success, done);
            Ok(see_other(&paths::user(user_id.parse().unwrap_or_default())))
        }
        Err(IdentityError::Rule(rule)) => user_page(ctx, state, user_id, Some(rule.to_string())).await,
        Err(error) => Err(identity_error(error)),
    }
}

#[derive(Deserialize)]
pub struct RolesForm {
    #[serde(default)]
    role: Vec<String>,
}

#[tracing::instrument(skip_all)]
pub async fn set_user_roles(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    user_id: web::Path<String>,
    CsrfForm(form): CsrfForm<RolesForm>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::may_change_identity(principal)?;
    let user = account_user(&state, access, &user_id).await?;
    let role_ids = parse_ids(&form.role, "roles")?;
    let result = state.store.set_user_roles(access.account_id, user.user.id, &role_ids).await;
    if result.is_ok() {
        audit(&state, &req, principal, "user_roles_changed", user.user.email.clone(), format!("roles {role_ids:?}"))
            .await?;
    }
    after_user_change(&ctx, &state, &user_id, result, format!("{}'s roles are saved.", display_name(&user))).await
}

async fn set_enabled(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    user_id: String,
    enabled: bool,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::may_change_identity(principal)?;
    let user = account_user(&state, access, &user_id).await?;
    let result = if !enabled && user.user.id == principal.user_id {
        Err(IdentityError::Rule(IdentityRule::SelfDisable))
    } else {
        state.store.set_user_enabled(access.account_id, user.user.id, enabled).await
    };
    if result.is_ok() {
        let action = if enabled { "user_enabled" } else { "user_disabled" };
        audit(&state, &req, principal, action, user.user.email.clone(), String::new()).await?;
    }
    let done = if enabled {
        format!("{} is enabled.", display_name(&user))
    } else {
        format!("{} is disabled: their sessions have ended and their API keys no longer work.", display_name(&user))
    };
    after_user_change(&ctx, &state, &user_id, result, done).await
}

#[tracing::instrument(skip_all)]
pub async fn disable_user(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    user_id: web::Path<String>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    set_enabled(ctx, req, state, user_id.into_inner(), false).await
}

#[tracing::instrument(skip_all)]
pub async fn enable_user(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    user_id: web::Path<String>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    set_enabled(ctx, req, state, user_id.into_inner(), true).await
}

#[tracing::instrument(skip_all)]
pub async fn password_link(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    user_id: web::Path<String>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::may_change_identity(principal)?;
    let user = account_user(&state, access, &user_id).await?;
    let (link, token) = password_links::new_link(&state, principal.user_id);
    let result = state.store.issue_password_token(access.account_id, user.user.id, &token, state.clock.now()).await;
    if let Err(IdentityError::Rule(rule)) = &result {
        audit(&state, &req, principal, "password_link_refused", user.user.email.clone(), rule.to_string()).await?;
        return user_page(&ctx, &state, &user_id, Some(rule.to_string())).await;
    }
    result.map_err(identity_error)?;
    audit(&state, &req, principal, "password_link_issued", user.user.email.clone(), String::new()).await?;
    ctx.session().flash(FlashLevel::Success, password_links::hand_over(&user.user.email, &link));
    Ok(see_other(&paths::user(user.user.id)))
}

/// Clears a user's two-factor sign-in (a lost phone); they set it up again at their next
/// sign-in if it is required, or when they choose to.
#[tracing::instrument(skip_all)]
pub async fn reset_two_factor(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    user_id: web::Path<String>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::may_change_identity(principal)?;
    let user = account_user(&state, access, &user_id).await?;
    if user.user.id == principal.user_id {
        return Err(AppError::Forbidden(
            "Manage your own two-factor sign-in on your profile; another administrator can reset it for you.".into(),
        ));
    }
    state.store.disable_two_factor(user.user.id).await?;
    // The lost device may still hold a session.
    let ended = state.store.delete_sessions_of_user(user.user.id, None).await?;
    audit(&state, &req, principal, "two_factor_reset", user.user.email.clone(), format!("{ended} sessions ended"))
        .await?;
    let done = format!("Two-factor sign-in of {} is reset, and their sessions have ended.", display_name(&user));
    after_user_change(&ctx, &state, &user_id, Ok(()), done).await
}

#[derive(Deserialize)]
pub struct AccountTwoFactorForm {
    require: Option<String>,
}

/// Requires (or stops requiring) two-factor sign-in for every user of the account; users without
/// it set it up at their next request.
#[tracing::instrument(skip_all)]
pub async fn set_account_two_factor(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<AccountTwoFactorForm>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::may_change_identity(principal)?;
    let require = match form.require.as_deref() {
        None => false,
        Some("on") => true,
        Some(_) => return Err(AppError::BadRequest("The two-factor setting is on or off.".into())),
    };
    state.store.set_account_requires_two_factor(access.account_id, require).await?;
    let detail = if require { "required" } else { "optional" };
    audit(&state, &req, principal, "account_two_factor_changed", String::new(), detail.into()).await?;
    let message = if require {
        "Two-factor sign-in is now required: users without it set it up before they continue."
    } else {
        "Two-factor sign-in is now optional for this account."
    };
    ctx.session().flash(FlashLevel::Success, message);
    Ok(see_other(paths::USERS))
}

#[derive(Deserialize)]
pub struct ApiAccessForm {
    fh_auth: Option<String>,
    query_signing: Option<String>,
}

fn checkbox(value: Option<&str>) -> Result<bool, AppError> {
    match value {
        None => Ok(false),
        Some("on") => Ok(true),
        Some(_) => Err(AppError::BadRequest("Each setting is on or off.".into())),
    }
}

/// The account's switches for integrations written for the original provider's API: FH-AUTH
/// (turning it off ends every FH-AUTH token of the account at once), and requiring API keys to
/// sign the query string.
#[tracing::instrument(skip_all)]
pub async fn set_api_access(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<ApiAccessForm>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::may_change_identity(principal)?;
    let fh_auth = checkbox(form.fh_auth.as_deref())?;
    let query_signing = checkbox(form.query_signing.as_deref())?;
    let account = principal.account().ok_or(AppError::NotFound)?;
    state.store.set_account_api_access(access.account_id, fh_auth, query_signing).await?;
    let mut messages = Vec::new();
    if fh_auth != account.fh_auth_enabled {
        let ended = if fh_auth { 0 } else { state.store.revoke_account_fh_auth_tokens(access.account_id).await? };
        let detail = if fh_auth { "on".to_string() } else { format!("off, {ended} tokens ended") };
        audit(&state, &req, principal, "account_fh_auth_changed", String::new(), detail).await?;
        messages.push(if fh_auth {
            "FH-AUTH is on: integrations can get API tokens with a user's email and password. Users who must use two-factor sign-in cannot."
        } else {
            "FH-AUTH is off, and every FH-AUTH token of the account has ended."
        });
    }
    if query_signing != account.query_signing_required {
        let detail = if query_signing { "documented form required" } else { "both forms accepted" };
        audit(&state, &req, principal, "account_api_signing_changed", String::new(), detail.into()).await?;
        messages.push(if query_signing {
            "API keys must now sign the query string: calls signed the original provider's way are refused."
        } else {
            "API keys may sign either way again, the original provider's included."
        });
    }
    let message = if messages.is_empty() { "Nothing changed.".to_string() } else { messages.join(" ") };
    ctx.session().flash(FlashLevel::Success, message);
    Ok(see_other(paths::USERS))
}
