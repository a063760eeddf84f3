//! The stylesheet and script, compiled into the binary. Their URLs carry a hash of their content,
//! so they can be cached forever and a deployment never serves a stale copy. (`http::static_files`
//! serves them; pages link them through [`stylesheet_href`] and [`script_href`].)

use std::sync::LazyLock;

use sha2::{Digest, Sha256};

use crate::paths;

pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
}

const ASSETS: [Asset; 2] = [
    Asset { name: "app.css", content_type: "text/css; charset=utf-8", body: include_str!("../static/app.css") },
    Asset { name: "app.js", content_type: "text/javascript; charset=utf-8", body: include_str!("../static/app.js") },
];

static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hasher = Sha256::new();
    for asset in &ASSETS {
        hasher.update(asset.body.as_bytes());
    }
    hasher.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect()
});

static STYLESHEET: LazyLock<String> = LazyLock::new(|| href("app.css"));
static SCRIPT: LazyLock<String> = LazyLock::new(|| href("app.js"));

pub fn all() -> impl Iterator<Item = &'static Asset> {
    ASSETS.iter()
}

fn href(name: &str) -> String {
    format!("{}?v={}", paths::fill(paths::STATIC_ASSET, &[&name]), VERSION.as_str())
}

pub fn stylesheet_href() -> &'static str {
    STYLESHEET.as_str()
}

pub fn script_href() -> &'static str {
    SCRIPT.as_str()
}
