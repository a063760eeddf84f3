//! Account > Webhooks: an account's endpoints (Manage Webhooks). Creating one, and rotating its
//! secret, answer with the secret in that very response, the only time it is shown; it is never
//! stored in plain text, not even in the session for a redirect.

use std::str::FromStr;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Duration;
use serde::Deserialize;

use super::audit::{Actor, SecurityEvent};
use super::context::PageContext;
use super::csrf::{CsrfForm, NoFields};
use super::respond::see_other;
use crate::auth::session::FlashLevel;
use crate::auth::webhook_secret;
use crate::domain::notify::NoticeKind;
use crate::domain::policy::{self, WebhookAccess};
use crate::domain::principal::Principal;
use crate::domain::ticket::Severity;
use crate::domain::webhook::{Format, ROTATION_GRACE_HOURS, Subscription};
use crate::error::AppError;
use crate::notify::outbound::check_destination;
use crate::notify::webhooks::message_id;
use crate::paths;
use crate::state::AppState;
use crate::store::{EndpointSettings, WebhookEndpoint};
use crate::views::format::timestamp;
use crate::views::render;
use crate::views::webhooks::{EndpointForm, NewSecret, WebhookPage, WebhooksPage, delivery_row, endpoint_row};

/// How many calls an endpoint's delivery log lists, newest first.
const DELIVERY_LOG_ROWS: i64 = 50;

/// The endpoint form as posted.
#[derive(Deserialize)]
pub struct EndpointInput {
    url: String,
    #[serde(default)]
    kind: Vec<String>,
    #[serde(default)]
    min_severity: String,
    #[serde(default)]
    format: String,
}

/// The form's choices, read: a value no form offers is a bad request.
struct Choices {
    url: String,
    kinds: Vec<NoticeKind>,
    min_severity: Option<Severity>,
    format: Format,
}

