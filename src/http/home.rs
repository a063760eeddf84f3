//! `/`: each kind of user lands on their own start page.

use actix_web::{HttpResponse, web};

use super::respond::see_other;
use crate::auth::session::TypedSession;
use crate::domain::policy;
use crate::error::AppError;
use crate::paths;
use crate::state::AppState;

pub async fn home(session: TypedSession, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let Some(user_id) = session.user_id() else { return Ok(see_other(paths::LOGIN)) };
    // The first page this user may open: the queue, the incidents, their tickets; a user who may
    // open none lands on the incidents screen, which names what they lack.
    let target = match state.store.load_principal(user_id).await? {
        Some(principal) if principal.is_support() => paths::DESK_QUEUE,
        Some(principal) if policy::incident_screen_scope(&principal).is_ok() => paths::INCIDENTS,
        Some(principal) if policy::ticket_list_scope(&principal).is_ok() => paths::TICKETS,
        Some(_) => paths::INCIDENTS,
        None => paths::LOGIN,
    };
    Ok(see_other(target))
}
