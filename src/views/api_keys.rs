//! The API Keys page, and the one-time display of a new key's secret.

use askama::Template;

use super::format::Timestamp;
use super::layout::Layout;

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
