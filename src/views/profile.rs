use askama::Template;

use super::layout::Layout;

#[derive(Template)]
#[template(path = "pages/profile.html")]
pub struct ProfilePage {
    pub layout: Layout,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub time_zone: String,
    pub zones: &'static [&'static str],
    pub action: &'static str,
    pub password_action: &'static str,
    pub sign_out_everywhere_action: &'static str,
    pub two_factor_on: bool,
    pub two_factor_href: &'static str,
    /// What the user hears of, in a sentence, and where to change it.
    pub notifications: String,
    pub notifications_href: &'static str,
    pub profile_error: Option<String>,
    pub password_error: Option<String>,
}
