//! What a page handler needs besides its own input: who is asking, their session, and the layout
//! every page shares.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use super::{compression, csrf};
use crate::auth::session::TypedSession;
use crate::domain::principal::Principal;
use crate::error::AppError;
use crate::views::layout::Layout;

pub struct PageContext {
    principal: Option<Principal>,
    session: TypedSession,
    path: String,
    request: HttpRequest,
}

impl PageContext {
    /// The signed-in user; present on every route behind the sign-in middleware.
    pub fn principal(&self) -> Result<&Principal, AppError> {
        self.principal.as_ref().ok_or_else(|| {
            AppError::Unexpected(anyhow::anyhow!("route {} is not behind the sign-in middleware", self.path))
        })
    }

    pub fn session(&self) -> &TypedSession {
        &self.session
    }

    /// This page shows a secret once (a new key, recovery codes): it goes out uncompressed.
    pub fn shows_secret(&self) {
        compression::uncompressed(&self.request);
    }

    /// The shared layout; takes the pending flash messages, which then show on this page.
    pub fn layout(&self, title: impl Into<String>) -> Layout {
        let flashes = self.session.take_flashes();
        if !flashes.is_empty() {
            // A flash may hand over a secret once (a set-password link): not compressed (BREACH).
            compression::uncompressed(&self.request);
        }
        Layout::new(title, self.principal.as_ref(), self.csrf_token(), flashes, &self.path)
    }

    /// The session's token; for a visitor without a session, one that stores nothing.
    fn csrf_token(&self) -> String {
        match self.session.peek_csrf_token() {
            Some(token) => token,
            None if self.session.user_id().is_some() => self.session.csrf_token(),
            None => csrf::anonymous_token(&self.request),
        }
    }
}

impl FromRequest for PageContext {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        // Two statements: the extensions borrow must end before the session takes its own.
        let principal = req.extensions().get::<Principal>().cloned();
        let session = TypedSession::from(req);
        ready(Ok(PageContext { principal, session, path: req.path().to_string(), request: req.clone() }))
    }
}
