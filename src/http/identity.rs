//! Account > Users and Account > Roles + Permissions: what an account administrator needs to give
//! people the permissions the portal asks for.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Duration;
use serde::Deserialize;

use super::audit::{Actor, SecurityEvent};
use super::context::PageContext;
use super::csrf::{CsrfForm, NoFields};
use super::sign_in::see_other;
use crate::auth::session::{FlashLevel, new_token};
use crate::auth::token::token_hash;
use crate::domain::features;
use crate::domain::identity::IdentityRule;
use crate::domain::input;
use crate::domain::permission::{BuiltinRole, Permission};
use crate::domain::policy::{self, IdentityAccess};
use crate::domain::principal::Principal;
use crate::error::AppError;
use crate::paths;
use crate::state::AppState;
use crate::store::{AccountUser, IdentityError, NewUser, PasswordToken, RoleRecord};
use crate::views::format::timestamp;
use crate::views::identity::{
    Candidate, DeleteRolePage, MemberRow, NewUserPage, PermissionOption, RoleCheck, RoleListRow, RolePage, RolesPage,
    UnlockView, UserDraft, UserListRow, UserPage, UsersPage,
};
use crate::views::render;
use crate::views::ticket_table::Choice;

const PASSWORD_LINK_HOURS: i64 = 72;

/// The refusal of an address this account cannot have, which says nothing of why.
const UNUSABLE_EMAIL: &str = "That email address cannot be added. Check it, or contact Armor Support if it should be.";

fn display_name(user: &AccountUser) -> String {
    format!("{} {}", user.user.first_name, user.user.last_name).trim().to_string()
}

/// What a role grants: the provider's set for a provider-defined role, else its stored one.
fn role_permissions(role: &RoleRecord) -> Vec<Permission> {
    match role.builtin.as_deref().and_then(BuiltinRole::from_code) {
        Some(builtin) => builtin.permissions().iter().collect(),
        None => role.permissions.clone(),
    }
}

fn permission_options(checked: &[Permission]) -> Vec<PermissionOption> {
    Permission::ALL
        .into_iter()
        .map(|p| PermissionOption {
            code: p.code(),
            name: p.name(),
            description: p.description(),
            checked: checked.contains(&p),
            unlocks: features::unlocked_by(p)
                .map(|f| UnlockView { name: f.name, pages: f.pages.to_vec(), api: f.api.to_vec() })
                .collect(),
        })
        .collect()
}

