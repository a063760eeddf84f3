//! The middleware every request passes through, outermost first: request metrics, the request's
//! database connection, security headers, request tracing, error rendering, dropping the cookie
//! of requests that need no session, sessions, session health, cross-origin refusal, panic catching; and the sign-in guard on the scopes that need a
//! user.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::body::{BodySize, BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{Error, HttpMessage, HttpRequest, web};
use askama::Template;
use futures_util::FutureExt;

use super::audit::{self, Actor, SecurityEvent};
use super::respond::see_other;
use super::routes::{self, RoutePattern};
use crate::auth::session::{Expiry, FlashLevel, TypedSession};
use crate::domain::permission::Permission;
use crate::domain::principal::Principal;
use crate::error::{AppError, ErrorInfo};
use crate::metrics::UNMATCHED_ROUTE;
use crate::paths::{self, ApiFamily};
use crate::state::AppState;
use crate::views::error_page::{ErrorPage, PermissionView};
use crate::views::layout::Layout;

/// Sent on every response, errors included. No inline script or style is allowed anywhere.
pub fn security_headers(tls: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
             form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::REFERRER_POLICY, "same-origin"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add(("Cross-Origin-Resource-Policy", "same-origin"))
        .add(("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"))
        // Pages carry customers' incident data; never keep them in shared or back-button caches.
        .add((header::CACHE_CONTROL, "no-store"));
    if tls { headers.add((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000; includeSubDomains")) } else { headers }
}

fn app_state(req: &HttpRequest) -> Option<web::Data<AppState>> {
    req.app_data::<web::Data<AppState>>().cloned()
}

/// Counts and times every request by its route's pattern, method and status. Outermost, so it sees
/// the final status and the whole time; it reads the pattern from the route's data and allocates
/// nothing.
pub async fn record_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let state = app_state(req.request());
    let result = next.call(req).await;
    if let Some(state) = state {
        let (route, status) = match &result {
            Ok(res) => (route_pattern(res.request()), res.status()),
            Err(error) => (UNMATCHED_ROUTE, error.as_response_error().status_code()),
        };
        state.metrics.http().record(route, method, status.as_u16(), started.elapsed());
    }
    result
}

/// The pattern of the route that answered; for a request refused before routing (cross-origin,
/// session store down), the one its path matches; else one label for every unknown path.
fn route_pattern(req: &HttpRequest) -> &'static str {
    if let Some(RoutePattern(pattern)) = req.app_data::<RoutePattern>() {
        return pattern;
    }
    req.match_pattern().and_then(|pattern| routes::registered_pattern(&pattern)).unwrap_or(UNMATCHED_ROUTE)
}

/// A client may send any method name; the label takes only the standard ones.
fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    }
}

/// Runs the request with database connections of its own (see `store::request`). After a request
/// that may have changed something for the user it acts for, records their read fence, before
/// the response leaves: their next request reads no replica that has not replayed their change.
pub async fn one_connection(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let state = app_state(req.request());
    crate::store::request::scope(req.method().is_safe(), async move {
        let response = next.call(req).await;
        if let (Some(state), Some(user_id)) = (state, crate::store::request::changed_by().await)
            && let Err(error) = state.store.advance_read_fence(user_id).await
        {
            // The change is made; its user may read a replica that lags it until the next one.
            tracing::warn!(?error, user_id, "could not record the user's read fence");
        }
        response
    })
    .await
}

/// Gives every error response its body: the HTML error page, or JSON on the API's paths (see
/// `paths::api_family`), in the shape of the path's family.
///
/// It must not keep a clone of the request while inner layers run (routing needs the request to
/// itself), so it reads everything from the response's request afterwards. Inner layers answer
/// with responses, never `Err`: the session store degrades instead of failing, and handler panics
/// are caught per resource (`catch_panic`).
pub async fn render_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let mut res = next.call(req).await?.map_into_boxed_body();
    let request_id = audit::request_id(res.request());
    if let Some(value) = request_id.as_deref().and_then(|id| HeaderValue::from_str(id).ok()) {
        res.headers_mut().insert(header::HeaderName::from_static("x-request-id"), value);
    }
    let status = res.status();
    // Bodies of our own pages are kept (a re-rendered form with 422); actix's plain-text bodies
    // and the empty bodies of `AppError` are replaced.
    let replaceable = matches!(res.response().body().size(), BodySize::Sized(0) | BodySize::None)
        || res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain"));
    if status.as_u16() < 400 || !replaceable {
        return Ok(res);
    }
    let info = res.response().extensions().get::<ErrorInfo>().cloned().unwrap_or_else(|| ErrorInfo::for_status(status));
    let token = res.response().extensions().get::<ErrorPageToken>().map(|t| t.0.clone()).unwrap_or_default();
    let http_req = res.request().clone();
    if status == StatusCode::FORBIDDEN {
        record_denial(&http_req, &info).await;
    }
    let (content_type, body) = if let Some(family) = paths::api_family(http_req.path()) {
        let mut json = match family {
            ApiFamily::V1 => serde_json::json!({ "code": info.code, "message": info.message }),
            // The original provider's shape, which its clients read.
            ApiFamily::Original => serde_json::json!({
                "error": info.code,
                "error_description": info.message,
                "status": status.as_u16(),
            }),
        };
        if status.is_server_error() {
            json["requestId"] = serde_json::json!(request_id);
        }
        ("application/json", json.to_string())
    } else {
        ("text/html; charset=utf-8", error_page_html(&http_req, status, info, request_id, token))
    };
    drop(http_req);
    Ok(res.map_body(|head, _| {
        head.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        BoxBody::new(body)
    }))
}

