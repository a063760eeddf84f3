use askama::Template;

use super::format::Timestamp;
use super::layout::Layout;

/// Setting up an authenticator app: the QR code and the same secret to type in.
pub struct Enrolment {
    pub qr_data_uri: String,
    pub secret: String,
}

#[derive(Template)]
#[template(path = "pages/two_factor.html")]
pub struct TwoFactorPage {
    pub layout: Layout,
    pub enabled: bool,
    pub required: bool,
    pub enabled_at: Option<Timestamp>,
    pub recovery_codes_left: i64,
    pub enrolment: Option<Enrolment>,
    /// Recovery codes to show this once, right after they were made.
    pub codes: Vec<String>,
    pub error: Option<String>,
    pub action: &'static str,
    pub recovery_codes_action: &'static str,
    pub disable_action: &'static str,
}
