use askama::Template;

use super::layout::Layout;

#[derive(Template)]
#[template(path = "pages/login.html")]
pub struct LoginPage {
    pub layout: Layout,
    pub email: String,
    pub next: Option<String>,
    pub error: Option<String>,
    pub notice: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "pages/login_verify.html")]
pub struct VerifyPage {
    pub layout: Layout,
    pub action: &'static str,
    pub error: Option<String>,
}