fn parse_ids(raw: &[String], what: &str) -> Result<Vec<i64>, AppError> {
    let mut ids = raw
        .iter()
        .map(|v| v.trim().parse::<i64>().map_err(|_| AppError::BadRequest(format!("Choose {what} from the list."))))
        .collect::<Result<Vec<_>, _>>()?;
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

fn parse_permissions(raw: &[String]) -> Result<Vec<Permission>, AppError> {
    let mut permissions = raw
        .iter()
        .map(|code| {
            Permission::from_code(code.trim()).ok_or_else(|| AppError::BadRequest("Unknown permission.".into()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    permissions.sort();
    permissions.dedup();
    Ok(permissions)
}

async fn audit(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    action: &'static str,
    target: String,
    detail: String,
) -> Result<(), AppError> {
    SecurityEvent::new(action, Actor::from(principal)).target(target).detail(detail).record(state, req).await
}

/// A one-time set-password link: the secret for the URL, and what the database keeps.
fn password_token(state: &AppState, created_by: i64) -> (String, PasswordToken) {
    let secret = new_token();
    let token = PasswordToken {
        token_hash: token_hash(&secret),
        expires_at: state.clock.now() + Duration::hours(PASSWORD_LINK_HOURS),
        created_by,
    };
    (state.public_url.link(&paths::password_set_with(&secret)), token)
}

fn link_message(who: &str, link: &str) -> String {
    format!(
        "Give {who} this one-time link to set a password; it works once, within {PASSWORD_LINK_HOURS} hours, and is not shown again: {link}"
    )
}

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
        .map(|u| UserListRow {
            href: paths::user(u.user.id),
            name: display_name(&u),
            roles: roles
                .iter()
                .filter(|r| u.role_ids.contains(&r.id))
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            email: u.user.email,
            enabled: u.user.enabled,
            api_keys: u.user.api_keys,
            two_factor: u.user.two_factor,
            last_sign_in: u.user.last_sign_in_at.map(|at| timestamp(at, principal.time_zone)),
        })
        .collect();
    let page = UsersPage {
        layout: ctx.layout("Users"),
        users,
        new_user_href: access.write.then_some(paths::NEW_USER),
        requires_two_factor: principal.two_factor.required,
        two_factor_action: access.write.then_some(paths::ACCOUNT_TWO_FACTOR),
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
    let (link, token) = password_token(&state, principal.user_id);
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
    ctx.session().flash(FlashLevel::Success, format!("{email} is added. {}", link_message(&email, &link)));
    Ok(see_other(paths::USERS))
}

fn identity_error(error: IdentityError) -> AppError {
    match error {
        IdentityError::NotFound => AppError::NotFound,
        IdentityError::Rule(rule) => AppError::Conflict { message: rule.to_string(), reload: None },
        IdentityError::Store(store) => store.into(),
    }
}

async fn account_user(state: &AppState, access: IdentityAccess, user_id: &str) -> Result<AccountUser, AppError> {
    let id: i64 = user_id.parse().map_err(|_| AppError::NotFound)?;
    state.store.account_users(access.account_id).await?.into_iter().find(|u| u.user.id == id).ok_or(AppError::NotFound)
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
        roles_action: paths::user_action(id, "roles"),
        toggle_action: paths::user_action(id, if user.user.enabled { "disable" } else { "enable" }),
        link_action: user.user.last_sign_in_at.is_none().then(|| paths::user_action(id, "password-link")),
        reset_two_factor_action: paths::user_action(id, "reset-two-factor"),
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
    let (link, token) = password_token(&state, principal.user_id);
    let result = state.store.issue_password_token(access.account_id, user.user.id, &token, state.clock.now()).await;
    if let Err(IdentityError::Rule(rule)) = &result {
        audit(&state, &req, principal, "password_link_refused", user.user.email.clone(), rule.to_string()).await?;
        return user_page(&ctx, &state, &user_id, Some(rule.to_string())).await;
    }
    result.map_err(identity_error)?;
    audit(&state, &req, principal, "password_link_issued", user.user.email.clone(), String::new()).await?;
    ctx.session().flash(FlashLevel::Success, link_message(&user.user.email, &link));
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

async fn roles_page(
    ctx: &PageContext,
    state: &AppState,
    draft_name: String,
    checked: Vec<Permission>,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::identity_access(principal)?;
    let roles = state
        .store
        .account_roles(access.account_id)
        .await?
        .into_iter()
        .map(|r| RoleListRow {
            href: paths::role(r.id),
            permissions: role_permissions(&r).iter().map(|p| p.name()).collect::<Vec<_>>().join(", "),
            builtin: r.builtin.is_some(),
            members: r.member_ids.len(),
            name: r.name,
        })
        .collect();
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let page = RolesPage {
        layout: ctx.layout("Roles + Permissions"),
        roles,
        create_action: access.write.then_some(paths::ROLES),
        permissions: permission_options(&checked),
        draft_name,
        error,
    };
    render(status, &page)
}

#[tracing::instrument(skip_all)]
pub async fn roles(ctx: PageContext, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    roles_page(&ctx, &state, String::new(), Vec::new(), None).await
}

#[derive(Deserialize)]
pub struct RoleForm {
    name: String,
    #[serde(default)]
    permission: Vec<String>,
}

#[tracing::instrument(skip_all)]
pub async fn create_role(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<RoleForm>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::may_change_identity(principal)?;
    let permissions = parse_permissions(&form.permission)?;
    let name = match input::name(&form.name, "role name") {
        Ok(name) => name,
        Err(message) => return roles_page(&ctx, &state, form.name, permissions, Some(message)).await,
    };
    match state.store.create_custom_role(access.account_id, &name, &permissions, state.clock.now()).await {
        Ok(id) => {
            let names: Vec<&str> = permissions.iter().map(|p| p.name()).collect();
            audit(&state, &req, principal, "role_created", name.clone(), names.join(", ")).await?;
            ctx.session().flash(FlashLevel::Success, format!("The role {name} is created. Add its members below."));
            Ok(see_other(&paths::role(id)))
        }
        Err(IdentityError::Rule(rule)) => roles_page(&ctx, &state, name, permissions, Some(rule.to_string())).await,
        Err(error) => Err(identity_error(error)),
    }
}

async fn account_role(state: &AppState, access: IdentityAccess, role_id: &str) -> Result<RoleRecord, AppError> {
    let id: i64 = role_id.parse().map_err(|_| AppError::NotFound)?;
    state.store.account_roles(access.account_id).await?.into_iter().find(|r| r.id == id).ok_or(AppError::NotFound)
}

async fn role_page(
    ctx: &PageContext,
    state: &AppState,
    role_id: &str,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::identity_access(principal)?;
    let role = account_role(state, access, role_id).await?;
    let users = state.store.account_users(access.account_id).await?;
    let members = users
        .iter()
        .filter(|u| role.member_ids.contains(&u.user.id))
        .map(|u| MemberRow {
            name: display_name(u),
            email: u.user.email.clone(),
            remove_action: access.write.then(|| paths::remove_role_member(role.id, u.user.id)),
        })
        .collect();
    let candidates = users
        .iter()
        .filter(|u| !role.member_ids.contains(&u.user.id))
        .map(|u| Candidate { id: u.user.id, label: format!("{} ({})", display_name(u), u.user.email) })
        .collect();
    let builtin = role.builtin.is_some();
    let page = RolePage {
        layout: ctx.layout(format!("Role {}", role.name)),
        name: role.name.clone(),
        builtin,
        editable: access.write && !builtin,
        write: access.write,
        rename_action: paths::role_action(role.id, "rename"),
        permissions_action: paths::role_action(role.id, "permissions"),
        members_action: paths::role_action(role.id, "members"),
        delete_href: paths::role_action(role.id, "delete"),
        permissions: permission_options(&role_permissions(&role)),
        members,
        candidates,
        error: error.clone(),
    };
    render(if error.is_some() { StatusCode::CONFLICT } else { StatusCode::OK }, &page)
}

#[tracing::instrument(skip_all)]
pub async fn role(
    ctx: PageContext,
    state: web::Data<AppState>,
    role_id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    role_page(&ctx, &state, &role_id, None).await
}

/// After a change to a role: back to its page, or the page again with the rule that refused it.
async fn after_role_change(
    ctx: &PageContext,
    state: &AppState,
    role_id: i64,
    result: Result<(), IdentityError>,
    done: String,
) -> Result<HttpResponse, AppError> {
    match result {
        Ok(()) => {
            ctx.session().flash(FlashLevel::Success, done);
            Ok(see_other(&paths::role(role_id)))
        }
        Err(IdentityError::Rule(rule)) => role_page(ctx, state, &role_id.to_string(), Some(rule.to_string())).await,
        Err(error) => Err(identity_error(error)),
    }
}

#[derive(Deserialize)]
pub struct RenameForm {
    name: String,
}

#[tracing::instrument(skip_all)]
pub async fn rename_role(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    role_id: web::Path<String>,
    CsrfForm(form): CsrfForm<RenameForm>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::may_change_identity(principal)?;
    let role = account_role(&state, access, &role_id).await?;
    let name = match input::name(&form.name, "role name") {
        Ok(name) => name,
        Err(message) => return role_page(&ctx, &state, &role_id, Some(message)).await,
    };
    let result = state.store.rename_role(access.account_id, role.id, &name).await;
    if result.is_ok() {
        audit(&state, &req, principal, "role_renamed", role.name.clone(), name.clone()).await?;
    }
    after_role_change(&ctx, &state, role.id, result, format!("The role is now called {name}.")).await
}

#[derive(Deserialize)]
pub struct PermissionsForm {
    #[serde(default)]
    permission: Vec<String>,
}

#[tracing::instrument(skip_all)]
pub async fn set_role_permissions(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    role_id: web::Path<String>,
    CsrfForm(form): CsrfForm<PermissionsForm>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::may_change_identity(principal)?;
    let role = account_role(&state, access, &role_id).await?;
    let permissions = parse_permissions(&form.permission)?;
    let result = state.store.set_role_permissions(access.account_id, role.id, &permissions).await;
    if result.is_ok() {
        let names: Vec<&str> = permissions.iter().map(|p| p.name()).collect();
        audit(&state, &req, principal, "role_permissions_changed", role.name.clone(), names.join(", ")).await?;
    }
    after_role_change(
        &ctx,
        &state,
        role.id,
        result,
        format!("The permissions of {} are saved; its members have them from their next request.", role.name),
    )
    .await
}

#[derive(Deserialize)]
pub struct MemberForm {
    user_id: String,
}

#[tracing::instrument(skip_all)]
pub async fn add_member(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    role_id: web::Path<String>,
    CsrfForm(form): CsrfForm<MemberForm>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::may_change_identity(principal)?;
    let role = account_role(&state, access, &role_id).await?;
    let user = account_user(&state, access, form.user_id.trim())
        .await
        .map_err(|_| AppError::BadRequest("Choose a user of the account.".into()))?;
    let result = state.store.add_member(access.account_id, role.id, user.user.id).await.map(|_| ());
    if result.is_ok() {
        audit(&state, &req, principal, "role_member_added", role.name.clone(), user.user.email.clone()).await?;
    }
    after_role_change(&ctx, &state, role.id, result, format!("{} is a member of {}.", display_name(&user), role.name))
        .await
}

#[tracing::instrument(skip_all)]
pub async fn remove_member(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::may_change_identity(principal)?;
    let (role_id, user_id) = path.into_inner();
    let role = account_role(&state, access, &role_id).await?;
    let user = account_user(&state, access, &user_id).await?;
    let result = state.store.remove_member(access.account_id, role.id, user.user.id).await;
    if result.is_ok() {
        audit(&state, &req, principal, "role_member_removed", role.name.clone(), user.user.email.clone()).await?;
    }
    after_role_change(
        &ctx,
        &state,
        role.id,
        result,
        format!("{} is no longer a member of {}.", display_name(&user), role.name),
    )
    .await
}

#[tracing::instrument(skip_all)]
pub async fn delete_role_form(
    ctx: PageContext,
    state: web::Data<AppState>,
    role_id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let access = policy::may_change_identity(ctx.principal()?)?;
    let role = account_role(&state, access, &role_id).await?;
    if role.builtin.is_some() {
        return Err(AppError::Conflict {
            message: IdentityRule::BuiltinRole.to_string(),
            reload: Some(paths::role(role.id)),
        });
    }
    let users = state.store.account_users(access.account_id).await?;
    let members = users.iter().filter(|u| role.member_ids.contains(&u.user.id)).map(display_name).collect();
    let page = DeleteRolePage {
        layout: ctx.layout(format!("Delete {}", role.name)),
        action: paths::role_action(role.id, "delete"),
        back_href: paths::role(role.id),
        name: role.name,
        members,
    };
    render(StatusCode::OK, &page)
}

#[tracing::instrument(skip_all)]
pub async fn delete_role(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    role_id: web::Path<String>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::may_change_identity(principal)?;
    let role = account_role(&state, access, &role_id).await?;
    match state.store.delete_role(access.account_id, role.id).await {
        Ok(()) => {
            audit(&state, &req, principal, "role_deleted", role.name.clone(), String::new()).await?;
            ctx.session().flash(FlashLevel::Success, format!("The role {} is deleted.", role.name));
            Ok(see_other(paths::ROLES))
        }
        Err(IdentityError::Rule(rule)) => role_page(&ctx, &state, &role_id, Some(rule.to_string())).await,
        Err(error) => Err(identity_error(error)),
    }
}
