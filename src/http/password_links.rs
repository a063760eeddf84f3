//! One-time set-password links, which whoever adds a user hands over (no mail server is assumed):
//! account administrators for their users, support administrators for new accounts and staff.

use chrono::Duration;

use crate::auth::session::new_token;
use crate::auth::token::token_hash;
use crate::paths;
use crate::state::AppState;
use crate::store::PasswordToken;

/// How long a link works.
pub const LINK_HOURS: i64 = 72;

/// A new link: the absolute URL to hand over, and what the database keeps of it.
pub fn new_link(state: &AppState, created_by: i64) -> (String, PasswordToken) {
    let secret = new_token();
    let token = PasswordToken {
        token_hash: token_hash(&secret),
        expires_at: state.clock.now() + Duration::hours(LINK_HOURS),
        created_by,
    };
    (state.public_url.link(&paths::password_set_with(&secret)), token)
}

/// What the administrator is told, once: "Give {who} this one-time link …".
pub fn hand_over(who: &str, link: &str) -> String {
    format!(
        "Give {who} this one-time link to set a password; it works once, within {LINK_HOURS} hours, and is not shown again: {link}"
    )
}