/// The session's CSRF token, for the sign-out form of an error page. The session layer takes its
/// state with it when the response leaves it, and error pages are rendered outside that layer.
#[derive(Clone)]
struct ErrorPageToken(String);

/// Keeps the session's CSRF token on error responses for [`render_errors`]; runs inside the
/// session layer.
pub async fn keep_token_for_error_pages<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    let mut res = next.call(req).await?;
    if res.status().as_u16() >= 400
        && let Some(token) = TypedSession::from(res.request()).peek_csrf_token()
    {
        res.response_mut().extensions_mut().insert(ErrorPageToken(token));
    }
    Ok(res)
}

fn error_page_html(
    req: &HttpRequest,
    status: StatusCode,
    info: ErrorInfo,
    request_id: Option<String>,
    csrf_token: String,
) -> String {
    let principal = req.extensions().get::<Principal>().cloned();
    let page = ErrorPage {
        layout: Layout::new(info.title, principal.as_ref(), csrf_token, Vec::new(), req.path()),
        status: status.as_u16(),
        title: info.title,
        message: info.message,
        missing_permissions: info
            .missing_permissions
            .iter()
            .map(|p: &Permission| PermissionView { name: p.name(), description: p.description() })
            .collect(),
        request_id: status.is_server_error().then_some(request_id).flatten(),
        reload: info.reload,
    };
    page.render().unwrap_or_else(|error| {
        tracing::error!(%error, "could not render the error page");
        format!("Error {}", status.as_u16())
    })
}

/// Every refusal is a security event. Best effort: a failing audit write must not turn the 403
/// into something else.
async fn record_denial(req: &HttpRequest, info: &ErrorInfo) {
    let Some(state) = app_state(req) else { return };
    let actor = req.extensions().get::<Principal>().map(Actor::from).unwrap_or_default();
    let event = SecurityEvent::new("permission_denied", actor)
        .target(format!("{} {}", req.method(), req.path()))
        .detail(info.code);
    if let Err(error) = event.record(&state, req).await {
        tracing::warn!(?error, "could not record a permission denial in the audit log");
    }
}

/// A panic in a handler becomes the 500 page instead of a dropped connection. Wraps each
/// resource (not the app), where routing is done and holding a clone of the request is allowed.
pub async fn catch_panic<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let http_req = req.request().clone();
    match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(result) => result.map(ServiceResponse::map_into_left_body),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            let error = AppError::Unexpected(anyhow::anyhow!("request handler panicked: {message}"));
            Ok(ServiceResponse::from_err(error, http_req).map_into_right_body())
        }
    }
}

/// Refuses state-changing requests that a browser says come from another site. Complements the
/// per-session CSRF token, which every form also carries.
pub async fn reject_cross_origin<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    if !is_safe(req.method())
        && let Some(reason) = cross_origin(req.request())
    {
        tracing::warn!(target: "security", reason, path = req.path(), "cross-origin request refused");
        let error = AppError::Forbidden(
            "This request came from another site and was refused. Use the portal's own pages.".into(),
        );
        return Ok(req.error_response(error).map_into_right_body());
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// `Origin` is compared with PUBLIC_URL, never with `Host` or a forwarded header, which a client
/// can set to match any origin it claims.
fn cross_origin(req: &HttpRequest) -> Option<&'static str> {
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.to_str(), Ok("same-origin" | "none"))
    {
        return Some("Sec-Fetch-Site is not same-origin");
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let Some(state) = app_state(req) else { return Some("the portal's origin is unknown") };
        if !origin.to_str().is_ok_and(|origin| state.public_url.is_same_origin(origin)) {
            return Some("Origin is another site");
        }
    }
    None
}

