//! One-click unsubscribe links (RFC 8058): a mail's link turns off one kind of mail for its
//! reader, without signing in. The link carries who, what and until when, signed with a key of
//! the portal's, so it cannot be forged or stretched; the store remembers a used link, so it
//! works once.

use chrono::{DateTime, Duration, Utc};

use super::signer::Signer;

use crate::domain::notify::NoticeKind;

/// How long a link in a mail keeps working.
pub const LINK_DAYS: i64 = 60;

const PURPOSE: &str = "unsubscribe";

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

/// `user.kind.expiry.signature`, URL-safe.
pub fn sign(signer: &Signer, user_id: i64, kind: NoticeKind, now: DateTime<Utc>) -> String {
    let payload = format!("{user_id}.{}.{}", kind.code(), (now + Duration::days(LINK_DAYS)).timestamp());
    format!("{payload}.{}", signer.sign(PURPOSE, &payload))
}

pub fn check(signer: &Signer, token: &str, now: DateTime<Utc>) -> Result<Unsubscribe, LinkError> {
    let (payload, signature) = token.rsplit_once('.').ok_or(LinkError::Invalid)?;
    if !signer.verify(PURPOSE, payload, signature) {
        return Err(LinkError::Invalid);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_link_checks_until_it_expires_and_not_when_altered() {
        let signer = Signer::new(b"a key for the test".to_vec());
        let now = Utc::now();
        let token = sign(&signer, 42, NoticeKind::SupportComment, now);
        let link = check(&signer, &token, now).unwrap();
        assert_eq!((link.user_id, link.kind), (42, NoticeKind::SupportComment));
        assert_eq!(check(&signer, &token, now + Duration::days(LINK_DAYS + 1)), Err(LinkError::Expired));
        let other_user = token.replacen("42.", "43.", 1);
        assert_eq!(check(&signer, &other_user, now), Err(LinkError::Invalid));
        let other_kind = token.replace("support_comment", "closed");
        assert_eq!(check(&signer, &other_kind, now), Err(LinkError::Invalid));
        assert_eq!(check(&Signer::new(b"another key".to_vec()), &token, now), Err(LinkError::Invalid));
        for junk in ["", ".", "a.b.c.d", "42.closed.1.%%%"] {
            assert_eq!(check(&signer, junk, now), Err(LinkError::Invalid), "{junk}");
        }
    }
}
