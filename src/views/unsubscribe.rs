use askama::Template;

use super::layout::Layout;

/// A mail's one-click link, opened in a browser: what it turns off, and the button that does it
/// (a link checker's GET changes nothing).
#[derive(Template)]
#[template(path = "pages/unsubscribe.html")]
pub struct UnsubscribePage {
    pub layout: Layout,
    /// The form's target: the link itself, token included.
    pub action: String,
    /// "Armor Support replies".
    pub kind: &'static str,
    pub done: bool,
    pub settings_href: &'static str,
}