impl Choices {
    fn parse(input: EndpointInput) -> Result<Choices, AppError> {
        let bad = |what: &str| AppError::BadRequest(format!("Unknown {what}."));
        let mut kinds = input
            .kind
            .iter()
            .map(|code| {
                NoticeKind::from_code(code.trim())
                    .filter(|k| Subscription::KINDS.contains(k))
                    .ok_or_else(|| bad("event"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        kinds.sort();
        kinds.dedup();
        let min_severity = match input.min_severity.trim() {
            "" => None,
            name => Some(Severity::from_str(name).map_err(|_| bad("severity"))?),
        };
        let format = match input.format.trim() {
            "" => Format::Standard,
            code => Format::from_code(code).ok_or_else(|| bad("format"))?,
        };
        Ok(Choices { url: input.url, kinds, min_severity, format })
    }

    /// The settings to save, or every problem with them (the address is resolved and checked).
    async fn settings(&self, state: &AppState) -> Result<EndpointSettings, Vec<String>> {
        let mut errors = Vec::new();
        let url = match check_destination(&self.url, state.settings.webhooks).await {
            Ok(url) => Some(url),
            Err(problem) => {
                errors.push(problem.to_string());
                None
            }
        };
        if self.kinds.is_empty() {
            errors.push("Choose at least one event.".to_string());
        }
        match url {
            Some(url) if errors.is_empty() => Ok(EndpointSettings {
                url: url.to_string(),
                subscription: Subscription {
                    kinds: self.kinds.iter().copied().collect(),
                    min_severity: self.min_severity,
                },
                format: self.format,
            }),
            _ => Err(errors),
        }
    }

    /// The form again, as filled in, with `errors`.
    fn form(self, errors: Vec<String>) -> EndpointForm {
        EndpointForm::draft(self.url, &self.kinds, self.min_severity, self.format, errors)
    }
}

async fn list_page(
    ctx: &PageContext,
    state: &AppState,
    principal: &Principal,
    access: WebhookAccess,
    form: EndpointForm,
    new_secret: Option<NewSecret>,
) -> Result<WebhooksPage, AppError> {
    let endpoints = state.store.account_webhook_endpoints(access.account_id).await?;
    let rows = endpoints.iter().map(|e| endpoint_row(e, principal.time_zone)).collect();
    Ok(WebhooksPage::new(ctx.layout("Webhooks"), rows, form, new_secret))
}

async fn endpoint_page(
    ctx: &PageContext,
    state: &AppState,
    principal: &Principal,
    endpoint: &WebhookEndpoint,
    form: Option<EndpointForm>,
    new_secret: Option<NewSecret>,
) -> Result<WebhookPage, AppError> {
    let zone = principal.time_zone;
    let deliveries = state
        .store
        .webhook_deliveries(endpoint.id, endpoint.account_id, DELIVERY_LOG_ROWS)
        .await?
        .into_iter()
        .map(|d| delivery_row(endpoint.id, d, endpoint.enabled, zone))
        .collect();
    let form = form.unwrap_or_else(|| {
        EndpointForm::of(&EndpointSettings {
            url: endpoint.url.clone(),
            subscription: endpoint.subscription.clone(),
            format: endpoint.format,
        })
    });
    let layout = ctx.layout(format!("Webhook {}", endpoint.url));
    Ok(WebhookPage::new(layout, endpoint, form, new_secret, deliveries, state.clock.now(), zone))
}

/// The account's endpoint `endpoint_id`; another account's answers like a missing one.
async fn account_endpoint(
    state: &AppState,
    access: WebhookAccess,
    endpoint_id: &str,
) -> Result<WebhookEndpoint, AppError> {
    let id: i64 = endpoint_id.parse().map_err(|_| AppError::NotFound)?;
    state.store.webhook_endpoint(id).await?.filter(|e| e.account_id == access.account_id).ok_or(AppError::NotFound)
}

/// Records a change to an endpoint, named by its id and its address's origin: the path of a Slack
/// or Teams address is itself a credential, and the audit log and the log are read by others.
async fn audit(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    action: &'static str,
    endpoint_id: i64,
    url: &str,
) -> Result<(), AppError> {
    let origin = url::Url::parse(url).map_or_else(|_| "?".to_string(), |u| u.origin().ascii_serialization());
    SecurityEvent::new(action, Actor::from(principal))
        .target(format!("webhook {endpoint_id}"))
        .detail(origin)
        .record(state, req)
        .await
}

#[tracing::instrument(skip_all)]
pub async fn webhooks(ctx: PageContext, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::webhook_access(principal)?;
    render(StatusCode::OK, &list_page(&ctx, &state, principal, access, EndpointForm::blank(), None).await?)
}

#[tracing::instrument(skip_all)]
pub async fn create_webhook(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(input): CsrfForm<EndpointInput>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::webhook_access(principal)?;
    let choices = Choices::parse(input)?;
    let settings = match choices.settings(&state).await {
        Ok(settings) => settings,
        Err(errors) => {
            let page = list_page(&ctx, &state, principal, access, choices.form(errors), None).await?;
            return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let secret = webhook_secret::generate();
    let seal = |id| webhook_secret::seal(&state.cipher, id, &secret);
    let Some(id) = state.store.create_webhook_endpoint(access.account_id, &settings, seal, state.clock.now()).await?
    else {
        let full = "The account has as many endpoints as it may; delete one first.".to_string();
        let page = list_page(&ctx, &state, principal, access, choices.form(vec![full]), None).await?;
        return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    audit(&state, &req, principal, "webhook_created", id, &settings.url).await?;
    let new_secret = NewSecret::new(secret, id, None);
    render(StatusCode::OK, &list_page(&ctx, &state, principal, access, EndpointForm::blank(), Some(new_secret)).await?)
}

#[tracing::instrument(skip_all)]
pub async fn webhook(
    ctx: PageContext,
    state: web::Data<AppState>,
    endpoint_id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let endpoint = account_endpoint(&state, policy::webhook_access(principal)?, &endpoint_id).await?;
    render(StatusCode::OK, &endpoint_page(&ctx, &state, principal, &endpoint, None, None).await?)
}

#[tracing::instrument(skip_all)]
pub async fn update_webhook(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    endpoint_id: web::Path<String>,
    CsrfForm(input): CsrfForm<EndpointInput>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::webhook_access(principal)?;
    let endpoint = account_endpoint(&state, access, &endpoint_id).await?;
    let choices = Choices::parse(input)?;
    let settings = match choices.settings(&state).await {
        Ok(settings) => settings,
        Err(errors) => {
            let page = endpoint_page(&ctx, &state, principal, &endpoint, Some(choices.form(errors)), None).await?;
            return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    if !state.store.update_webhook_endpoint(endpoint.id, access.account_id, &settings).await? {
        return Err(AppError::NotFound);
    }
    audit(&state, &req, principal, "webhook_changed", endpoint.id, &settings.url).await?;
    ctx.session().flash(FlashLevel::Success, "The endpoint's changes are saved; they apply to the next event.");
    Ok(see_other(&paths::webhook(endpoint.id)))
}

#[tracing::instrument(skip_all)]
pub async fn rotate_webhook_secret(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    endpoint_id: web::Path<String>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::webhook_access(principal)?;
    let endpoint = account_endpoint(&state, access, &endpoint_id).await?;
    let secret = webhook_secret::generate();
    let sealed = webhook_secret::seal(&state.cipher, endpoint.id, &secret);
    let now = state.clock.now();
    let grace_until = now + Duration::hours(ROTATION_GRACE_HOURS);
    if !state.store.rotate_webhook_secret(endpoint.id, access.account_id, &sealed, grace_until, now).await? {
        return Err(AppError::NotFound);
    }
    audit(&state, &req, principal, "webhook_secret_rotated", endpoint.id, &endpoint.url).await?;
    let endpoint = account_endpoint(&state, access, &endpoint_id).await?;
    let new_secret = NewSecret::new(secret, endpoint.id, Some(timestamp(grace_until, principal.time_zone)));
    render(StatusCode::OK, &endpoint_page(&ctx, &state, principal, &endpoint, None, Some(new_secret)).await?)
}

async fn set_enabled(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    endpoint_id: &str,
    enabled: bool,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::webhook_access(principal)?;
    let endpoint = account_endpoint(&state, access, endpoint_id).await?;
    if !state.store.set_webhook_enabled(endpoint.id, access.account_id, enabled).await? {
        return Err(AppError::NotFound);
    }
    let (action, done) = if enabled {
        ("webhook_enabled", "The endpoint is enabled: the next events are sent to it.")
    } else {
        ("webhook_disabled", "The endpoint is disabled: no calls are made to it, and waiting ones are dropped.")
    };
    audit(&state, &req, principal, action, endpoint.id, &endpoint.url).await?;
    ctx.session().flash(FlashLevel::Success, done);
    Ok(see_other(&paths::webhook(endpoint.id)))
}

#[tracing::instrument(skip_all)]
pub async fn disable_webhook(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    endpoint_id: web::Path<String>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    set_enabled(ctx, req, state, &endpoint_id, false).await
}

#[tracing::instrument(skip_all)]
pub async fn enable_webhook(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    endpoint_id: web::Path<String>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    set_enabled(ctx, req, state, &endpoint_id, true).await
}

#[tracing::instrument(skip_all)]
pub async fn delete_webhook(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    endpoint_id: web::Path<String>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::webhook_access(principal)?;
    let endpoint = account_endpoint(&state, access, &endpoint_id).await?;
    if !state.store.delete_webhook_endpoint(endpoint.id, access.account_id).await? {
        return Err(AppError::NotFound);
    }
    audit(&state, &req, principal, "webhook_deleted", endpoint.id, &endpoint.url).await?;
    ctx.session().flash(FlashLevel::Success, format!("The endpoint {} is deleted.", endpoint.url));
    Ok(see_other(paths::WEBHOOKS))
}

/// "Send again": a copy of a finished call, made at once with a new `webhook-id` (a receiver that
/// already handled the first would otherwise take it for a repeat).
#[tracing::instrument(skip_all)]
pub async fn send_webhook_again(
    ctx: PageContext,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let principal = ctx.principal()?;
    let access = policy::webhook_access(principal)?;
    let (endpoint_id, delivery_id) = path.into_inner();
    let endpoint = account_endpoint(&state, access, &endpoint_id).await?;
    let delivery_id: i64 = delivery_id.parse().map_err(|_| AppError::NotFound)?;
    if !endpoint.enabled {
        return Err(AppError::Conflict {
            message: "The endpoint is disabled: enable it to send a call again.".into(),
            reload: Some(paths::webhook(endpoint.id)),
        });
    }
    let again = state.store.send_webhook_again(endpoint.id, access.account_id, delivery_id, state.clock.now());
    let Some(copy) = again.await? else {
        return Err(AppError::NotFound);
    };
    state.outbox.wake();
    let (first, copy) = (message_id(delivery_id), message_id(copy));
    audit(&state, &req, principal, "webhook_sent_again", endpoint.id, &endpoint.url).await?;
    ctx.session().flash(FlashLevel::Success, format!("{first} is sent again, as {copy}."));
    Ok(see_other(&paths::webhook(endpoint.id)))
}
