//! Security events: a structured log line (target `security`, with the request id from the span)
//! and a row in the audit log for the support desk.

use actix_web::{HttpMessage, HttpRequest};
use tracing_actix_web::RequestId;

use crate::domain::principal::Principal;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::AuditEntry;

/// Who did it, as far as known.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: Option<i64>,
    pub email: Option<String>,
    pub account_id: Option<i64>,
}

impl From<&Principal> for Actor {
    fn from(p: &Principal) -> Self {
        Actor { user_id: Some(p.user_id), email: Some(p.email.clone()), account_id: p.account().map(|a| a.id) }
    }
}

/// The client's address: the peer, or the proxy's `Forwarded` / `X-Forwarded-For` when configured
/// to trust them. The only thing ever read from forwarded headers.
pub fn client_ip(req: &HttpRequest, trust_proxy_headers: bool) -> String {
    if trust_proxy_headers && let Some(ip) = req.connection_info().realip_remote_addr() {
        return ip.to_string();
    }
    req.peer_addr().map_or_else(|| "unknown".to_string(), |addr| addr.ip().to_string())
}

pub fn request_id(req: &HttpRequest) -> Option<String> {
    req.extensions().get::<RequestId>().map(|id| id.to_string())
}

pub struct SecurityEvent {
    pub action: &'static str,
    pub actor: Actor,
    pub target: Option<String>,
    pub detail: Option<String>,
}

impl SecurityEvent {
    pub fn new(action: &'static str, actor: Actor) -> Self {
        SecurityEvent { action, actor, target: None, detail: None }
    }

    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Logs the event and stores it in the audit log.
    pub async fn record(self, state: &AppState, req: &HttpRequest) -> Result<(), AppError> {
        let client_ip = client_ip(req, state.settings.trust_proxy_headers);
        tracing::info!(
            target: "security",
            action = self.action,
            actor_id = self.actor.user_id,
            actor_email = self.actor.email.as_deref(),
            account_id = self.actor.account_id,
            target = self.target.as_deref(),
            detail = self.detail.as_deref(),
            client_ip = %client_ip,
            "security event"
        );
        let entry = AuditEntry {
            occurred_at: Some(state.clock.now()),
            request_id: request_id(req),
            actor_id: self.actor.user_id,
            actor_email: self.actor.email,
            account_id: self.actor.account_id,
            action: self.action,
            target: self.target,
            detail: self.detail,
            client_ip: Some(client_ip),
        };
        state.store.record_audit(&entry).await?;
        Ok(())
    }
}