/// Probes and fixed assets go to the session layer without their cookie: it would
/// otherwise read the session from the database for an answer that does not depend on it
/// (browsers send the cookie with every stylesheet and script request).
pub async fn without_session_cookie(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    if paths::needs_no_session(req.path()) {
        req.headers_mut().remove(header::COOKIE);
    }
    next.call(req).await
}

/// When the session store could not be read, say so (503) instead of treating the user as
/// signed out.
pub async fn session_health<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    if !paths::needs_no_session(req.path()) && TypedSession::from(req.request()).store_unavailable() {
        let error = AppError::Unavailable(anyhow::anyhow!("the session store is unavailable"));
        return Ok(req.error_response(error).map_into_right_body());
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}

/// Who a session belongs to, once its timeouts are checked.
pub enum SessionUser {
    SignedOut,
    Expired(Expiry),
    Active(Principal),
}

/// Requests the dashboard's script makes on its own; they do not count as activity for the idle
/// timeout, so an open dashboard does not keep a session alive forever.
pub const BACKGROUND_HEADER: &str = "x-background-refresh";

/// Checks the session's timeouts and loads its user afresh (so a disabled user or a changed role
/// takes effect at once). An ended session is removed.
pub async fn session_user(state: &AppState, session: &TypedSession, background: bool) -> Result<SessionUser, AppError> {
    let now = state.clock.now();
    let Some(user_id) = session.user_id() else { return Ok(SessionUser::SignedOut) };
    if let Some(expiry) = session.expiry(now, state.settings.idle_timeout, state.settings.absolute_timeout) {
        tracing::info!(target: "security", user_id, ?expiry, "session expired");
        session.sign_out();
        return Ok(SessionUser::Expired(expiry));
    }
    let Some(principal) = state.store.load_principal(user_id).await? else {
        tracing::info!(target: "security", user_id, "session of a disabled or deleted user refused");
        session.sign_out();
        return Ok(SessionUser::SignedOut);
    };
    if !background {
        session.touch(now);
    }
    Ok(SessionUser::Active(principal))
}

/// Guards the scopes that need a signed-in user and hands the user to the handlers.
pub async fn require_sign_in<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let Some(state) = app_state(req.request()) else {
        let error = AppError::Unexpected(anyhow::anyhow!("application state missing"));
        return Ok(req.error_response(error).map_into_right_body());
    };
    let session = TypedSession::from(req.request());
    let background = req.headers().contains_key(BACKGROUND_HEADER);
    match session_user(&state, &session, background).await {
        Ok(SessionUser::Active(principal)) if principal.two_factor.must_enrol() && req.path() != paths::TWO_FACTOR => {
            session.flash(FlashLevel::Info, "Set up two-factor sign-in to continue: it is required for you.");
            Ok(req.into_response(see_other(paths::TWO_FACTOR)).map_into_right_body())
        }
        Ok(SessionUser::Active(principal)) => {
            req.extensions_mut().insert(principal);
            next.call(req).await.map(ServiceResponse::map_into_left_body)
        }
        Ok(SessionUser::SignedOut) => Ok(redirect_to_login(req, None)),
        Ok(SessionUser::Expired(expiry)) => Ok(redirect_to_login(req, Some(expiry))),
        Err(error) => Ok(req.error_response(error).map_into_right_body()),
    }
}

/// For public pages (the API documentation): a signed-in reader gets their navigation, nobody is
/// sent to sign in.
pub async fn optional_sign_in<B: MessageBody>(req: ServiceRequest, next: Next<B>) -> Result<ServiceResponse<B>, Error> {
    if let Some(state) = app_state(req.request()) {
        let session = TypedSession::from(req.request());
        if let Ok(SessionUser::Active(principal)) = session_user(&state, &session, false).await {
            req.extensions_mut().insert(principal);
        }
    }
    next.call(req).await
}

fn redirect_to_login<B>(req: ServiceRequest, expiry: Option<Expiry>) -> ServiceResponse<EitherBody<B>> {
    let mut target = if req.method() == Method::GET {
        let here = paths::with_query(req.path(), req.query_string());
        paths::login_then(&here)
    } else {
        paths::LOGIN.to_string()
    };
    if expiry.is_some() {
        target.push_str(if target.contains('?') { "&expired=1" } else { "?expired=1" });
    }
    req.into_response(see_other(&target)).map_into_right_body()
}
