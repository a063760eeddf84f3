//! Account > Roles + Permissions: the provider-defined roles and the account's own, their members
//! and permissions.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{account_user, audit, identity_error};
use crate::auth::session::FlashLevel;
use crate::domain::features;
use crate::domain::identity::IdentityRule;
use crate::domain::input;
use crate::domain::permission::{BuiltinRole, Permission};
use crate::domain::policy::{self, IdentityAccess};
use crate::error::AppError;
use crate::http::context::PageContext;
use crate::http::csrf::{CsrfForm, NoFields};
use crate::http::respond::see_other;
use crate::paths;
use crate::state::AppState;
use crate::store::{IdentityError, RoleRecord};
use crate::views::identity::{
    Candidate, DeleteRolePage, PermissionOption, RolePage, RolesPage, UnlockView, display_name, member_row,
    role_list_row,
};
use crate::views::render;

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
        .map(|r| {
            let granted = role_permissions(&r);
            role_list_row(r, &granted)
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
    match state.store.create_role(access.account_id, &name, &permissions, state.clock.now()).await {
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
        .map(|u| member_row(u, access.write.then(|| paths::remove_role_member(role.id, u.user.id))))
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
        rename_action: paths::of_role(paths::ROLE_RENAME, role.id),
        permissions_action: paths::of_role(paths::ROLE_PERMISSIONS, role.id),
        members_action: paths::of_role(paths::ROLE_MEMBERS, role.id),
        delete_href: paths::of_role(paths::ROLE_DELETE, role.id),
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
        action: paths::of_role(paths::ROLE_DELETE, role.id),
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
