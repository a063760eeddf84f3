//! The API Keys page, and the one-time display of a new key's secret.

use askama::Template;

use chrono_tz::Tz;

use super::format::{Timestamp, timestamp};
use super::layout::Layout;
use crate::paths;
use crate::store::ApiKeyRecord;

pub struct KeyRow {
    pub name: String,
    pub key_id: String,
    pub owner: String,
    pub created: Timestamp,
    pub last_used: Option<Timestamp>,
    pub revoked: Option<Timestamp>,
    pub revoke_action: Option<String>,
}

/// A key just created: the only time its secret is shown.
pub struct NewKey {
    pub name: String,
    pub key_id: String,
    pub secret: String,
    pub shell_example: String,
    pub python_example: String,
}

#[derive(Template)]
#[template(path = "pages/api_keys.html")]
pub struct ApiKeysPage {
    pub layout: Layout,
    pub keys: Vec<KeyRow>,
    /// Whether this user may create keys (API Keys Self Manage).
    pub create_action: Option<&'static str>,
    pub sees_all: bool,
    pub new_key: Option<NewKey>,
    pub name: String,
    pub error: Option<String>,
    pub docs_href: &'static str,
}

/// A key as the list shows it; `revocable` offers the revoke button.
pub fn key_row(key: ApiKeyRecord, revocable: bool, zone: Tz) -> KeyRow {
    KeyRow {
        revoke_action: revocable.then(|| paths::revoke_api_key(&key.key_id)),
        owner: format!("{} ({})", key.user_name, key.user_email),
        created: timestamp(key.created_at, zone),
        last_used: key.last_used_at.map(|at| timestamp(at, zone)),
        revoked: key.revoked_at.map(|at| timestamp(at, zone)),
        name: key.name,
        key_id: key.key_id,
    }
}
