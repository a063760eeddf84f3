//! The provider's support staff: agents and administrators (support administrators only).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::support_admin_only;
use crate::auth::session::FlashLevel;
use crate::domain::input;
use crate::domain::principal::Principal;
use crate::error::AppError;
use crate::http::audit::{Actor, SecurityEvent};
use crate::http::context::PageContext;
use crate::http::csrf::{CsrfForm, NoFields};
use crate::http::password_links;
use crate::http::respond::see_other;
use crate::paths;
use crate::state::AppState;
use crate::store::NewUser;
use crate::views::desk::staff::{StaffDraft, StaffPage, staff_row};
use crate::views::render;

async fn staff_page(
    ctx: &PageContext,
    state: &AppState,
    principal: &Principal,
    draft: StaffDraft,
) -> Result<StaffPage, AppError> {
    let staff = state
        .store
        .list_staff()
        .await?
        .into_iter()
        .map(|m| {
            // Another administrator resets one's own two-factor sign-in.
            let resettable = m.two_factor && m.id != principal.user_id;
            staff_row(m, resettable, principal.time_zone)
        })
        .collect();
    Ok(StaffPage { layout: ctx.layout("Support staff"), action: paths::DESK_STAFF, staff, draft })
}

#[tracing::instrument(skip_all)]
pub async fn staff(ctx: PageContext, req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let principal = support_admin_only(&ctx, &state, &req).await?;
    render(StatusCode::OK, &staff_page(&ctx, &state, principal, StaffDraft::default()).await?)
}

/// Clears a staff member's two-factor sign-in (a lost phone): they must set it up again at
/// their next request.
#[tracing::instrument(skip_all)]
pub async fn reset_staff_two_factor(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    user_id: web::Path<String>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let principal = support_admin_only(&ctx, &state, &req).await?;
    let user_id: i64 = user_id.parse().map_err(|_| AppError::NotFound)?;
    let member = state.store.list_staff().await?.into_iter().find(|m| m.id == user_id).ok_or(AppError::NotFound)?;
    if member.id == principal.user_id {
        return Err(AppError::Forbidden("Another support administrator must reset your two-factor sign-in.".into()));
    }
    state.store.disable_two_factor(member.id).await?;
    // The lost device may still hold a session.
    let ended = state.store.delete_sessions_of_user(member.id, None).await?;
    SecurityEvent::new("two_factor_reset", Actor::from(principal))
        .target(member.email)
        .detail(format!("{ended} sessions ended"))
        .record(&state, &req)
        .await?;
    ctx.session().flash(
        FlashLevel::Success,
        format!("Two-factor sign-in of {} is reset, and their sessions have ended.", member.name),
    );
    Ok(see_other(paths::DESK_STAFF))
}

#[derive(Deserialize)]
pub struct NewStaffForm {
    first_name: String,
    last_name: String,
    email: String,
    admin: Option<String>,
}

#[tracing::instrument(skip_all)]
pub async fn create_staff(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<NewStaffForm>,
) -> Result<HttpResponse, AppError> {
    let principal = support_admin_only(&ctx, &state, &req).await?;
    let mut draft = StaffDraft {
        first_name: form.first_name,
        last_name: form.last_name,
        email: form.email,
        admin: form.admin.is_some(),
        errors: Vec::new(),
    };
    let first = input::name(&draft.first_name, "first name").map_err(|e| draft.errors.push(e)).ok();
    let last = input::name(&draft.last_name, "last name").map_err(|e| draft.errors.push(e)).ok();
    let email = input::email(&draft.email).map_err(|e| draft.errors.push(e)).ok();
    let (Some(first_name), Some(last_name), Some(email)) = (first, last, email) else {
        return render(StatusCode::UNPROCESSABLE_ENTITY, &staff_page(&ctx, &state, principal, draft).await?);
    };
    let member = NewUser {
        account_id: None,
        email: email.clone(),
        first_name,
        last_name,
        password_hash: None,
        support_admin: draft.admin,
        time_zone: "UTC".into(),
        enabled: true,
    };
    let (link, token) = password_links::new_link(&state, principal.user_id);
    match state.store.create_staff_member(&member, &token, state.clock.now()).await {
        Ok(_) => {}
        Err(crate::store::StoreError::Duplicate(_)) => {
            draft.errors.push("That email address is already in use.".into());
            return render(StatusCode::UNPROCESSABLE_ENTITY, &staff_page(&ctx, &state, principal, draft).await?);
        }
        Err(error) => return Err(error.into()),
    }
    let role = if draft.admin { "support administrator" } else { "support agent" };
    SecurityEvent::new("staff_created", Actor::from(principal))
        .target(email.clone())
        .detail(role)
        .record(&state, &req)
        .await?;
    ctx.session()
        .flash(FlashLevel::Success, format!("{email} is a {role}. {}", password_links::hand_over("them", &link)));
    Ok(see_other(paths::DESK_STAFF))
}
