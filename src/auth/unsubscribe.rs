//! One-click unsubscribe links (RFC 8058): a mail's link turns off one kind of mail for its
//! reader, without signing in. The link carries who, what and until when, signed with a key of
//! the portal's, so it cannot be forged or stretched; the store remembers a used link, so it
//! works once.

use aes_gcm::aead::KeyInit;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::notify::NoticeKind;

/// How long a link in a mail keeps working.
pub const LINK_DAYS: i64 = 60;

/// Signs and checks links; every instance holds the same key (kept in the database).
#[derive(Clone)]
pub struct LinkSigner {
    key: Vec<u8>,
}

/// What a valid link asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsubscribe {
    pub user_id: i64,
    pub kind: NoticeKind,
    pub expires: DateTime<Utc>,
}

/// Why a link is refused; forged and damaged links are told apart only in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    Invalid,
    Expired,
}

impl LinkSigner {
    pub fn new(key: Vec<u8>) -> LinkSigner {
        LinkSigner { key }
    }

    fn mac(&self, payload: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(b"unsubscribe:");
        mac.update(payload.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// `user.kind.expiry.signature`, URL-safe.
    pub fn sign(&self, user_id: i64, kind: NoticeKind, now: DateTime<Utc>) -> String {
        let payload = format!("{user_id}.{}.{}", kind.code(), (now + Duration::days(LINK_DAYS)).timestamp());
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(self.mac(&payload)))
    }

    pub fn check(&self, token: &str, now: DateTime<Utc>) -> Result<Unsubscribe, LinkError> {
        let (payload, signature) = token.rsplit_once('.').ok_or(LinkError::Invalid)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| LinkError::Invalid)?;
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(b"unsubscribe:");
        mac.update(payload.as_bytes());
        mac.verify_slice(&signature).map_err(|_| LinkError::Invalid)?;
        let mut parts = payload.split('.');
        let user_id = parts.next().and_then(|p| p.parse().ok()).ok_or(LinkError::Invalid)?;
        let kind = parts.next().and_then(NoticeKind::from_code).ok_or(LinkError::Invalid)?;
        let expires = parts
            .next()
            .and_then(|p| p.parse().ok())
            .and_then(|t| DateTime::from_timestamp(t, 0))
            .ok_or(LinkError::Invalid)?;
        if parts.next().is_some() {
            return Err(LinkError::Invalid);
        }
        if expires <= now {
            return Err(LinkError::Expired);
        }
        Ok(Unsubscribe { user_id, kind, expires })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_link_checks_until_it_expires_and_not_when_altered() {
        let signer = LinkSigner::new(b"a key for the test".to_vec());
        let now = Utc::now();
        let token = signer.sign(42, NoticeKind::SupportComment, now);
        let link = signer.check(&token, now).unwrap();
        assert_eq!((link.user_id, link.kind), (42, NoticeKind::SupportComment));
        assert_eq!(signer.check(&token, now + Duration::days(LINK_DAYS + 1)), Err(LinkError::Expired));
        let other_user = token.replacen("42.", "43.", 1);
        assert_eq!(signer.check(&other_user, now), Err(LinkError::Invalid));
        let other_kind = token.replace("support_comment", "closed");
        assert_eq!(signer.check(&other_kind, now), Err(LinkError::Invalid));
        let other_key = LinkSigner::new(b"another key".to_vec());
        assert_eq!(other_key.check(&token, now), Err(LinkError::Invalid));
        for junk in ["", ".", "a.b.c.d", "42.closed.1.%%%"] {
            assert_eq!(signer.check(junk, now), Err(LinkError::Invalid), "{junk}");
        }
    }
}
