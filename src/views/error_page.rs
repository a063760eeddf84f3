use askama::Template;

use super::layout::Layout;

pub struct PermissionView {
    pub name: &'static str,
    pub description: &'static str,
}

#[derive(Template)]
#[template(path = "pages/error.html")]
pub struct ErrorPage {
    pub layout: Layout,
    pub status: u16,
    pub title: &'static str,
    pub message: String,
    pub missing_permissions: Vec<PermissionView>,
    /// Shown on 500 pages only, so a user can quote it to support.
    pub request_id: Option<String>,
    pub reload: Option<String>,
}
