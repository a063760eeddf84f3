//! The support desk: the changes only support staff make to a ticket, tickets opened on a
//! customer's behalf, accounts, staff, the audit log and notifications.

pub mod accounts;
pub mod audit_log;
pub mod notifications;
pub mod on_behalf;
pub mod staff;
pub mod ticket_changes;

use actix_web::HttpRequest;

use super::context::PageContext;
use super::ticket_forms::forged;
use crate::domain::policy;
use crate::domain::principal::Principal;
use crate::error::AppError;
use crate::state::AppState;

/// Every desk route starts here: support staff pass; a customer who sends a desk form used a
/// control they were never shown, which is refused and logged as forged.
pub(super) async fn support_only<'a>(
    ctx: &'a PageContext,
    state: &AppState,
    req: &HttpRequest,
) -> Result<&'a Principal, AppError> {
    let principal = ctx.principal()?;
    if policy::require_support(principal).is_err() {
        if req.method() == actix_web::http::Method::POST {
            return Err(forged(state, req, principal, "support desk action by a customer").await);
        }
        policy::require_support(principal)?;
    }
    Ok(principal)
}

pub(super) async fn support_admin_only<'a>(
    ctx: &'a PageContext,
    state: &AppState,
    req: &HttpRequest,
) -> Result<&'a Principal, AppError> {
    let principal = support_only(ctx, state, req).await?;
    policy::require_support_admin(principal)?;
    Ok(principal)
}
