//! View models and the askama templates they fill: one struct per template. Values arrive
//! formatted (dates already in the user's time zone), so templates stay dumb.

pub mod api_docs;
pub mod api_keys;
pub mod charts;
pub mod dashboard;
pub mod desk;
pub mod error_page;
pub mod format;
pub mod identity;
pub mod layout;
pub mod login;
pub mod mail;
pub mod new_ticket;
pub mod notifications;
pub mod password;
pub mod profile;
pub mod ticket;
pub mod ticket_csv;
pub mod ticket_table;
pub mod two_factor;
pub mod unsubscribe;
pub mod webhook_payload;
pub mod webhooks;
pub mod widgets;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use askama::Template;

use crate::error::AppError;

/// Renders a template as an HTML response with the given status.
pub fn render<T: Template>(status: StatusCode, template: &T) -> Result<HttpResponse, AppError> {
    let body = template.render().map_err(|e| AppError::Unexpected(e.into()))?;
    Ok(HttpResponse::build(status).content_type(ContentType::html()).body(body))
}

/// Renders a template as a 200 page.
pub fn page<T: Template>(template: &T) -> Result<HttpResponse, AppError> {
    render(StatusCode::OK, template)
}
