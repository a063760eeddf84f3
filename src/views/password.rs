use askama::Template;

use super::layout::Layout;

#[derive(Template)]
#[template(path = "pages/set_password.html")]
pub struct SetPasswordPage {
    pub layout: Layout,
    pub action: &'static str,
    pub token: String,
    pub name: String,
    pub email: String,
    pub error: Option<String>,
}
